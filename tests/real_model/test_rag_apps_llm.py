"""Both RAG apps answering from a real LLM: the real embedding model retrieves, SmolLM2-135M-Instruct on
llama.cpp's OpenAI-compatible server (loopback) answers through each framework's own client, streamed, and
the apps check its citations. Fact questions over the sample documents, each answered by a number in one
passage: a 135M model is small, so at least two of three must hold the fact."""

from __future__ import annotations

import re

import pytest
from _support.apps import APPS, passages, run_app

FACTS = {
    "Which port does Ollama listen on by default?": "11434",
    "How many tokens does EmbeddingGemma read at most per input?": "2048",
    "In which year was the MTEB benchmark introduced?": "2022",
}
ANSWER = re.compile(r"^answer \((?P<model>[^)]*)\):\n(?P<text>.*?)\n(?P<citations>citations: .*)$", re.M | re.S)


@pytest.mark.parametrize("app", APPS)
def test_both_apps_answer_from_a_real_llm_with_sources_and_citations(app, real_model, chat_server, tmp_path, capsys):
    questions = [argument for question in FACTS for argument in ("-q", question)]
    before = len(chat_server.requests)
    result = run_app(
        app,
        tmp_path / "index",
        "-k",
        "3",
        "--llm-url",
        chat_server.url,
        *questions,
        url="http://127.0.0.1:9",
        model=real_model,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    blocks = result.stdout.split("\nquestion: ")[1:]
    assert len(blocks) == len(FACTS)
    held = 0
    for block, (question, fact) in zip(blocks, FACTS.items(), strict=True):
        assert block.startswith(question)
        assert len(passages(block)) == 3  # the passages and their sources, before the answer
        answer = ANSWER.search(block)
        assert answer, block
        assert answer["text"].strip()
        assert answer["citations"].startswith("citations: ")
        held += fact in answer["text"].replace(",", "")
        with capsys.disabled():  # what the real model answered, in the test log
            print(f"\n{app}: {question}\n  {answer['text'].strip()}\n  {answer['citations']}")
    assert held >= 2, result.stdout
    chats = [request.body for request in chat_server.requests[before:] if request.path == "/v1/chat/completions"]
    assert len(chats) == len(FACTS)
    assert all(chat["stream"] is True for chat in chats)  # the answer was streamed
    sent = "\n".join(str(message["content"]) for chat in chats for message in chat["messages"])
    assert "[ollama.md]" in sent or "ollama.md" in sent  # the retrieved passages reached the LLM with their sources
