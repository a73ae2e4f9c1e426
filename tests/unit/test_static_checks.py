"""The static checks: ``mypy --strict`` and ``ruff``, configured in ``pyproject.toml``.

They run here so that the README's one test command (and so ``.ci/run``) runs them too.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_mypy_config_is_strict_and_covers_the_package() -> None:
    mypy = CONFIG["tool"]["mypy"]
    assert mypy["strict"] is True
    assert mypy["files"] == ["stream_guard"]
    # overrides may only say "this library ships no types", never silence our own modules
    for override in mypy.get("overrides", []):
        assert set(override) <= {"module", "ignore_missing_imports", "follow_untyped_imports"}, override
        assert not any(m.startswith("stream_guard") for m in override["module"]), override


def test_mypy_strict_passes() -> None:
    result = _run("mypy", "--no-error-summary")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_every_type_ignore_says_which_error_and_why() -> None:
    bare = []
    for path in sorted((ROOT / "stream_guard").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "# type: ignore" in line:
                _, _, rest = line.partition("# type: ignore")
                if not rest.startswith("[") or "#" not in rest:
                    bare.append(f"{path.relative_to(ROOT)}:{n}")
    assert not bare, f"type: ignore without an error code and a reason: {bare}"


def test_ruff_passes() -> None:
    result = _run("ruff", "check", "stream_guard", "tests", "bench", "scripts", "--output-format", "concise")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
