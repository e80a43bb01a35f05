"""The RAG apps' index manifest, in process: an index is reused only when this app wrote it for the same
settings and documents, and a rebuild deletes only what the manifest lists inside the index folder."""

import json

import pytest

# The examples folder is not a package; pytest's pythonpath (pyproject.toml) makes its modules importable.
import rag_index
import rag_output


def test_plan_index_reuses_only_a_matching_index_this_app_wrote(tmp_path):
    folder = tmp_path / "index"
    settings, documents = {"model": "m", "dimensions": 768}, {"a.md": "1", "b.md": "2"}
    assert rag_index.plan_index(folder, "app", settings, documents, rebuild=False).reason.startswith("building")
    rag_index.clear_index(folder, "app")
    (folder / "index.faiss").write_bytes(b"vectors")
    rag_index.write_manifest(folder, "app", settings, documents, chunks=2, index={"precision": "float32"})

    def plan(**changes):
        args = {"settings": settings, "documents": documents, "rebuild": False, **changes}
        return rag_index.plan_index(folder, "app", args["settings"], args["documents"], rebuild=args["rebuild"])

    assert plan().reuse
    assert not plan(rebuild=True).reuse
    assert plan(settings={**settings, "dimensions": 128}).reason.endswith("(dimensions 768 -> 128)")
    changed = plan(documents={"a.md": "9", "c.md": "3"}).reason
    assert changed.endswith("documents changed (added c.md; modified a.md; removed b.md)")
    with pytest.raises(rag_output.AppError, match="no manifest written by other"):
        rag_index.plan_index(folder, "other", settings, documents, rebuild=True)
    (folder / "index.faiss").write_bytes(b"tampered")
    assert "changed after this app wrote them" in plan().reason
    assert not plan().reuse
    (folder / "notes.txt").write_text("the user's own file")
    with pytest.raises(rag_output.AppError, match=r"files this app did not write \(notes.txt\)"):
        plan(rebuild=True)
    (folder / "notes.txt").unlink()
    rag_index.clear_index(folder, "app")  # deletes what the manifest lists, and the manifest
    assert list(folder.iterdir()) == []
    (folder / "keep.txt").write_text("not ours")
    rag_index.clear_index(folder, "app")
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


def test_a_forged_manifest_cannot_make_a_rebuild_delete_outside_the_index_folder(tmp_path):
    folder, outside = tmp_path / "index", tmp_path / "precious.txt"
    folder.mkdir()
    outside.write_text("the user's file")
    for name in ("../precious.txt", str(outside)):
        manifest = {"app": "app", "format": rag_index.MANIFEST_FORMAT, "settings": {}, "documents": {}}
        manifest["index_files"] = {name: "0"}
        (folder / rag_index.MANIFEST).write_text(json.dumps(manifest))
        with pytest.raises(rag_output.AppError, match="no manifest written by app"):
            rag_index.plan_index(folder, "app", {}, {}, rebuild=True)
        rag_index.clear_index(folder, "app")  # a malformed manifest: only the manifest itself goes
        assert outside.read_text() == "the user's file"
    (folder / "index.faiss").write_bytes(b"vectors")
    manifest["index_files"] = {"index.faiss": "0"}
    (folder / rag_index.MANIFEST).write_text(json.dumps(manifest))
    rag_index.clear_index(folder, "app")  # a plain name it lists goes
    assert list(folder.iterdir()) == [] and outside.exists()
