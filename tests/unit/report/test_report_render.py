"""stream_guard.report.render and timeline: a static page, every input string escaped,
no prompt text, nothing fetched."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from report_helpers import (
    CLUSTER_ID,
    HOUR,
    PROMPT,
    T0,
    alert,
    event,
    evidence_alert,
    scenario,
    verdict,
    write_jsonl,
)
from stream_guard.report.activity import scan_events
from stream_guard.report.case import AlertIndex, Case, Subject, build_case
from stream_guard.report.load import read_alerts, read_verdicts
from stream_guard.report.render import MAX_ROWS, fmt, index_entry, render_case, render_index

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
KINDS = {"ip", "payment", "user_agent", "client", "system_prompt", "asn"}


class Tags(HTMLParser):
    """Every start tag with its attributes (the page parsed as a browser's tokenizer would)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def case_from(paths, subject: Subject, now: float = T0 + 24 * HOUR) -> Case:
    alerts = read_alerts(paths["alerts"])
    index = AlertIndex(alerts.records)
    activity = scan_events(paths["events"], index.accounts(subject), kinds=KINDS) if "events" in paths else None
    verdicts = read_verdicts(paths["verdicts"]) if "verdicts" in paths else None
    return build_case(subject, index, alerts, activity=activity, verdicts=verdicts, now=now)


@pytest.mark.parametrize("subject", [Subject("acct-1", "account"), Subject(CLUSTER_ID, "cluster")])
def test_no_prompt_text_from_the_events_file_reaches_the_page(tmp_path, subject) -> None:
    paths = scenario(tmp_path)
    assert PROMPT in paths["events"].read_text()
    page = render_case(case_from(paths, subject))
    assert PROMPT not in page and "solve 17*23" not in page


def test_hostile_strings_are_escaped_everywhere(tmp_path) -> None:
    reasons = [{"signal": HOSTILE, "value": HOSTILE, "threshold": HOSTILE, "detail": HOSTILE, "weight": 1.0}]
    rows = [alert(HOSTILE, T0, "high", reasons=reasons, evidence={HOSTILE: HOSTILE, "episode": HOSTILE},
                  alert_id=HOSTILE)]
    paths = {
        "alerts": write_jsonl(tmp_path / "a.jsonl", rows, extra_lines=[HOSTILE]),
        "events": write_jsonl(tmp_path / "e.jsonl", [event(HOSTILE, T0, user_agent=HOSTILE, client_fingerprint=HOSTILE,
                                                           payment_fingerprint=HOSTILE, prompt=HOSTILE)]),
        "verdicts": write_jsonl(tmp_path / "v.jsonl", [verdict(HOSTILE, HOSTILE, reason=HOSTILE, analyst=HOSTILE,
                                                               at=T0 + 60)]),
    }
    page = render_case(case_from(paths, Subject(HOSTILE, "account")))
    assert "<script" not in page.lower() and "onerror" not in [a for _, attrs in Tags(page).tags for a in attrs]
    assert "<img" not in page
    assert "&lt;script&gt;" in page  # shown, as text


def test_the_page_fetches_nothing_and_runs_no_script(tmp_path) -> None:
    page = render_case(case_from(scenario(tmp_path), Subject(CLUSTER_ID, "cluster")))
    tags = Tags(page).tags
    assert not [t for t, _ in tags if t in {"script", "link", "img", "iframe", "object", "embed", "image", "use"}]
    assert not [a for _, attrs in tags for a in attrs if a == "src" or a.startswith("on")]
    csp = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'"]
    assert "url(" not in page and "@import" not in page


def test_the_timeline_has_a_dot_per_alert_bars_and_verdict_diamonds(tmp_path) -> None:
    case = case_from(scenario(tmp_path), Subject(CLUSTER_ID, "cluster"))
    page = render_case(case)
    svg = page[page.index("<svg"):page.index("</svg>")]
    markers = re.findall(r'<circle class="alert-marker" data-severity="(\w+)"', svg)
    assert sorted(markers) == sorted(c.alert.severity for c in case.alerts) and len(markers) == 3
    assert svg.count('class="activity-bar"') == len(case.hours or ())
    assert svg.count('class="verdict-marker"') == 2  # the cluster's and a member's


def test_an_account_page_shows_weights_episodes_skipped_lines_and_verdicts(tmp_path) -> None:
    paths = scenario(tmp_path)
    write_jsonl(paths["verdicts"], [verdict("acct-1", "benign", reason="known lab", expires_at=T0)])
    page = render_case(case_from(paths, Subject("acct-1", "account")))
    assert 'class="wbar"' in page and 'class="wbar neg"' in page and "-0.4729" in page
    assert re.search(r"<td class=\"num\">1</td><td>[^<]*2026-03-02 10:00:00 UTC", page)  # episode 1
    assert 'num:' not in page
    assert '<span class="warn">2</span>' in page and "line 7: not JSON" in page  # the alerts' skipped lines
    assert "known lab" in page and "expired" in page
    assert "requests/" in page and PROMPT not in page


def test_without_events_or_verdicts_the_page_says_so(tmp_path) -> None:
    paths = {"alerts": scenario(tmp_path)["alerts"]}
    page = render_case(case_from(paths, Subject("acct-1", "account")))
    assert "No events file" in page and "no events file given" in page and "No verdicts file given" in page


def test_links_to_other_pages_and_the_index(tmp_path) -> None:
    case = case_from(scenario(tmp_path), Subject(CLUSTER_ID, "cluster"))
    page = render_case(case, link_for=lambda s: f"https://cases.example/{s.id}.html?x=<>", index_url="index.html")
    hrefs = [attrs["href"] for t, attrs in Tags(page).tags if t == "a"]
    assert hrefs[0] == "index.html" and "https://cases.example/acct-m0.html?x=<>" in hrefs  # escaped, then parsed


def test_a_long_case_gets_bars_of_several_hours(tmp_path) -> None:
    rows = [evidence_alert("a", T0, "low", "new"), evidence_alert("a", T0 + 20 * 24 * HOUR, "high", "escalation")]
    paths = {"alerts": write_jsonl(tmp_path / "a.jsonl", rows),
             "events": write_jsonl(tmp_path / "e.jsonl", [event("a", T0 + h * HOUR) for h in range(20 * 24)])}
    case = case_from(paths, Subject("a", "account"))
    page = render_case(case)
    bars = page.count('class="activity-bar"')
    assert 0 < bars <= 240 and bars < len(case.hours or ()) and "requests/</text>" in page and "3 hours" in page
    assert page.count('class="alert-marker"') == 2


def test_long_tables_are_capped(tmp_path) -> None:
    rows = [evidence_alert("a", T0 + i * 60, "low", "new") for i in range(MAX_ROWS + 3)]
    page = render_case(case_from({"alerts": write_jsonl(tmp_path / "a.jsonl", rows)}, Subject("a", "account")))
    assert page.count('<details class="alert"') == MAX_ROWS and "The 3 earliest alerts are not shown" in page
    assert page.count('class="alert-marker"') == MAX_ROWS + 3  # the timeline shows every one


def test_index_groups_cases_by_highest_severity(tmp_path) -> None:
    paths = scenario(tmp_path)
    alerts = read_alerts(paths["alerts"])
    index = AlertIndex(alerts.records)
    entries = [index_entry(build_case(s, index, alerts, now=T0), f"{s.id}.html") for s in index.subjects]
    page = render_index(entries, generated_at=T0, skipped_lines=2)
    for severity in ("critical", "high", "medium", "low"):
        assert f'id="severity-{severity}"' in page
    high = page[page.index('id="severity-high"'):page.index('id="severity-medium"')]
    assert f"{CLUSTER_ID}.html" in high and "acct-m0.html" in high and "acct-1.html" not in high
    assert "2 alert lines skipped" in page


@pytest.mark.parametrize("value,text", [(2_021.0, "2,021"), (0.14, "0.14"), (1e20, "100,000,000,000,000,000,000"),
                                        ("x" * 500, "x" * 400 + "…"), ([1, "a"], '[1,"a"]')])
def test_values_read_as_an_analyst_expects(value, text) -> None:
    assert fmt(value) == text
