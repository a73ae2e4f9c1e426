"""What a cross-account state counts as changed for its checkpoint passes of changes.

The attribute index and the cluster book count the keys they change between checkpoint
passes, so a pass can hold only those. Nothing needs them before the first pass, which is
always a whole one: until then (and in ``replay`` and the tests, which take no checkpoints)
the state counts into an :class:`Untracked` set, which keeps nothing, instead of a set that
would gather every key ever changed for as long as the process runs.

>>> seen = Untracked()
>>> seen.add(("ip", "10.0.0.1")); seen.update([("ip", "10.0.0.2")])
>>> len(seen), seen.tracking, Tracked().tracking
(0, False, True)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["Tracked", "Untracked"]


class Tracked(set[Any]):
    """The keys changed since the last checkpoint pass (a plain set)."""

    tracking = True


class Untracked(Tracked):
    """Stands for :class:`Tracked` before the first checkpoint pass: adds nothing."""

    tracking = False

    def add(self, element: Any) -> None:
        pass

    def update(self, *others: Iterable[Any]) -> None:
        pass
