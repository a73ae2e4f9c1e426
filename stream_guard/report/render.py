"""The case page and the index page: static, self-contained HTML.

A page fetches nothing: its style is inline, its timeline an inline SVG
(:mod:`~stream_guard.report.timeline`), it has no script at all, and its
Content-Security-Policy (``default-src 'none'``) forbids any fetch should a browser be
asked for one. Every string that comes from an input (subjects, reasons, details,
evidence, verdict texts, file names) goes through :func:`html.escape`. The inputs hold
no prompt text (alerts never carry any, and :mod:`~stream_guard.report.activity` keeps
none of an event's text), so none can reach a page.

>>> from stream_guard.report.load import AlertRecord, Loaded, Reason
>>> from stream_guard.report.case import AlertIndex, Subject, build_case
>>> a = AlertRecord("x", "account", "<b>acct</b>", ("<b>acct</b>",), 1, "high", 0.9, ("volume_rule",),
...                 (Reason("day_requests", 2500, 2000, "requests today <script>"),), 0.0, 3600.0, 3600.0, {})
>>> case = build_case(Subject("<b>acct</b>", "account"), AlertIndex([a]), Loaded("f", (a,)), now=0.0)
>>> page = render_case(case)
>>> "<script" in page, "&lt;script&gt;" in page, "&lt;b&gt;acct&lt;/b&gt;" in page
(False, True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import orjson

from stream_guard import __version__
from stream_guard.core.vocabulary import SEVERITIES, AlertKind
from stream_guard.report.case import Case, CaseAlert, Related, Subject, max_severity
from stream_guard.report.load import AlertRecord, Scalar
from stream_guard.report.timeline import SEVERITY_COLOURS, timeline_svg, utc

__all__ = ["MAX_ROWS", "IndexEntry", "LinkFor", "fmt", "index_entry", "render_case", "render_index"]

#: Rows of one table (members, alerts) shown on a page; the rest are counted.
MAX_ROWS = 500
#: Evidence values longer than this are cut.
MAX_VALUE_CHARS = 400

#: URL of a subject's case page, or ``None`` when there is none to link to.
LinkFor = Callable[[Subject], str | None]


def _no_links(_: Subject) -> str | None:
    return None


CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#1d1d1f;
background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
code,.mono{font-family:ui-monospace,monospace;font-size:.92em;word-break:break-all}
table{border-collapse:collapse;margin:.4em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;border-radius:3px;padding:1px 7px;color:#fff;font-size:.85em;font-weight:600}
.verdict{background:#555}.verdict.malicious{background:#a61e4d}.verdict.benign{background:#2b8a3e}
.verdict.allow{background:#1971c2}.muted{color:#666}.warn{color:#a61e4d;font-weight:600}
details.alert{border:1px solid #ddd;border-radius:4px;margin:.4em 0;padding:.2em .6em}
details.alert summary{cursor:pointer}
.wbar{display:inline-block;height:9px;margin-right:6px;vertical-align:middle;background:#e8590c}
.wbar.neg{background:#2b8a3e}.legend span{margin-right:14px}
""" + "".join(f".sev-{s}{{background:{c}}}" for s, c in SEVERITY_COLOURS.items())


