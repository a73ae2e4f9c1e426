"""Rate-limited logs: a broker outage must not write 70-80 error lines a second.

:class:`RepeatFilter` lets each distinct message template of a logger through once per
``period_s`` and folds the repeats into a count on the next line it lets through. Only
warnings and errors are limited (what a lost broker repeats); INFO lines, e.g. one per alert
or per restored partition, all pass. It is
installed on the handlers of the root logger, so it sees aiokafka's and Faust's records as
well as stream-guard's own.

>>> import logging
>>> f = RepeatFilter(period_s=10.0, clock=iter([0.0, 1.0, 2.0, 12.0]).__next__)
>>> rec = lambda: logging.LogRecord("aiokafka", logging.ERROR, "x", 1, "Unable connect to %s", ("b",), None)
>>> [f.filter(rec()) for _ in range(3)]
[True, False, False]
>>> r = rec(); f.filter(r), r.getMessage()
(True, 'Unable connect to b (2 similar messages suppressed in the last 10 s)')
>>> f.filter(logging.LogRecord("stream_guard", logging.INFO, "x", 1, "alert %s", ("a",), None))
True
>>> g = RepeatFilter(period_s=10.0, clock=lambda: 0.0)   # pre-formatted numbers are one template
>>> [g.filter(logging.LogRecord("faust", logging.WARNING, "x", 1, f"buffer full size {n}", (), None)) for n in (9, 10)]
[True, False]
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

__all__ = ["RepeatFilter", "limit_repeated_logs"]


_DIGITS = re.compile(r"\d+")


class RepeatFilter(logging.Filter):
    """Pass each (logger, level, message template) of WARNING or above at most once per
    ``period_s``; digits do not count, so messages formatted before logging (Faust's
    "producer buffer full size 1123") are one template."""

    def __init__(self, period_s: float = 10.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.period_s = period_s
        self.clock = clock
        self._seen: dict[tuple[str, int, str], list[float]] = {}  # key -> [passed at, suppressed]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, _DIGITS.sub("#", str(record.msg)))
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.period_s:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} ({int(seen[1])} similar messages suppressed in the last {self.period_s:.0f} s)"
        if len(self._seen) > 10_000:  # templates are few; bound it anyway
            self._seen.clear()
        self._seen[key] = [now, 0.0]
        return True


def limit_repeated_logs(period_s: float = 10.0) -> None:
    """Install one :class:`RepeatFilter` on every handler of the root logger."""
    flt = RepeatFilter(period_s)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
