"""Small rings of recent fingerprints per account: repeats and spread, in fixed memory.

One ``array('I')`` of 32-bit fingerprints holds several rings (recent prompts, templates, models, sampling
parameters, IPs, user agents, client fingerprints). A ring answers "was this seen among
the last *k*?" and "how many distinct among the last *k*?", exactly, at O(k) in C. For
spread signals (distinct IPs, ...) a ring saturates at *k*: enough to tell one from many.

>>> r = Recent()
>>> [r.push("prompt", fp) for fp in (11, 12, 11, 13)]
[False, False, True, False]
>>> r.distinct("prompt")   # repeats are not stored again
3
>>> r.push("ip", 7), r.push("ip", 7), r.distinct("ip")
(False, True, 1)
"""

from __future__ import annotations

from array import array
from typing import Any

__all__ = ["RINGS", "Recent"]

#: ring name -> capacity
RINGS: dict[str, int] = {
    "prompt": 16,
    "template": 16,
    "model": 4,
    "params": 4,
    "ip": 4,
    "user_agent": 4,
    "client": 4,
}
_OFFSET: dict[str, int] = {}
_total = 0
for _name, _k in RINGS.items():
    _OFFSET[_name] = _total
    _total += _k
_SIZE = _total
_INDEX = {name: i for i, name in enumerate(RINGS)}


class Recent:
    """The rings of one account (0 marks an empty slot; fingerprints are folded to 32 bits,
    non-zero: within a ring of 16 a false repeat has odds of about 4e-9)."""

    __slots__ = ("slots", "pos")

    def __init__(self) -> None:
        self.slots = array("I", bytes(4 * _SIZE))
        self.pos = bytearray(2 * len(RINGS))  # [next write position, fill] per ring

    def push(self, ring: str, fingerprint: int) -> bool:
        """Record ``fingerprint``; returns whether it was already among the recent ones."""
        fp = fingerprint & 0xFFFFFFFF or 1
        k, off, i = RINGS[ring], _OFFSET[ring], _INDEX[ring]
        window = self.slots[off : off + k]
        if fp in window:
            return True
        p = self.pos[2 * i]
        self.slots[off + p] = fp
        self.pos[2 * i] = (p + 1) % k
        if self.pos[2 * i + 1] < k:
            self.pos[2 * i + 1] += 1
        return False

    def distinct(self, ring: str) -> int:
        """Distinct fingerprints among the recent ones (at most the ring's capacity)."""
        off = _OFFSET[ring]
        values = set(self.slots[off : off + RINGS[ring]])
        values.discard(0)
        return len(values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able picture."""
        return {"slots": self.slots.tobytes().hex(), "pos": self.pos.hex()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recent:
        """The inverse of :meth:`to_dict`."""
        r = cls()
        r.slots = array("I", bytes.fromhex(data["slots"]))
        r.pos = bytearray(bytes.fromhex(data["pos"]))
        return r
