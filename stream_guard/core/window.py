"""Sliding event-time windows of per-account counters over several horizons, O(1) each.

Each horizon (by default 5 minutes, 1 hour and 1 day) is approximated from two tumbling
generations of its own length, the current one and the previous one: a value over
``[t - length, t)`` is the current generation plus the previous one weighted by how much
of it still overlaps the window (the estimator that sliding-window rate limiters use).
All counters of all horizons live in one flat float32 ``array('f')`` to keep an account
small (exact for counts up to 2**24; relative error 6e-8 beyond).
The day horizon also keeps a HyperLogLog sketch (Apache DataSketches) of distinct prompt
fingerprints and the bitmask of capability categories seen.

>>> w = Windows((60.0, 3600.0, 86400.0))
>>> for t in range(0, 120, 2):   # one request every 2 s for 2 minutes
...     w.add(float(t), (1, 10, 100, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 2, 4, 1, 0), t % 6, 0b11)
>>> snap = w.snapshot(120.0)
>>> snap["short_requests"], snap["long_output_tokens"], round(snap["day_distinct_prompts"]), snap["day_categories"]
(30.0, 6000.0, 3, 2.0)
>>> w.snapshot(150.0)["short_requests"]   # half of the last minute still overlaps
15.0
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

import datasketches

__all__ = ["COUNTERS", "HORIZONS", "Windows", "new_distinct_sketch"]

#: The counters kept per horizon and generation, in this order (see ``AccountState.add``).
COUNTERS: tuple[str, ...] = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cot_requests",  # prompts that ask for step-by-step reasoning or rubric grading
    "benchmark_requests",  # prompts shaped like benchmark items
    "max_tokens_hits",  # responses cut at max_tokens
    "rate_limited",  # HTTP 429
    "first_turn_requests",  # turn_index 0 (or no conversation)
    "tool_requests",  # tools offered
    "prompt_repeats",  # exact prompt seen among the account's recent ones
    "template_repeats",  # new prompt whose template was seen among the recent ones
    "text_requests",  # prompt text present
    "hashed_requests",  # only a prompt hash present
    "gaps",  # inter-arrival gaps observed (requests after the account's first)
    "gap_sum",  # sum of inter-arrival gaps, seconds
    "gap_sq_sum",  # sum of squared gaps: with the two above, the gaps' mean and variance
    "sketched_requests",  # prompts whose near-duplicate signature was computed (a sample, see state.py)
    "near_dup_requests",  # sketched prompts near-duplicating one of the account's last sketched ones
)
#: Horizon names, shortest first; their lengths come from the settings.
HORIZONS: tuple[str, ...] = ("short", "long", "day")
_C = len(COUNTERS)
_HLL_LG_K = 6  # 64 registers: ~13% relative error at large counts, exact-ish when small


def new_distinct_sketch() -> Any:
    """An empty sketch of distinct prompt fingerprints (a day generation's)."""
    return datasketches.hll_sketch(_HLL_LG_K, datasketches.tgt_hll_type.HLL_8)


def _popcount(x: int) -> int:
    return bin(x).count("1")


class Windows:
    """Counters over every horizon, plus day-level distinct prompts and categories."""

    __slots__ = ("cats", "data", "gens", "hll", "lengths", "prev_cats", "prev_distinct")

    def __init__(self, lengths: Sequence[float]) -> None:
        self.lengths = tuple(lengths)
        self.gens = array("q", [-1] * len(self.lengths))  # current generation index per horizon (no int objects)
        # [horizon][cur, prev][counter]; built by repetition: allocated to size (from bytes it
        # is over-allocated by ~36 bytes, and 18 counters would then cross pymalloc's 512)
        self.data = array("f", [0.0]) * (2 * _C * len(self.lengths))
        self.hll: Any = None  # distinct prompt fingerprints, current day generation
        self.prev_distinct = 0.0
        self.cats = 0  # capability categories, current day generation
        self.prev_cats = 0

    def _roll(self, h: int, gen: int) -> None:
        base = 2 * _C * h
        data = self.data
        if gen == self.gens[h] + 1:
            data[base + _C : base + 2 * _C] = data[base : base + _C]
        else:
            data[base + _C : base + 2 * _C] = array("f", bytes(4 * _C))
        data[base : base + _C] = array("f", bytes(4 * _C))
        if h == len(self.lengths) - 1:  # the day horizon carries the sketch
            step = gen == self.gens[h] + 1
            self.prev_distinct = (self.hll.get_estimate() if self.hll is not None else 0.0) if step else 0.0
            self.prev_cats = self.cats if step else 0
            self.hll = None
            self.cats = 0
        self.gens[h] = gen

    def add(self, ts: float, values: Sequence[float], fingerprint: int | None, categories: int) -> None:
        """Count one request at ``ts`` (``values`` in :data:`COUNTERS` order)."""
        data = self.data
        late_for_day = False
        last = len(self.lengths) - 1
        # most counters of one request are 0 (flags): add only the others, element by
        # element (the same float32 rounding as a whole-slice add, at half its cost)
        nonzero = [(i, v) for i, v in enumerate(values) if v]
        for h, length in enumerate(self.lengths):
            gen = int(ts // length)
            if gen != self.gens[h]:
                if gen < self.gens[h]:
                    late_for_day = h == last
                    continue  # older than this horizon's current generation: too late for it
                self._roll(h, gen)
            base = 2 * _C * h
            for i, v in nonzero:
                data[base + i] += v
        if late_for_day:
            return
        if fingerprint is not None:
            if self.hll is None:
                self.hll = new_distinct_sketch()
            self.hll.update(fingerprint)
        self.cats |= categories

    def requests_bound(self, h: int) -> float:
        """An upper bound of horizon ``h``'s request count at any later time (both generations)."""
        return self.bound(h, 0)

    def bound(self, h: int, counter: int) -> float:
        """An upper bound of horizon ``h``'s counter (index in :data:`COUNTERS`) at any later
        time: its current and previous generation, unweighted."""
        base = 2 * _C * h + counter
        return float(self.data[base] + self.data[base + _C])

    def view(self, at: float) -> tuple[list[float], float, int]:
        """Weighted counters as of ``at``: a flat list ``[horizon * len(COUNTERS) + counter]``,
        the day's distinct prompts and its category bitmask."""
        out: list[float] = []
        last = len(self.lengths) - 1
        for h in range(last):
            out += self._weighted(h, at)
        day, distinct, cats = self.day_view(at)
        return out + day, distinct, cats

    def day_view(self, at: float) -> tuple[list[float], float, int]:
        """The day horizon's part of :meth:`view` (the same values, a third of the work)."""
        h = len(self.lengths) - 1
        distinct = self.hll.get_estimate() if self.hll is not None else 0.0
        prev_distinct, cats, prev_cats = self.prev_distinct, self.cats, self.prev_cats
        length = self.lengths[h]
        gen = int(at // length)
        if gen > self.gens[h]:  # read as if rolled forward
            step = gen == self.gens[h] + 1
            prev_distinct, prev_cats = (distinct, cats) if step else (0.0, 0)
            distinct, cats = 0.0, 0
        weight = min(max(1.0 - (at - gen * length) / length, 0.0), 1.0)
        return self._weighted(h, at), distinct + weight * prev_distinct, cats | (prev_cats if weight > 0 else 0)

    def _weighted(self, h: int, at: float) -> list[float]:
        """Horizon ``h``'s counters as of ``at``: the current generation plus the previous one
        weighted by how much of it the sliding window still covers (read as if rolled
        forward to ``at``, without changing the state)."""
        data = self.data
        length = self.lengths[h]
        gen = int(at // length)
        base = 2 * _C * h
        cur: Sequence[float] = data[base : base + _C]
        prev: Sequence[float] = data[base + _C : base + 2 * _C]
        if gen > self.gens[h]:
            cur, prev = [0.0] * _C, (cur if gen == self.gens[h] + 1 else [0.0] * _C)
        weight = min(max(1.0 - (at - gen * length) / length, 0.0), 1.0)
        return [c + weight * p for c, p in zip(cur, prev, strict=True)]

    def snapshot(self, at: float) -> dict[str, float]:
        """Every counter over every horizon as of event time ``at`` (``{horizon}_{counter}``)."""
        values, distinct, cats = self.view(at)
        out = {f"{h}_{c}": values[i * _C + j] for i, h in enumerate(HORIZONS) for j, c in enumerate(COUNTERS)}
        out["day_distinct_prompts"] = distinct
        out["day_categories"] = float(_popcount(cats))
        return out

    # --- checkpoints ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able picture (the sketch as hex of its updatable form)."""
        return {
            "lengths": list(self.lengths),
            "gens": self.gens.tolist(),
            "data": list(self.data),
            "hll": self.hll.serialize_updatable().hex() if self.hll is not None else None,
            "prev_distinct": self.prev_distinct,
            "cats": self.cats,
            "prev_cats": self.prev_cats,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Windows:
        """The inverse of :meth:`to_dict`. A checkpoint written with fewer counters (the
        first ones of :data:`COUNTERS`, e.g. the 16 before the near-duplicate counters) reads
        with the missing counters at zero."""
        w = cls(data["lengths"])
        w.gens = array("q", data["gens"])
        values = data["data"]
        per = len(values) // (2 * len(w.lengths)) if w.lengths else _C
        if per < _C:  # pad every [horizon][generation] block
            pad = [0.0] * (_C - per)
            values = [x for i in range(0, len(values), per) for x in (*values[i : i + per], *pad)]
        w.data = array("f", values)
        if data["hll"]:
            w.hll = datasketches.hll_sketch.deserialize(bytes.fromhex(data["hll"]))
        w.prev_distinct = data["prev_distinct"]
        w.cats = data["cats"]
        w.prev_cats = data["prev_cats"]
        return w


