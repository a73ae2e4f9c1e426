"""Alerts: deterministic ids, cooldown, escalation, and the contract's shape.

An alert for the same subject and detector is not repeated while it is active (for
``cooldown_s`` of event time after it was raised); a higher severity is a new alert.
The ``alert_id`` depends only on (subject, detector, window, severity), so re-emitting
after a restart or in ``replay`` gives the same id.

>>> gate = {}
>>> admit(gate, "volume_rule", "medium", at=1000.0, cooldown_s=600.0)
True
>>> admit(gate, "volume_rule", "medium", at=1300.0, cooldown_s=600.0)   # cooling down
False
>>> admit(gate, "volume_rule", "high", at=1300.0, cooldown_s=600.0)     # escalation
True
>>> gate["volume_rule"]
Cooldown(rank=2.0, until=1900.0)
>>> admit(gate, "volume_rule", "medium", at=1950.0, cooldown_s=600.0)   # expired
True
>>> alert_id("acct-1", "volume_rule", 0.0, 60.0, "high") == alert_id("acct-1", "volume_rule", 0.0, 60.0, "high")
True
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypedDict

from stream_guard.core.rules import Verdict, severity_rank
from stream_guard.core.vocabulary import AlertKind

__all__ = ["EPISODE", "Alert", "Cooldown", "admit", "alert_id", "build_alert", "episode_step", "rfc3339"]


class Alert(TypedDict):
    """One alert record, as :func:`build_alert` makes it and the alerts topic carries it (the
    pinned fields of the alert contract, ``stream_guard/contracts/alert.schema.json``; times
    are RFC 3339 strings)."""

    alert_id: str  # deterministic for (subject, detectors, window, severity): see alert_id
    schema_version: int  # 1
    kind: AlertKind
    subject: str  # the account id, or a stable cluster id
    account_ids: list[str]  # accounts involved (all of them, or the first N)
    account_count: int  # accounts involved in total
    severity: str  # one of vocabulary.SEVERITIES
    score: float  # in [0, 1]
    detectors: list[str]  # sorted detector names (vocabulary)
    reasons: list[dict[str, Any]]  # {signal, value, threshold, detail}
    window_start: str
    window_end: str
    raised_at: str  # event time of the evaluation that raised it
    emitted_at: str  # wall-clock time of emission
    evidence: dict[str, Any]  # summary numbers


class Cooldown(NamedTuple):
    """An alert gate's memory of one detector (:func:`admit`): the severity rank it last alerted
    at and the event time its cooldown ends. A tuple: checkpoints write it as its two numbers."""

    rank: float  # severity_rank of the last alert (a float, as checkpoints have always held it)
    until: float


@functools.lru_cache(maxsize=4096)
def rfc3339(ts: float) -> str:
    """Unix seconds as an RFC 3339 UTC string with milliseconds (cached: the alerts of one
    evaluation share their window and time raised).

    >>> rfc3339(0)
    '1970-01-01T00:00:00.000Z'
    """
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_id(subject: str, detector: str, window_start: float, window_end: float, severity: str) -> str:
    """Deterministic id of an alert (hex SHA-256 prefix)."""
    key = f"{subject}\x1f{detector}\x1f{window_start:.3f}\x1f{window_end:.3f}\x1f{severity}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def admit(gate: dict[str, Cooldown], detector: str, severity: str, *, at: float, cooldown_s: float) -> bool:
    """Whether a finding becomes an alert; records it in ``gate`` if so."""
    rank = severity_rank(severity)
    active = gate.get(detector)
    if active is not None and at < active.until and rank <= active.rank:
        return False
    gate[detector] = Cooldown(float(rank), at + cooldown_s)
    return True


#: The gate key of an account's alert episode (``alert_episodes``), beside the per-detector keys.
EPISODE = "episode"


def episode_step(gate: dict[str, Cooldown], severity: str, *, at: float, cooldown_s: float) -> str | None:
    """Where a finding at ``severity`` leaves the account's alert episode: ``"new"`` (none
    active: alert), ``"escalation"`` (a higher severity: alert again) or ``None`` (the
    episode goes on at or above it: no alert, but the episode is extended to ``at +
    cooldown_s``). Records the episode in ``gate``.

    >>> gate = {}
    >>> [episode_step(gate, s, at=t, cooldown_s=100.0) for s, t in
    ...  [("low", 0), ("low", 60), ("high", 120), ("medium", 200), ("medium", 400)]]
    ['new', None, 'escalation', None, 'new']
    """
    rank = severity_rank(severity)
    active = gate.get(EPISODE)
    if active is not None and at < active.until:
        if rank <= active.rank:
            gate[EPISODE] = Cooldown(active.rank, at + cooldown_s)
            return None
        gate[EPISODE] = Cooldown(float(rank), at + cooldown_s)
        return "escalation"
    gate[EPISODE] = Cooldown(float(rank), at + cooldown_s)
    return "new"


def build_alert(
    *,
    kind: AlertKind,
    subject: str,
    account_ids: list[str],
    verdicts: list[Verdict],
    score: float,
    severity: str,
    window_start: float,
    window_end: float,
    raised_at: float,
    evidence: dict[str, Any],
    emitted_at: float,
) -> Alert:
    """An alert per the contract from the verdicts on one subject and their combined score."""
    detectors = sorted({v.detector for v in verdicts})
    return {
        "alert_id": alert_id(subject, "+".join(detectors), window_start, window_end, severity),
        "schema_version": 1,
        "kind": kind,
        "subject": subject,
        "account_ids": account_ids,
        "account_count": len(account_ids),
        "severity": severity,
        "score": score,
        "detectors": detectors,
        "reasons": [r for v in verdicts for r in v.reasons],
        "window_start": rfc3339(window_start),
        "window_end": rfc3339(window_end),
        "raised_at": rfc3339(raised_at),
        "emitted_at": rfc3339(emitted_at),
        "evidence": evidence,
    }
