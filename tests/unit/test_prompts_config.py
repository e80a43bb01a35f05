"""Prompt table, titles, double-prefix guard and settings validation (no model needed)."""

import pytest

from embeddinggemma import DIMENSIONS, TASKS, EmbeddingSettings, apply_prompt, is_prompted


def test_task_table_matches_model_card():
    assert TASKS["retrieval"].query == "task: search result | query: "
    assert TASKS["retrieval"].document == "title: {title} | text: "
    assert TASKS["question_answering"].query == "task: question answering | query: "
    assert TASKS["fact_checking"].query == "task: fact checking | query: "
    assert TASKS["code_retrieval"].query == "task: code retrieval | query: "
    for symmetric, words in [
        ("classification", "classification"),
        ("clustering", "clustering"),
        ("semantic_similarity", "sentence similarity"),
    ]:
        assert TASKS[symmetric].query == TASKS[symmetric].document == f"task: {words} | query: "


@pytest.mark.parametrize(
    "title, expected", [(None, "none"), ("", "none"), ("  ", "none"), ("Mars", "Mars"), ("Red\nPlanet", "Red Planet")]
)
def test_document_title(title, expected):
    assert apply_prompt("x", TASKS["retrieval"].document, title) == f"title: {expected} | text: x"


def test_no_double_prefix():
    once = apply_prompt("Mars", TASKS["retrieval"].query)
    assert apply_prompt(once, TASKS["retrieval"].query) == once
    doc = apply_prompt("Mars", TASKS["retrieval"].document, "Planets")
    assert apply_prompt(doc, TASKS["retrieval"].document, "Other") == doc
    assert is_prompted("task: clustering | query: a") and not is_prompted("tasks are hard")


def test_raw_and_custom_prompts():
    assert EmbeddingSettings(task="raw").prompts.query == ""
    cfg = EmbeddingSettings(query_prompt="Q: ", document_prompt="D {title}: ")
    assert cfg.prompts.query == "Q: " and cfg.prompts.document == "D {title}: "


@pytest.mark.parametrize("bad", [300, 0, 1024, True, "768", 768.0, None])
def test_bad_dimensions_list_valid_sizes(bad):
    with pytest.raises(ValueError, match="768, 512, 256, 128"):
        EmbeddingSettings(dimensions=bad)


@pytest.mark.parametrize("dtype", ["float16", "fp16", "half"])
def test_float16_refused_with_reason(dtype):
    with pytest.raises(ValueError, match="overflow float16.*NaN.*bfloat16"):
        EmbeddingSettings(dtype=dtype)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("task", "search", "use one of 'retrieval', 'question_answering'"),
        ("truncation", "drop", "use one of 'warn', 'error', 'silent'"),
        ("max_seq_length", 4096, "more than EmbeddingGemma.s 2048 tokens"),
        ("max_seq_length", True, "integer from 1 to 8192"),
        ("max_seq_length", 8193, "integer from 1 to 8192"),
        ("model_family", "gemma", "use one of 'auto', 'embeddinggemma', 'embeddinggemma-2'"),
        ("batch_size", 0, "integer >= 1"),
        ("batch_size", 2.0, "integer >= 1"),
        ("device", "tpu", "auto, cpu, cuda, mps"),
        ("device", None, "auto, cpu, cuda, mps"),
        ("model", "", "local model folder"),
        ("model", None, "local model folder"),
        ("timeout", 0, "positive number of seconds"),
        ("max_retries", -1, "integer >= 0"),
        ("max_concurrency", 0, "integer >= 1"),
        ("backend", "vllm", "use one of 'local', 'ollama', 'openai'"),
        ("quantization", "q2_k", "use one of 'q8_0', 'q4_0', 'int8'"),
    ],
)
def test_bad_settings_name_the_fix(field, value, words):
    with pytest.raises(ValueError, match=words):
        EmbeddingSettings(**{field: value})


def test_all_dimensions_accepted():
    for d in DIMENSIONS:
        assert EmbeddingSettings(dimensions=d).dimensions == d


def test_a_bad_cache_is_named():
    with pytest.raises(ValueError, match="cache=42 is not usable"):
        EmbeddingSettings(cache=42)
