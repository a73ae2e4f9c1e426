"""Reading the case view's inputs: alerts and analyst verdicts as typed records.

Every input is JSON Lines (``.gz`` allowed, recognised by its magic bytes). The loader is
tolerant: a line that is not a JSON object of the expected shape is skipped and counted
(:class:`Skipped`, with the first few line numbers and why), never fatal; the case page
shows the counts. Alerts are checked against the alert contract
(``stream_guard/contracts/alert.schema.json``).

>>> import json, tempfile, pathlib
>>> alert = {"alert_id": "a1", "schema_version": 1, "kind": "account", "subject": "acct-1",
...          "account_ids": ["acct-1"], "account_count": 1, "severity": "high", "score": 0.9,
...          "detectors": ["evidence_score"], "emitted_at": "2026-03-02T09:00:01Z",
...          "reasons": [{"signal": "out_in", "value": 7.0, "threshold": "-", "detail": "x", "weight": 1.5}],
...          "window_start": "2026-03-01T09:00:00Z", "window_end": "2026-03-02T09:00:00Z",
...          "raised_at": "2026-03-02T09:00:00Z", "evidence": {"episode": "new"}}
>>> path = pathlib.Path(tempfile.mkdtemp()) / "alerts.jsonl"
>>> _ = path.write_text(json.dumps(alert) + "\\nnot json\\n[1, 2]\\n")
>>> alerts = read_alerts(path)
>>> [(a.subject, a.severity, a.episode, a.reasons[0].weight) for a in alerts.records]
[('acct-1', 'high', 'new', 1.5)]
>>> alerts.skipped.count, alerts.skipped.examples
(2, ('line 2: not JSON', 'line 3: not a JSON object'))
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson

from stream_guard.contracts import ContractError, parse_time, validate_alert
from stream_guard.replay import ReplayError, open_events

__all__ = [
    "MAX_LINE_BYTES",
    "AlertRecord",
    "JsonLine",
    "Loaded",
    "Reason",
    "ReportError",
    "Scalar",
    "Skipped",
    "VerdictRecord",
    "iter_json_lines",
    "read_alerts",
    "read_verdicts",
]

#: A longer line is skipped unread (an events line holds one event or a small batch).
MAX_LINE_BYTES = 16 * 1024 * 1024
#: Problems named one by one per file (the rest are only counted).
EXAMPLES_KEPT = 5

Scalar = float | int | str | bool | None
T = TypeVar("T")


class ReportError(Exception):
    """An input of the report cannot be used at all (missing file, no alert on the subject)."""


@dataclass
class Skipped:
    """Lines of one input file that were skipped: how many, and the first few with why."""

    count: int = 0
    examples: tuple[str, ...] = ()

    def add(self, line: int, why: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples += (f"line {line}: {why}",)


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """The records read from one file, and the lines skipped."""

    path: str
    records: tuple[T, ...]
    skipped: Skipped = field(default_factory=Skipped)


@dataclass(frozen=True)
class JsonLine:
    """One decoded JSON Lines line: its number and value (any JSON value)."""

    number: int
    value: Any


@dataclass(frozen=True)
class Reason:
    """One reason of an alert. ``weight`` is the term's weight in the evidence score
    (``evidence_score`` alerts), ``None`` where the detector gives none."""

    signal: str
    value: Scalar
    threshold: Scalar
    detail: str
    weight: float | None = None


@dataclass(frozen=True)
class AlertRecord:
    """One alert (the alert contract), times as Unix seconds."""

    alert_id: str
    kind: str
    subject: str
    account_ids: tuple[str, ...]
    account_count: int
    severity: str
    score: float
    detectors: tuple[str, ...]
    reasons: tuple[Reason, ...]
    window_start: float
    window_end: float
    raised_at: float
    evidence: Mapping[str, Any]

    @property
    def episode(self) -> str | None:
        """``new`` or ``escalation`` for an account alert that is part of an episode."""
        value = self.evidence.get("episode")
        return value if isinstance(value, str) else None

    @property
    def cluster_id(self) -> str | None:
        """The cluster a ``cluster_member`` alert reports on (``evidence.cluster_id``)."""
        value = self.evidence.get("cluster_id")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class VerdictRecord:
    """One analyst verdict on a subject (``subject_kind`` ``None``: either kind; ``via``:
    the cluster whose verdict gave this member verdict, if stream-guard set one)."""

    subject: str
    subject_kind: str | None
    verdict: str
    reason: str
    analyst: str
    at: float
    expires_at: float | None
    via: str = ""


def _open(path: Path) -> io.BufferedIOBase:
    try:
        return open_events(path)  # (gzip by suffix or magic bytes, as replay reads its input)
    except ReplayError as exc:
        raise ReportError(str(exc)) from None


def iter_json_lines(path: Path, skipped: Skipped) -> Iterator[JsonLine]:
    """The JSON values of a JSON Lines file (gzip or not), in order; blank lines are
    ignored, lines that are not JSON (or too long) are counted in ``skipped``."""
    with _open(path) as fh:
        try:
            for number, line in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), 1):
                if len(line) > MAX_LINE_BYTES:
                    skipped.add(number, f"longer than {MAX_LINE_BYTES:,} bytes")
                    while line and not line.endswith(b"\n"):  # the rest of the long line
                        line = fh.readline(MAX_LINE_BYTES)
                    continue
                if not line.strip():
                    continue
                try:
                    yield JsonLine(number, orjson.loads(line))
                except orjson.JSONDecodeError:
                    skipped.add(number, "not JSON")
        except (OSError, EOFError) as exc:  # a truncated or corrupt gzip stream
            skipped.add(0, f"file unreadable past this point ({exc})")


def _read(path: Path, parse: Callable[[dict[str, Any]], T | str]) -> Loaded[T]:
    """The records ``parse`` makes of the JSON objects of a file; a line it turns down
    (it returns why) or that is no JSON object is skipped and counted."""
    skipped = Skipped()
    records: list[T] = []
    for line in iter_json_lines(path, skipped):
        got = parse(line.value) if isinstance(line.value, dict) else "not a JSON object"
        if isinstance(got, str):
            skipped.add(line.number, got)
        else:
            records.append(got)
    return Loaded(str(path), tuple(records), skipped)


def _reason(raw: Mapping[str, Any]) -> Reason:
    weight = raw.get("weight")
    return Reason(
        signal=str(raw["signal"]), value=raw["value"], threshold=raw["threshold"], detail=str(raw["detail"]),
        weight=float(weight) if isinstance(weight, (int, float)) and not isinstance(weight, bool) else None,
    )


def _alert(raw: dict[str, Any]) -> AlertRecord | str:
    """The record of a valid alert, or why it is not one."""
    try:
        validate_alert(raw)
    except ContractError as exc:
        return f"not a valid alert ({str(exc)[:160]})"
    times = [parse_time(raw[k]) for k in ("window_start", "window_end", "raised_at")]
    if any(t is None for t in times):
        return "not a valid alert (a time is not RFC 3339)"
    start, end, raised = (float(t or 0.0) for t in times)
    return AlertRecord(
        alert_id=raw["alert_id"], kind=raw["kind"], subject=raw["subject"], account_ids=tuple(raw["account_ids"]),
        account_count=raw["account_count"], severity=raw["severity"], score=float(raw["score"]),
        detectors=tuple(raw["detectors"]), reasons=tuple(_reason(r) for r in raw["reasons"]),
        window_start=start, window_end=end, raised_at=raised, evidence=raw["evidence"],
    )


def read_alerts(path: Path) -> Loaded[AlertRecord]:
    """Every valid alert of an alerts file (``stream-guard replay --out``, or a dump of the
    alerts topic), in file order; other lines are skipped and counted."""
    return _read(path, _alert)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def _verdict(raw: dict[str, Any]) -> VerdictRecord | str:
    """The record of a verdict line, or why it is not one."""
    subject, verdict, kind = raw.get("subject"), raw.get("verdict"), raw.get("subject_kind")
    if not isinstance(subject, str) or not subject or not isinstance(verdict, str) or not verdict:
        return "not a verdict (needs a non-empty subject and verdict)"
    if kind is not None and kind not in ("account", "cluster"):
        return f"not a verdict (subject_kind {str(kind)[:40]!r})"
    at = parse_time(raw.get("at"))
    if at is None:
        return "not a verdict (no valid `at` time)"
    expires = raw.get("expires_at")
    expires_at = None if expires in (None, "") else parse_time(expires)
    if expires_at is None and expires not in (None, ""):
        return "not a verdict (invalid `expires_at`)"
    return VerdictRecord(subject, kind, verdict, _text(raw, "reason"), _text(raw, "analyst"), at, expires_at,
                         _text(raw, "via"))


def read_verdicts(path: Path) -> Loaded[VerdictRecord]:
    """Every analyst verdict of a verdicts file, in file order; other lines are skipped
    and counted."""
    return _read(path, _verdict)
