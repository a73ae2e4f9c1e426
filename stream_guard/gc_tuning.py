"""Tuning CPython's cyclic garbage collector for a process that holds millions of objects.

The detection state is long-lived (account states, attribute-index members, model trees)
and makes few reference cycles, while the per-event path allocates short-lived containers
by the hundred thousand. With Python's default youngest-generation threshold (700 net
allocations) the collector runs thousands of times a second, and every third-generation
pass walks the whole state: 9-18% of a hydra replay's time
(``bench/results/gc_tuning.txt``), and pauses of up to ~150 ms in the worker.

:func:`tune_gc` moves everything alive at start-up (the imported libraries: Faust, River,
SciPy) into the collector's permanent generation, which full passes no longer walk, and
raises the youngest generation's threshold to ``Settings.gc_threshold``. Reference counting
still frees every acyclic object at once; only cycles wait longer for the collector.

>>> import gc
>>> before = gc.get_threshold()
>>> tune_gc(50_000)
True
>>> gc.get_threshold()[0]
50000
>>> tune_gc(0)   # 0: leave the collector as Python set it
False
>>> gc.set_threshold(*before); gc.unfreeze()
"""

from __future__ import annotations

import gc

__all__ = ["tune_gc"]


def tune_gc(threshold: int) -> bool:
    """Freeze the objects alive now and set the youngest generation's threshold to
    ``threshold`` (the older generations keep theirs); ``0`` changes nothing. Returns
    whether it changed anything."""
    if threshold <= 0:
        return False
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
    return True
