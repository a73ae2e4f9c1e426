"""What ``/readyz`` and ``/healthz`` answer: the worker's health, free of Faust.

Ready means: partitions assigned and state restored, the broker answered a probe
recently, the event loop is turning (the 1 s timer ran), and the ingest agent has not
failed. Alive means: the agent has not failed and the event loop is not stuck; a worker
that is not alive exits or is restarted by its supervisor.

>>> h = WorkerHealth(broker_lost_after_s=15.0, stall_s=30.0, clock=lambda: 100.0)
>>> h.not_ready()
'partitions not assigned or state not restored yet'
>>> h.restored = True; h.broker_ok(); h.ticked()
>>> h.not_ready() is None, h.not_alive() is None
(True, True)
>>> h.clock = lambda: 120.0
>>> h.not_ready()
'broker not reachable for 20 s'
>>> h.restored = False; h.restore_timeout_s = 600.0   # a rebalance begins at 120 s ...
>>> h.clock = lambda: 720.0; h.ticked(); h.broker_ok()
>>> h.not_alive()                                      # ... and its recovery never ends
'state not restored for 600 s (a recovery that hangs?)'
>>> h.restored = True
>>> h.fail("KafkaTimeoutError")
>>> h.not_alive()
'ingest failed: KafkaTimeoutError'
"""

from __future__ import annotations

import time
from collections.abc import Callable

from stream_guard.settings import Settings

__all__ = ["WorkerHealth"]


class WorkerHealth:
    """Readiness and liveness of one worker, from what its tasks report."""

    def __init__(
        self, *, broker_lost_after_s: float, stall_s: float, restore_timeout_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.broker_lost_after_s = broker_lost_after_s
        self.stall_s = stall_s
        self.restore_timeout_s = restore_timeout_s  # 0: no limit
        self.clock = clock
        self._restored = False
        self.failure: str | None = None
        started = clock()
        self._broker_ok_at = started
        self._ticked_at = started
        self._unrestored_since = started

    @property
    def restored(self) -> bool:
        """Partitions assigned and their state restored (false from a rebalance's start until
        its recovery is done)."""
        return self._restored

    @restored.setter
    def restored(self, value: bool) -> None:
        if self._restored and not value:
            self._unrestored_since = self.clock()
        self._restored = value

    @classmethod
    def of(cls, settings: Settings) -> WorkerHealth:
        """The health of a worker configured by ``settings`` (broker loss and stall limits)."""
        return cls(
            broker_lost_after_s=settings.broker_lost_after_s,
            stall_s=max(30.0, 3 * settings.broker_probe_interval_s),
            restore_timeout_s=settings.restore_timeout_s,
        )

    def broker_ok(self) -> None:
        """A broker probe succeeded."""
        self._broker_ok_at = self.clock()

    def ticked(self) -> None:
        """The worker's timer ran (the event loop turns)."""
        self._ticked_at = self.clock()

    def fail(self, reason: str) -> None:
        """The ingest agent failed for good (the worker will exit non-zero)."""
        if self.failure is None:
            self.failure = reason

    def broker_reachable(self) -> bool:
        """Whether the broker answered within ``broker_lost_after_s``."""
        return self.clock() - self._broker_ok_at < self.broker_lost_after_s

    def not_alive(self) -> str | None:
        """Why the worker should be restarted (``None``: alive)."""
        if self.failure is not None:
            return f"ingest failed: {self.failure}"
        stalled = self.clock() - self._ticked_at
        if stalled >= 4 * self.stall_s:
            return f"event loop stalled for {stalled:.0f} s"
        waiting = self.clock() - self._unrestored_since
        if not self._restored and self.restore_timeout_s > 0 and waiting >= self.restore_timeout_s:
            return f"state not restored for {waiting:.0f} s (a recovery that hangs?)"
        return None

    def not_ready(self) -> str | None:
        """Why the worker should get no traffic now (``None``: ready)."""
        dead = self.not_alive()
        if dead is not None:
            return dead
        if not self.restored:
            return "partitions not assigned or state not restored yet"
        now = self.clock()
        if not self.broker_reachable():
            return f"broker not reachable for {now - self._broker_ok_at:.0f} s"
        if now - self._ticked_at >= self.stall_s:
            return f"event loop stalled for {now - self._ticked_at:.0f} s"
        return None
