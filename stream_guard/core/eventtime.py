"""Event-time sanity: which event times may enter the detector at all.

An event whose ``ts`` lies far ahead of the reference time (the wall clock in the worker,
the stream's own time in replay) would move the watermark there: every later event would
be "late", every window closed, every boundary up to it judged. One far behind its
partition's latest event time is older than every window. Both are rejected before they
touch any state, with a reason the dead-letter topic carries (``out_of_range_time``).

>>> bounds = TimeBounds(max_ahead_s=3600.0, max_behind_s=86400.0)
>>> bounds.violation(1_000.0, reference=1_000.0, latest=900.0) is None
True
>>> bounds.violation(1e12, reference=1_000.0, latest=900.0)
'ts 1e+12 is 999999999000 s ahead of the reference time 1000 (limit 3600 s)'
>>> bounds.violation(0.0, reference=200_000.0, latest=190_000.0)
'ts 0 is 190000 s behind the latest event time 190000 (limit 86400 s)'
>>> bounds.violation(float("nan"), reference=0.0, latest=0.0)
'ts nan is not a finite number'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stream_guard.settings import Settings

__all__ = ["TimeBounds"]


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """How far ahead of the reference time and behind the latest event time ``ts`` may lie."""

    max_ahead_s: float
    max_behind_s: float

    @classmethod
    def of(cls, settings: Settings) -> TimeBounds:
        """The bounds configured by ``max_event_ahead_s`` and ``max_event_behind_s``."""
        return cls(settings.max_event_ahead_s, settings.max_event_behind_s)

    def violation(self, ts: float, *, reference: float, latest: float) -> str | None:
        """Why ``ts`` is out of range (``None`` when it is fine).

        ``reference`` is "now" (wall clock, or the stream's time); ``latest`` the newest
        event time accepted so far on the same partition (``<= 0``: none yet).
        """
        if not math.isfinite(ts):
            return f"ts {ts:g} is not a finite number"
        if ts > reference + self.max_ahead_s:
            return (
                f"ts {ts:g} is {ts - reference:.0f} s ahead of the reference time {reference:.0f} "
                f"(limit {self.max_ahead_s:.0f} s)"
            )
        if latest > 0 and ts < latest - self.max_behind_s:
            return (
                f"ts {ts:g} is {latest - ts:.0f} s behind the latest event time {latest:.0f} "
                f"(limit {self.max_behind_s:.0f} s)"
            )
        return None
