"""The case view in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Real alerts: ``stream-guard loadgen --scenario smoke`` (an extraction account's episode, a
hydra cluster, model pivots) replayed with ``stream-guard replay``; then ``stream-guard
report --all`` writes every case page and the index. Each page is opened from disk in the
browser, which must: load it with no console error, no page error and no request beyond
the file itself; draw the SVG timeline with one marker per alert of the case (and one
bar per hour of activity); and give a screenshot that is a real PNG with more than a
blank page's colours in it.

Skipped, with the reason, when Chromium or Playwright is missing (``scripts/setup``
installs both); under CI (``CI`` set) a missing browser fails instead, so that a broken
install step cannot pass as a skip. Playwright's own browser download is not used (no
network here): it launches the system binary.
"""

from __future__ import annotations

import html
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from stream_guard.report.case import AlertIndex
from stream_guard.report.load import read_alerts
from stream_guard.report.pages import INDEX, page_names

ROOT = Path(__file__).resolve().parents[2]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: Milliseconds Playwright waits for the browser to start, and for a page action.
LAUNCH_TIMEOUT_MS = 60_000
PAGE_TIMEOUT_MS = 20_000

pytestmark = pytest.mark.timeout(300)


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs scripts/setup, which installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    executable = next((p for p in map(shutil.which, BROWSERS) if p), None)
    if executable is None:
        _missing("no Chromium on the PATH: install Debian's 'chromium' package (scripts/setup does, as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, timeout=LAUNCH_TIMEOUT_MS)
        try:
            yield b
        finally:
            b.close()


def _run(*args: str, timeout: float = 120) -> None:
    done = subprocess.run([sys.executable, "-m", "stream_guard", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"stream-guard {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, Path]:
    """Real alerts from the smoke scenario, and every case page written from them."""
    d = tmp_path_factory.mktemp("case-view")
    events, alerts, verdicts, out = d / "events.jsonl", d / "alerts.jsonl", d / "verdicts.jsonl", d / "site"
    _run("loadgen", "--scenario", "smoke", "--out", str(events), "--quiet")
    _run("replay", str(events), "--out", str(alerts), "--jobs", "1")
    index = AlertIndex(read_alerts(alerts).records)
    cluster = next(s for s in index.subjects if s.kind == "cluster")
    verdicts.write_text(f'{{"subject": "{cluster.id}", "subject_kind": "cluster", "verdict": "malicious", '
                        f'"reason": "hydra <b>confirmed</b>", "analyst": "alice", "at": "2026-03-02T13:00:00Z"}}\n'
                        "not json\n")
    _run("report", "--alerts", str(alerts), "--all", "--events", str(events), "--verdicts", str(verdicts),
         "--out-dir", str(out))
    return {"alerts": alerts, "events": events, "out": out}


def _open(browser, path: Path):
    """The page at ``path`` loaded, and what went wrong while loading it."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("request", lambda r: None if r.url == path.as_uri() else problems.append(f"fetched: {r.url}"))
    page.goto(path.as_uri(), wait_until="load", timeout=PAGE_TIMEOUT_MS)
    return page, problems


def _assert_not_blank(png: bytes) -> None:
    from PIL import Image

    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, f"{len(colours)} colours: a blank page?"
    white = max((n for n, rgb in colours if rgb == (255, 255, 255)), default=0)
    assert white < 0.97 * image.width * image.height, "almost all white"
    for severity_colour in ((232, 89, 12), (217, 164, 0), (91, 143, 214)):  # high, medium, low dots and badges
        assert any(rgb == severity_colour for _, rgb in colours), severity_colour


@pytest.mark.parametrize("kind", ["cluster", "account"])
def test_a_case_page_renders_in_chromium(browser, site, kind, tmp_path) -> None:
    alerts = read_alerts(site["alerts"])
    index = AlertIndex(alerts.records)
    names = page_names(index.subjects)
    # the case with the most alerts of this kind
    subject = max((s for s in index.subjects if s.kind == kind), key=lambda s: (len(index.case_alerts(s)), s))
    expected = len(index.case_alerts(subject))
    page, problems = _open(browser, site["out"] / names[subject])
    try:
        assert page.title() == f"stream-guard case: {kind} {subject.id}"
        svg = page.locator("svg#timeline")
        box = svg.bounding_box()
        assert box is not None and box["width"] > 600 and box["height"] > 150
        assert page.locator("svg#timeline circle.alert-marker").count() == expected
        assert page.locator("svg#timeline rect.activity-bar").count() >= 1
        assert page.locator("details.alert").count() == expected
        if kind == "cluster":
            assert page.locator("svg#timeline .verdict-marker").count() == 1
            assert "hydra <b>confirmed</b>" in page.locator("#verdicts").inner_text()  # shown as text
            assert page.locator("#members tbody tr").count() >= 5
        png = page.screenshot(full_page=True, timeout=PAGE_TIMEOUT_MS)
        (tmp_path / f"{kind}.png").write_bytes(png)
        _assert_not_blank(png)
        assert problems == []
    finally:
        page.close()


def test_the_index_renders_and_links_every_page(browser, site) -> None:
    page, problems = _open(browser, site["out"] / INDEX)
    try:
        index = AlertIndex(read_alerts(site["alerts"]).records)
        links = page.locator("a").evaluate_all("links => links.map(a => a.href)")
        pages = {Path(p).name for p in site["out"].glob("*.html")} - {INDEX}
        assert sorted(Path(link).name for link in links) == sorted(pages)
        assert len(pages) == len(index.subjects)
        assert page.locator("#severity-high tbody tr").count() >= 1
        _assert_not_blank(page.screenshot(full_page=True, timeout=PAGE_TIMEOUT_MS))
        assert problems == []
    finally:
        page.close()


def test_the_pages_hold_no_prompt_text(site) -> None:
    prompts = set()
    with site["events"].open() as fh:
        for line in fh:
            text = json.loads(line).get("prompt")
            if isinstance(text, str) and len(text) > 20:
                prompts.add(text)
            if len(prompts) >= 200:
                break
    assert prompts, "the smoke scenario sends prompt text"
    for path in site["out"].glob("*.html"):
        text = path.read_text()
        assert not [p for p in prompts if p in text or html.escape(p) in text], path.name

