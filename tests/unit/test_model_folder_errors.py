"""A model folder, file or hub id that cannot serve is named with the fix, before any model is loaded."""

import pytest

from embeddinggemma import Embedder, ModelLoadError, TextChunker
from embeddinggemma._engines.torch import check_transformers_version
from embeddinggemma._tokenizer import Tokenizer


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError, match="not a sentence-transformers model"):
        Embedder(model=str(tmp_path)).embed(["x"])


def test_gated_hub_model_without_access_explains(monkeypatch, tmp_path):
    import huggingface_hub.constants

    # A user with no access and no copy: the hub cannot serve the weights (offline here, no retries).
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError, match="gated repository.*hf auth login.*local copy"):
        Embedder(model="google/embeddinggemma-300m").embed(["x"])


def test_old_transformers_refused():
    with pytest.raises(ModelLoadError, match="transformers 4.55.2 is too old.*transformers>=4.56"):
        check_transformers_version("4.55.2")
    check_transformers_version("4.56.0")
    check_transformers_version("5.1.0")


def test_a_model_path_that_does_not_exist_says_so(tmp_path):
    missing = tmp_path / "no-such-model"
    for spelling in (str(missing), f"{missing}/", "./no-such-model", str(missing) + ".gguf"):
        with pytest.raises(ModelLoadError, match="does not exist") as refused:
            Embedder(model=spelling).embed(["x"])
        assert "gated" not in str(refused.value)


def test_a_gguf_file_is_not_a_tokenizer(tmp_path):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ModelLoadError, match="tokenizer='google/embeddinggemma-300m'"):
        TextChunker(str(gguf))


def test_missing_folder_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Tokenizer(tmp_path / "nowhere")


def test_folder_without_tokenizer_files_names_them_and_the_fix(tmp_path):
    with pytest.raises(ModelLoadError) as caught:
        Tokenizer(tmp_path)
    message = str(caught.value)
    assert "neither tokenizer.model nor tokenizer.json" in message
    assert "hf download google/embeddinggemma-300m" in message
    assert isinstance(caught.value, OSError)
