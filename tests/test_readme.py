"""The README's settings table documents every setting the settings model declares."""

import re
from pathlib import Path

from embeddinggemma import EmbeddingSettings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_has_a_row_in_the_readme_settings_table():
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Settings (both adapters)") : text.index("## On-device")]
    documented = set(re.findall(r"^\| `(\w+)`|/ `(\w+)`", table, flags=re.M))
    names = {name for pair in documented for name in pair if name}
    assert set(EmbeddingSettings.model_fields) <= names, set(EmbeddingSettings.model_fields) - names
