"""The worker's intake of analyst verdicts (the verdicts topic), free of Faust.

The verdicts topic is co-partitioned with the input topic and keyed by subject, so the
worker holding an account's input partition also gets its verdicts. Each message is
decoded and validated (:func:`~stream_guard.core.verdicts.decode_verdict`); a bad one, or an
account verdict in a partition its account's events do not go to (a wrong key), is a dead
letter. A good one goes into the flow's :class:`~stream_guard.core.verdicts.VerdictBook`
(applied at the evaluations from its ``at`` on) and, unless it is a member verdict the
cluster stage gave, is also forwarded to the cluster stage (cluster verdicts, and account
verdicts that keep a member out of member alerts).

**Durable.** The topic is kept forever (``retention.ms=-1``) and is the verdicts' record:
a worker given a verdicts partition (start, restart, rebalance) re-reads it from offset 0
before its next message, silently (no second dead letter, no second count), so every
worker holds every verdict of its partitions whatever happened before.

>>> from stream_guard.core.verdicts import VerdictBook
>>> from stream_guard.metrics import Metrics
>>> intake = VerdictIntake(VerdictBook(), Metrics(), partitions=1)
>>> good = (b'{"verdict_id": "v1", "subject": "a", "subject_kind": "account", "verdict": "malicious",'
...         b' "at": 5, "reason": "confirmed", "analyst": "ana"}')
>>> out = intake.handle(0, 0, good)
>>> out.dead_letter, out.forward is not None, intake.book.label_at("a", 10.0)
(None, True, True)
>>> intake.handle(0, 1, b"{").dead_letter.reason.value
'invalid_json'
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

import orjson

from stream_guard.contracts import DeadLetter, DeadLetterReason
from stream_guard.core.alerts import rfc3339
from stream_guard.core.partitioning import partition_for
from stream_guard.core.verdicts import AnalystVerdict, VerdictBook, VerdictError, decode_verdict, verdict_from_json
from stream_guard.metrics import Metrics

__all__ = ["VerdictIntake", "VerdictOutcome", "checked_verdict", "forwarded_verdict"]

log = logging.getLogger(__name__)


class VerdictOutcome(NamedTuple):
    """What one verdicts message gave: a dead letter, or a message for the cluster stage."""

    dead_letter: DeadLetter | None = None
    forward: bytes | None = None  # the verdict for the cluster stage (its link-verdicts topic)


def forwarded_verdict(raw: bytes) -> AnalystVerdict | None:
    """The analyst verdict a message of the link-verdicts topic forwards, if it is one.

    >>> forwarded_verdict(b'{"src": "w", "through": 0, "items": []}') is None
    True
    """
    if not raw.startswith(b'{"analyst":'):
        return None
    try:
        return verdict_from_json(orjson.loads(raw)["analyst"])
    except (orjson.JSONDecodeError, KeyError, VerdictError):
        return None


def checked_verdict(raw: bytes | None, partition: int, partitions: int) -> AnalystVerdict | DeadLetter:
    """A message of partition ``partition`` of the verdicts topic (``partitions`` of them) as a
    verdict, or the dead letter saying why not: a bad one, or an account verdict off the
    partition its account's events go to (keyed by something else than the account)."""
    v = decode_verdict(raw, max_bytes=65_536)
    if isinstance(v, AnalystVerdict) and v.subject_kind == "account":
        home = partition_for(v.subject, partitions)
        if home != partition:
            return DeadLetter(DeadLetterReason.SCHEMA_VIOLATION,
                              f"an account verdict belongs in partition {home} (key it by its subject), "
                              f"not {partition}", raw)
    return v


class VerdictIntake:
    """Verdicts messages into a :class:`~stream_guard.core.verdicts.VerdictBook` (see the module docstring)."""

    def __init__(self, book: VerdictBook, metrics: Metrics, partitions: int) -> None:
        self.book = book
        self.m = metrics
        self.partitions = partitions  # of the input topic (and so of the verdicts topic)
        self.last_offset: dict[int, int] = {}
        self.held: set[int] = set()  # verdicts partitions assigned and re-read (or being re-read)
        self.resume_at: dict[int, int] = {}  # partitions still to re-read, from offset 0
        self.added: dict[int, list[str]] = {}  # ids of the verdicts each partition brought into the book
        self._logged_at = float("-inf")  # when a dead letter was last logged
        self._unlogged = 0

    def take_over(self, assigned: set[int]) -> list[int]:
        """The verdicts partitions assigned now: those new to this worker are to be re-read
        from offset 0 (returned); those gone are forgotten, with the verdicts they brought
        into the book (their accounts' detectors go with them; the new owner re-reads them)."""
        for p in self.held - assigned:
            self.held.discard(p)
            self.resume_at.pop(p, None)
            self.last_offset.pop(p, None)
            self.book.forget(self.added.pop(p, ()))
        self.m.verdicts_held.set(len(self.book))
        new = sorted(assigned - self.held)
        for p in new:
            self.held.add(p)
            self.resume_at[p] = 0
        return new

    def handle(self, partition: int, offset: int, raw: bytes | None, *, reread: bool = False) -> VerdictOutcome:
        """One message of the verdicts topic; never raises. ``reread``: a message re-read
        after a restore (applied, not counted, not dead-lettered again)."""
        if not reread:  # (a re-read may come after later messages: a re-read that failed is retried)
            if offset <= self.last_offset.get(partition, -1):
                return VerdictOutcome()
            self.last_offset[partition] = offset
        v = checked_verdict(raw, partition, self.partitions)
        if isinstance(v, DeadLetter):
            if reread:
                return VerdictOutcome()
            # (not in stream_guard_dead_letters_total: that one counts input events)
            self.m.verdicts.labels("dead_lettered").inc()
            self._log_dead_letter(partition, offset, v)
            return VerdictOutcome(dead_letter=v)
        new = self.book.add(v)
        if new:
            self.added.setdefault(partition, []).append(v.verdict_id)
        self.m.verdicts_held.set(len(self.book))
        if not reread:
            self.m.verdicts.labels("applied" if new else "duplicate").inc()
        if new:
            log.info("verdict %s: %s on %s %s from %s by %s (%s)%s; %s", v.verdict_id, v.verdict, v.subject_kind,
                     v.subject, rfc3339(v.at), v.analyst, v.reason[:200],
                     f", from cluster {v.via}" if v.via else "", _effect(v, self.book))
        forward = None if v.via else orjson.dumps({"analyst": v.to_json()})
        return VerdictOutcome(forward=forward)

    def _log_dead_letter(self, partition: int, offset: int, dl: DeadLetter) -> None:
        """One warning per 10 s at most (a flood of bad verdicts must not flood the log); its
        reason only, not its detail, which may quote whatever the producer sent."""
        now = time.monotonic()
        self._unlogged += 1
        if now - self._logged_at >= 10.0:
            log.warning("verdict dead-lettered (%s, partition %d offset %d); %d bad verdicts since the last report",
                        dl.reason.value, partition, offset, self._unlogged)
            self._logged_at, self._unlogged = now, 0


def _effect(v: AnalystVerdict, book: VerdictBook) -> str:
    """What a verdict changes, in words (for the audit log)."""
    if v.verdict == "allow":
        return f"no alerts until {rfc3339(v.expires_at)}; still tracked and linked"
    if v.verdict == "benign":
        return f"no alerts until {rfc3339(book.quiet_until(v))}; its evaluations are clean data for the models"
    if v.subject_kind == "cluster":
        return "its members become positive examples; accounts joining it are escalated"
    return "a positive example for the supervised model"
