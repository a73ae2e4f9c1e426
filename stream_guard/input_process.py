"""Reading ahead in a child process: an iterator's items, made there, consumed here (``replay``).

``replay`` reads its file, decodes and validates each line, checks event times and puts the
events back in order before the detectors see them (``replay.ordered_input``): about a fifth
of a standard-scenario replay's time, all of it independent of the detectors. An
:class:`InputProcess` runs that iterator in a child process and hands its items over in
batches, in order, while the detectors work on the ones before: the same items, on another
core. At most ``max_batches`` batches wait (the child blocks when they are not taken), so
memory stays bounded. An exception in the child arrives here as :class:`InputProcessError`
with its type and message (the caller re-raises what it means, e.g. a ``ReplayError``);
a child that dies is an error too, never a shorter input.

>>> from functools import partial
>>> with InputProcess(partial(range, 5), batch=2) as reader:
...     list(reader)
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import multiprocessing.process
import multiprocessing.queues
import queue
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from stream_guard.subprocesses import context, peak_rss_bytes

__all__ = ["InputProcess", "InputProcessError"]

#: Seconds between checks that the child is still alive while waiting for it.
_POLL_S = 0.5


class InputProcessError(RuntimeError):
    """The child process reading ahead failed (``kind``: the exception's type name) or died."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _produce(source: Callable[[], Iterable[Any]], out: Any, batch: int) -> None:
    """The child: the source's items, ``batch`` at a time, then the end (or the error)."""
    try:
        items: list[Any] = []
        for item in source():
            items.append(item)
            if len(items) >= batch:
                out.put(("items", items))
                items = []
        out.put(("items", items))
        out.put(("end", peak_rss_bytes()))
    except BaseException as exc:  # told to the parent, which raises it; and re-raised here
        out.put(("error", (type(exc).__name__, str(exc))))
        raise



class InputProcess:
    """The items of ``source()`` (a picklable callable: a module-level function or a
    ``functools.partial`` of one), produced in a child process (see the module docstring)."""

    def __init__(self, source: Callable[[], Iterable[Any]], *, batch: int = 1024, max_batches: int = 64) -> None:
        ctx = context()
        self._queue: multiprocessing.queues.Queue[tuple[str, Any]] = ctx.Queue(maxsize=max_batches)
        self._proc: multiprocessing.process.BaseProcess = ctx.Process(
            target=_produce, args=(source, self._queue, batch), name="stream-guard-input", daemon=True)
        self._proc.start()
        self.peak_rss_bytes = 0  # the child's own peak RSS, once it has given every item

    def __iter__(self) -> Iterator[Any]:
        while True:
            kind, value = self._get()
            if kind == "items":
                yield from value
            elif kind == "end":
                self.peak_rss_bytes = value
                self._proc.join(timeout=30.0)
                return
            else:
                self.terminate()
                name, message = value
                raise InputProcessError(name, message)

    def terminate(self) -> None:
        """Stop the child now (after an error elsewhere, or when its items are not wanted)."""
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(timeout=5.0)

    def __enter__(self) -> InputProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.terminate()

    def _get(self) -> tuple[str, Any]:
        while True:
            try:
                message: tuple[str, Any] = self._queue.get(timeout=_POLL_S)
                return message
            except queue.Empty:
                if not self._proc.is_alive() and self._queue.empty():
                    raise InputProcessError(
                        "ProcessDied", f"the input process ended unexpectedly (exit code {self._proc.exitcode})",
                    ) from None
