"""Detection quality from alerts and ground-truth labels.

An alert *names* an account when the account is in its ``account_ids`` or is its
``subject`` (for ``kind: account``; a cluster alert's subject is a cluster id). Per
campaign (all times are event time, from the alerts' ``raised_at``):

* ``detected``: some alert raised at or after the campaign's ``active_from`` names one of
  its accounts;
* ``time_to_detect_s``: from ``active_from`` to the first such alert;
* ``recall``: campaign accounts named by such alerts / campaign accounts that sent at
  least one event (``recall_all`` divides by every member). An alert that lists only
  the first N of its ``account_count`` accounts gets credit for those N only;
* ``alerts_before_start``: alerts naming a member before ``active_from`` (e.g. a reseller
  flagged for its benign traffic) - neither detections nor counted as benign flags.

For benign traffic: ``flagged`` = benign accounts named by any alert; ``fpr`` = flagged /
benign accounts that sent at least one event; the same per benign kind.

>>> from stream_guard.loadgen.labels import Labels
>>> labels = Labels({"campaigns": {"c": {"kind": "hydra", "active_from": "2026-03-01T00:00:00+00:00"}},
...     "accounts": {"a": {"label": "campaign", "campaign": "c", "kind": "hydra", "events": 5},
...                  "b": {"label": "campaign", "campaign": "c", "kind": "hydra", "events": 5},
...                  "u": {"label": "benign", "kind": "chat", "events": 3}}})
>>> rep = score([{"subject": "a", "account_ids": ["a"], "raised_at": "2026-03-01T01:00:00+00:00"}], labels)
>>> c = rep["campaigns"][0]
>>> c["detected"], c["time_to_detect_s"], c["recall"], rep["benign"]["fpr"]
(True, 3600.0, 0.5, 0.0)
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from stream_guard.core.vocabulary import SEVERITIES
from stream_guard.loadgen.labels import Labels
from stream_guard.loadgen.timeutil import format_iso, parse_iso

# SEVERITIES is re-exported: it is defined once, in core/vocabulary.py
__all__ = ["SEVERITIES", "alert_time", "format_report", "named_accounts", "read_alerts", "score"]


def read_alerts(path: str | Path) -> list[dict[str, Any]]:
    """Alerts from a JSONL(.gz) file (one alert per line) or a JSON array file."""
    p = Path(path)
    opener: Any = gzip.open if p.name.endswith(".gz") else open
    with opener(p, "rb") as fh:
        data = fh.read()
    stripped = data.lstrip()
    if stripped.startswith(b"["):
        doc = orjson.loads(stripped)
        return [a for a in doc if isinstance(a, dict)]
    out: list[dict[str, Any]] = []
    for n, line in enumerate(data.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{p}:{n}: not JSON ({exc})") from None
        if isinstance(rec, dict):
            out.append(rec)
    return out


def alert_time(alert: dict[str, Any]) -> float | None:
    """``raised_at`` as Unix seconds (RFC 3339 or epoch), or None if absent/invalid."""
    v = alert.get("raised_at")
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    try:
        return parse_iso(str(v))
    except ValueError:
        return None


def named_accounts(alert: dict[str, Any]) -> set[str]:
    """Accounts an alert names: its ``account_ids``, plus its ``subject`` unless it is a
    cluster alert (whose subject is a cluster id)."""
    names = {a for a in alert.get("account_ids") or () if isinstance(a, str)}
    subject = alert.get("subject")
    if isinstance(subject, str) and alert.get("kind") != "cluster":
        names.add(subject)
    return names


def _severity_ok(alert: dict[str, Any], min_rank: int) -> bool:
    sev = alert.get("severity")
    rank = SEVERITIES.index(sev) if sev in SEVERITIES else 0
    return rank >= min_rank


def _active(entry: dict[str, Any]) -> bool:
    ev = entry.get("events")
    return ev is None or ev > 0


def score(alerts: Iterable[dict[str, Any]], labels: Labels, *, min_severity: str = "low") -> dict[str, Any]:
    """The report (a JSON-able dict); see the module docstring for definitions."""
    if min_severity not in SEVERITIES:
        raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}")
    min_rank = SEVERITIES.index(min_severity)
    accounts = labels.accounts
    members: dict[str, list[str]] = {name: [] for name in labels.campaigns}
    for acct, entry in accounts.items():
        c = entry.get("campaign")
        if entry.get("label") == "campaign" and c in members:
            members[c].append(acct)
    starts = {name: labels.campaign_start(name) for name in labels.campaigns}

    considered = 0
    total = 0
    no_time = 0
    on_campaign = on_benign_only = on_unknown_only = on_early_only = 0
    flagged: dict[str, set[str]] = {name: set() for name in labels.campaigns}
    first: dict[str, float] = {}
    after_pivot: dict[str, float] = {}
    alert_count: Counter[str] = Counter()
    early: Counter[str] = Counter()
    benign_flagged: set[str] = set()
    unknown: set[str] = set()
    pivots = {n: parse_iso(c["pivot_at"]) for n, c in labels.campaigns.items() if c.get("pivot_at")}

    for alert in alerts:
        total += 1
        if not _severity_ok(alert, min_rank):
            continue
        t = alert_time(alert)
        if t is None:
            no_time += 1
            continue
        considered += 1
        hit_benign = False
        hit_names: set[str] = set()
        early_names: set[str] = set()
        for acct in named_accounts(alert):
            info = accounts.get(acct)
            if info is None:
                unknown.add(acct)
                continue
            if info.get("label") == "benign":
                benign_flagged.add(acct)
                hit_benign = True
                continue
            name = info.get("campaign")
            if name not in starts:
                continue
            if t < starts[name]:
                early_names.add(name)
                continue
            hit_names.add(name)
            flagged[name].add(acct)
            if name not in first or t < first[name]:
                first[name] = t
            if name in pivots and t >= pivots[name] and (name not in after_pivot or t < after_pivot[name]):
                after_pivot[name] = t
        alert_count.update(hit_names)
        early.update(early_names)
        if hit_names:
            on_campaign += 1
        elif hit_benign:
            on_benign_only += 1
        elif early_names:
            on_early_only += 1
        else:
            on_unknown_only += 1

    campaigns: list[dict[str, Any]] = []
    for name, info in labels.campaigns.items():
        mem = members[name]
        active = [a for a in mem if _active(accounts[a])]
        n_flag = len(flagged[name])
        row: dict[str, Any] = {
            "name": name,
            "kind": info.get("kind", name),
            "accounts": len(mem),
            "active_accounts": len(active),
            "events": info.get("events"),
            "active_from": info.get("active_from"),
            "detected": name in first,
            "first_alert_at": format_iso(first[name]) if name in first else None,
            "time_to_detect_s": round(first[name] - starts[name], 3) if name in first else None,
            "flagged_accounts": n_flag,
            "recall": round(len(flagged[name] & set(active)) / len(active), 6) if active else 0.0,
            "recall_all": round(n_flag / len(mem), 6) if mem else 0.0,
            "alerts": alert_count[name],
            "alerts_before_start": early[name],
        }
        if name in pivots:
            row["pivot_at"] = info.get("pivot_at")
            row["time_to_detect_after_pivot_s"] = (
                round(after_pivot[name] - pivots[name], 3) if name in after_pivot else None
            )
        campaigns.append(row)

    benign = labels.benign(active_only=True)
    by_kind: dict[str, dict[str, Any]] = {}
    for acct, kind in benign.items():
        k = by_kind.setdefault(kind, {"accounts": 0, "flagged": 0})
        k["accounts"] += 1
        k["flagged"] += acct in benign_flagged
    for k in by_kind.values():
        k["fpr"] = round(k["flagged"] / k["accounts"], 6) if k["accounts"] else 0.0
    flagged_active = sorted(a for a in benign_flagged if a in benign)
    detected = sum(1 for c in campaigns if c["detected"])
    return {
        "min_severity": min_severity,
        "alerts": {
            "total": total,
            "considered": considered,
            "without_raised_at": no_time,
            "naming_campaign_accounts": on_campaign,
            "naming_benign_only": on_benign_only,
            "naming_campaign_before_start_only": on_early_only,
            "naming_unknown_only": on_unknown_only,
            "precision": round(on_campaign / considered, 6) if considered else None,
            "unknown_accounts": len(unknown),
        },
        "campaigns": campaigns,
        "benign": {
            "accounts": len(benign),
            "flagged": len(flagged_active),
            "fpr": round(len(flagged_active) / len(benign), 6) if benign else 0.0,
            "by_kind": dict(sorted(by_kind.items())),
            "flagged_accounts": flagged_active[:100],
        },
        "summary": {
            "campaigns": len(campaigns),
            "campaigns_detected": detected,
            "mean_recall": round(sum(c["recall"] for c in campaigns) / len(campaigns), 6)
            if campaigns
            else None,
            "benign_fpr": round(len(flagged_active) / len(benign), 6) if benign else 0.0,
        },
    }


def _duration(s: float | None) -> str:
    if s is None:
        return "-"
    s = max(s, 0.0)
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s // 60:.0f}m {s % 60:02.0f}s"
    if s < 86400:
        return f"{s // 3600:.0f}h {(s % 3600) // 60:02.0f}m"
    return f"{s // 86400:.0f}d {(s % 86400) // 3600:02.0f}h"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def format_report(report: dict[str, Any]) -> str:
    """A plain-text rendering of :func:`score`'s report."""
    out: list[str] = []
    rows = []
    for c in report["campaigns"]:
        recall = f"{c['flagged_accounts']:,}/{c['active_accounts']:,} {100 * c['recall']:.1f}%"
        ttd = _duration(c["time_to_detect_s"])
        if "time_to_detect_after_pivot_s" in c:
            ttd += f" (after pivot {_duration(c['time_to_detect_after_pivot_s'])})"
        rows.append(
            [
                c["name"],
                c["kind"],
                f"{c['accounts']:,}",
                "yes" if c["detected"] else "NO",
                ttd,
                recall,
                f"{c['alerts']:,}",
            ]
        )
    out.append("Campaigns")
    out += _table(
        ["campaign", "kind", "accounts", "detected", "time to detect", "account recall", "alerts"],
        rows,
        {2, 5, 6},
    )
    b = report["benign"]
    out.append("")
    out.append(
        f"Benign traffic: {b['accounts']:,} active accounts, {b['flagged']:,} flagged, "
        f"false-positive rate {100 * b['fpr']:.2f}%"
    )
    krows = [
        [k, f"{v['accounts']:,}", f"{v['flagged']:,}", f"{100 * v['fpr']:.2f}%"]
        for k, v in b["by_kind"].items()
    ]
    out += _table(["benign kind", "accounts", "flagged", "FPR"], krows, {1, 2, 3})
    a = report["alerts"]
    prec = "-" if a["precision"] is None else f"{100 * a['precision']:.1f}%"
    out.append("")
    out.append(
        f"Alerts (severity >= {report['min_severity']}): {a['considered']:,} of {a['total']:,}; "
        f"{a['naming_campaign_accounts']:,} name campaign accounts (precision {prec}), "
        f"{a['naming_benign_only']:,} only benign, {a['naming_campaign_before_start_only']:,} only campaign "
        f"accounts before their start, {a['naming_unknown_only']:,} only unknown accounts"
    )
    s = report["summary"]
    out.append(
        f"Summary: {s['campaigns_detected']}/{s['campaigns']} campaigns detected, "
        f"mean account recall {100 * (s['mean_recall'] or 0):.1f}%, benign FPR {100 * s['benign_fpr']:.2f}%"
    )
    return "\n".join(out)
