"""The README's tables document every setting, engine and quantization the package declares."""

import re
from pathlib import Path

from embeddinggemma import ENGINES, QUANTIZATIONS, EmbeddingSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_has_a_row_in_the_readme_settings_table():
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Settings (both adapters)") : text.index("## On-device")]
    documented = set(re.findall(r"^\| `(\w+)`|/ `(\w+)`", table, flags=re.M))
    names = {name for pair in documented for name in pair if name}
    assert set(EmbeddingSettings.model_fields) <= names, set(EmbeddingSettings.model_fields) - names


def test_every_engine_and_quantization_is_in_the_readme():
    text = README.read_text(encoding="utf-8")
    engines = text[text.index("## Engines: what runs your model") : text.index("## On-device")]
    rows = set(re.findall(r"^\| `([\w.]+)` \|", engines, flags=re.M))
    assert set(ENGINES) - {"auto"} <= rows, set(ENGINES) - {"auto"} - rows
    on_device = text[text.index("## On-device") : text.index("### Which one?")]
    assert all(f'"{name}"' in on_device for name in QUANTIZATIONS), QUANTIZATIONS
