"""Where generated events go: JSONL files (plain or gzip) or a Kafka topic.

Kafka messages are keyed by ``account_id`` (UTF-8), as the contract says. With
``batch > 1`` the sink sends JSON arrays of events (as a log shipper may): events are
grouped by the partition their key maps to, and each array is keyed by its first event's
account, so every account's events still land, in order, on the partition of its own key.
Arrays are flushed when full, when they would exceed ``max_message_bytes``, or when they
have waited ``linger_s`` of wall-clock time.

Progress goes to stderr every few seconds: events written, overall and recent rate, and
the simulated event time reached. Prompt text is never printed.

>>> b = PartitionBatcher(partitions=2, batch=2, partition_of=lambda key: key[-1] % 2)
>>> out = [m for k, v in [(b"a1", b"1"), (b"a2", b"2"), (b"a3", b"3")] for m in b.add(k, v, 0.0)]
>>> out, [m for m in b.flush_all()]
([(b'a1', 1, b'[1,3]')], [(b'a2', 0, b'[2]')])
"""

from __future__ import annotations

import asyncio
import gzip
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from stream_guard.loadgen.timeutil import TsFormatter

__all__ = [
    "FileSink",
    "KafkaOptions",
    "PartitionBatcher",
    "Progress",
    "RateLimit",
    "open_lines",
    "send_to_kafka",
]


class Progress:
    """Prints a progress line to ``out`` at most every ``every_s`` seconds."""

    def __init__(
        self,
        label: str,
        *,
        every_s: float = 5.0,
        out: IO[str] | None = None,
        span_ms: tuple[int, int] | None = None,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.every_s = every_s
        self.out = out if out is not None else sys.stderr
        self.span_ms = span_ms
        self.enabled = enabled
        self.t0 = time.monotonic()
        self._last_t = self.t0
        self._last_n = 0
        self._fmt = TsFormatter()

    def maybe(self, n: int, sim_ms: int | None) -> None:
        """Report if it is time (call often; cheap)."""
        now = time.monotonic()
        if self.enabled and now - self._last_t >= self.every_s:
            self._report(now, n, sim_ms, final=False)

    def done(self, n: int, sim_ms: int | None) -> float:
        """Final line; returns the overall rate (events/s)."""
        now = time.monotonic()
        if self.enabled:
            self._report(now, n, sim_ms, final=True)
        return n / max(now - self.t0, 1e-9)

    def _report(self, now: float, n: int, sim_ms: int | None, *, final: bool) -> None:
        elapsed = max(now - self.t0, 1e-9)
        recent = (n - self._last_n) / max(now - self._last_t, 1e-9)
        sim = ""
        if sim_ms is not None:
            sim = f", event time {self._fmt(sim_ms)[:19]}Z"
            if self.span_ms is not None and self.span_ms[1] > self.span_ms[0]:
                frac = (sim_ms - self.span_ms[0]) / (self.span_ms[1] - self.span_ms[0])
                sim += f" ({100.0 * min(max(frac, 0.0), 1.0):.0f}%)"
        word = "done" if final else "progress"
        print(
            f"{self.label} {word}: {n:,} events in {elapsed:.1f}s, {n / elapsed:,.0f} ev/s"
            + ("" if final else f" (last {recent:,.0f} ev/s)")
            + sim,
            file=self.out,
            flush=True,
        )
        self._last_t, self._last_n = now, n


class FileSink:
    """Writes one JSON document per line; ``.gz`` names are gzip-compressed (level 1)."""

    def __init__(self, path: str | Path, *, buffer_events: int = 2000) -> None:
        self.path = Path(path)
        self._fh: IO[bytes]
        if self.path.name.endswith(".gz"):
            self._fh = gzip.open(self.path, "wb", compresslevel=1)  # type: ignore[assignment]  # noqa: SIM115
        else:
            self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._buf: list[bytes] = []
        self._limit = buffer_events
        self.count = 0

    def write(self, event: dict[str, Any]) -> None:
        """Append one event."""
        self.write_raw(orjson.dumps(event))

    def write_raw(self, line: bytes) -> None:
        """Append one already-encoded JSON document (no newline)."""
        self._buf.append(line)
        self.count += 1
        if len(self._buf) >= self._limit:
            self._fh.write(b"\n".join(self._buf) + b"\n")
            self._buf.clear()

    def close(self) -> None:
        """Flush and close."""
        if self._buf:
            self._fh.write(b"\n".join(self._buf) + b"\n")
            self._buf.clear()
        self._fh.close()

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_lines(path: str | Path) -> Iterator[bytes]:
    """The non-empty lines of a JSONL(.gz) file, without newlines."""
    p = Path(path)
    opener: Any = gzip.open if p.name.endswith(".gz") else open
    with opener(p, "rb") as fh:
        for line in fh:
            line = line.rstrip(b"\r\n")
            if line:
                yield line


class RateLimit:
    """Paces a sender to ``rate`` events/s (0 = unlimited), checking every few events."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.t0 = time.monotonic()
        self.step = max(1, int(rate / 200)) if rate > 0 else 0

    def delay(self, sent: int) -> float:
        """Seconds to wait before sending event number ``sent`` (0 when on schedule)."""
        if self.rate <= 0 or sent % self.step:
            return 0.0
        return max(0.0, self.t0 + sent / self.rate - time.monotonic())


class PartitionBatcher:
    """Groups (key, value) pairs by target partition into JSON-array messages."""

    def __init__(
        self,
        partitions: int,
        batch: int,
        partition_of: Callable[[bytes], int],
        *,
        max_message_bytes: int = 900_000,
        linger_s: float = 0.5,
    ) -> None:
        self.batch = batch
        self.partition_of = partition_of
        self.max_bytes = max_message_bytes
        self.linger_s = linger_s
        self._keys: list[bytes | None] = [None] * partitions
        self._vals: list[list[bytes]] = [[] for _ in range(partitions)]
        self._size = [0] * partitions
        self._since = [0.0] * partitions

    def add(self, key: bytes, value: bytes, now: float) -> Iterator[tuple[bytes, int, bytes]]:
        """Add one event; yields ``(key, partition, payload)`` messages that are ready."""
        p = self.partition_of(key)
        vals = self._vals[p]
        if vals and self._size[p] + len(value) + 2 > self.max_bytes:
            yield self._take(p)
            vals = self._vals[p]
        if not vals:
            self._keys[p] = key
            self._since[p] = now
        vals.append(value)
        self._size[p] += len(value) + 1
        if len(vals) >= self.batch:
            yield self._take(p)

    def flush_stale(self, now: float) -> Iterator[tuple[bytes, int, bytes]]:
        """Messages that have waited longer than ``linger_s``."""
        for p, vals in enumerate(self._vals):
            if vals and now - self._since[p] >= self.linger_s:
                yield self._take(p)

    def flush_all(self) -> Iterator[tuple[bytes, int, bytes]]:
        """Every pending message."""
        for p, vals in enumerate(self._vals):
            if vals:
                yield self._take(p)

    def _take(self, p: int) -> tuple[bytes, int, bytes]:
        key = self._keys[p]
        assert key is not None
        payload = b"[" + b",".join(self._vals[p]) + b"]"
        self._vals[p] = []
        self._size[p] = 0
        self._keys[p] = None
        return key, p, payload


class KafkaOptions:
    """How to produce: broker, topic, batching, pacing, producer tuning, security.

    ``security`` holds aiokafka's security keyword arguments (``security_protocol``,
    ``ssl_context``, ``sasl_*``); by default they come from the ``STREAM_GUARD_SECURITY_PROTOCOL``,
    ``STREAM_GUARD_SASL_*`` and ``STREAM_GUARD_SSL_*`` settings, as for the worker
    (:func:`~stream_guard.stream.kafka_config.aiokafka_security`).
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        batch: int = 1,
        rate: float = 0.0,
        linger_ms: int = 20,
        max_message_bytes: int = 900_000,
        acks: int | str = 1,
        create_partitions: int = 0,
        batch_linger_s: float = 0.5,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap.removeprefix("kafka://")
        self.topic = topic
        self.batch = max(1, batch)
        self.rate = rate
        self.linger_ms = linger_ms
        self.max_message_bytes = max_message_bytes
        self.acks = acks
        self.create_partitions = create_partitions
        self.batch_linger_s = batch_linger_s
        self._security = dict(security) if security is not None else None

    @property
    def security(self) -> dict[str, Any]:
        """aiokafka security keyword arguments (from the settings unless given)."""
        if self._security is None:
            from stream_guard.settings import Settings
            from stream_guard.stream.kafka_config import aiokafka_security

            self._security = aiokafka_security(Settings.from_env())
        return self._security


