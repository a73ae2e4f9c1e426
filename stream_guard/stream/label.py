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
from aiokafka import AIOKafkaProducer

from stream_guard.contracts import DeadLetter
from stream_guard.core.alerts import rfc3339
from stream_guard.core.verdicts import AnalystVerdict, VerdictBook, verdict_from_json
from stream_guard.settings import Settings
from stream_guard.stream.catchup import read_range
from stream_guard.stream.kafka_config import aiokafka_security
from stream_guard.stream.topics import describe_topics
from stream_guard.stream.verdicts import checked_verdict

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
    """What the verdicts topic holds: every good verdict (once per id), and how many
    messages were bad (as the worker judges them: :func:`~stream_guard.stream.verdicts.checked_verdict`)."""

    book: VerdictBook = field(default_factory=VerdictBook)
    bad: int = 0

    @property
    def verdicts(self) -> list[AnalystVerdict]:
        """Every verdict, oldest first."""
        return sorted(self.book, key=lambda v: (v.at, v.verdict_id))

    def in_force(self, now: float) -> list[AnalystVerdict]:
        """The verdict in force on each subject at ``now`` (expired allows left out), by subject."""
        subjects = sorted({(v.subject_kind, v.subject) for v in self.book})
        found = (self.book.in_force(subject, now, kind) for kind, subject in subjects)
        return [v for v in found if v is not None and not (v.verdict == "allow" and v.expires_at <= now)]


async def list_verdicts(settings: Settings, *, timeout_s: float = 30.0) -> VerdictListing:
    """Every verdict on the verdicts topic, read from its start to its end now."""
    out = VerdictListing()
    states = await describe_topics(settings, timeout_s=timeout_s)
    count = next((t.partitions for t in states if t.spec.name == settings.verdicts_topic), 0)
    for p in range(count):  # (none: no verdicts topic yet, no verdict was ever given)
        async for rec in read_range(settings, settings.verdicts_topic, p, 0, None, timeout_s=timeout_s):
            v = checked_verdict(rec.value, p, count)
            if isinstance(v, DeadLetter):
                out.bad += 1
            else:
                out.book.add(v)
    return out


def describe(v: AnalystVerdict) -> str:
    """One line about a verdict for the listing (no prompt text is ever in a verdict)."""
    until = f" until {rfc3339(v.expires_at)}" if math.isfinite(v.expires_at) else ""
    via = f" (from cluster {v.via})" if v.via else ""
    return (f"{v.subject_kind:<7} {v.subject}  {v.verdict}{until}  since {rfc3339(v.at)}  by {v.analyst}"
            f"{via}: {v.reason}")
