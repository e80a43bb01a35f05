"""Server backends' settings, without a server: the presets resolve to their documented URLs, and the API key
travels in a pickle (workers need it) while nothing else shows it."""

from embeddinggemma._servers.openai import SERVER_PRESETS, resolve_server


def test_presets_resolve_to_documented_urls():
    assert resolve_server("docker-model-runner", "google/embeddinggemma-300m") == (
        "http://localhost:12434/engines/llama.cpp/v1",
        "ai/embeddinggemma",
    )
    assert resolve_server(None, "google/embeddinggemma-300m") == (
        "http://localhost:8080/v1",
        "google/embeddinggemma-300m",
    )
    assert resolve_server("http://gpu-box:8000/v1/", "my-model") == ("http://gpu-box:8000/v1", "my-model")
    assert set(SERVER_PRESETS) == {"llama-server", "docker-model-runner"}


def test_the_api_key_travels_in_a_pickle_as_documented():
    """Workers (Ray, multiprocessing) need the key, so pickling keeps it; nothing else shows it."""
    import pickle

    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

    secret = "sk-pickled-0123"
    lc = EmbeddingGemmaEmbeddings(backend="openai", base_url="http://127.0.0.1:9/v1", api_key=secret)
    again = pickle.loads(pickle.dumps(lc))
    assert again.api_key.get_secret_value() == secret
    assert secret not in repr(again) + again.model_dump_json() + str(again.model_dump())
