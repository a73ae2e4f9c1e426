"""Arrival processes: when an account sends its requests.

:class:`DiurnalRenewal` is the calibrated benign model. Gaps are drawn from a renewal
process of unit mean (Gamma or Weibull, shape from ServeGen's per-window fits, so traffic
comes in bursts) in *operational time*, which is mapped to wall time through a rate that
follows the ServeGen hour-of-day profile in the account's local time zone, a per-day
volume (ServeGen's day-to-day spread) and whole days off (ServeGen's active-day share).
The expected number of arrivals on an active day is the account's daily volume.

>>> import random
>>> from stream_guard.loadgen.calibration import load_calibration
>>> cal = load_calibration()
>>> proc = DiurnalRenewal(random.Random(3), 0, 10 * 86_400_000, daily=200.0,
...                       profile=cal.hourly_profile, active_day_prob=1.0, day_sigma=0.0,
...                       gamma_shape=1.0)
>>> n = sum(1 for _ in iter(proc.next, None))
>>> 1700 < n < 2300
True
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Protocol

__all__ = ["DiurnalRenewal", "QuantileFunction", "RateLimiter", "renewal_shape"]

_HOUR = 3600.0
_DAY = 86400.0


class QuantileFunction(Protocol):
    """A distribution by its quantile function (as ``calibration.Quantiles``)."""

    def at(self, u: float) -> float: ...


def renewal_shape(
    rng: random.Random, gamma_share: float, gamma_q: QuantileFunction, weibull_q: QuantileFunction
) -> tuple[float, float]:
    """Draw an account's inter-arrival family: ``(gamma_shape, 0)`` or ``(0, weibull_shape)``."""
    if rng.random() < gamma_share:
        return gamma_q.at(rng.random()), 0.0
    return 0.0, weibull_q.at(rng.random())


class DiurnalRenewal:
    """Arrival instants (epoch ms, increasing) of one account over ``[start_ms, end_ms)``.

    Exactly one of ``gamma_shape`` / ``weibull_shape`` is > 0. ``min_gap_s`` keeps two
    requests of one client apart (a human or a sequential client cannot be faster).
    """

    __slots__ = (
        "_daily",
        "_day",
        "_day_rate",
        "_end",
        "_gk",
        "_min_gap",
        "_next_hour",
        "_offset",
        "_p_day",
        "_profile",
        "_rng",
        "_sigma",
        "_t",
        "_wk",
        "_wscale",
    )

    def __init__(
        self,
        rng: random.Random,
        start_ms: int,
        end_ms: int,
        *,
        daily: float,
        profile: Sequence[float],
        utc_offset_h: float = 0.0,
        active_day_prob: float = 1.0,
        day_sigma: float = 0.0,
        gamma_shape: float = 0.0,
        weibull_shape: float = 0.0,
        min_gap_s: float = 0.05,
    ) -> None:
        self._rng = rng
        self._t = start_ms / 1000.0
        self._end = end_ms / 1000.0
        self._daily = max(daily, 1e-9)
        self._profile = tuple(profile)
        self._offset = utc_offset_h * _HOUR
        self._p_day = active_day_prob
        self._sigma = day_sigma
        self._gk = gamma_shape
        self._wk = weibull_shape
        self._wscale = 1.0 / math.gamma(1.0 + 1.0 / weibull_shape) if weibull_shape > 0 else 0.0
        self._min_gap = min_gap_s
        self._day = -1
        self._day_rate = 0.0  # operational units per second per unit of profile, today
        self._enter_day()

    def _enter_day(self) -> None:
        day = math.floor((self._t + self._offset) / _DAY)
        if day == self._day:
            return
        self._day = day
        rng = self._rng
        if rng.random() >= self._p_day:
            self._day_rate = 0.0
            return
        factor = math.exp(rng.gauss(-0.5 * self._sigma**2, self._sigma)) if self._sigma > 0 else 1.0
        self._day_rate = self._daily * factor / _DAY

    def _gap(self) -> float:
        if self._gk > 0:
            return self._rng.gammavariate(self._gk, 1.0 / self._gk)
        return self._rng.weibullvariate(self._wscale, self._wk)

    def next(self) -> int | None:
        """The next arrival (epoch ms), or ``None`` once past the end."""
        g = self._gap()
        t = self._t
        profile = self._profile
        offset = self._offset
        while True:
            local = t + offset
            hour_end = (math.floor(local / _HOUR) + 1) * _HOUR - offset
            rate = self._day_rate * profile[int((local % _DAY) // _HOUR)]
            if rate > 0.0:
                cap = (hour_end - t) * rate
                if g <= cap:
                    t += g / rate
                    break
                g -= cap
            elif self._day_rate <= 0.0:  # a day off: skip to the next local day
                hour_end = (math.floor(local / _DAY) + 1) * _DAY - offset
            t = hour_end
            if t >= self._end:
                self._t = t
                return None
            self._t = t
            self._enter_day()
        t = max(t, self._t + self._min_gap) if self._min_gap else t
        self._t = t
        if t >= self._end:
            return None
        return int(t * 1000.0)

    def skip_to(self, ms: int) -> None:
        """Jump forward (no arrivals before ``ms``)."""
        if ms / 1000.0 > self._t:
            self._t = ms / 1000.0
            self._enter_day()


class RateLimiter:
    """A per-minute request cap, as a gateway enforces it (over the cap: HTTP 429).

    >>> lim = RateLimiter(2)
    >>> [lim.hit(t) for t in (0, 1000, 2000, 61_000)]
    [False, False, True, False]
    """

    __slots__ = ("_count", "_minute", "_rpm")

    def __init__(self, rpm: int) -> None:
        self._rpm = rpm
        self._minute = -1
        self._count = 0

    def hit(self, ts_ms: int) -> bool:
        """Count a request at ``ts_ms``; True if it is over the cap."""
        minute = ts_ms // 60000
        if minute != self._minute:
            self._minute = minute
            self._count = 0
        self._count += 1
        return self._count > self._rpm
