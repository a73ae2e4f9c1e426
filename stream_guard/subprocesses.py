"""How ``replay`` starts its helper processes (:mod:`~stream_guard.input_process`,
:mod:`~stream_guard.linking_process`), and how each says how much memory it took.

>>> context().get_start_method() in ("fork", "spawn")
True
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import sys

__all__ = ["context", "peak_rss_bytes"]


def context() -> multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext:
    """``fork`` where there is one (the child starts at once, with every module loaded and
    nothing to pickle but its arguments), else ``spawn``."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def peak_rss_bytes() -> int:
    """This process's peak resident set size (0 where the platform does not say)."""
    try:
        import resource
    except ImportError:  # not Unix
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, kilobytes elsewhere
