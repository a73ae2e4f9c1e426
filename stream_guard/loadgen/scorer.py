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

By severity (each computed at every severity ``s`` from all alerts with a ``raised_at``
of severity >= ``s``, whatever ``min_severity`` is, so one report carries them all):

* ``benign.fpr_by_severity`` and ``benign.by_kind_severity[kind][s]`` (``flagged``,
  ``fpr``); ``benign.by_variant_severity["kind:variant"][s]`` for accounts whose label
  has a variant (the newer benign kinds);
* per campaign ``recall_by_severity[s]``, and ``recall_medium`` (= ``["medium"]``);
  ``summary.mean_recall_medium``, ``summary.benign_fpr_medium`` / ``benign_fpr_high``.

Alert burden on attackers, per campaign: ``alerts_per_account_day`` = ``alerts`` (alerts
at >= ``min_severity`` after the start naming one of its accounts) / ``account_days``,
the campaign's exposure: over its accounts that sent events, the time from
``max(first event, active_from)`` to the last event, at least an hour each (without
first/last times in the labels: the run's end minus ``active_from``), in days;
``summary.alerts_per_account_day`` pools every campaign. ``episodes_per_account_day``
counts the same alerts without the updates of an episode (``evidence.episode`` =
``escalation``: the account's alert raised to a higher severity), so a consumer that
upserts an account's alert sees this many per attack account-day.

>>> from stream_guard.loadgen.labels import Labels
>>> labels = Labels({"campaigns": {"c": {"kind": "hydra", "active_from": "2026-03-01T00:00:00+00:00"}},
...     "accounts": {"a": {"label": "campaign", "campaign": "c", "kind": "hydra", "events": 5},
...                  "b": {"label": "campaign", "campaign": "c", "kind": "hydra", "events": 5},
...                  "u": {"label": "benign", "kind": "chat", "events": 3}}})
>>> rep = score([{"subject": "a", "account_ids": ["a"], "raised_at": "2026-03-01T01:00:00+00:00"}], labels)
>>> c = rep["campaigns"][0]
>>> c["detected"], c["time_to_detect_s"], c["recall"], rep["benign"]["fpr"]
(True, 3600.0, 0.5, 0.0)
>>> c["recall_medium"], rep["benign"]["by_kind_severity"]["chat"]["high"]
(0.0, {'flagged': 0, 'fpr': 0.0})
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


def _rank(alert: dict[str, Any]) -> int:
    """Severity rank of an alert (a missing or unknown severity counts as the lowest)."""
    sev = alert.get("severity")
    return SEVERITIES.index(sev) if sev in SEVERITIES else 0


def _at_each_severity(max_rank: dict[str, int], among: Iterable[str]) -> dict[str, int]:
    """How many of ``among`` were named at severity >= each severity."""
    ranks = [max_rank[a] for a in among if a in max_rank]
    return {sev: sum(1 for r in ranks if r >= k) for k, sev in enumerate(SEVERITIES)}


def _exposure_days(entries: Iterable[dict[str, Any]], active_from: float, run_end: float | None) -> float | None:
    """Account-days a campaign was exposed: per account that sent events, from
    ``max(first event, active_from)`` to its last event (at least an hour); None when
    the labels give neither per-account times nor the run's end."""
    total = 0.0
    known = False
    for e in entries:
        first, last = e.get("first_ts"), e.get("last_ts")
        if first and last:
            begin, end = max(parse_iso(first), active_from), parse_iso(last)
        elif run_end is not None:
            begin, end = active_from, run_end
        else:
            continue
        known = True
        if end >= begin:
            total += max(end - begin, 3600.0) / 86400.0
    return round(total, 6) if known else None


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
    episode_count: Counter[str] = Counter()  # the same, without escalations of an open episode
    early: Counter[str] = Counter()
    benign_flagged: set[str] = set()
    unknown: set[str] = set()
    pivots = {n: parse_iso(c["pivot_at"]) for n, c in labels.campaigns.items() if c.get("pivot_at")}
    # severity books (every timed alert, whatever min_severity): highest rank per account
    benign_rank: dict[str, int] = {}
    campaign_rank: dict[str, int] = {}  # campaign account named after its campaign's start

    for alert in alerts:
        total += 1
        rank = _rank(alert)
        t = alert_time(alert)
        if t is not None:
            for acct in named_accounts(alert):
                info = accounts.get(acct)
                if info is None:
                    continue
                if info.get("label") == "benign":
                    benign_rank[acct] = max(benign_rank.get(acct, 0), rank)
                elif info.get("campaign") in starts and t >= starts[info["campaign"]]:
                    campaign_rank[acct] = max(campaign_rank.get(acct, 0), rank)
        if rank < min_rank:
            continue
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
        if (alert.get("evidence") or {}).get("episode") != "escalation":
            episode_count.update(hit_names)
        early.update(early_names)
        if hit_names:
            on_campaign += 1
        elif hit_benign:
            on_benign_only += 1
        elif early_names:
            on_early_only += 1
        else:
            on_unknown_only += 1

    run_end_text = labels.doc.get("run", {}).get("end")
    run_end = parse_iso(run_end_text) if run_end_text else None
    campaigns: list[dict[str, Any]] = []
    for name, info in labels.campaigns.items():
        mem = members[name]
        active = [a for a in mem if _active(accounts[a])]
        n_flag = len(flagged[name])
        by_sev = _at_each_severity(campaign_rank, active)
        recall_by_sev = {s: round(n / len(active), 6) if active else 0.0 for s, n in by_sev.items()}
        days = _exposure_days((accounts[a] for a in active), starts[name], run_end)
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
            "recall_by_severity": recall_by_sev,
            "recall_medium": recall_by_sev["medium"],
            "account_days": days,
            "alerts_per_account_day": round(alert_count[name] / days, 6) if days else None,
            "episodes": episode_count[name],
            "episodes_per_account_day": round(episode_count[name] / days, 6) if days else None,
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
    groups: dict[str, list[str]] = {}
    variant_groups: dict[str, list[str]] = {}
    for acct, kind in benign.items():
        groups.setdefault(kind, []).append(acct)
        variant = accounts[acct].get("variant")
        if variant is not None:
            variant_groups.setdefault(f"{kind}:{variant}", []).append(acct)

    def fpr_table(accts: list[str]) -> dict[str, dict[str, Any]]:
        counts = _at_each_severity(benign_rank, accts)
        return {s: {"flagged": n, "fpr": round(n / len(accts), 6) if accts else 0.0} for s, n in counts.items()}

    fpr_all = fpr_table(list(benign))
    flagged_active = sorted(a for a in benign_flagged if a in benign)
    detected = sum(1 for c in campaigns if c["detected"])
    total_days = sum(c["account_days"] or 0.0 for c in campaigns)
    total_alerts = sum(c["alerts"] for c in campaigns if c["account_days"])
    total_episodes = sum(c["episodes"] for c in campaigns if c["account_days"])
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
            "fpr_by_severity": {s: v["fpr"] for s, v in fpr_all.items()},
            "by_kind_severity": {k: fpr_table(v) for k, v in sorted(groups.items())},
            "by_variant_severity": {k: fpr_table(v) for k, v in sorted(variant_groups.items())},
        },
        "summary": {
            "campaigns": len(campaigns),
            "campaigns_detected": detected,
            "mean_recall": round(sum(c["recall"] for c in campaigns) / len(campaigns), 6)
            if campaigns
            else None,
            "benign_fpr": round(len(flagged_active) / len(benign), 6) if benign else 0.0,
            "mean_recall_medium": round(sum(c["recall_medium"] for c in campaigns) / len(campaigns), 6)
            if campaigns
            else None,
            "benign_fpr_medium": fpr_all["medium"]["fpr"],
            "benign_fpr_high": fpr_all["high"]["fpr"],
            "alerts_per_account_day": round(total_alerts / total_days, 6) if total_days else None,
            "episodes_per_account_day": round(total_episodes / total_days, 6) if total_days else None,
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
        medium = c.get("recall_medium")
        per_day = c.get("alerts_per_account_day")
        rows.append(
            [
                c["name"],
                c["kind"],
                f"{c['accounts']:,}",
                "yes" if c["detected"] else "NO",
                ttd,
                recall,
                "-" if medium is None else f"{100 * medium:.1f}%",
                f"{c['alerts']:,}",
                "-" if per_day is None else f"{per_day:.3g}",
            ]
        )
    out.append("Campaigns")
    out += _table(
        [
            "campaign",
            "kind",
            "accounts",
            "detected",
            "time to detect",
            "account recall",
            "recall@medium",
            "alerts",
            "alerts/acct/day",
        ],
        rows,
        {2, 5, 6, 7, 8},
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
    sev_rows = []
    for k, table in [*b.get("by_kind_severity", {}).items(), *b.get("by_variant_severity", {}).items()]:
        sev_rows.append([k, *(f"{100 * table[s]['fpr']:.2f}%" for s in SEVERITIES)])
    if sev_rows:
        out.append("")
        out.append("Benign false-positive rate by severity (accounts named by an alert of at least that severity)")
        out += _table(["benign kind[:variant]", *(f">= {s}" for s in SEVERITIES)], sev_rows, {1, 2, 3, 4})
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
    if "mean_recall_medium" in s:
        per_day = s.get("alerts_per_account_day")
        episodes = s.get("episodes_per_account_day")
        out.append(
            f"At severity >= medium: mean account recall {100 * (s['mean_recall_medium'] or 0):.1f}%, "
            f"benign FPR {100 * s['benign_fpr_medium']:.2f}% (>= high: {100 * s['benign_fpr_high']:.2f}%); "
            f"alerts per attack account-day {'-' if per_day is None else f'{per_day:.3g}'} "
            f"({'-' if episodes is None else f'{episodes:.3g}'} without the escalations of an episode)"
        )
    return "\n".join(out)
