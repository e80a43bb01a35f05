"""The loopback Ollama server, driven by the real ollama client, ChatOllama and LlamaIndex's Ollama."""

from __future__ import annotations

import math

import pytest

httpx = pytest.importorskip("httpx", reason="needs httpx (the [server] extra)")
ollama = pytest.importorskip("ollama", reason="needs the ollama client (the [ollama] extra)")

from _support.ollama import OllamaServer, echo_rag_answer, first_sentence, hashed_bag_of_words  # noqa: E402

CONTEXT = (
    "Answer from the context and cite sources.\n\n"
    "[mars.md] Mars\nMars is called the Red Planet. Its soil holds iron oxide.\n\n"
    "[venus.md] Venus\nVenus is Earth's twin in size. It is very hot.\n"
)


@pytest.fixture
def server():
    with OllamaServer() as running:
        yield running


def _norm(vector) -> float:
    return math.sqrt(sum(v * v for v in vector))


def test_embed_returns_unit_vectors_in_order_and_counts_tokens(server):
    client = ollama.Client(host=server.url)
    texts = ["red planet mars", "venus is hot", "red planet mars"]
    response = client.embed(model="embeddinggemma", input=texts)
    assert response.model == "embeddinggemma"
    assert len(response.embeddings) == 3
    assert all(abs(_norm(v) - 1) < 1e-6 for v in response.embeddings)
    assert response.embeddings[0] == response.embeddings[2] != response.embeddings[1]
    assert response.prompt_eval_count == sum(len(t.split()) + 2 for t in texts)
    single = client.embed(model="embeddinggemma:latest", input="red planet mars")
    assert single.embeddings == [response.embeddings[0]]
    assert server.requests[-1] == ("POST", "/api/embed", server.requests[-1][2])
    assert server.requests[-1][2]["input"] == "red planet mars"


def test_embed_normalises_injected_vectors_and_cuts_dimensions():
    with OllamaServer(embed=lambda texts, limit: [[3.0, 4.0, 0.0, 0.0] for _ in texts]) as server:
        client = ollama.Client(host=server.url)
        assert client.embed(model="embeddinggemma", input=["x"]).embeddings == [[0.6, 0.8, 0.0, 0.0]]
        assert client.embed(model="embeddinggemma", input=["x"], dimensions=1).embeddings == [[1.0]]


def test_embed_without_truncation_refuses_long_input_like_ollama():
    seen_limits = []

    def embed(texts, limit):
        seen_limits.append(limit)
        return hashed_bag_of_words(texts, limit)

    with OllamaServer(embed=embed, num_ctx=8) as server:
        client = ollama.Client(host=server.url)
        long_text = "one two three four five six seven"  # 9 tokens with BOS/EOS
        with pytest.raises(ollama.ResponseError) as error:
            client.embed(model="embeddinggemma", input=["short", long_text], truncate=False)
        assert error.value.status_code == 400
        assert error.value.error == "the input length exceeds the context length"
        assert seen_limits == []

        cut = client.embed(model="embeddinggemma", input=["short", long_text])
        assert cut.prompt_eval_count == 3 + 8
        assert seen_limits == [8]

        smaller = client.embed(model="embeddinggemma", input=[long_text], options={"num_ctx": 4})
        assert smaller.prompt_eval_count == 4
        assert seen_limits[-1] == 4


def test_embed_rejects_nan_and_bad_input():
    with OllamaServer(embed=lambda texts, limit: [[math.nan, 1.0] for _ in texts]) as server:
        with pytest.raises(ollama.ResponseError) as error:
            ollama.Client(host=server.url).embed(model="embeddinggemma", input=["x"])
        assert (error.value.status_code, error.value.error) == (400, "embedding contains NaN or Inf values")
        bad = httpx.post(f"{server.url}/api/embed", json={"model": "embeddinggemma", "input": [1, 2]})
        assert (bad.status_code, bad.json()) == (400, {"error": "invalid input type"})
        empty = httpx.post(f"{server.url}/api/embed", content=b"")
        assert (empty.status_code, empty.json()) == (400, {"error": "missing request body"})


def test_unknown_model_is_404_with_ollamas_message(server):
    client = ollama.Client(host=server.url)
    for call, message in [
        (lambda: client.embed(model="nosuch", input="x"), "model 'nosuch' not found"),
        (lambda: client.chat(model="nosuch", messages=[{"role": "user", "content": "hi"}]), "model 'nosuch' not found"),
        (lambda: client.show("nosuch"), "model 'nosuch:latest' not found"),
    ]:
        with pytest.raises(ollama.ResponseError) as error:
            call()
        assert (error.value.status_code, error.value.error) == (404, message)


def test_chat_with_an_embedding_model_is_refused(server):
    with pytest.raises(ollama.ResponseError) as error:
        ollama.Client(host=server.url).chat(model="embeddinggemma", messages=[{"role": "user", "content": "hi"}])
    assert (error.value.status_code, error.value.error) == (400, '"embeddinggemma" does not support chat')


def test_chat_streams_the_same_answer_it_returns_whole(server):
    client = ollama.Client(host=server.url)
    messages = [{"role": "user", "content": CONTEXT}]
    whole = client.chat(model="gemma3:1b", messages=messages)
    assert whole.done and whole.done_reason == "stop"
    assert whole.message.role == "assistant"
    assert whole.message.content == echo_rag_answer(messages)
    assert whole.prompt_eval_count == len(CONTEXT.split()) + 2
    parts = list(client.chat(model="gemma3:1b", messages=messages, stream=True))
    assert len(parts) > 3
    assert all(not part.done for part in parts[:-1])
    assert parts[-1].done and parts[-1].done_reason == "stop"
    assert parts[-1].eval_count == len(parts) - 1
    assert "".join(part.message.content for part in parts) == whole.message.content


