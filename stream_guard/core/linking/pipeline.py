"""The cross-account stages chained in one process, and the event-time frontier between stages.

In the worker the stages run in separate Faust agents joined by internal topics
(profiles re-keyed by attribute value, then link verdicts to a single cluster partition).
``replay`` and the tests chain the same pure objects with :class:`LinkingPipeline`.

A stage may judge interval boundary ``B`` only once every upstream source has delivered
its profiles up to ``B``: :class:`Frontier` is the minimum over the sources heard from
recently (a source silent for ``idle_s`` wall seconds no longer holds it back).

>>> f = Frontier(idle_s=10.0)
>>> f.update("w1", 900.0, now=0.0), f.update("w2", 1800.0, now=0.0), f.update("w2", 900.0, now=0.0)
(True, True, False)
>>> f.value(now=1.0), f.value(now=20.0)
(900.0, None)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator

from stream_guard.core.alerts import Alert
from stream_guard.core.linking.clusters import ClusterBook
from stream_guard.core.linking.index import AttributeIndex
from stream_guard.core.linking.profile import AccountProfile
from stream_guard.core.verdicts import VerdictBook
from stream_guard.settings import Settings

__all__ = ["Frontier", "LinkingPipeline", "boundaries", "linked_boundary"]


def linked_boundary(settings: Settings, watermark: float, latest_profile: float) -> float:
    """The last link-interval boundary whose profiles are complete at ``watermark``
    (``latest_profile`` when the watermark is infinite: the end of a replay).

    >>> linked_boundary(Settings(), 2000.0, 0.0), linked_boundary(Settings(), math.inf, 2700.0)
    (1800.0, 2700.0)
    """
    if not math.isfinite(watermark):
        return latest_profile
    step = settings.link_interval_s
    return math.floor((watermark - settings.idle_grace_s) / step) * step


class Frontier:
    """Minimum event-time boundary over the sources heard from within ``idle_s``."""

    def __init__(self, idle_s: float = 30.0) -> None:
        self.idle_s = idle_s
        self._seen: dict[str, tuple[float, float]] = {}  # source -> (boundary, wall time)

    def update(self, source: str, boundary: float, *, now: float) -> bool:
        """Record that ``source`` has delivered everything up to ``boundary``; whether that
        moved its boundary (or is its first word)."""
        old = self._seen.get(source)
        self._seen[source] = (max(boundary, old[0]) if old else boundary, now)
        return old is None or boundary > old[0]

    def export(self) -> dict[str, float]:
        """Each source's boundary (the inverse of :meth:`load`)."""
        return {src: b for src, (b, _) in self._seen.items()}

    def load(self, boundaries: dict[str, float], *, now: float) -> None:
        """Sources and their boundaries, as last heard from at ``now``."""
        self._seen = {src: (float(b), now) for src, b in boundaries.items()}

    def value(self, *, now: float) -> float | None:
        """The boundary every recently active source has reached (``None``: nobody active)."""
        active = [b for b, wall in self._seen.values() if now - wall < self.idle_s]
        return min(active) if active else None


class LinkingPipeline:
    """Attribute index and cluster book in one process (``replay``, tests)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 verdicts: VerdictBook | None = None) -> None:
        self.s = settings
        self.index = AttributeIndex(settings)
        self.book = ClusterBook(settings, clock=clock, verdicts=verdicts)
        self.evaluated = float("-inf")

    def feed(self, profiles: Iterable[AccountProfile]) -> None:
        """Route account profiles to the index."""
        for p in profiles:
            self.index.observe(p)

    def advance(self, boundary: float) -> list[Alert]:
        """Judge the values and clusters at every link boundary up to ``boundary`` not judged
        yet (each boundary once, in order)."""
        alerts: list[Alert] = []
        todo = boundaries(self.evaluated, boundary, self.s.link_interval_s, self._next_pending, self._holding)
        for b in todo:
            links, pivots = self.index.evaluate(b)
            self.book.update([*links, *pivots])
            alerts += self.book.evaluate(b)
            self.index.expire(b)
            self.evaluated = b
        return alerts


    def _next_pending(self) -> float | None:
        ahead = [t for t in (self.index.next_pending(), self.book.next_pending()) if t is not None]
        return min(ahead, default=None)

    def _holding(self) -> bool:
        return self.index.holding() or self.book.holding()


def boundaries(
    done: float,
    target: float,
    step: float,
    next_pending: Callable[[], float | None],
    holding: Callable[[], bool],
) -> Iterator[float]:
    """The boundaries to judge after ``done`` up to ``target``, ``step`` apart, lazily (judge
    each before asking for the next): from ``next_pending()``, the first pending item's
    boundary, when nothing was judged yet.

    While the stage holds no state (``holding()`` false), the empty boundaries up to the next
    pending item are skipped, and with nothing pending up to ``target`` only ``target``'s
    boundary is left to judge: a jump in event time costs one step, not one per interval
    (a first event at ``ts=1`` followed by today's would otherwise build ~2M boundaries).

    >>> list(boundaries(900.0, 3600.0, 900.0, lambda: None, lambda: True))
    [1800.0, 2700.0, 3600.0]
    >>> list(boundaries(float("-inf"), 2700.0, 900.0, lambda: 1800.0, lambda: True))
    [1800.0, 2700.0]
    >>> list(boundaries(900.0, 9e12, 900.0, lambda: None, lambda: False))
    [1800.0, 9000000000000.0]
    """
    if math.isfinite(done):
        b = done + step
    else:
        first = next_pending()
        if first is None:
            return
        b = min(first, target)
    while b <= target:
        yield b
        if holding():
            b += step
            continue
        upcoming = next_pending()
        if upcoming is None or upcoming > target:
            last = b + math.floor((target - b) / step) * step
            if last > b:
                yield last
            return
        b = max(b + step, upcoming)
