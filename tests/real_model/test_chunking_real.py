"""Token-exact chunking on the real model's tokenizer: the hard texts the tiny model's chunking is checked on
(``tests/integration/test_chunking.py``), counted and embedded by the real model."""

import pytest
from _support.chunk_checks import HARD_TEXTS, check_chunks_rebuild_the_source_and_each_embeds_whole


@pytest.mark.parametrize("name", sorted(HARD_TEXTS))
def test_chunks_rebuild_the_source_and_each_embeds_whole_on_the_real_model(real_model, name):
    check_chunks_rebuild_the_source_and_each_embeds_whole(real_model, name)
