"""Analyst verdicts: what a trust-and-safety team decided about an account or a cluster.

A verdict (contract: ``stream_guard/contracts/verdict.schema.json``) is ``malicious``,
``benign`` or ``allow``, on an ``account`` or a ``cluster``, and applies from its event time
``at`` on. A :class:`VerdictBook` holds them, indexed by subject and time, so every
question is asked *at an event time*: the live worker and a replay that applies the same
verdicts ask the same questions at the same evaluation boundaries and get the same answers.

What each verdict does (docs/feedback.md):

* ``allow``: the subject raises no alerts from ``at`` until ``expires_at``; its events are
  still counted and still feed cross-account evidence;
* ``benign``: a false positive. No alerts for ``benign_quiet_s`` (or until ``expires_at``);
  the account's evaluations are clean data for the population models and negative examples
  for the supervised model;
* ``malicious``: positive examples for the supervised model; on a cluster, a new account that
  joins it later is escalated at once.

The latest verdict on a subject (by ``at``) replaces the earlier ones.

>>> book = VerdictBook(benign_quiet_s=100.0)
>>> v = verdict_from_json({"verdict_id": "v1", "subject": "a", "subject_kind": "account",
...     "verdict": "benign", "at": 1000, "reason": "an evaluation partner", "analyst": "ana"})
>>> book.add(v)
True
>>> book.silenced("a", 999.0), book.silenced("a", 1050.0).verdict, book.silenced("a", 1100.0)
(None, 'benign', None)
>>> book.label_at("a", 2000.0), book.label_at("b", 2000.0)   # benign: a negative example
(False, None)
>>> book.add(v)                                              # the same verdict id again: no change
False
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterable, Iterator
from typing import Any, Literal, NamedTuple

import orjson

from stream_guard.contracts import ContractError, DeadLetter, DeadLetterReason, parse_time, validate_verdict
from stream_guard.core.alerts import rfc3339
from stream_guard.core.vocabulary import VERDICTS, VerdictKind
from stream_guard.settings import Settings

__all__ = [
    "VERDICTS",
    "AnalystVerdict",
    "SubjectKind",
    "VerdictBook",
    "VerdictError",
    "VerdictKind",
    "decode_verdict",
    "parse_line",
    "verdict_from_json",
    "verdict_from_label",
]

SubjectKind = Literal["account", "cluster"]


class VerdictError(ValueError):
    """A value that is not a verdict (the message says which field and why)."""


class AnalystVerdict(NamedTuple):
    """One verdict, times as Unix seconds (``expires_at`` ``inf``: none given)."""

    verdict_id: str
    subject: str
    subject_kind: SubjectKind
    verdict: VerdictKind
    at: float
    expires_at: float
    reason: str
    analyst: str
    via: str = ""  # the cluster whose verdict this member verdict comes from ("" : given directly)

    def to_json(self) -> dict[str, Any]:
        """The verdict in the contract's form (times RFC 3339)."""
        out: dict[str, Any] = {
            "verdict_id": self.verdict_id, "schema_version": 1, "subject": self.subject,
            "subject_kind": self.subject_kind, "verdict": self.verdict, "at": rfc3339(self.at),
            "reason": self.reason, "analyst": self.analyst,
        }
        if math.isfinite(self.expires_at):
            out["expires_at"] = rfc3339(self.expires_at)
        if self.via:
            out["via"] = self.via
        return out

    def for_member(self, account: str, at: float) -> AnalystVerdict:
        """This cluster verdict as the verdict it gives member ``account`` from ``at`` on."""
        return self._replace(verdict_id=f"{self.verdict_id}/{account}", subject=account, subject_kind="account",
                             at=max(at, self.at), via=self.subject)