async def _ensure_topic(opts: KafkaOptions) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=opts.bootstrap, **opts.security)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(opts.topic, opts.create_partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


async def send_to_kafka(
    items: Iterable[tuple[bytes, bytes, int | None]],
    opts: KafkaOptions,
    progress: Progress,
) -> int:
    """Produce ``(key, value, event_ts_ms)`` items; returns the number of events sent.

    Waits for every delivery before returning, so a non-zero return means the broker
    acknowledged them (errors raise). ``event_ts_ms`` (may be None) is only for progress.
    """
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import DefaultPartitioner

    if opts.create_partitions > 0:
        await _ensure_topic(opts)
    producer = AIOKafkaProducer(
        bootstrap_servers=opts.bootstrap,
        linger_ms=opts.linger_ms,
        acks=opts.acks,
        max_batch_size=1 << 20,
        max_request_size=max(opts.max_message_bytes + 65536, 1 << 20),
        **opts.security,
    )
    await producer.start()
    sent = 0
    last_ts: int | None = None
    pending: list[asyncio.Future[Any]] = []
    pace = RateLimit(opts.rate)
    topic = opts.topic
    send = producer.send
    try:
        partitions = sorted(await producer.partitions_for(topic))
        partitioner = DefaultPartitioner()
        batcher = (
            PartitionBatcher(
                len(partitions),
                opts.batch,
                lambda key: int(partitioner(key, partitions, partitions)),
                max_message_bytes=opts.max_message_bytes,
                linger_s=opts.batch_linger_s,
            )
            if opts.batch > 1
            else None
        )
        for key, value, ts in items:
            if pace.rate > 0:
                wait = pace.delay(sent)
                if wait > 0:
                    await asyncio.sleep(wait)
            if batcher is None:
                pending.append(await send(topic, value, key=key))
            else:
                now = time.monotonic() if not sent & 255 else 0.0
                for k, p, payload in batcher.add(key, value, now):
                    pending.append(await send(topic, payload, key=k, partition=p))
                if now:
                    for k, p, payload in batcher.flush_stale(now):
                        pending.append(await send(topic, payload, key=k, partition=p))
            sent += 1
            last_ts = ts
            if len(pending) >= 4096:
                await asyncio.gather(*pending)
                pending.clear()
            if not sent & 1023:
                progress.maybe(sent, last_ts)
        if batcher is not None:
            for k, p, payload in batcher.flush_all():
                pending.append(await send(topic, payload, key=k, partition=p))
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
    progress.done(sent, last_ts)
    return sent
