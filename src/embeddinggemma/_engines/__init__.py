"""The engines that run EmbeddingGemma in this process, each with the artifacts it builds.

One module per engine (a row of :data:`embeddinggemma._registry.ENGINE_TABLE` names it): ``load(spec)``
returns the shared model (see :class:`.base.Bound`), and an engine that runs built files has
``build(folder, precision, cache_dir=None, *, force=False)``, the one entry that returns a checked
artifact (:mod:`.artifacts`: fingerprinted names, manifests, file locks).
"""
