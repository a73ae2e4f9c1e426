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

import multiprocessing.queues
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from stream_guard.subprocesses import Child, ChildFailed, context, peak_rss_bytes, send_failure

__all__ = ["InputProcess", "InputProcessError"]


class InputProcessError(ChildFailed):
    """The child process reading ahead failed (``kind``: the exception's type name) or died."""


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
        send_failure(out, exc)
        raise


class InputProcess:
    """The items of ``source()`` (a picklable callable: a module-level function or a
    ``functools.partial`` of one), produced in a child process (see the module docstring)."""

    def __init__(self, source: Callable[[], Iterable[Any]], *, batch: int = 1024, max_batches: int = 64) -> None:
        answers: multiprocessing.queues.Queue[tuple[str, Any]] = context().Queue(maxsize=max_batches)
        self._child = Child(_produce, (source, answers, batch), answers, name="stream-guard-input",
                            what="input process", error=InputProcessError)
        self.peak_rss_bytes = 0  # the child's own peak RSS, once it has given every item

    def __iter__(self) -> Iterator[Any]:
        while True:
            message = self._child.receive()
            assert message is not None  # (a blocking receive answers or raises)
            kind, value = message
            if kind == "end":
                self.peak_rss_bytes = value
                self._child.proc.join(timeout=30.0)
                return
            yield from value

    def terminate(self) -> None:
        """Stop the child now (after an error elsewhere, or when its items are not wanted)."""
        self._child.terminate()

    def __enter__(self) -> InputProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.terminate()
