"""A sliding event-time window of per-account counters, in O(1) memory and time.

The window is approximated from two tumbling generations of its own length, the
current one and the previous one: a value over ``[t - length, t)`` is the current
generation plus the previous one weighted by how much of it still overlaps the window
(the estimator that sliding-window rate limiters use). Distinct prompts are counted with
a HyperLogLog sketch (Apache DataSketches) for the current generation; the previous
generation keeps only its estimate.

>>> w = SlidingWindow(60.0)
>>> for t in range(0, 120, 2):   # one request every 2 s for 2 minutes
...     w.add(float(t), (1, 10, 100, 0, 0, 0, 1), t % 6)
>>> snap = w.snapshot(120.0)
>>> snap["requests"], snap["output_tokens"], round(snap["distinct_prompts"])
(30.0, 3000.0, 3)
>>> w.snapshot(150.0)["requests"]   # half of the last generation still overlaps
15.0
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any

import datasketches

__all__ = ["COUNTERS", "SlidingWindow"]

#: The counters kept per generation, in this order (see ``AccountState.add``).
COUNTERS: tuple[str, ...] = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cot_requests",
    "max_tokens_hits",
    "rate_limited",
    "first_turn_requests",
)
_N = len(COUNTERS)
assert _N == 7, "SlidingWindow.add is unrolled for 7 counters"
_HLL_LG_K = 6  # 64 registers: ~13% relative error at large counts, exact-ish when small


def _new_hll() -> Any:
    return datasketches.hll_sketch(_HLL_LG_K, datasketches.tgt_hll_type.HLL_8)


class SlidingWindow:
    """Counters and a distinct-prompt sketch over the last ``length`` seconds of event time."""

    __slots__ = ("length", "gen", "cur", "prev", "hll", "prev_distinct")

    def __init__(self, length: float) -> None:
        self.length = length
        self.gen = -1  # index of the current generation: floor(t / length)
        self.cur = array("d", bytes(8 * _N))
        self.prev = array("d", bytes(8 * _N))
        self.hll: Any = None  # created on the first prompt fingerprint
        self.prev_distinct = 0.0

    def roll(self, ts: float) -> None:
        """Move the current generation forward to the one holding ``ts``."""
        gen = math.floor(ts / self.length)
        if gen == self.gen:
            return
        if gen == self.gen + 1:
            self.prev, self.cur = self.cur, self.prev
            self.prev_distinct = self.hll.get_estimate() if self.hll is not None else 0.0
        else:
            self.prev = array("d", bytes(8 * _N))
            self.prev_distinct = 0.0
        for i in range(_N):
            self.cur[i] = 0.0
        self.hll = None
        self.gen = gen

    def add(self, ts: float, values: Sequence[float], fingerprint: int | None) -> None:
        """Count one request at ``ts`` (``values`` in :data:`COUNTERS` order)."""
        if math.floor(ts / self.length) != self.gen:
            self.roll(ts)
        cur = self.cur
        cur[0] += values[0]
        cur[1] += values[1]
        cur[2] += values[2]
        cur[3] += values[3]
        cur[4] += values[4]
        cur[5] += values[5]
        cur[6] += values[6]
        if fingerprint is not None:
            if self.hll is None:
                self.hll = _new_hll()
            self.hll.update(fingerprint)

    def snapshot(self, at: float) -> dict[str, float]:
        """Counter values over ``[at - length, at)``; ``at`` must not precede the last event."""
        if math.floor(at / self.length) > self.gen:
            self.roll(at)
        weight = 1.0 - (at - self.gen * self.length) / self.length
        weight = min(max(weight, 0.0), 1.0)
        out = {name: self.cur[i] + weight * self.prev[i] for i, name in enumerate(COUNTERS)}
        cur_distinct = self.hll.get_estimate() if self.hll is not None else 0.0
        out["distinct_prompts"] = cur_distinct + weight * self.prev_distinct
        return out

    # --- checkpoints ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able picture of the window (sketch as hex of its updatable form)."""
        return {
            "gen": self.gen,
            "cur": list(self.cur),
            "prev": list(self.prev),
            "prev_distinct": self.prev_distinct,
            "hll": self.hll.serialize_updatable().hex() if self.hll is not None else None,
        }

    @classmethod
    def from_dict(cls, length: float, data: dict[str, Any]) -> SlidingWindow:
        """The inverse of :meth:`to_dict`."""
        w = cls(length)
        w.gen = int(data["gen"])
        w.cur = array("d", data["cur"])
        w.prev = array("d", data["prev"])
        w.prev_distinct = float(data["prev_distinct"])
        if data.get("hll"):
            w.hll = datasketches.hll_sketch.deserialize(bytes.fromhex(data["hll"]))
        return w