def fmt(value: Scalar | Any) -> str:
    """A value as an analyst reads it (not yet escaped).

    >>> fmt(1738212.0), fmt(0.27), fmt(7.00571), fmt(None), fmt(True), fmt("-"), fmt({"payment": 1})
    ('1,738,212', '0.27', '7.0057', '-', 'true', '-', '{"payment":1}')
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _e(value: Any) -> str:
    return escape(fmt(value))


def _badge(severity: str | None) -> str:
    if severity is None:
        return '<span class="muted">-</span>'
    return f'<span class="badge sev-{escape(severity)}">{escape(severity)}</span>'


def _verdict_badge(verdict: str) -> str:
    return f'<span class="badge verdict {escape(verdict)}">{escape(verdict)}</span>'


def _time(ts: float | None) -> str:
    return "-" if ts is None else escape(utc(ts)) + " UTC"


def _subject(subject: Subject, link_for: LinkFor) -> str:
    url = link_for(subject)
    text = f"<code>{escape(subject.id)}</code>"
    return f'<a href="{escape(url)}">{text}</a>' if url else text


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "", total: int | None = None) -> str:
    """A table of already-escaped cells (``num:`` prefix: right-aligned); at most
    :data:`MAX_ROWS` rows, the rest counted."""
    body = []
    for n, row in enumerate(rows):
        if n == MAX_ROWS:
            break
        cells = "".join(f'<td class="num">{c[4:]}</td>' if c.startswith("num:") else f"<td>{c}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    more = ""
    if total is not None and total > len(body):
        more = f'<p class="muted">{total - len(body):,} more rows not shown.</p>'
    heads = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f'<table class="{cls}"><thead><tr>{heads}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>\n{body}\n</section>'


def _inputs(case: Case) -> str:
    rows = []
    for f in case.inputs:
        skipped = f"num:{f.skipped.count:,}"
        if f.skipped.count:
            skipped = f'num:<span class="warn">{f.skipped.count:,}</span>'
        examples = "<br>".join(escape(x) for x in f.skipped.examples) or '<span class="muted">-</span>'
        rows.append([escape(f.role), f"<code>{escape(f.path)}</code>", f"num:{f.records:,}", skipped, examples])
    note = "" if any(f.role == "events" for f in case.inputs) else (
        '<p class="muted">No events file: no activity, no attribute values.</p>')
    return _section("inputs", "Inputs", _table(
        ["input", "file", "records read", "lines skipped", "first skipped lines"], rows, cls="inputs") + note)


def _verdicts(case: Case) -> str:
    if case.verdicts is None:
        return _section("verdicts", "Analyst verdicts", '<p class="muted">No verdicts file given.</p>')
    if not case.verdicts:
        return _section("verdicts", "Analyst verdicts", "<p>No analyst verdict on this case.</p>")
    related = "member" if case.subject.kind == "cluster" else "its cluster"
    rows = [[
        _time(v.record.at), f"<code>{escape(v.record.subject)}</code>" + (f" ({related})" if v.on_related else ""),
        _verdict_badge(v.record.verdict) + (f" via <code>{escape(v.record.via)}</code>" if v.record.via else ""),
        escape(v.record.reason) or "-", escape(v.record.analyst) or "-",
        _time(v.record.expires_at), "active" if v.active else '<span class="muted">expired</span>',
    ] for v in case.verdicts]
    return _section("verdicts", "Analyst verdicts", _table(
        ["at", "subject", "verdict", "reason", "analyst", "expires", "status"], rows, cls="verdicts"))


def _timeline(case: Case) -> str:
    legend = "".join(f'<span>{_badge(s)}</span>' for s in SEVERITIES)
    return _section("timeline-section", "Timeline", (
        f"{timeline_svg(case)}\n<p class=\"legend muted\">{legend} dot: an alert (hollow: on a cluster or "
        "member of the case); bar: requests; diamond: an analyst verdict.</p>"))


def _episodes(case: Case) -> str:
    if case.subject.kind != "account":
        return ""
    if not case.episodes:
        return _section("episodes", "Episodes", '<p class="muted">No alert of an episode (only detectors '
                        "that do not mark episodes alerted).</p>")
    rows = [[
        f"num:{e.number}", _time(e.started) + ("" if e.opened_in_file else ' <span class="muted">(opened '
                                                 "before the file)</span>"),
        _time(e.last), " → ".join(_badge(s) for s in e.severities), escape(", ".join(e.detectors)),
    ] for e in case.episodes]
    return _section("episodes", "Episodes", _table(
        ["#", "first alert", "last alert", "severities", "detectors"], rows, cls="episodes"))


def _related_rows(related: Sequence[Related], link_for: LinkFor, events: bool) -> list[list[str]]:
    rows = []
    for r in related:
        row = [_subject(r.subject, link_for), f"num:{r.alerts:,}", _badge(r.max_severity),
               _time(r.first_listed), _time(r.last_listed)]
        if events:
            row.append(f"num:{r.requests or 0:,}")
        row.append(_verdict_badge(r.verdict) if r.verdict else "-")
        rows.append(row)
    return rows


def _related(case: Case, link_for: LinkFor) -> str:
    events = case.hours is not None
    if case.subject.kind == "cluster":
        head = ["member account", "its own alerts", "highest", "first listed", "last listed"]
        title = f"Members ({case.account_count:,} accounts; {len(case.related):,} listed in the alerts)"
        anchor = "members"
    else:
        if not case.related:
            return ""
        head = ["cluster", "cluster alerts", "highest", "first listed", "last listed"]
        title, anchor = "Clusters it was listed in", "clusters"
    head += (["requests"] if events else []) + ["verdict"]
    return _section(anchor, title, _table(head, _related_rows(case.related, link_for, events),
                                          cls=anchor, total=len(case.related)))


def _shared(case: Case) -> str:
    parts = []
    if case.shared_links:
        rows = [[escape(s.kind), "num:" + _e(s.values), "num:" + _e(s.accounts), escape(s.detail)]
                for s in case.shared_links]
        parts.append("<p>Linking attribute kinds (the latest cluster alert):</p>" + _table(
            ["kind", "values linking", "accounts on the strongest", "the strongest value"], rows, cls="links"))
    if case.attributes is not None:
        cluster = case.subject.kind == "cluster"
        rows = [[escape(u.value.kind), f"<code>{escape(u.value.value)}</code>"]
                + ([f"num:{u.accounts:,}"] if cluster else []) + [f"num:{u.requests:,}"] for u in case.attributes]
        what = ("Attribute values shared by two or more members in the events (the most shared first):"
                if cluster else "Attribute values in the account's events (the most used of each kind):")
        head = ["kind", "value"] + (["accounts"] if cluster else []) + ["requests"]
        parts.append(f"<p>{what}</p>" + (_table(head, rows, cls="values") if rows else '<p class="muted">None.</p>'))
    if not parts:
        return ""
    return _section("shared", "Shared attributes" if case.subject.kind == "cluster" else "Attributes",
                    "\n".join(parts) + '<p class="muted">Addresses and user agents are pseudonyms '
                    "(<code>h:</code> + hash), as in the alerts.</p>")


def _weight_cell(weight: float | None, most: float) -> str:
    if weight is None:
        return "-"
    px = round(abs(weight) / most * 80) if most else 0
    return f'num:<span class="wbar{" neg" if weight < 0 else ""}" style="width:{px}px"></span>{_e(weight)}'


def _reasons(alert: AlertRecord) -> str:
    weighted = any(r.weight is not None for r in alert.reasons)
    most = max((abs(r.weight) for r in alert.reasons if r.weight is not None), default=0.0)
    rows = []
    for r in alert.reasons:
        row = [f"<code>{escape(r.signal)}</code>", "num:" + _e(r.value), _e(r.threshold)]
        if weighted:
            row.append(_weight_cell(r.weight, most))
        rows.append(row + [escape(r.detail)])
    head = ["signal", "value", "threshold"] + (["weight"] if weighted else []) + ["detail"]
    return _table(head, rows, cls="reasons")


def _evidence(evidence: Mapping[str, Any]) -> str:
    if not evidence:
        return ""
    rows = [[f"<code>{escape(str(k))}</code>", "num:" + _e(v)] for k, v in evidence.items()]
    return "<p>Evidence:</p>" + _table(["field", "value"], rows, cls="evidence")


def _alert(n: int, c: CaseAlert, open_: bool, link_for: LinkFor) -> str:
    a = c.alert
    via = ""
    if c.via is not None:
        via_kind: AlertKind = "cluster" if a.kind == "cluster" else "account"
        via = f" — on {via_kind} {_subject(Subject(c.via, via_kind), link_for)}"
    episode = f" ({escape(a.episode)})" if a.episode else ""
    accounts = f", {a.account_count:,} accounts" if a.kind == "cluster" else ""
    summary = (f"{_time(a.raised_at)} {_badge(a.severity)} score {a.score:.2f} "
               f"<code>{escape(', '.join(a.detectors))}</code>{episode}{accounts}{via}")
    window = f"<p class=\"muted\">Window {_time(a.window_start)} – {_time(a.window_end)}; alert id " \
             f"<code>{escape(a.alert_id)}</code>.</p>"
    return (f'<details class="alert" id="alert-{n}"{" open" if open_ else ""}><summary>{summary}</summary>'
            f"{window}{_reasons(a)}{_evidence(a.evidence)}</details>")


def _alerts(case: Case, link_for: LinkFor) -> str:
    shown = case.alerts[-MAX_ROWS:]
    more = len(case.alerts) - len(shown)
    note = f'<p class="muted">The {more:,} earliest alerts are not shown.</p>' if more else ""
    items = [_alert(n, c, n == len(shown), link_for) for n, c in enumerate(shown, 1)]
    return _section("alerts", f"Alerts and their evidence ({len(case.alerts):,}, oldest first)",
                    note + "\n".join(items))


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
        f"<footer class=\"muted\"><p>stream-guard {escape(__version__)}; no prompt text is shown (the inputs "
        "hold none that reaches this page).</p></footer>\n</body></html>\n"
    )


def render_case(case: Case, *, link_for: LinkFor = _no_links, index_url: str | None = None) -> str:
    """The case page of ``case``; ``link_for`` gives the URL of another subject's page (or
    ``None``), ``index_url`` that of the index of pages."""
    s = case.subject
    first, last = case.alerts[0].alert.raised_at, case.alerts[-1].alert.raised_at
    members = f"; {case.account_count:,} member accounts" if s.kind == "cluster" else ""
    nav = f'<p><a href="{escape(index_url)}">all cases</a></p>' if index_url else ""
    header = (
        f"<header>{nav}<h1>{'Cluster' if s.kind == 'cluster' else 'Account'} <code>{escape(s.id)}</code> "
        f"{_badge(case.max_severity)}</h1><p>{_count(len(case.alerts), 'alert')} from {_time(first)} to {_time(last)} "
        f"(event time); detectors <code>{escape(', '.join(case.detectors))}</code>{members}. "
        f'Made {_time(case.generated_at)}.</p></header>'
    )
    sections = [header, _verdicts(case), _timeline(case), _episodes(case), _related(case, link_for),
                _shared(case), _alerts(case, link_for), _inputs(case)]
    return _page(f"stream-guard case: {s.kind} {s.id}", "\n".join(x for x in sections if x))


@dataclass(frozen=True)
class IndexEntry:
    """One line of the index: a subject with a page, and its alerts in short."""

    subject: Subject
    url: str
    alerts: int
    max_severity: str
    first: float
    last: float
    accounts: int


def index_entry(case: Case, url: str) -> IndexEntry:
    """The index line of ``case``, whose page is at ``url``."""
    return IndexEntry(case.subject, url, len(case.alerts), case.max_severity, case.alerts[0].alert.raised_at,
                      case.alerts[-1].alert.raised_at, case.account_count)


def render_index(entries: Sequence[IndexEntry], *, generated_at: float, skipped_lines: int = 0) -> str:
    """The index of case pages, one section per highest severity (anchors
    ``#severity-critical`` ... ``#severity-low``, which the Grafana dashboard links to)."""
    sections = []
    for severity in reversed(SEVERITIES):
        group = sorted((e for e in entries if e.max_severity == severity), key=lambda e: (-e.last, e.subject))
        rows = [[f'<a href="{escape(e.url)}"><code>{escape(e.subject.id)}</code></a>', escape(e.subject.kind),
                 f"num:{e.alerts:,}", f"num:{e.accounts:,}", _time(e.first), _time(e.last)] for e in group]
        body = _table(["subject", "kind", "alerts", "accounts", "first alert", "last alert"], rows,
                      total=len(group)) if group else '<p class="muted">None.</p>'
        sections.append(f'<section id="severity-{severity}"><h2>{_badge(severity)} highest severity '
                        f"{escape(severity)} ({len(group):,})</h2>{body}</section>")
    top = max_severity(e.max_severity for e in entries)
    skipped = f' <span class="warn">{skipped_lines:,} alert lines skipped.</span>' if skipped_lines else ""
    header = (f"<header><h1>stream-guard cases {_badge(top)}</h1><p>{len(entries):,} case pages, "
              f"{sum(1 for e in entries if e.subject.kind == 'cluster'):,} of clusters; made "
              f"{_time(generated_at)}.{skipped}</p></header>")
    return _page("stream-guard cases", header + "\n".join(sections))
