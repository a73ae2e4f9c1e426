"""Human pacing: one person's daily active window, and irregular gaps within it.

A person is at the keyboard for a window each local day (it starts around their usual
hour, give or take, and lasts some hours), rests at night, and takes an odd day off;
within the window, gaps between actions are irregular (Gamma with a shape below 1: many
short gaps, a few long ones).

>>> import random
>>> days = HumanDays(random.Random(2), utc_offset_h=1.0, first_hour=9.0, hours=(8.0, 12.0), day_off=0.0)
>>> ws = list(days.windows(0, 5 * 86_400_000))
>>> len(ws), all(8 * 3_600_000 <= w.end_ms - w.start_ms <= 12 * 3_600_000 for w in ws[1:-1])
(5, True)
>>> ws[1].fraction
1.0
>>> all(6 <= ((w.start_ms / 3_600_000) + 1) % 24 <= 12 for w in ws)
True
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from stream_guard.loadgen.timeutil import DAY_MS, HOUR_MS

__all__ = ["ActiveWindow", "HumanDays", "gamma_gap_ms"]


@dataclass(frozen=True, slots=True)
class ActiveWindow:
    """An interval of activity, epoch ms ``[start_ms, end_ms)``; ``planned_ms`` is its
    length before it was clipped to the run's span."""

    start_ms: int
    end_ms: int
    planned_ms: int

    @property
    def fraction(self) -> float:
        """Share of the planned window inside the span."""
        return (self.end_ms - self.start_ms) / self.planned_ms if self.planned_ms > 0 else 0.0


class HumanDays:
    """Daily active windows of one person (see the module docstring).

    ``first_hour``: usual local start hour (each day +- ``first_hour_sd`` hours, normal);
    ``hours``: window length range (uniform); ``day_off``: probability a day is skipped.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        utc_offset_h: float,
        first_hour: float,
        hours: tuple[float, float],
        day_off: float = 0.08,
        first_hour_sd: float = 0.75,
    ) -> None:
        self.rng = rng
        self.offset_h = utc_offset_h
        self.first_hour = first_hour
        self.hours = hours
        self.day_off = day_off
        self.first_hour_sd = first_hour_sd

    def windows(self, start_ms: int, end_ms: int) -> Iterator[ActiveWindow]:
        """The windows overlapping ``[start_ms, end_ms)``, clipped to it, in order."""
        rng = self.rng
        offset_ms = int(self.offset_h * HOUR_MS)
        day = math.floor((start_ms + offset_ms) / DAY_MS) - 1  # yesterday's window may run past midnight
        while True:
            midnight_utc = day * DAY_MS - offset_ms
            if midnight_utc >= end_ms:
                return
            off = rng.random() < self.day_off
            first = self.first_hour + rng.gauss(0.0, self.first_hour_sd)
            lo, hi = self.hours
            length = lo + rng.random() * (hi - lo)
            day += 1
            if off:
                continue
            s = midnight_utc + int(first * HOUR_MS)
            planned = int(length * HOUR_MS)
            e = s + planned
            s, e = max(s, start_ms), min(e, end_ms)
            if s < e:
                yield ActiveWindow(s, e, planned)


def gamma_gap_ms(rng: random.Random, mean_s: float, shape: float = 0.7, min_s: float = 5.0) -> int:
    """An irregular gap (Gamma, mean ``mean_s``), at least ``min_s`` seconds, in ms."""
    return int(max(rng.gammavariate(shape, mean_s / shape), min_s) * 1000)
