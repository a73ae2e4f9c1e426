"""How ``replay`` starts its helper processes (:mod:`~stream_guard.input_process`,
:mod:`~stream_guard.linking_process`).

>>> context().get_start_method() in ("fork", "spawn")
True
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context

__all__ = ["context"]


def context() -> multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext:
    """``fork`` where there is one (the child starts at once, with every module loaded and
    nothing to pickle but its arguments), else ``spawn``."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")
