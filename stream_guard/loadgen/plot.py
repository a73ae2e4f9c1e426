"""A PNG timeline: campaign activity over event time against the alerts that named them.

Top panel: benign request volume per bucket, with markers for alerts that named only
benign accounts (false positives). Below: one row per campaign, shaded by its request
volume, a line at its ``active_from`` (and at a model pivot), and a marker per alert that
named one of its accounts. Needs matplotlib (the ``loadgen`` extra); it is imported only
when a plot is drawn, with the non-interactive Agg backend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stream_guard.loadgen.labels import Labels
from stream_guard.loadgen.scorer import alert_time, named_accounts
from stream_guard.loadgen.timeutil import parse_iso

__all__ = ["matplotlib_available", "plot_timeline"]


def matplotlib_available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_timeline(
    alerts: list[dict[str, Any]], labels: Labels, path: str | Path, *, title: str | None = None
) -> Path:
    """Draw the timeline to ``path`` (PNG) and return the path."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("plotting needs matplotlib: pip install 'stream-guard[loadgen]'") from exc
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    doc = labels.doc
    activity = doc.get("activity", {})
    bucket_s = float(activity.get("bucket_s", 3600))
    t0 = parse_iso(activity.get("start") or doc["run"]["start"])
    series: dict[str, list[int]] = activity.get("series", {})
    campaigns = list(labels.campaigns)
    n_buckets = max((len(v) for v in series.values()), default=1)
    xs = [datetime.fromtimestamp(t0 + (i + 0.5) * bucket_s, UTC) for i in range(n_buckets)]

    owner: dict[str, str] = {}
    for acct, entry in labels.accounts.items():
        campaign = entry.get("campaign") if entry.get("label") == "campaign" else None
        owner[acct] = str(campaign) if campaign else "benign"
    hits: dict[str, list[datetime]] = {c: [] for c in campaigns}
    fp: list[datetime] = []
    for alert in alerts:
        t = alert_time(alert)
        if t is None:
            continue
        when = datetime.fromtimestamp(t, UTC)
        names = {owner.get(a) for a in named_accounts(alert)}
        for c in campaigns:
            if c in names:
                hits[c].append(when)
        if names == {"benign"}:
            fp.append(when)

    rows = max(len(campaigns), 1)
    fig, (ax_b, ax_c) = plt.subplots(
        2,
        1,
        figsize=(12, 2.6 + 0.55 * rows),
        sharex=True,
        gridspec_kw={"height_ratios": [2.0, max(1.5, 0.55 * rows)]},
    )
    benign = [0] * n_buckets
    for name, values in series.items():
        if name.startswith("benign:"):
            for i, v in enumerate(values):
                benign[i] += v
    per_hour = 3600.0 / bucket_s
    ax_b.fill_between(
        xs, [v * per_hour for v in benign], step="mid", color="#9bb7d4", label="benign requests/h"
    )
    if fp:
        top = max(benign) * per_hour if any(benign) else 1.0
        ax_b.plot(
            fp,
            [top * 1.02] * len(fp),
            "v",
            color="#d62728",
            markersize=5,
            label=f"alerts on benign accounts ({len(fp)})",
        )
    ax_b.set_ylabel("requests / h")
    ax_b.legend(loc="upper left", fontsize=8)
    ax_b.set_title(title or f"stream-guard load test: {doc.get('run', {}).get('scenario', '')}")

    for row, name in enumerate(campaigns):
        y = rows - 1 - row
        values = series.get(name, [0] * n_buckets)
        peak = max(values) or 1
        for i, v in enumerate(values):
            if v:
                x0 = mdates.date2num(xs[i] - timedelta(seconds=bucket_s / 2))  # type: ignore[no-untyped-call]  # unannotated
                ax_c.add_patch(
                    Rectangle(
                        (x0, y - 0.35),
                        bucket_s / 86400.0,
                        0.7,
                        color="#2ca02c",
                        alpha=0.15 + 0.75 * v / peak,
                        linewidth=0,
                    )
                )
        start = datetime.fromtimestamp(labels.campaign_start(name), UTC)
        ax_c.plot([start, start], [y - 0.45, y + 0.45], color="black", linewidth=1.2)
        pivot = labels.campaigns[name].get("pivot_at")
        if pivot:
            pv = datetime.fromtimestamp(parse_iso(pivot), UTC)
            ax_c.plot([pv, pv], [y - 0.45, y + 0.45], color="#9467bd", linewidth=1.2, linestyle="--")
        if hits[name]:
            ax_c.plot(
                hits[name], [y] * len(hits[name]), "|", color="#d62728", markersize=14, markeredgewidth=1.5
            )
    ax_c.set_yticks(range(rows))
    ax_c.set_yticklabels(list(reversed(campaigns)) or [""])
    ax_c.set_ylim(-0.6, rows - 0.4)
    ax_c.set_xlim(xs[0] - timedelta(seconds=bucket_s / 2), xs[-1] + timedelta(seconds=bucket_s / 2))
    ax_c.set_xlabel("event time (UTC)")
    ax_c.set_title(
        "green: campaign requests (darker = more)   black: campaign start   "
        "purple dashed: model pivot   red: alerts naming the campaign",
        fontsize=8,
        loc="left",
    )
    fig.autofmt_xdate()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
