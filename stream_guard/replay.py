"""Offline replay: the same detection core over a file of request events, in bounded memory.

Events are read line by line from JSON Lines (optionally gzip-compressed; a line may hold
one event or a JSON array of them) and validated with the same codec as the worker. Nothing
holds the whole file: memory is bounded by the reorder buffer, the event-time check's small
hold-back sets and the detector's own state (capped by ``STREAM_GUARD_MAX_ACCOUNTS``), not by
the file's size. Alerts go to ``on_alert`` as they are raised.

**Order.** Valid events pass through a *reorder buffer*, a heap keyed by (event time,
arrival order): an event leaves it once it is more than ``reorder_window_s`` seconds of
event time older than the newest event read, or when the buffer holds ``reorder_events``
events. So an event at most ``reorder_window_s`` older than the newest one before it (and at
most ``reorder_events`` events out of place) is put back in order, and the detector sees
exactly what a full sort would give (the default window is ``STREAM_GUARD_MAX_EVENT_BEHIND_S``,
one day, so in practice the event-count cap decides). An event that arrives after a later
one has already left the buffer is still processed, as a **late** event (the detector
treats it as the live worker treats a late event: it counts in the account's next
interval) and counted in :attr:`ReplayReport.late`; sort such files first for exact results.

**Event-time sanity** (:class:`~stream_guard.core.eventtime.TimeBounds`, relative to the
stream's own time, see :class:`StreamClock`): events ahead of the wall clock by more than
``STREAM_GUARD_MAX_EVENT_AHEAD_S``, ahead of the stream's time by more than that, or behind
it by more than ``STREAM_GUARD_MAX_EVENT_BEHIND_S`` are dead letters with reason
``out_of_range_time``, and never touch the detector.

Accounts are split over as many detectors as the input topic has partitions (``--partitions``,
default ``STREAM_GUARD_TOPIC_PARTITIONS``) with Kafka's default partitioner, so each
detector's population models see the same accounts as the live worker's. The live worker
raises the same alerts for the same input (``tests/integration/test_worker.py``).

>>> buf = ReorderBuffer(window_s=10.0, max_events=3)
>>> [ts for ts, _ in buf.push(5.0, "a")] + [ts for ts, _ in buf.push(2.0, "b")]
[]
>>> [ts for ts, _ in buf.push(20.0, "c")]   # 2 and 5 are now more than 10 s older than 20
[2.0, 5.0]
>>> buf.is_late(4.0), [ts for ts, _ in buf.drain()]
(True, [20.0])
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import heapq
import io
import math
import statistics
import sys
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeAlias

import orjson

from stream_guard.contracts import decode_message
from stream_guard.core.alerts import Alert
from stream_guard.core.eventtime import TimeBounds
from stream_guard.core.flow import Flow, InProcessLinking
from stream_guard.core.linking import LinkingPipeline
from stream_guard.core.partitioning import partition_for
from stream_guard.core.scoring import Evaluator
from stream_guard.core.verdicts import VerdictBook
from stream_guard.input_process import InputProcess, InputProcessError
from stream_guard.linking_process import LinkingProcess, LinkingSummary
from stream_guard.settings import Settings

__all__ = [
    "BadLine",
    "InputEnd",
    "LinesRead",
    "ReorderBuffer",
    "ReplayError",
    "ReplayReport",
    "StreamClock",
    "open_events",
    "ordered_input",
    "replay",
    "write_alerts",
]

#: Dead-letter reason of events outside the event-time bounds (``DeadLetterReason.OUT_OF_RANGE_TIME``).
OUT_OF_RANGE_TIME = "out_of_range_time"
#: Longer lines are dead letters (``oversized``) and are skipped without being held in memory.
MAX_LINE_BYTES = 64 * 1024 * 1024
#: Dead-letter reasons whose detail never quotes the input (shown on stderr).
_SAFE_DETAILS = frozenset({"invalid_json", "oversized", OUT_OF_RANGE_TIME})
#: Default cap on the events held by the reorder buffer (about 1.1 KB each for one-event lines).
REORDER_EVENTS = 100_000

#: One valid event on its way to the detector: the raw line when it held just this event
#: (compact: decoded again when it leaves the buffer), else the decoded event.
Payload: TypeAlias = bytes | dict[str, Any]


class ReplayError(Exception):
    """The input or output of a replay cannot be used; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class BadLine:
    """One input line, or one element of a line's array, that was not processed."""

    line: int
    reason: str
    detail: str
    original: bytes | None  # the line, or the array element re-encoded (``index`` set)
    index: int | None = None

    def to_json(self, limit: int = 65_536) -> bytes:
        """The dead-letter file's record (JSON Lines); originals over ``limit`` bytes are cut."""
        doc: dict[str, Any] = {"line": self.line, "reason": self.reason, "detail": self.detail}
        if self.index is not None:
            doc["index"] = self.index
        raw = self.original
        if raw is not None:
            if len(raw) > limit:
                doc["original_bytes"] = len(raw)
                doc["truncated"] = True
                raw = raw[:limit]
            try:
                doc["original"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                doc["original"] = None
                doc["original_base64"] = base64.b64encode(raw).decode("ascii")
        return orjson.dumps(doc) + b"\n"

    def summary(self) -> str:
        """A line for stderr: never the input's text (prompts), only where and why.

        >>> BadLine(7, "schema_violation", 'prompt: "secret" is not of type "integer"', None).summary()
        'line 7: schema_violation at prompt'
        """
        where = f"line {self.line}" + (f"[{self.index}]" if self.index is not None else "")
        if self.reason == "schema_violation":  # the detail may quote the value (prompt text)
            field_path = self.detail.split(":", 1)[0].strip()
            return f"{where}: {self.reason} at {field_path}"
        if self.reason in _SAFE_DETAILS:  # positions, sizes and times only
            return f"{where}: {self.reason} ({self.detail[:300]})"
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class ReplayReport:
    """What a replay saw and raised."""

    events: int = 0  # valid events processed by the detector (late ones included)
    lines: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    untracked: int = 0
    silenced: int = 0  # findings silenced: evaluations at an alert's level while an allow or benign verdict held
    late: int = 0  # events that arrived after a later event had left the reorder buffer
    alerts: list[Alert] = field(default_factory=list)  # empty with keep_alerts=False
    alert_count: int = 0
    severities: Counter[str] = field(default_factory=Counter)
    reorder_peak: int = 0  # most events the reorder buffer held at once
    seconds: float = 0.0
    linking: LinkingPipeline | None = None  # the cross-account stages at the end, when in process (for inspection)
    linking_summary: LinkingSummary | None = None  # ... summed up (also from a linking process)
    input_peak_rss_bytes: int = 0  # peak RSS of the input process (input_process=True)

    @property
    def bad_lines(self) -> int:
        """Dead letters of every reason (lines or array elements)."""
        return sum(self.dead_letters.values())


class ReorderBuffer:
    """A heap of (event time, arrival order) holding at most ``window_s`` of event time
    behind the newest event pushed, and at most ``max_events`` events (see the module
    docstring)."""

    def __init__(self, window_s: float, max_events: int) -> None:
        if window_s < 0 or max_events < 1:
            raise ValueError("need window_s >= 0 and max_events >= 1")
        self.window_s = window_s
        self.max_events = max_events
        self.newest = -math.inf
        self.released = -math.inf  # event time of the last event out
        self.peak = 0
        self._heap: list[tuple[float, int, Payload]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def is_late(self, ts: float) -> bool:
        """An event at ``ts`` comes after a later one already left (cannot be put in order)."""
        return ts < self.released

    def push(self, ts: float, payload: Payload) -> Iterator[tuple[float, Payload]]:
        """Add one event; yields the events that leave, in order (consume it fully)."""
        heap = self._heap
        entry = (ts, self._seq, payload)
        self._seq += 1
        if ts > self.newest:
            self.newest = ts
        if len(heap) >= self.max_events:  # full: the earliest of the held and the new one leaves
            out_ts, _, out = heapq.heappushpop(heap, entry)
            self.released = out_ts
            yield out_ts, out
        else:
            heapq.heappush(heap, entry)
            if len(heap) > self.peak:
                self.peak = len(heap)
        horizon = self.newest - self.window_s
        while heap and heap[0][0] < horizon:
            out_ts, _, out = heapq.heappop(heap)
            self.released = out_ts
            yield out_ts, out

    def drain(self) -> Iterator[tuple[float, Payload]]:
        """Every event still held, in order (the end of the input)."""
        heap = self._heap
        while heap:
            out_ts, _, out = heapq.heappop(heap)
            self.released = out_ts
            yield out_ts, out


@dataclass(slots=True)
class _Held:
    ts: float
    line: int
    index: int | None
    payload: Payload


class StreamClock:
    """Which event times enter a replay, judged against the stream's own time.

    * Not finite, or ahead of the wall clock by more than ``max_ahead_s``: rejected at once
      (1e12, year 3000).
    * **Warm-up**: the first ``warmup`` events are held and judged together against their
      *median*, within ``max_behind_s`` either way: one garbage first event (``ts=1``, a
      clock years off) cannot become the stream's time, and a shuffled start is fine.
    * Then the stream's time is the newest event time accepted; events more than
      ``max_behind_s`` behind it or ``max_ahead_s`` ahead of it are out of range. Events
      ahead of it are held as a possible **jump** (a real gap in the traffic): once
      ``jump_events`` of them arrive in a row, within ``max_ahead_s`` of each other, the
      stream has moved and they are accepted; an accepted event in between (or the end of
      the file) rejects the held ones.

    Every held set is bounded (``warmup`` and ``jump_events`` events).

    >>> clock = StreamClock(TimeBounds(3600.0, 86400.0), now=2e9, warmup=3, jump_events=2)
    >>> [v is None for h, v in clock.offer(_Held(1.0, 1, None, {}))]          # held (warm-up)
    []
    >>> clock.offer(_Held(1e12, 2, None, {}))[0][1]                           # beyond the wall clock
    'ts 1e+12 is 998000000000 s ahead of the reference time 2000000000 (limit 3600 s); the reference is the wall clock'
    >>> [(h.ts, v is None)
    ...  for h, v in clock.offer(_Held(1.7e9, 3, None, {})) + clock.offer(_Held(1.7e9 + 5, 4, None, {}))]
    [(1.0, False), (1700000000.0, True), (1700000005.0, True)]
    """

    def __init__(self, bounds: TimeBounds, *, now: float, warmup: int = 1000, jump_events: int = 100) -> None:
        self.bounds = bounds
        self.now = now
        self.warmup = warmup
        self.jump_events = jump_events
        self.time = -math.inf  # the stream's time: newest event time accepted
        self._start: list[_Held] | None = []
        self._jump: list[_Held] = []

    def offer(self, item: _Held) -> list[tuple[_Held, str | None]]:
        """Decisions (item, ``None`` = accepted, else why not) this item settles, in arrival
        order among the accepted ones."""
        v = self.bounds.violation(item.ts, reference=self.now, latest=0.0)
        if v is not None:
            return [(item, f"{v}; the reference is the wall clock")]
        if self._start is not None:
            self._start.append(item)
            return self._settle_start() if len(self._start) >= self.warmup else []
        v = self.bounds.violation(item.ts, reference=self.time, latest=self.time)
        if v is None:
            out: list[tuple[_Held, str | None]] = [(h, self._no_jump(h)) for h in self._jump]
            self._jump = []
            self.time = max(self.time, item.ts)
            out.append((item, None))
            return out
        if item.ts < self.time:  # too far behind
            return [(item, v)]
        out = []
        if self._jump and abs(item.ts - self._jump[0].ts) > self.bounds.max_ahead_s:
            out = [(h, self._no_jump(h)) for h in self._jump]
            self._jump = []
        self._jump.append(item)
        if len(self._jump) >= self.jump_events:
            self.time = max(h.ts for h in self._jump)
            out += [(h, None) for h in self._jump]
            self._jump = []
        return out

    def finish(self) -> list[tuple[_Held, str | None]]:
        """Decisions on whatever is still held at the end of the input."""
        out = self._settle_start() if self._start is not None else []
        out += [(h, self._no_jump(h)) for h in self._jump]
        self._jump = []
        return out

    def _no_jump(self, h: _Held) -> str:
        return (
            f"ts {h.ts:g} is {h.ts - self.time:.0f} s ahead of the stream's time {self.time:.0f} "
            f"(limit {self.bounds.max_ahead_s:.0f} s) and the stream did not follow "
            f"({self.jump_events} such events in a row would be a gap in the traffic)"
        )

    def _settle_start(self) -> list[tuple[_Held, str | None]]:
        held, self._start = self._start or [], None
        if not held:
            return []
        median = statistics.median(h.ts for h in held)
        wide = TimeBounds(self.bounds.max_behind_s, self.bounds.max_behind_s)
        out: list[tuple[_Held, str | None]] = []
        for h in held:
            v = wide.violation(h.ts, reference=median, latest=median)
            if v is not None:
                v = f"{v}; the stream's time at its start is the median of its first {len(held)} event times"
            else:
                self.time = max(self.time, h.ts)
            out.append((h, v))
        return out


def open_events(path: Path) -> io.BufferedIOBase:
    """The events file opened for reading (gzip by suffix or magic bytes), or a one-line
    :class:`ReplayError`: missing, a directory, unreadable."""
    if not path.exists():
        raise ReplayError(f"{path}: no such file")
    if path.is_dir():
        raise ReplayError(f"{path}: is a directory, not an events file")
    try:
        fh = path.open("rb")
        magic = fh.peek(2)[:2] if hasattr(fh, "peek") else b""
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if path.suffix == ".gz" or magic == b"\x1f\x8b":
        fh.close()
        return gzip.GzipFile(path, "rb")
    return fh


def _lines(fh: io.BufferedIOBase, path: Path) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, stripped line or ``None`` when longer than MAX_LINE_BYTES, its size)."""
    n = 0
    try:
        while True:
            line = fh.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            n += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                size = len(line)
                while line and not line.endswith(b"\n"):  # skip the rest without holding it
                    line = fh.readline(MAX_LINE_BYTES)
                    size += len(line)
                yield n, None, size
                continue
            yield n, line.strip(), len(line)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ReplayError(f"{path}: unreadable after line {n:,} ({exc})") from None


@dataclass(frozen=True, slots=True)
class LinesRead:
    """A progress marker in the ordered input: lines read so far, and the reorder buffer's peak."""

    lines: int
    reorder_peak: int


@dataclass(frozen=True, slots=True)
class InputEnd:
    """The last item of the ordered input: what reading it counted."""

    lines: int
    late: int  # events that came after a later one had left the reorder buffer
    reorder_peak: int


#: What :func:`ordered_input` yields: an event (event time, payload) on its way to the
#: detectors, a bad line, a progress marker, and at the end the input's counts.
InputItem: TypeAlias = "tuple[float, Payload] | BadLine | LinesRead | InputEnd"


def ordered_input(
    path: Path, settings: Settings, window_s: float, reorder_events: int, now: float,
) -> Iterator[InputItem]:
    """The file's events in event-time order, and its bad lines where they were found: the
    lines read (:func:`open_events`), decoded and validated (the worker's codec), their event
    times checked (:class:`StreamClock`) and put in order (:class:`ReorderBuffer`); a
    :class:`LinesRead` marker every 1,024 lines and an :class:`InputEnd` at the end. Raises
    :class:`ReplayError` when the file cannot be read. (``replay`` consumes it in its own
    process, or runs it in a second one: :mod:`~stream_guard.input_process`.)"""
    buffer = ReorderBuffer(window_s, reorder_events)
    clock = StreamClock(TimeBounds.of(settings), now=now)
    late = 0

    def settle(decisions: list[tuple[_Held, str | None]]) -> Iterator[InputItem]:
        nonlocal late
        for h, why in decisions:
            if why is not None:
                original = h.payload if isinstance(h.payload, bytes) else orjson.dumps(h.payload)
                yield BadLine(h.line, OUT_OF_RANGE_TIME, why, original, h.index)
            elif buffer.is_late(h.ts):
                late += 1
                yield h.ts, h.payload
            else:
                yield from buffer.push(h.ts, h.payload)

    lineno = 0
    with open_events(path) as fh:
        for lineno, line, size in _lines(fh, path):
            if line is None:
                yield BadLine(lineno, "oversized", f"{size:,} bytes > limit {MAX_LINE_BYTES:,}", None)
                continue
            if line:
                msg = decode_message(line, max_bytes=sys.maxsize, max_batch=sys.maxsize)
                for dl in msg.dead_letters:
                    yield BadLine(lineno, dl.reason.value, dl.detail, dl.payload, dl.index)
                single = not msg.batched and len(msg.events) == 1
                for index, (event, ts) in enumerate(msg.events):
                    payload: Payload = line if single else event
                    yield from settle(clock.offer(_Held(ts, lineno, None if single else index, payload)))
            if lineno % 1024 == 0:
                yield LinesRead(lineno, buffer.peak)
    yield from settle(clock.finish())
    yield from buffer.drain()
    yield InputEnd(lineno, late, buffer.peak)


def replay(
    path: Path,
    settings: Settings,
    *,
    flush: bool = True,
    partitions: int | None = None,
    on_alert: Callable[[Alert], None] | None = None,
    keep_alerts: bool = True,
    on_bad_line: Callable[[BadLine], None] | None = None,
    progress: Callable[[ReplayReport], None] | None = None,
    progress_every_s: float = 5.0,
    reorder_window_s: float | None = None,
    reorder_events: int = REORDER_EVENTS,
    now: float | None = None,
    linking_process: bool = False,
    input_process: bool = False,
    evaluators: Sequence[Evaluator] = (),
    verdicts: VerdictBook | None = None,
) -> ReplayReport:
    """Run the detector over ``path`` in event-time order; see the module docstring.

    With ``flush`` the accounts still pending at the end are evaluated too (as if the
    stream went on); without it the replay stops where a live worker's watermark would.
    ``keep_alerts=False`` keeps only counts in the report (alerts go to ``on_alert``).
    ``progress`` is called about every ``progress_every_s`` seconds with the report so far.
    ``now`` is the wall clock for the event-time check (default: the time at the start).
    ``linking_process`` runs the cross-account stages in a second process, pipelined with the
    detectors (:mod:`~stream_guard.linking_process`), and ``input_process`` reads, validates
    and orders the input in another (:mod:`~stream_guard.input_process`): the same alerts in
    the same order either way. ``evaluators`` are added to every partition's detector after
    the configured ones (``bench/evidence_calibration.py`` records evaluations so).
    ``verdicts`` are analyst verdicts (``replay --verdicts FILE``): each applies from its event
    time, as the worker applies it from its arrival, so a replay of the traffic and the verdicts
    gives what the worker gave (with verdicts the cross-account stages stay in this process:
    they share the detectors' book, and the member verdicts they give reach the detectors at
    once). Raises
    :class:`ReplayError` when the file cannot be read, and
    :class:`~stream_guard.subprocesses.ChildFailed` (``LinkingProcessError``,
    ``InputProcessError``) if a helper process fails or dies.
    """
    started = time.perf_counter()
    report = ReplayReport()
    n = partitions or settings.topic_partitions
    window = settings.max_event_behind_s if reorder_window_s is None else reorder_window_s
    if window < 0 or reorder_events < 1:
        raise ReplayError(f"need a reorder window >= 0 s (got {window:g}) and >= 1 reorder events "
                          f"(got {reorder_events})")
    source = partial(ordered_input, path, settings, window, reorder_events, time.time() if now is None else now)
    book = verdicts if verdicts is not None else VerdictBook.of(settings)
    if len(book):
        linking_process = False  # the cross-account stages must share the detectors' verdicts
    with contextlib.ExitStack() as stack:
        linking: InProcessLinking | LinkingProcess | None = None
        if settings.cross_account:
            if linking_process:
                linking = LinkingProcess(settings)
                stack.callback(linking.terminate)  # (ended already after a complete replay)
            else:
                linking = InProcessLinking(settings, verdicts=book)
        reader = stack.enter_context(InputProcess(source)) if input_process else None
        items: Iterable[InputItem] = source() if reader is None else reader
        flow = Flow(settings, linking, partitions=n, evaluators=evaluators, verdicts=book)
        run = _Run(settings, report, flow, linking, n, keep_alerts=keep_alerts,
                   on_alert=on_alert, on_bad_line=on_bad_line, progress=progress, progress_every_s=progress_every_s,
                   started=started)
        try:
            run.consume(items)
        except InputProcessError as exc:
            if exc.kind == "ReplayError":
                raise ReplayError(exc.detail) from None
            raise
        run.finish(flush)
        if reader is not None:
            report.input_peak_rss_bytes = reader.peak_rss_bytes
    report.seconds = time.perf_counter() - started
    return report


class _Run:
    """One replay's consuming side: the ordered input into the flow, alerts out in order."""

    def __init__(
        self,
        settings: Settings,
        report: ReplayReport,
        flow: Flow,
        linking: InProcessLinking | LinkingProcess | None,
        partitions: int,
        *,
        keep_alerts: bool,
        on_alert: Callable[[Alert], None] | None,
        on_bad_line: Callable[[BadLine], None] | None,
        progress: Callable[[ReplayReport], None] | None,
        progress_every_s: float,
        started: float,
    ) -> None:
        self.s, self.report, self.flow, self.linking, self.partitions = settings, report, flow, linking, partitions
        self.keep_alerts, self.on_alert, self.on_bad_line = keep_alerts, on_alert, on_bad_line
        self.progress, self.progress_every_s, self.started = progress, progress_every_s, started
        self.next_progress = time.monotonic() + progress_every_s
        self.next_advance = 0.0
        self.partition_of: dict[str, int] = {}
        self.held: deque[list[Alert]] = deque()  # per-account alerts of steps whose cross-account part is in flight

    def consume(self, items: Iterable[InputItem]) -> None:
        """Every item of the ordered input (see :func:`ordered_input`), in order."""
        report, flow, step, partition_of, n = self.report, self.flow, self.s.eval_interval_s, self.partition_of, \
            self.partitions
        for item in items:
            if type(item) is tuple:  # an event: the common case first
                ts, payload = item
                event: dict[str, Any] = orjson.loads(payload) if isinstance(payload, bytes) else payload
                if ts >= self.next_advance:
                    self.advance(ts)
                    self.next_advance = (ts // step + 1) * step
                account = event["account_id"]
                partition = partition_of.get(account)
                if partition is None:
                    partition = partition_of[account] = partition_for(account, n)
                flow.process(partition, event, ts)
                report.events += 1
            elif isinstance(item, BadLine):
                report.dead_letters[item.reason] += 1
                if self.on_bad_line is not None:
                    self.on_bad_line(item)
            elif isinstance(item, LinesRead):
                report.lines, report.reorder_peak = item.lines, item.reorder_peak
                if self.progress is not None and time.monotonic() >= self.next_progress:
                    self.next_progress = time.monotonic() + self.progress_every_s
                    report.seconds = time.perf_counter() - self.started
                    self.progress(report)
            elif isinstance(item, InputEnd):
                report.lines, report.late, report.reorder_peak = item.lines, item.late, item.reorder_peak

    def emit(self, alerts: list[Alert]) -> None:
        report = self.report
        for alert in alerts:
            report.alert_count += 1
            report.severities[alert["severity"]] += 1
            if self.keep_alerts:
                report.alerts.append(alert)
            if self.on_alert is not None:
                self.on_alert(alert)

    def advance(self, watermark: float, *, last: bool = False) -> None:
        alerts = self.flow.advance(watermark)
        self.flow.take_scores()  # the worker turns these into a histogram; replay does not
        linking = self.linking
        if not isinstance(linking, LinkingProcess):
            self.emit(alerts)
            return
        self.held.append(alerts)  # each step's alerts, then its cross-account ones: Flow.advance's order
        for cross in linking.results(wait_all=last):
            self.emit(self.held.popleft())
            self.emit(cross)

    def finish(self, flush: bool) -> None:
        """The last steps (all pending evaluations with ``flush``) and the report's totals."""
        flow, report, linking = self.flow, self.report, self.linking
        self.advance(flow.max_ts, last=not flush)
        if flush:
            self.advance(math.inf, last=True)
        if isinstance(linking, LinkingProcess):
            report.linking_summary = linking.close()
        elif linking is not None:
            report.linking = linking.pipeline
            report.linking_summary = LinkingSummary.of(linking.pipeline, self.s)
        report.duplicates = sum(d.duplicates for d in flow)
        report.silenced = sum(d.silenced for d in flow)
        report.untracked = sum(d.rejected for d in flow)


def write_alerts(alerts: Iterable[Alert], out: IO[bytes]) -> None:
    """Alerts as JSON Lines."""
    for alert in alerts:
        out.write(orjson.dumps(alert) + b"\n")
