"""The README documents every setting (it is generated from Settings.describe())."""

from __future__ import annotations

from pathlib import Path

from stream_guard.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting_with_its_default() -> None:
    text = README.read_text()
    for name, default, _ in Settings.describe():
        assert f"| `{name}` | `{default}` |" in text, (f"README lacks {name}; "
                                                      "run `stream-guard settings --format markdown`")
