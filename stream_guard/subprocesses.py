"""``replay``'s helper processes (:mod:`~stream_guard.input_process`,
:mod:`~stream_guard.linking_process`): how they start, how their answers come back, how a
failure or a death reaches the parent, and how each says how much memory it took.

>>> context().get_start_method() in ("fork", "spawn")
True
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.process
import queue
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Child", "ChildFailed", "context", "peak_rss_bytes", "send_failure"]

#: Seconds between checks that a child is still alive while waiting for it.
_POLL_S = 0.5


class ChildFailed(RuntimeError):
    """A helper process failed (``kind``: its exception's type name, ``detail``: its message)
    or died (``kind`` ``ProcessDied``)."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.detail = detail or message


def context() -> multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext:
    """``fork`` where there is one (the child starts at once, with every module loaded and
    nothing to pickle but its arguments), else ``spawn``."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def send_failure(answers: Any, exc: BaseException) -> None:
    """In a child: tell the parent why it is about to stop (:meth:`Child.receive` raises it)."""
    answers.put(("error", (type(exc).__name__, str(exc))))


class Child:
    """A helper process started on ``target(*args)``, whose answers come back on ``answers``
    as ``(kind, value)`` pairs; ``what`` names it in errors, which are of type ``error``."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], answers: Any, *, name: str, what: str,
                 error: type[ChildFailed]) -> None:
        self.answers, self.what, self.error = answers, what, error
        self.proc: multiprocessing.process.BaseProcess = context().Process(
            target=target, args=args, name=name, daemon=True)
        self.proc.start()

    def receive(self, *, block: bool = True) -> tuple[str, Any] | None:
        """The child's next answer (``None``: none yet, without ``block``); a failure it sent
        or its death is raised."""
        while True:
            try:
                kind, value = self.answers.get(timeout=_POLL_S) if block else self.answers.get_nowait()
            except queue.Empty:
                if not self.proc.is_alive():
                    time.sleep(0.05)  # a failure the child sent just before it ended may still be in the pipe
                    if self.answers.empty():
                        raise self.error("ProcessDied", f"the {self.what} ended unexpectedly "
                                                        f"(exit code {self.proc.exitcode})") from None
                    continue
                if not block:
                    return None
                continue
            if kind == "error":
                self.terminate()
                name, detail = value
                raise self.error(name, f"the {self.what} failed: {name}: {detail}", detail)
            return kind, value

    def terminate(self) -> None:
        """Stop the child now (after an error, or when its answers are not wanted)."""
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(timeout=5.0)


def peak_rss_bytes() -> int:
    """This process's peak resident set size (0 where the platform does not say)."""
    try:
        import resource
    except ImportError:  # not Unix
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, kilobytes elsewhere
