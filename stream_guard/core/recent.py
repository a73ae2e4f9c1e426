"""Small rings of recent fingerprints per account: repeats and spread, in fixed memory.

One ``array('I')`` of 32-bit fingerprints holds several rings (recent prompts, templates, models, sampling
parameters, IPs, user agents, client fingerprints). A ring answers "was this seen among
the last *k*?" and "how many distinct among the last *k*?", exactly, at O(k) in C. For
spread signals (distinct IPs, ...) a ring saturates at *k*: enough to tell one from many.
The same array ends with the last ``SKETCHES`` near-duplicate signatures
(:mod:`~stream_guard.core.neardup`, 64 bits each in two slots), compared all at once.

>>> r = Recent()
>>> [r.push("prompt", fp) for fp in (11, 12, 11, 13)]
[False, False, True, False]
>>> r.distinct("prompt")   # repeats are not stored again
3
>>> r.push("ip", 7), r.push("ip", 7), r.distinct("ip")
(False, True, 1)
>>> r.near(0x1122334455667788), r.near(0x11223344556677FF), r.near(0x99AABBCCDDEEFF00)   # 7 bytes of 8 equal
(False, True, False)
"""

from __future__ import annotations

import sys
from array import array
from typing import Any

from stream_guard.core.neardup import near_any

__all__ = ["RINGS", "RING_OFFSETS", "SKETCHES", "SKETCH_OFFSET", "Recent"]

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
#: near-duplicate signatures kept (after the rings, two 32-bit slots each, low half first)
SKETCHES = 8
_SKETCH = _total  # offset of the signatures in ``slots``
_SIZE = _total + 2 * SKETCHES
#: ring name -> offset of its first slot in ``Recent.slots`` (its [next write position, fill]
#: are bytes 2 i and 2 i + 1 of ``Recent.pos``, i its place in :data:`RINGS`)
RING_OFFSETS: dict[str, int] = dict(_OFFSET)
#: offset of the near-duplicate signatures in ``Recent.slots`` (their positions follow the rings')
SKETCH_OFFSET = _SKETCH
_INDEX = {name: i for i, name in enumerate(RINGS)}
_SKETCH_POS = 2 * len(RINGS)  # [next write position, fill] of the signatures in ``pos``
_POS = _SKETCH_POS + 2
_LITTLE = sys.byteorder == "little"


class Recent:
    """The rings of one account (0 marks an empty slot; fingerprints are folded to 32 bits,
    non-zero: within a ring of 16 a false repeat has odds of about 4e-9)."""

    __slots__ = ("pos", "slots")

    def __init__(self) -> None:
        self.slots = array("I", [0]) * _SIZE  # allocated to size (from bytes: over-allocated)
        self.pos = bytearray(_POS)  # [next write position, fill] per ring, then of the signatures

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

    def near(self, signature: int) -> bool:
        """Whether ``signature`` is a near duplicate of one of the last ``SKETCHES`` stored
        (:func:`~stream_guard.core.neardup.near_any`); then stores it (oldest out first)."""
        slots, pos, i = self.slots, self.pos, _SKETCH_POS
        window = slots[_SKETCH : _SKETCH + 2 * SKETCHES]
        if not _LITTLE:
            window.byteswap()
        found = near_any(signature, int.from_bytes(window.tobytes(), "little"), pos[i + 1])
        p = pos[i]
        slots[_SKETCH + 2 * p] = signature & 0xFFFFFFFF
        slots[_SKETCH + 2 * p + 1] = signature >> 32 & 0xFFFFFFFF
        pos[i] = (p + 1) % SKETCHES
        if pos[i + 1] < SKETCHES:
            pos[i + 1] += 1
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-able picture."""
        return {"slots": self.slots.tobytes().hex(), "pos": self.pos.hex()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recent:
        """The inverse of :meth:`to_dict` (a checkpoint written before the signatures were
        kept gets an empty signature ring)."""
        r = cls()
        slots = bytes.fromhex(data["slots"])
        pos = bytes.fromhex(data["pos"])
        r.slots[: len(slots) // 4] = array("I", slots)
        r.pos = bytearray(pos + bytes(max(_POS - len(pos), 0)))
        return r
