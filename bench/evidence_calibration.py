#!/usr/bin/env python3
"""Fit the graded-evidence weights (``stream_guard/core/evidence.py``) on labelled traffic.

Subcommands:

``collect EVENTS LABELS --out ROWS.npz``
    Runs the per-account detection core over a generated events file (``stream-guard
    loadgen --out EVENTS --labels LABELS``), in event-time order, with the documented
    defaults and cross-account detection off, and records every account evaluation the
    core makes (the features the evaluators see at each boundary) with its ground truth:
    1 for an account of a campaign once the campaign is active, else 0.
``fit ROWS.npz [ROWS.npz ...] --out WEIGHTS.json``
    Fits a logistic regression of the label on the evidence terms (L2-penalised, Newton's
    method; every account weighs the same, and both classes weigh the same in total), then
    sets each severity's log-odds threshold from the *benign* accounts of the same files:
    ``high`` where at most ``--high-fpr`` of them (and at most ``--kind-fpr`` of any benign
    kind) ever reach it, ``medium`` and ``low`` at ``--medium-fpr`` and ``--low-fpr``,
    ``critical`` a margin above ``high``. Prints the weights and the training figures.
``score ROWS.npz [...] --weights WEIGHTS.json``
    Account-level figures of given weights on rows (held-out files): recall per campaign
    kind at each severity, benign FPR per kind, time to first ``medium``.
``ablate ROWS.npz [...] --heldout ROWS.npz [...]``
    Refits without each family of terms and scores each fit on the held-out rows: what
    each family adds (``bench/results/evidence_ablation.json``).
``reproduce --workdir DIR [--out WEIGHTS.json]``
    The packaged fit from nothing: generates the training files (:data:`TRAINING`) and the
    held-out ones (:data:`HELD_OUT_FILES`) with ``stream-guard loadgen``, collects them
    (rows already in ``DIR`` are reused), fits on the training rows, prints the figures on
    the held-out rows and how far the result is from the packaged weights (about 7
    minutes on 2 cores; ~150 MB of rows in ``DIR``).

Only training files go to ``fit``; held-out seeds and designs go to ``score`` and, for the
real figures, through ``stream-guard replay`` and ``stream-guard score``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize  # type: ignore[import-untyped]  # scipy ships no stubs
from stream_guard.core.evidence import AGAINST, FEATURE_NEEDS, FOR, TERMS, Accumulation, EvidenceWeights, term_values
from stream_guard.core.rules import SEVERITIES, Verdict
from stream_guard.core.scoring import Case
from stream_guard.replay import replay
from stream_guard.settings import Settings

from detection import FITTED_VARIANTS, HELD_OUT

#: The packaged fit's training files: ``stream-guard loadgen`` options by file name.
TRAINING: dict[str, list[str]] = {
    "std1": ["--scenario", "standard", "--seed", "1"],
    "std3": ["--scenario", "standard", "--seed", "3"],
    "std4": ["--scenario", "standard", "--seed", "4"],
    "hash5": ["--scenario", "standard", "--seed", "5", "--privacy", "1.0"],
    # each design's default variant only (the preset alone runs every variant in turn)
    "des11": ["--scenario", "designs", "--seed", "11", "--mimicry-variant", "tutor", "--adaptive-hydra-variant",
              "steady", "--agentic-distiller-variant", "short", "--hashed-reseller-variant", "standard",
              "--event-cohort-variant", "workshop", "--research-nat-variant", "sweep", "--heavy-user-variant",
              "power_chat"],
    # the variants held out until 2026-12-07 (seed 12 then), another seed: more kinds of benign and
    # campaign traffic to fit on; the held-out designs are now variants written after them
    "des14": ["--scenario", "designs", "--seed", "14", *FITTED_VARIANTS],
}
#: Held out of the fit: another standard seed, and other variants of every design.
HELD_OUT_FILES: dict[str, list[str]] = {
    "std2": ["--scenario", "standard", "--seed", "2"],
    "des13": HELD_OUT,
}


class _Recorder:
    """An evaluator that records every case it is shown."""

    def __init__(self) -> None:
        self.accounts: list[str] = []
        self.at: list[float] = []
        self.rows: list[list[float]] = []

    def evaluate(self, case: Case) -> Verdict | None:
        f = case.features
        self.accounts.append(case.account)
        self.at.append(case.at)
        self.rows.append([f[k] for k in FEATURE_NEEDS])
        return None

    def learn(self, case: Case) -> None:
        pass


def collect(events: Path, labels_path: Path, out: Path, partitions: int) -> None:
    from stream_guard.loadgen.labels import read_labels
    from stream_guard.loadgen.timeutil import parse_iso

    settings = Settings(cross_account=False, per_account_evaluators="volume")  # the rows do not depend on it
    rec = _Recorder()
    started = time.monotonic()
    report = replay(events, settings, partitions=partitions, keep_alerts=False, evaluators=[rec],
                    progress=lambda r: print(f"  {r.events:,} events, {len(rec.at):,} evaluations, "
                                             f"{time.monotonic() - started:.0f} s", file=sys.stderr),
                    progress_every_s=10.0)
    n = report.events
    labels = read_labels(labels_path)
    names = sorted(set(rec.accounts))
    index = {a: i for i, a in enumerate(names)}
    kinds, starts = [], []
    for a in names:
        entry = labels.accounts.get(a, {})
        campaign = entry.get("label") == "campaign"
        kinds.append(("campaign:" if campaign else "benign:") + str(entry.get("kind", "unknown")))
        starts.append(parse_iso(entry["active_from"]) if campaign and entry.get("active_from") else math.inf)
    acc = np.array([index[a] for a in rec.accounts], dtype=np.int32)
    at = np.array(rec.at)
    start = np.array(starts)[acc]
    np.savez_compressed(out, x=np.array(rec.rows, dtype=np.float64), account=acc, at=at,
                        y=(at >= start).astype(np.int8), names=np.array(names), kinds=np.array(kinds),
                        start=np.array(starts), features=np.array(FEATURE_NEEDS), source=str(events))
    print(f"{events.name}: {n:,} events, {len(at):,} evaluations of {len(names):,} accounts -> {out}",
          file=sys.stderr)


class Rows:
    """Collected rows of one or more files, with their term values."""

    def __init__(self, paths: list[Path]) -> None:
        xs, accs, ats, ys, kinds, starts = [], [], [], [], [], []
        offset = 0
        for p in paths:
            d = np.load(p)
            feats = list(d["features"])
            if feats != list(FEATURE_NEEDS):
                raise SystemExit(f"{p}: collected with other features; collect it again")
            xs.append(d["x"])
            accs.append(d["account"] + offset)
            ats.append(d["at"])
            ys.append(d["y"])
            kinds += [str(k) for k in d["kinds"]]
            starts.append(d["start"])
            offset += len(d["names"])
        self.x = np.concatenate(xs)
        self.account = np.concatenate(accs)
        self.at = np.concatenate(ats)
        self.y = np.concatenate(ys).astype(np.float64)
        self.kinds = kinds
        self.start = np.concatenate(starts)
        names = list(FEATURE_NEEDS)
        self.phi = np.array([term_values(dict(zip(names, row, strict=True))) for row in self.x])

    def is_campaign(self) -> np.ndarray:
        return np.array([k.startswith("campaign:") for k in self.kinds])


def _fit(phi: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float, max_weight: float,
         drop: frozenset[str] = frozenset()) -> np.ndarray:
    """Weighted, L2-penalised logistic regression with each term's weight bounded to
    ``max_weight`` in the direction its sign allows (L-BFGS-B); returns [bias, weights...]."""
    X = np.hstack([np.ones((len(phi), 1)), phi])

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = X @ beta
        # log(1 + e^z) - y z, stably
        value = float(np.sum(w * (np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * np.sum(beta[1:] ** 2))
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        grad = X.T @ (w * (p - y))
        grad[1:] += l2 * beta[1:]
        return value, grad

    caps = [0.0 if t.name in drop else min(t.cap, max_weight) for t in TERMS]
    bounds = [(-20.0, 20.0)] + [
        (0.0, c) if t.sign == FOR else (-c, 0.0) if t.sign == AGAINST else (-c, c)
        for t, c in zip(TERMS, caps, strict=True)
    ]
    result = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 2000})
    return np.asarray(result.x)


def _accumulated(rows: Rows, z: np.ndarray, acc: Accumulation) -> np.ndarray:
    """The accumulated evidence after each row, as the evaluator computes it (rows of one
    account in event-time order)."""
    order = np.lexsort((rows.at, rows.account))
    out = np.zeros(len(z))
    last_account, total, last_at = -1, 0.0, 0.0
    for i in order:
        a = rows.account[i]
        if a != last_account:
            total = acc.step(0.0, 60.0, float(z[i]))
            last_account = a
        else:
            total = acc.step(total, float(rows.at[i] - last_at), float(z[i]))
        last_at = float(rows.at[i])
        out[i] = total
    return out


def _account_max(rows: Rows, z: np.ndarray) -> np.ndarray:
    best = np.full(int(rows.account.max()) + 1, -np.inf)
    np.maximum.at(best, rows.account, z)
    return best


def _quantile_threshold(values: np.ndarray, fpr: float) -> float:
    """The smallest threshold that at most ``fpr`` of ``values`` reach (strictly above the rest)."""
    v = np.sort(values[np.isfinite(values)])[::-1]
    allowed = math.floor(fpr * len(v))
    return float(np.nextafter(v[allowed], np.inf)) if allowed < len(v) else float(v[-1])


@dataclass(frozen=True)
class FitParams:
    """The knobs of a fit (the ``fit`` command's options)."""

    l2: float = 0.1
    max_weight: float = 4.0
    high_fpr: float = 0.0005
    kind_fpr: float = 0.005
    medium_fpr: float = 0.005
    low_fpr: float = 0.02
    reference_quantile: float = 0.99
    decay_s: float = 86400.0
    exclude: frozenset[str] = frozenset({"campaign:reseller", "campaign:hashed_reseller"})
    critical_margin: float = 1.0
    instant_ceiling: str = "medium"
    high_margin: float = 1.25


def fit_weights(rows: Rows, fp: FitParams, files: list[Path], drop: frozenset[str] = frozenset()) -> EvidenceWeights:
    """Weights, thresholds and accumulation fitted on ``rows`` (terms in ``drop`` held at 0)."""
    # every kind (campaign design or benign kind) weighs the same in total, and within a kind
    # every account the same; a campaign account's rows before its campaign starts are left out
    counts = np.bincount(rows.account)
    kind_of_row = np.array(rows.kinds)[rows.account]
    excluded = np.array([k in fp.exclude for k in rows.kinds])[rows.account]
    pos = (rows.y == 1) & ~excluded
    keep = (pos | ~rows.is_campaign()[rows.account]) & ~excluded
    w = np.zeros(len(rows.y))
    for kind in set(rows.kinds):
        m = (kind_of_row == kind) & keep
        if m.any():
            per_account = 1.0 / counts[rows.account[m]]
            w[m] = per_account / per_account.sum()
    w *= len(counts) / w.sum()
    beta = _fit(rows.phi, pos.astype(np.float64), w, fp.l2, fp.max_weight, drop)
    z = beta[0] + rows.phi @ beta[1:]
    best = _account_max(rows, z)
    benign = np.array([k.startswith("benign:") for k in rows.kinds])
    benign_kinds = sorted({k for k in rows.kinds if k.startswith("benign:")})

    def strict(values: np.ndarray) -> float:
        """The lowest level that at most high_fpr of benign accounts, and kind_fpr of any kind, reach."""
        level = _quantile_threshold(values[benign], fp.high_fpr)
        for kind in benign_kinds:
            level = max(level, _quantile_threshold(values[np.array([k == kind for k in rows.kinds])], fp.kind_fpr))
        return level

    high = strict(best)
    medium = min(_quantile_threshold(best[benign], fp.medium_fpr), high)
    low = min(_quantile_threshold(best[benign], fp.low_fpr), medium)
    # An instant reading is at most medium unless it is beyond anything benign in the training
    # files (critical): a burst of a few hours is what a benchmark evaluation looks like too;
    # high needs time (the accumulated sum below).
    critical = max(high, float(np.max(best[benign]))) + fp.critical_margin
    thresholds = {"low": low, "medium": medium, "high": critical, "critical": critical}
    # the accumulation: hours above a reference that benign evaluations rarely reach
    reference = float(np.quantile(z[benign[rows.account]], fp.reference_quantile))
    probe = Accumulation(reference, fp.decay_s, 3600.0, {"low": 1.0, "medium": 2.0, "high": 3.0, "critical": 4.0})
    best_sum = _account_max(rows, _accumulated(rows, z, probe))
    s_high = strict(best_sum)
    s_medium = min(_quantile_threshold(best_sum[benign], fp.medium_fpr), s_high)
    s_low = min(_quantile_threshold(best_sum[benign], fp.low_fpr), s_medium)
    floor = 0.5  # at least half an hour of evidence above the reference
    # headroom above the benign training accounts for high: a threshold set exactly at their
    # maximum is crossed by the next benign account a little above it (without it, an
    # evaluation run of tests/scenarios reached 9.054 against a high of 9.037)
    sums = [max(floor, s_low), max(floor, s_medium), max(floor, s_high * fp.high_margin)]
    sums = [sums[0], max(sums[0], sums[1]), max(sums[0], sums[1], sums[2])]
    accumulate = Accumulation(round(reference, 4), fp.decay_s, 3600.0,
                              {"low": round(sums[0], 4), "medium": round(sums[1], 4), "high": round(sums[2], 4),
                               "critical": round(sums[2] * 4.0, 4)})
    fitted = {t.name: round(float(b), 4) for t, b in zip(TERMS, beta[1:], strict=True) if t.name not in drop}
    meta = {"files": [str(p) for p in files], **{k: v for k, v in asdict(fp).items() if k != "exclude"},
            "excluded": sorted(fp.exclude), "rows": len(rows.y), "accounts": len(counts),
            "fitted": time.strftime("%Y-%m-%d")}
    return EvidenceWeights(round(float(beta[0]), 4), fitted, {k: round(v, 4) for k, v in thresholds.items()},
                           meta, accumulate, fp.instant_ceiling)


def fit(paths: list[Path], out: Path, fp: FitParams) -> None:
    rows = Rows(paths)
    weights = fit_weights(rows, fp, paths)
    out.write_bytes(weights.to_json() + b"\n")
    print(f"bias {weights.bias:+.3f}")
    for name, b in sorted(weights.weights.items(), key=lambda p: -abs(p[1])):
        print(f"  {name:18s} {b:+8.3f}")
    print("thresholds", weights.thresholds)
    print("accumulate", weights.accumulate)
    report(rows, weights)


def figures(rows: Rows, weights: EvidenceWeights) -> dict[str, dict[str, Any]]:
    """Per kind: accounts, the share reaching each severity, and (campaigns) the median event
    time from the campaign's start to an account's first ``medium``."""
    beta = np.array([weights.weights.get(t.name, 0.0) for t in TERMS])
    z = weights.bias + rows.phi @ beta
    th = weights.thresholds
    rank = np.searchsorted(np.array([th[s] for s in SEVERITIES]), z, side="right")  # 0: none, 1: low, ...
    rank = np.minimum(rank, SEVERITIES.index(weights.instant_ceiling) + 1)
    if weights.accumulate is not None:
        acc = weights.accumulate
        total = _accumulated(rows, z, acc)
        rank = np.maximum(rank, np.searchsorted(np.array([acc.thresholds[s] for s in SEVERITIES]), total,
                                                side="right"))
    best = np.zeros(int(rows.account.max()) + 1, dtype=np.int64)
    np.maximum.at(best, rows.account, rank)
    first_medium = np.full(len(rows.kinds), np.inf)
    hit = rank >= 2
    np.minimum.at(first_medium, rows.account[hit], rows.at[hit])
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(rows.kinds):
        by_kind[k].append(i)
    out: dict[str, dict[str, Any]] = {}
    for kind, members in sorted(by_kind.items()):
        idx = np.array(members)
        entry: dict[str, Any] = {"accounts": len(idx),
                                 "share": {s: float(np.mean(best[idx] >= r + 1)) for r, s in enumerate(SEVERITIES)}}
        if kind.startswith("campaign:"):
            delays = first_medium[idx] - rows.start[idx]
            delays = delays[np.isfinite(delays)]
            entry["median_ttd_medium_s"] = float(np.median(delays)) if len(delays) else None
        out[kind] = entry
    return out


def report(rows: Rows, weights: EvidenceWeights) -> None:
    print(f"{'kind':28s} {'accts':>6s} " + " ".join(f"{s:>8s}" for s in SEVERITIES) + "  median ttd(medium)")
    for kind, e in figures(rows, weights).items():
        ttd = ""
        if kind.startswith("campaign:"):
            t = e["median_ttd_medium_s"]
            ttd = "never" if t is None else f"{t / 60:.0f} min"
        print(f"{kind:28s} {e['accounts']:6d} " + " ".join(f"{100 * e['share'][s]:7.2f}%" for s in SEVERITIES)
              + f"  {ttd}")


#: Term families for the ablation: what each kind of signal adds.
FAMILIES: dict[str, frozenset[str]] = {
    "content (CoT, benchmark)": frozenset({"cot", "benchmark", "content_fresh", "content_young", "content_volume"}),
    "outputs": frozenset({"long_outputs", "out_in", "max_tokens"}),
    "conversation (turns, tools)": frozenset({"multi_turn", "tools"}),
    "diversity (fresh, repeats, templates, categories)": frozenset({"fresh", "repeats", "templated", "categories"}),
    "pacing and rest": frozenset({"regular", "bursty", "around_the_clock", "rested"}),
    "account age": frozenset({"young", "established", "content_young"}),
    "volume": frozenset({"volume", "burst", "content_volume"}),
    "hash-only shape": frozenset({"no_text", "sweep_no_text"}),
}


def _summary(fig: dict[str, dict[str, Any]]) -> dict[str, Any]:
    campaigns = {k: e for k, e in fig.items() if k.startswith("campaign:")}
    benign = {k: e for k, e in fig.items() if k.startswith("benign:")}
    n_benign = sum(e["accounts"] for e in benign.values())
    ttd = [e["median_ttd_medium_s"] for e in campaigns.values() if e["median_ttd_medium_s"] is not None]
    return {
        "mean_recall_medium": float(np.mean([e["share"]["medium"] for e in campaigns.values()])),
        "benign_fpr_high": sum(e["share"]["high"] * e["accounts"] for e in benign.values()) / max(n_benign, 1),
        "worst_kind_fpr_high": max((e["share"]["high"] for e in benign.values()), default=0.0),
        "benign_fpr_medium": sum(e["share"]["medium"] * e["accounts"] for e in benign.values()) / max(n_benign, 1),
        "median_ttd_medium_s": float(np.median(ttd)) if ttd else None,
    }


def ablate(train: list[Path], heldout: list[Path], out: Path | None, fp: FitParams) -> None:
    """Refit without each term family; account-level figures on the held-out rows."""
    rows, test = Rows(train), Rows(heldout)
    results = []
    for name, drop in [("(all terms)", frozenset[str]()), *FAMILIES.items()]:
        weights = fit_weights(rows, fp, train, drop)
        summary = _summary(figures(test, weights))
        results.append({"without": name, "dropped": sorted(drop), **summary})
        ttd = summary["median_ttd_medium_s"]
        print(f"{name:52s} recall@medium {100 * summary['mean_recall_medium']:6.2f}%  "
              f"FPR@high {100 * summary['benign_fpr_high']:5.2f}% "
              f"(worst kind {100 * summary['worst_kind_fpr_high']:5.2f}%)  "
              f"FPR@medium {100 * summary['benign_fpr_medium']:5.2f}%  "
              f"median ttd {'-' if ttd is None else f'{ttd / 60:.0f} min'}", flush=True)
    if out is not None:
        out.write_text(json.dumps({"train": [str(p) for p in train], "heldout": [str(p) for p in heldout],
                                   "params": {k: v for k, v in asdict(fp).items() if k != "exclude"},
                                   "results": results}, indent=2) + "\n")


def reproduce(workdir: Path, out: Path | None, fp: FitParams, partitions: int) -> EvidenceWeights:
    """Generate, collect and fit the packaged weights' files (see the module docstring)."""
    workdir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, Path] = {}
    for name, options in {**TRAINING, **HELD_OUT_FILES}.items():
        rows[name] = npz = workdir / f"{name}.npz"
        if npz.exists():
            print(f"{name}: reusing {npz}", file=sys.stderr)
            continue
        events, labels = workdir / f"{name}.jsonl", workdir / f"{name}.labels.json"
        print(f"{name}: stream-guard loadgen {' '.join(options)}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "stream_guard", "loadgen", *options, "--out", str(events),
                        "--labels", str(labels)], check=True, stdout=subprocess.DEVNULL)
        collect(events, labels, npz, partitions)
        events.unlink()  # hundreds of MB; the rows and labels stay
    train = [rows[n] for n in TRAINING]
    weights = fit_weights(Rows(train), fp, [Path(p.name) for p in train])
    weights.fitted_on["loadgen"] = {n: " ".join(o) for n, o in TRAINING.items()}
    if out is not None:
        out.write_bytes(weights.to_json() + b"\n")
    print("held out (" + ", ".join(HELD_OUT_FILES) + "):")
    report(Rows([rows[n] for n in HELD_OUT_FILES]), weights)
    packaged = EvidenceWeights.load()
    names = sorted(set(weights.weights) | set(packaged.weights))
    drift = max([abs(weights.weights.get(n, 0.0) - packaged.weights.get(n, 0.0)) for n in names]
                + [abs(weights.bias - packaged.bias)]
                + [abs(weights.thresholds[s] - packaged.thresholds[s]) for s in SEVERITIES])
    print(f"largest difference from the packaged weights, bias and thresholds: {drift:.4g}")
    return weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="record the evaluations of a labelled events file")
    c.add_argument("events", type=Path)
    c.add_argument("labels", type=Path)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--partitions", type=int, default=4)
    d = FitParams()
    f = sub.add_parser("fit", help="fit weights and thresholds on collected rows")
    f.add_argument("rows", type=Path, nargs="+")
    f.add_argument("--out", type=Path, required=True)
    a = sub.add_parser("ablate", help="refit without each family of terms; figures on held-out rows")
    a.add_argument("rows", type=Path, nargs="+", help="training rows")
    a.add_argument("--heldout", type=Path, nargs="+", required=True)
    a.add_argument("--out", type=Path, help="write the results as JSON")
    r = sub.add_parser("reproduce", help="the packaged fit from nothing: generate, collect, fit, score held out")
    r.add_argument("--workdir", type=Path, required=True, help="rows go here (reused when present)")
    r.add_argument("--out", type=Path, help="write the fitted weights here")
    r.add_argument("--partitions", type=int, default=4)
    for p in (f, a, r):
        p.add_argument("--l2", type=float, default=d.l2)
        p.add_argument("--max-weight", type=float, default=d.max_weight,
                       help="bound on every term's weight (besides each term's own cap)")
        p.add_argument("--high-fpr", type=float, default=d.high_fpr)
        p.add_argument("--kind-fpr", type=float, default=d.kind_fpr)
        p.add_argument("--medium-fpr", type=float, default=d.medium_fpr)
        p.add_argument("--low-fpr", type=float, default=d.low_fpr)
        p.add_argument("--reference-quantile", type=float, default=d.reference_quantile,
                       help="the accumulation's reference: this quantile of benign evaluations' evidence")
        p.add_argument("--decay-s", type=float, default=d.decay_s, help="how fast accumulated evidence fades")
        p.add_argument("--exclude", default=",".join(sorted(d.exclude)),
                       help="kinds left out of the fit: campaigns no per-account evidence can see (a reseller's "
                            "extraction is a small share of a customer's traffic: the mixture rule's job)")
        p.add_argument("--critical-margin", type=float, default=d.critical_margin,
                       help="instant evidence is critical this far above the highest benign account's "
                            "(with --instant-ceiling critical)")
        p.add_argument("--instant-ceiling", choices=SEVERITIES, default=d.instant_ceiling,
                       help="the highest severity an instant reading gives; above it, only hours of "
                            "accumulated evidence raise the severity")
        p.add_argument("--high-margin", type=float, default=d.high_margin,
                       help="the accumulated high threshold is this many times the level the benign "
                            "training accounts allow (headroom for benign traffic not trained on)")
    s = sub.add_parser("score", help="account-level figures of weights on collected rows")
    s.add_argument("rows", type=Path, nargs="+")
    s.add_argument("--weights", type=Path, required=True)
    args = ap.parse_args()
    if args.cmd == "collect":
        collect(args.events, args.labels, args.out, args.partitions)
        return
    if args.cmd == "score":
        report(Rows(args.rows), EvidenceWeights.load(str(args.weights)))
        return
    fp = FitParams(args.l2, args.max_weight, args.high_fpr, args.kind_fpr, args.medium_fpr, args.low_fpr,
                   args.reference_quantile, args.decay_s, frozenset(args.exclude.split(",")), args.critical_margin,
                   args.instant_ceiling, args.high_margin)
    if args.cmd == "reproduce":
        reproduce(args.workdir, args.out, fp, args.partitions)
    elif args.cmd == "fit":
        fit(args.rows, args.out, fp)
    else:
        ablate(args.rows, args.heldout, args.out, fp)


if __name__ == "__main__":
    main()
