"""Hand-made alerts, events and verdicts for the case-view tests (not a test module).

The alerts have the shape the detection core writes (checked against the alert contract
by the loader): an evidence-score account alert with weighted reasons and an episode, a
``cluster`` alert with ``shared_<kind>`` reasons and ``evidence.shared``, and the grouped
and one-per-member ``cluster_member`` alerts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

T0 = 1772442000.0  # 2026-03-02T09:00:00Z
HOUR = 3600.0
#: What no page may ever show: the text of a prompt in the events file.
PROMPT = "PROMPT-TEXT-never-on-a-page: solve 17*23 step by step"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def alert(subject: str, at: float, severity: str = "medium", *, kind: str = "account",
          detectors: tuple[str, ...] = ("evidence_score",), accounts: list[str] | None = None,
          reasons: list[dict[str, Any]] | None = None, evidence: dict[str, Any] | None = None,
          account_count: int | None = None, alert_id: str | None = None) -> dict[str, Any]:
    """One alert as the contract has it."""
    ids = accounts if accounts is not None else [subject]
    return {
        "alert_id": alert_id or f"{subject}-{detectors[0]}-{at:.0f}", "schema_version": 1, "kind": kind,
        "subject": subject, "account_ids": ids, "account_count": len(ids) if account_count is None else account_count,
        "severity": severity, "score": 0.8, "detectors": list(detectors),
        "reasons": reasons or [{"signal": "day_requests", "value": 2500, "threshold": 2000, "detail": "requests"}],
        "window_start": iso(at - 86400), "window_end": iso(at), "raised_at": iso(at), "emitted_at": iso(at + 1),
        "evidence": evidence if evidence is not None else {},
    }


def evidence_alert(subject: str, at: float, severity: str, episode: str) -> dict[str, Any]:
    """An ``evidence_score`` alert: weighted reasons, an episode mark."""
    reasons = [
        {"signal": "out_in", "value": 7.0057, "threshold": "weighed, no threshold",
         "detail": "output/input tokens in the last hour", "weight": 1.7239},
        {"signal": "evidence_accumulated", "value": 0.0271, "threshold": 0.5,
         "detail": "hours of evidence above log-odds 0.45", "weight": -0.4729},
    ]
    return alert(subject, at, severity, reasons=reasons, evidence={"day_requests": 16.0, "episode": episode})


def cluster_alert(cluster: str, at: float, members: list[str], severity: str = "high") -> dict[str, Any]:
    """A ``cluster`` detector alert linking ``members`` by one payment and two IPs."""
    reasons = [
        {"signal": "cluster_accounts", "value": len(members), "threshold": 5,
         "detail": f"{len(members)} accounts linked by 3 shared attribute values"},
        {"signal": "shared_payment", "value": len(members), "threshold": 3,
         "detail": f"payment pm_1 shared by {len(members)} accounts (link score 0.77 >= 0.45)"},
        {"signal": "shared_ip", "value": 4, "threshold": 3, "detail": "ip h:aa shared by 4 accounts"},
        {"signal": "likeness_mean", "value": 0.6, "threshold": "-", "detail": "members' mean likeness"},
    ]
    return alert(cluster, at, severity, kind="cluster", detectors=("cluster",), accounts=members, reasons=reasons,
                 evidence={"accounts": float(len(members)), "shared": {"ip": 2, "payment": 1}})


def grouped_member_alert(cluster: str, at: float, members: list[str], severity: str = "high") -> dict[str, Any]:
    """A grouped ``cluster_member`` alert (kind cluster, subject the cluster)."""
    return alert(cluster, at, severity, kind="cluster", detectors=("cluster_member",), accounts=members,
                 evidence={"cluster_id": cluster, "cluster_accounts": len(members), "part": 1, "parts": 1})


def member_alert(account: str, cluster: str, at: float, severity: str = "high") -> dict[str, Any]:
    """A one-per-member ``cluster_member`` alert (``cluster_member_alerts=each``)."""
    return alert(account, at, severity, detectors=("cluster_member",),
                 evidence={"cluster_id": cluster, "cluster_accounts": 5, "likeness": 0.7})


def event(account: str, ts: float, **fields: Any) -> dict[str, Any]:
    """A request event (the contract's required fields plus ``fields``)."""
    return {"event_id": f"{account}-{ts}", "ts": iso(ts), "account_id": account, "model": "m",
            "input_tokens": 100, "output_tokens": 900, **fields}


def verdict(subject: str, verdict: str = "malicious", *, kind: str = "account", at: float = T0 + 5 * HOUR,
            **fields: Any) -> dict[str, Any]:
    return {"subject": subject, "subject_kind": kind, "verdict": verdict, "reason": "confirmed",
            "analyst": "alice", "at": iso(at), **fields}


def write_jsonl(path: Path, rows: Iterable[Any], *, extra_lines: Iterable[str] = ()) -> Path:
    """``rows`` as JSON Lines (``str`` rows written as they are), then ``extra_lines``."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path


MEMBERS = [f"acct-m{i}" for i in range(5)]
CLUSTER_ID = "cluster-0123456789abcdef"


def scenario(tmp_path: Path) -> dict[str, Path]:
    """An alerts, events and verdicts file of one account's episode and one cluster."""
    alerts = [
        evidence_alert("acct-1", T0 + HOUR, "low", "new"),
        evidence_alert("acct-1", T0 + 2 * HOUR, "medium", "escalation"),
        cluster_alert(CLUSTER_ID, T0 + 3 * HOUR, MEMBERS, "medium"),
        grouped_member_alert(CLUSTER_ID, T0 + 3 * HOUR, MEMBERS, "medium"),
        evidence_alert(MEMBERS[0], T0 + 3.5 * HOUR, "high", "new"),
        cluster_alert(CLUSTER_ID, T0 + 4 * HOUR, MEMBERS, "high"),
    ]
    events = [event("acct-1", T0 + 60 * i, prompt=PROMPT, ip="203.0.113.7", payment_fingerprint="pm_9")
              for i in range(90)]
    events += [event(m, T0 + 3 * HOUR + 30 * i, prompt=PROMPT, payment_fingerprint="pm_1", ip=f"198.51.100.{i % 2}")
               for m in MEMBERS for i in range(10)]
    events.append(event("acct-other", T0, prompt=PROMPT))
    verdicts = [verdict(MEMBERS[1], "benign", reason="a reseller's customer"),
                verdict(CLUSTER_ID, kind="cluster"), verdict("acct-unrelated")]
    return {
        "alerts": write_jsonl(tmp_path / "alerts.jsonl", alerts, extra_lines=["{not json", "[1]"]),
        "events": write_jsonl(tmp_path / "events.jsonl", events),
        "verdicts": write_jsonl(tmp_path / "verdicts.jsonl", verdicts, extra_lines=['{"subject": ""}']),
    }
