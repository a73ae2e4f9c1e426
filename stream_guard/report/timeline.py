"""The case's timeline as an inline SVG, drawn here (no plotting library, no script).

Time runs left to right in UTC. The top band has one lane per severity (critical on top)
with a dot per alert of the case (hollow: an alert reached through a cluster or a member,
see :class:`~stream_guard.report.case.CaseAlert`); below, bars of requests per hour (per
few hours on long cases) from the events file, and a diamond per analyst verdict. Every
element has a ``<title>`` tooltip; every text is escaped.

>>> from stream_guard.report.load import AlertRecord, Loaded, Reason
>>> from stream_guard.report.case import AlertIndex, Subject, build_case
>>> a = AlertRecord("x", "account", "acct-1", ("acct-1",), 1, "high", 0.9, ("volume_rule",),
...                 (Reason("day_requests", 2500, 2000, "requests today"),), 0.0, 3600.0, 3600.0, {})
>>> case = build_case(Subject("acct-1", "account"), AlertIndex([a]), Loaded("f", (a,)), now=0.0)
>>> svg = timeline_svg(case)
>>> svg.startswith("<svg"), svg.count('class="alert-marker'), "no events file" in svg
(True, 1, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from stream_guard.core.vocabulary import SEVERITIES
from stream_guard.report.activity import HOUR
from stream_guard.report.case import Case, HourCount, severity_rank

__all__ = ["SEVERITY_COLOURS", "timeline_svg", "utc"]

#: Fill colour of each severity (also used by the page's badges).
SEVERITY_COLOURS = {"low": "#5b8fd6", "medium": "#d9a400", "high": "#e8590c", "critical": "#c92a2a"}
#: Most bars drawn: longer cases get bars of several hours.
MAX_BARS = 240
_BAR_HOURS = (1, 2, 3, 6, 12, 24, 48, 168, 720)
_TICK_STEPS = (HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 7 * 24 * HOUR,
               14 * 24 * HOUR, 30 * 24 * HOUR, 365 * 24 * HOUR)
MAX_TICKS = 8

WIDTH, LEFT, RIGHT = 960, 78, 16
LANE_H, LANES_TOP = 18, 12
BARS_TOP = LANES_TOP + LANE_H * len(SEVERITIES) + 14
BARS_H = 120
AXIS_Y = BARS_TOP + BARS_H
HEIGHT = AXIS_Y + 40


def utc(ts: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """``ts`` (Unix seconds) as UTC text.

    >>> utc(0.0)
    '1970-01-01 00:00:00'
    """
    return datetime.fromtimestamp(ts, UTC).strftime(fmt)


@dataclass(frozen=True)
class _Scale:
    t0: float
    t1: float

    def x(self, ts: float) -> float:
        return round(LEFT + (ts - self.t0) / (self.t1 - self.t0) * (WIDTH - LEFT - RIGHT), 1)


def _scale(case: Case) -> _Scale:
    times = [c.alert.raised_at for c in case.alerts]
    times += [h.start for h in case.hours or ()] + [h.start + HOUR for h in case.hours or ()]
    times += [v.record.at for v in case.verdicts or ()]
    t0, t1 = min(times), max(times)
    if t1 - t0 < 2 * HOUR:
        mid = (t0 + t1) / 2
        t0, t1 = mid - HOUR, mid + HOUR
    pad = (t1 - t0) * 0.02
    return _Scale(t0 - pad, t1 + pad)


def _buckets(hours: tuple[HourCount, ...], span: float) -> tuple[int, list[tuple[float, int, int]]]:
    """(hours per bar, [(bar start, requests, most accounts active in one of its hours)])."""
    size = next((h for h in _BAR_HOURS if span / (h * HOUR) <= MAX_BARS), _BAR_HOURS[-1])
    bars: dict[float, tuple[int, int]] = {}
    for h in hours:
        start = h.start - h.start % (size * HOUR)
        requests, accounts = bars.get(start, (0, 0))
        bars[start] = (requests + h.requests, max(accounts, h.accounts))
    return size, [(start, r, a) for start, (r, a) in sorted(bars.items())]


def _ticks(scale: _Scale) -> list[str]:
    step = next((s for s in _TICK_STEPS if (scale.t1 - scale.t0) / s <= MAX_TICKS), _TICK_STEPS[-1])
    fmt = "%m-%d %H:%M" if step < 24 * HOUR else "%Y-%m-%d"
    out = []
    tick = scale.t0 - scale.t0 % step + step
    while tick < scale.t1:
        x = scale.x(tick)
        out.append(f'<line class="tick" x1="{x}" x2="{x}" y1="{LANES_TOP}" y2="{AXIS_Y + 4}" stroke="#ddd"/>'
                   f'<text x="{x}" y="{AXIS_Y + 18}" text-anchor="middle">{escape(utc(tick, fmt))}</text>')
        tick += step
    return out


def _bars(case: Case, scale: _Scale) -> list[str]:
    if case.hours is None:
        return [f'<text x="{LEFT + 8}" y="{BARS_TOP + BARS_H / 2}" fill="#666">no events file given: '
                "alerts only (pass --events for the activity)</text>"]
    if not case.hours:
        return [f'<text x="{LEFT + 8}" y="{BARS_TOP + BARS_H / 2}" fill="#666">no events of the case\'s '
                "accounts in the events file</text>"]
    size, bars = _buckets(case.hours, scale.t1 - scale.t0)
    top = max(r for _, r, _ in bars)
    width = max(scale.x(size * HOUR) - scale.x(0) - 1, 1.0)
    unit = "hour" if size == 1 else f"{size} hours"
    out = [f'<text x="{LEFT - 6}" y="{BARS_TOP + 10}" text-anchor="end">{top:,}</text>',
           f'<text x="{LEFT - 6}" y="{AXIS_Y}" text-anchor="end">0</text>',
           f'<text x="{LEFT - 6}" y="{BARS_TOP + BARS_H / 2}" text-anchor="end">requests/</text>',
           f'<text x="{LEFT - 6}" y="{BARS_TOP + BARS_H / 2 + 12}" text-anchor="end">{escape(unit)}</text>']
    for start, requests, accounts in bars:
        h = max(round(requests / top * BARS_H, 1), 1.0)
        who = f", up to {accounts:,} accounts active in an hour" if case.subject.kind == "cluster" else ""
        out.append(f'<rect class="activity-bar" x="{scale.x(start)}" y="{AXIS_Y - h}" width="{width}" '
                   f'height="{h}" fill="#9bb7d4"><title>{escape(utc(start, "%Y-%m-%d %H:%M"))} UTC, {unit}: '
                   f'{requests:,} requests{who}</title></rect>')
    return out


def _markers(case: Case, scale: _Scale) -> list[str]:
    out = []
    for lane, severity in enumerate(reversed(SEVERITIES)):
        y = LANES_TOP + lane * LANE_H + LANE_H / 2
        out.append(f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{severity}</text>'
                   f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="#eee"/>')
    for c in case.alerts:
        a = c.alert
        y = LANES_TOP + (len(SEVERITIES) - 1 - severity_rank(a.severity)) * LANE_H + LANE_H / 2
        colour = SEVERITY_COLOURS[a.severity]
        paint = f'fill="white" stroke="{colour}" stroke-width="2"' if c.via else f'fill="{colour}"'
        via = f" (on {c.via})" if c.via else ""
        out.append(f'<circle class="alert-marker" data-severity="{a.severity}" cx="{scale.x(a.raised_at)}" '
                   f'cy="{y}" r="5.5" {paint}><title>{escape(utc(a.raised_at))} UTC: {a.severity} '
                   f'{escape(", ".join(a.detectors))}, score {a.score:.2f}{escape(via)}</title></circle>')
    for v in case.verdicts or ():
        x, y = scale.x(v.record.at), AXIS_Y - 6
        out.append(f'<path class="verdict-marker" d="M{x} {y - 6} L{x + 6} {y} L{x} {y + 6} L{x - 6} {y} Z" '
                   f'fill="#333"><title>{escape(utc(v.record.at))} UTC: verdict {escape(v.record.verdict)} on '
                   f'{escape(v.record.subject)} by {escape(v.record.analyst or "?")}</title></path>')
    return out


def timeline_svg(case: Case) -> str:
    """The timeline of ``case``: alert dots by severity, activity bars, verdict diamonds."""
    scale = _scale(case)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-label="timeline of alerts and activity" '
        f'font-family="sans-serif" font-size="11" fill="#222">',
        *_ticks(scale),
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{AXIS_Y}" y2="{AXIS_Y}" stroke="#888"/>',
        *_bars(case, scale),
        *_markers(case, scale),
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end" fill="#666">event time, UTC</text>',
        "</svg>",
    ]
    return "\n".join(parts)
