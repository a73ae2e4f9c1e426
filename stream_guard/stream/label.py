"""``stream-guard label``: publish analyst verdicts to the verdicts topic, and list them.

A verdict is built and validated here (the contract's schema, an ``allow`` with an expiry)
before it is sent, keyed by its subject, so the worker holding the account gets it (the
verdicts topic is co-partitioned with the input). Listing reads the topic from its start
to its end with a consumer of its own (no group, nothing committed) and gives the verdict
in force on each subject now.

>>> v = new_verdict("acct-9", "account", "allow", reason="evaluation partner", analyst="ana",
...                 at=1_772_323_200.0, expires_at=1_772_409_600.0)
>>> v.to_json()["expires_at"], v.verdict_id.startswith("v-")
('2026-03-02T00:00:00.000Z', True)
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stream_guard.contracts import DeadLetter
from stream_guard.core.alerts import rfc3339
from stream_guard.core.partitioning import partition_for
from stream_guard.core.verdicts import AnalystVerdict, decode_verdict, verdict_from_json
from stream_guard.settings import Settings
from stream_guard.stream.kafka_config import aiokafka_security
from stream_guard.stream.topics import describe_topics

__all__ = ["VerdictListing", "describe", "list_verdicts", "new_verdict", "publish"]


def new_verdict(subject: str, subject_kind: str, verdict: str, *, reason: str, analyst: str,
                at: float | None = None, expires_at: float | None = None) -> AnalystVerdict:
    """A validated verdict (raises :class:`~stream_guard.core.verdicts.VerdictError`); ``at``
    defaults to now, the id is new."""
    doc: dict[str, object] = {
        "verdict_id": f"v-{uuid.uuid4().hex}", "schema_version": 1, "subject": subject,
        "subject_kind": subject_kind, "verdict": verdict, "at": time.time() if at is None else at,
        "reason": reason, "analyst": analyst,
    }
    if expires_at is not None:
        doc["expires_at"] = expires_at
    return verdict_from_json(doc)


async def publish(settings: Settings, verdicts: list[AnalystVerdict], *, timeout_s: float = 30.0) -> None:
    """Send ``verdicts`` to the verdicts topic, each keyed by its subject, and wait for the acks."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                request_timeout_ms=int(timeout_s * 1000), **aiokafka_security(settings))
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
        sent = [await producer.send(settings.verdicts_topic, key=v.subject.encode(), value=orjson.dumps(v.to_json()))
                for v in verdicts]
        await asyncio.wait_for(asyncio.gather(*sent), timeout_s)
    finally:
        await producer.stop()


@dataclass
class VerdictListing:
    """What the verdicts topic holds: every good verdict, and how many messages were bad."""

    verdicts: list[AnalystVerdict] = field(default_factory=list)
    bad: int = 0

    def in_force(self, now: float) -> list[AnalystVerdict]:
        """The verdict in force on each subject at ``now`` (latest ``at`` not after ``now``;
        expired allows left out), sorted by subject."""
        latest: dict[tuple[str, str], AnalystVerdict] = {}
        for v in sorted(self.verdicts, key=lambda v: (v.at, v.verdict_id)):
            if v.at <= now:
                latest[(v.subject_kind, v.subject)] = v
        return [v for _, v in sorted(latest.items())
                if not (v.verdict == "allow" and v.expires_at <= now)]


async def list_verdicts(settings: Settings, *, timeout_s: float = 30.0) -> VerdictListing:
    """Every verdict on the verdicts topic, read from its start to its end now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **aiokafka_security(settings))
    out = VerdictListing()
    states = await describe_topics(settings, timeout_s=timeout_s)
    count = next((t.partitions for t in states if t.spec.name == settings.verdicts_topic), 0)
    if not count:  # no verdicts topic yet: no verdict was ever given
        return out
    tps = [TopicPartition(settings.verdicts_topic, p) for p in range(count)]
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await asyncio.wait_for(consumer.end_offsets(tps), timeout_s)
        deadline = time.monotonic() + timeout_s
        todo = {tp for tp in tps if ends[tp] > 0}
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {settings.verdicts_topic} timed out")
            batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=10_000)
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset >= ends[tp]:
                        continue
                    v = decode_verdict(rec.value)
                    # (as the worker: an account verdict off its account's partition is a dead letter)
                    if isinstance(v, DeadLetter) or (
                            v.subject_kind == "account" and partition_for(v.subject, count) != tp.partition):
                        out.bad += 1
                    else:
                        out.verdicts.append(v)
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
    finally:
        await consumer.stop()
    return out


def describe(v: AnalystVerdict) -> str:
    """One line about a verdict for the listing (no prompt text is ever in a verdict)."""
    until = f" until {rfc3339(v.expires_at)}" if math.isfinite(v.expires_at) else ""
    via = f" (from cluster {v.via})" if v.via else ""
    return (f"{v.subject_kind:<7} {v.subject}  {v.verdict}{until}  since {rfc3339(v.at)}  by {v.analyst}"
            f"{via}: {v.reason}")