def test_echo_rag_answer_quotes_the_first_passage_and_cites_every_source():
    answer = echo_rag_answer([{"role": "system", "content": "Be brief."}, {"role": "user", "content": CONTEXT}])
    assert answer == "According to [mars.md], Mars is called the Red Planet. Sources: [mars.md], [venus.md]."
    llama_style = "source: a.md\ntitle: A\n\n# Heading\nFirst words here. Then more.\n\nfile_name: b.txt\n\nB text."
    assert echo_rag_answer([{"content": llama_style}]) == (
        "According to [a.md], First words here. Sources: [a.md], [b.txt]."
    )
    assert "no sources" in echo_rag_answer([{"role": "user", "content": "hello"}])
    assert first_sentence("  One  two. Three.") == "One two."


def test_custom_chat_function_receives_the_messages():
    seen = []
    with OllamaServer(chat=lambda messages: seen.append(messages) or "fixed answer") as server:
        reply = ollama.Client(host=server.url).chat(model="gemma3:1b", messages=[{"role": "user", "content": "q"}])
    assert reply.message.content == "fixed answer"
    assert seen == [[{"role": "user", "content": "q"}]]


def test_list_show_version_and_root(server):
    client = ollama.Client(host=server.url)
    names = [model.model for model in client.list().models]
    assert names == ["embeddinggemma:latest", "gemma3:1b"]
    shown = client.show("embeddinggemma")
    assert shown.capabilities == ["embedding"]
    assert shown.modelinfo["gemma3.context_length"] == 2048
    assert shown.details.family == "gemma3"
    assert client.show("gemma3:1b").capabilities == ["completion"]
    assert httpx.get(f"{server.url}/api/version").json()["version"]
    root = httpx.get(server.url)
    assert (root.status_code, root.text) == (200, "Ollama is running")
    assert httpx.head(server.url).status_code == 200
    assert httpx.get(f"{server.url}/api/nothing").status_code == 404


def test_fail_next_answers_with_the_given_status_then_recovers(server):
    client = ollama.Client(host=server.url)
    server.fail_next("status", (503, "server busy, please try again.  maximum pending requests exceeded"), times=2)
    for _ in range(2):
        with pytest.raises(ollama.ResponseError) as error:
            client.embed(model="embeddinggemma", input="x")
        assert error.value.status_code == 503
        assert error.value.error.startswith("server busy")
    assert len(client.embed(model="embeddinggemma", input="x").embeddings) == 1
    assert [path for _, path, _ in server.requests] == ["/api/embed"] * 3


def test_delay_lets_a_client_time_out(server):
    server.delay = 1.0
    with pytest.raises(httpx.TimeoutException):
        ollama.Client(host=server.url, timeout=0.2).list()


def test_connection_refused_after_stop():
    server = OllamaServer().start()
    url = server.url
    server.stop()
    with pytest.raises(ConnectionError):
        ollama.Client(host=url).list()


async def test_async_client_embeds_and_streams(server):
    client = ollama.AsyncClient(host=server.url)
    response = await client.embed(model="embeddinggemma", input=["a b", "c d"])
    assert len(response.embeddings) == 2
    parts = [
        part
        async for part in await client.chat(
            model="gemma3:1b", messages=[{"role": "user", "content": CONTEXT}], stream=True
        )
    ]
    assert "".join(p.message.content for p in parts).startswith("According to [mars.md]")
    with pytest.raises(ollama.ResponseError) as error:
        await client.embed(model="nosuch", input="x")
    assert error.value.status_code == 404


def test_langchain_chat_ollama_invokes_and_streams(server):
    from langchain_ollama import ChatOllama

    llm = ChatOllama(model="gemma3:1b", base_url=server.url, validate_model_on_init=True)
    answer = llm.invoke(CONTEXT)
    assert answer.content.startswith("According to [mars.md], Mars is called the Red Planet.")
    assert answer.usage_metadata["input_tokens"] == len(CONTEXT.split()) + 2
    chunks = list(llm.stream(CONTEXT))
    assert len(chunks) > 3
    assert "".join(chunk.content for chunk in chunks) == answer.content
    with pytest.raises(ValueError, match="not found in Ollama"):
        ChatOllama(model="gemma3:27b", base_url=server.url, validate_model_on_init=True)


async def test_langchain_chat_ollama_async(server):
    from langchain_ollama import ChatOllama

    llm = ChatOllama(model="gemma3:1b", base_url=server.url)
    assert (await llm.ainvoke(CONTEXT)).content.endswith("Sources: [mars.md], [venus.md].")


def test_llama_index_ollama_chats_and_streams(server):
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.ollama import Ollama

    llm = Ollama(model="gemma3:1b", base_url=server.url, request_timeout=10)
    completion = llm.complete(CONTEXT)
    assert completion.text.startswith("According to [mars.md]")
    streamed = list(llm.stream_chat([ChatMessage(role="user", content=CONTEXT)]))
    assert streamed[-1].message.content == completion.text
    assert ("POST", "/api/show") in [(method, path) for method, path, _ in server.requests]
    assert llm.get_context_window() == 32768
    with pytest.raises(ollama.ResponseError) as error:
        Ollama(model="gemma3:27b", base_url=server.url, context_window=4096).complete("hi")
    assert error.value.status_code == 404
