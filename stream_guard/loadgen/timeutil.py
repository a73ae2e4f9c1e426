"""Event-time helpers: durations, start instants and fast RFC 3339 formatting.

The generator keeps event time as integer milliseconds since the Unix epoch
(``HOUR_MS``, ``DAY_MS``).

>>> parse_duration("2d"), parse_duration("1h30m"), parse_duration("90")
(172800.0, 5400.0, 90.0)
>>> parse_start("2026-03-01")
1772323200.0
>>> fmt = TsFormatter()
>>> fmt(1772366400123)
'2026-03-01T12:00:00.123+00:00'
>>> format_iso(1772366400.0)
'2026-03-01T12:00:00.000+00:00'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["DAY_MS", "HOUR_MS", "TsFormatter", "format_iso", "parse_duration", "parse_iso", "parse_start"]

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a number with an optional unit (s, m, h, d, w), parts may chain."""
    s = text.strip().lower()
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 6h, 2d, 1h30m)")
    return total


def parse_iso(text: str) -> float:
    """Unix seconds of an RFC 3339 / ISO 8601 instant; a naive one is taken as UTC."""
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def parse_start(text: str) -> float:
    """Unix seconds of ``--start``: an RFC 3339 instant, a date, or epoch seconds."""
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        return parse_iso(t)


def format_iso(seconds: float) -> str:
    """RFC 3339 with milliseconds and ``+00:00`` offset."""
    return _SHARED(round(seconds * 1000))


class TsFormatter:
    """Formats integer epoch milliseconds as RFC 3339, caching the per-minute prefix.

    Events come out in time order, so consecutive calls mostly fall in the same minute
    and cost one f-string instead of a datetime conversion.
    """

    __slots__ = ("_minute", "_prefix")

    def __init__(self) -> None:
        self._minute = -1
        self._prefix = ""

    def __call__(self, ms: int) -> str:
        minute, rest = divmod(ms, 60000)
        if minute != self._minute:
            self._minute = minute
            self._prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
        sec, milli = divmod(rest, 1000)
        return f"{self._prefix}{sec:02d}.{milli:03d}+00:00"


_SHARED = TsFormatter()