def verdict_from_json(doc: Any) -> AnalystVerdict:
    """A verdict from its contract form (a decoded JSON object); raises :class:`VerdictError`.

    >>> verdict_from_json({"verdict_id": "v", "subject": "a", "subject_kind": "account",
    ...                    "verdict": "allow", "at": 10, "reason": "r", "analyst": "x"})
    Traceback (most recent call last):
    ...
    stream_guard.core.verdicts.VerdictError: verdict: "expires_at" is a required property
    """
    try:
        validate_verdict(doc)
    except ContractError as exc:
        raise VerdictError(str(exc)) from None
    at = _time(doc["at"], "at")
    expires_at = _time(doc["expires_at"], "expires_at") if "expires_at" in doc else math.inf
    if expires_at <= at:
        raise VerdictError(f"expires_at ({doc['expires_at']!r}) must be after at ({doc['at']!r})")
    return AnalystVerdict(doc["verdict_id"], doc["subject"], doc["subject_kind"], doc["verdict"], at, expires_at,
                          doc["reason"], doc["analyst"], doc.get("via", ""))


def verdict_from_label(doc: Any) -> AnalystVerdict:
    """A verdict from a line of the older labels format, ``{account_id, label, at}``
    (``supervised_labels_file`` before the verdicts contract); raises :class:`VerdictError`.

    >>> verdict_from_label({"account_id": "a", "label": "malicious", "at": 5}).verdict
    'malicious'
    """
    if not isinstance(doc, dict):
        raise VerdictError("a label must be a JSON object")
    account, label = doc.get("account_id"), doc.get("label")
    if not isinstance(account, str) or not account or label not in ("malicious", "benign"):
        raise VerdictError("need a string account_id and a label 'malicious' or 'benign'")
    if "at" not in doc:
        raise VerdictError("'at' is missing")
    at = _time(doc["at"], "at")
    return AnalystVerdict(f"label:{account}:{at!r}", account, "account", label, at, math.inf,
                          "labels file", "labels-file")


