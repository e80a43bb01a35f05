"""The core pipeline on the tiny random-weight model."""

import threading
import warnings

import numpy as np
import pytest

from embeddinggemma import Embedder, TruncationError, TruncationWarning

TEXTS = ["mars is red", "venus is hot", "saturn has rings"]


def test_vectors_unit_ordered_and_prompted(tiny_model):
    emb = Embedder(model=tiny_model)
    vectors = np.array(emb.embed(TEXTS, side="document"))
    assert vectors.shape == (3, 768)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    singles = np.array([emb.embed([t], side="document")[0] for t in TEXTS])
    np.testing.assert_allclose(vectors, singles, atol=1e-5)  # order and batch independence
    # The pipeline feeds the model exactly the prompted text.
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model, device="cpu")
    expected = model.encode(["title: none | text: mars is red"], normalize_embeddings=True)[0]
    np.testing.assert_allclose(vectors[0], expected, atol=1e-5)


def test_query_and_document_sides_differ(tiny_model):
    emb = Embedder(model=tiny_model)
    q = np.array(emb.embed_query("mars is red"))
    d = np.array(emb.embed(["mars is red"], side="document")[0])
    assert not np.allclose(q, d)


def test_titles_reach_the_prompt(tiny_model):
    emb = Embedder(model=tiny_model)
    assert emb.prompt(["x", "y"], "document", ["Mars", None]) == ["title: Mars | text: x", "title: none | text: y"]
    titled = emb.embed(["mars is red"], titles=["planet"])[0]
    untitled = emb.embed(["mars is red"])[0]
    assert not np.allclose(titled, untitled)


@pytest.mark.parametrize("dims", [512, 256, 128])
def test_matryoshka_truncate_then_renormalise(tiny_model, dims):
    full = np.array(Embedder(model=tiny_model).embed(TEXTS))
    small = np.array(Embedder(model=tiny_model, dimensions=dims).embed(TEXTS))
    expected = full[:, :dims] / np.linalg.norm(full[:, :dims], axis=1, keepdims=True)
    np.testing.assert_allclose(small, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(small, axis=1), 1, atol=1e-5)


def test_empty_list_and_empty_string(tiny_model):
    emb = Embedder(model=tiny_model)
    assert emb.embed([]) == []
    (vector,) = emb.embed([""])  # defined: the prompt alone is embedded
    assert abs(np.linalg.norm(vector) - 1) < 1e-5


@pytest.mark.parametrize(
    "texts, words",
    [
        (None, "list of strings, got NoneType"),
        ("a single string", "wrap a single text in a list"),
        (["ok", None], r"texts\[1\] is None"),
        (["ok", 3], r"texts\[1\] is a int"),
        ([b"bytes"], r"texts\[0\] is a bytes"),
    ],
)
def test_bad_inputs_name_index_and_fix(tiny_model, texts, words):
    with pytest.raises(TypeError, match=words):
        Embedder(model=tiny_model).embed(texts)


def test_bad_titles(tiny_model):
    emb = Embedder(model=tiny_model)
    with pytest.raises(ValueError, match="titles has 1 items but there are 2 texts"):
        emb.embed(["a", "b"], titles=["t"])
    with pytest.raises(TypeError, match=r"titles\[0\] is a int"):
        emb.embed(["a"], titles=[1])


def test_huge_text_is_truncated_and_reported(tiny_model):
    huge = "mars " * 40_000  # 200,000 characters
    emb = Embedder(model=tiny_model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vectors, report = emb.embed_with_report(["short", huge])
    messages = [str(w.message) for w in caught if issubclass(w.category, TruncationWarning)]
    assert len(messages) == 1 and "1 of 2 inputs exceeded max_seq_length=2048" in messages[0]
    assert report.truncated == (1,) and report.token_counts[1] > 2048
    assert vectors.shape == (2, 768) and np.isfinite(vectors).all()
    with pytest.raises(TruncationError, match="truncation='error'"):
        Embedder(model=tiny_model, truncation="error").embed([huge])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Embedder(model=tiny_model, truncation="silent").embed([huge])


def test_truncation_is_token_exact(tiny_model):
    emb = Embedder(model=tiny_model, max_seq_length=16, truncation="silent")
    prompted = emb.prompt(["mars venus jupiter saturn earth " * 10], "document")[0]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids = tokenizer(prompted)["input_ids"]
    cut_text = tokenizer.decode(ids[1:15])  # bos + 14 tokens + eos = 16
    raw = Embedder(model=tiny_model, task="raw", max_seq_length=2048)
    assert emb.runtime.count_tokens([cut_text])[0] == 16
    np.testing.assert_allclose(emb.embed(["mars venus jupiter saturn earth " * 10]), raw.embed([cut_text]), atol=1e-5)


def test_one_loaded_model_per_spec_shared_across_threads(tiny_model):
    a, b = Embedder(model=tiny_model), Embedder(model=tiny_model, dimensions=128, max_seq_length=8, truncation="silent")
    assert a.runtime._model is b.runtime._model  # one copy of the weights, each with its own options
    results, errors = {}, []

    def work(i):
        try:
            emb = a if i % 2 else b
            results[i] = emb.embed(TEXTS)
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(2, 8):
        np.testing.assert_allclose(results[i], results[i % 2], atol=1e-6)


def test_one_copy_of_the_weights_however_the_folder_is_written(tiny_model, monkeypatch):
    from pathlib import Path

    folder = Path(tiny_model)
    monkeypatch.chdir(folder.parent)
    spellings = [str(folder), str(folder) + "/", f"./{folder.name}", f"../{folder.parent.name}/{folder.name}"]
    loaded = {id(Embedder(model=spelling).runtime._model) for spelling in spellings}
    assert len(loaded) == 1


def test_settings_are_resolved_once_and_the_runtime_kept(tiny_model, monkeypatch):
    emb = Embedder(model=tiny_model, device="cpu")
    emb.embed(["a"])
    runtime = emb.runtime
    import embeddinggemma._runtimes as runtimes

    monkeypatch.setattr(runtimes, "resolve", lambda settings: pytest.fail("resolved again"))
    emb.embed(["b"])
    assert emb.runtime is runtime


@pytest.mark.parametrize("bad", ["\ud800", "ok \udfff tail"])
def test_text_that_is_not_valid_unicode_is_named(tiny_model, bad):
    with pytest.raises(ValueError, match=r"texts\[1\] is not valid Unicode.*lone surrogate"):
        Embedder(model=tiny_model).embed(["fine", bad])
    with pytest.raises(ValueError, match=r"titles\[0\] is not valid Unicode"):
        Embedder(model=tiny_model).embed(["fine"], titles=[bad])


def test_an_embedder_pickles_without_its_runtime(tiny_model):
    import pickle

    emb = Embedder(model=tiny_model, dimensions=128)
    first = emb.embed(["mars"])
    again = pickle.loads(pickle.dumps(emb))
    assert again.settings.dimensions == 128
    np.testing.assert_allclose(again.embed(["mars"]), first, atol=1e-6)
