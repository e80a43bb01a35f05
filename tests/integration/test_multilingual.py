"""Non-Latin text on the tiny model: token counts and the truncation report for CJK and right-to-left text, and
titles in other scripts (the real model, and both adapters against sentence-transformers on these texts:
``tests/real_model/test_multilingual_real.py``)."""

from __future__ import annotations

from _support.multilingual import check_counts_and_report


def test_token_counts_and_truncation_report_for_cjk_and_right_to_left_text(tiny_model):
    check_counts_and_report(tiny_model)