def decode_verdict(raw: bytes | None, *, max_bytes: int = 65_536) -> AnalystVerdict | DeadLetter:
    """One message of the verdicts topic as a verdict, or the dead letter saying why not;
    never raises.

    >>> decode_verdict(b'{"verdict": "allow"}').reason.value
    'schema_violation'
    >>> decode_verdict(b"x" * 70_000).reason.value, decode_verdict(None).reason.value
    ('oversized', 'invalid_json')
    """
    if raw is None:
        return DeadLetter(DeadLetterReason.INVALID_JSON, "null value (tombstone record)", None)
    if len(raw) > max_bytes:
        return DeadLetter(DeadLetterReason.OVERSIZED, f"{len(raw)} bytes > {max_bytes}", raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return DeadLetter(DeadLetterReason.INVALID_JSON, str(exc)[:200], raw)
    try:
        return verdict_from_json(doc)
    except VerdictError as exc:
        return DeadLetter(DeadLetterReason.SCHEMA_VIOLATION, str(exc)[:500], raw)
    except Exception as exc:  # noqa: BLE001 - the contract: an outcome for every message
        return DeadLetter(DeadLetterReason.PROCESSING_ERROR, f"decoding failed: {type(exc).__name__}", raw)


def _time(value: Any, name: str) -> float:
    out = parse_time(value)
    if out is None:
        raise VerdictError(f"'{name}' must be RFC 3339 or finite epoch seconds, got {value!r}")
    return out


def parse_line(line: bytes) -> AnalystVerdict:
    """A verdict from one JSON line: the contract's form, or the older labels format."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise VerdictError(f"not JSON: {exc}") from None
    if isinstance(doc, dict) and "verdict_id" not in doc and "label" in doc:
        return verdict_from_label(doc)
    return verdict_from_json(doc)


class VerdictBook:
    """Verdicts by subject and event time (see the module docstring)."""

    def __init__(self, *, benign_quiet_s: float = 7 * 86_400.0) -> None:
        self.benign_quiet_s = benign_quiet_s
        self._by_subject: dict[tuple[SubjectKind, str], list[tuple[float, str, AnalystVerdict]]] = {}
        self._ids: set[str] = set()

    def add(self, verdict: AnalystVerdict) -> bool:
        """Record ``verdict``; ``False`` if its id is already known (idempotent)."""
        if verdict.verdict_id in self._ids:
            return False
        self._ids.add(verdict.verdict_id)
        insort(self._by_subject.setdefault((verdict.subject_kind, verdict.subject), []),
               (verdict.at, verdict.verdict_id, verdict))
        return True

    def forget(self, verdict_ids: Iterable[str]) -> int:
        """Drop the verdicts with these ids (those of partitions this worker no longer holds);
        returns how many were held. Added again later, they count as new."""
        ids = set(verdict_ids) & self._ids
        if not ids:
            return 0
        self._ids -= ids
        for key in [k for k, entries in self._by_subject.items() if any(e[1] in ids for e in entries)]:
            kept = [e for e in self._by_subject[key] if e[1] not in ids]
            if kept:
                self._by_subject[key] = kept
            else:
                del self._by_subject[key]
        return len(ids)

    def in_force(self, subject: str, at: float, kind: SubjectKind = "account") -> AnalystVerdict | None:
        """The latest verdict on ``subject`` given at or before event time ``at``."""
        entries = self._by_subject.get((kind, subject))
        if not entries:
            return None
        found = None
        for when, _, v in entries:  # a handful per subject: a scan beats a second index
            if when > at:
                break
            found = v
        return found

    def silenced(self, subject: str, at: float, kind: SubjectKind = "account") -> AnalystVerdict | None:
        """The ``allow`` or ``benign`` verdict that keeps ``subject`` from alerting at ``at``."""
        v = self.in_force(subject, at, kind)
        if v is None or v.verdict == "malicious":
            return None
        return v if at < self.quiet_until(v) else None

    def quiet_until(self, v: AnalystVerdict) -> float:
        """When an ``allow`` or ``benign`` verdict stops silencing its subject: its
        ``expires_at``, else (a benign one without) ``benign_quiet_s`` after it."""
        return v.expires_at if v.verdict == "allow" or math.isfinite(v.expires_at) else v.at + self.benign_quiet_s

    def label_at(self, account: str, at: float) -> bool | None:
        """The label in force on ``account`` at ``at``: ``True`` malicious, ``False`` benign,
        ``None`` none (no verdict, or an allow, which says nothing about the account)."""
        v = self.in_force(account, at)
        if v is None or v.verdict == "allow":
            return None
        return v.verdict == "malicious"

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[AnalystVerdict]:
        for entries in self._by_subject.values():
            for _, _, v in entries:
                yield v

    def extend(self, verdicts: Iterable[AnalystVerdict]) -> int:
        """Add each of ``verdicts``; returns how many were new."""
        return sum(self.add(v) for v in verdicts)

    @classmethod
    def of(cls, settings: Settings) -> VerdictBook:
        """An empty book with ``settings``' benign quiet period, holding the verdicts of
        ``supervised_labels_file`` if one is set."""
        quiet = settings.verdict_benign_quiet_s
        if settings.supervised_labels_file:
            return cls.load(settings.supervised_labels_file, benign_quiet_s=quiet)
        return cls(benign_quiet_s=quiet)

    @classmethod
    def from_lines(cls, lines: Iterable[bytes], *, benign_quiet_s: float = 7 * 86_400.0) -> VerdictBook:
        """A book from JSON Lines verdicts; raises :class:`VerdictError` naming the bad line."""
        book = cls(benign_quiet_s=benign_quiet_s)
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                book.add(parse_line(line))
            except VerdictError as exc:
                raise VerdictError(f"verdicts line {n}: {exc}") from None
        return book

    @classmethod
    def load(cls, path: str, *, benign_quiet_s: float = 7 * 86_400.0) -> VerdictBook:
        """The verdicts in the JSON Lines file ``path``."""
        with open(path, "rb") as fh:
            return cls.from_lines(fh, benign_quiet_s=benign_quiet_s)
