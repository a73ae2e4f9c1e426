#!/usr/bin/env python3
"""Derive the load generator's calibration figures from the public data in ../shared/data.

The load generator (``stream_guard/loadgen``) must run without the data, so it carries
only figures derived here, in ``stream_guard/loadgen/calibration.json``. This script is
how those figures were made; rerun it to regenerate (or check) them:

    python scripts/derive_calibration.py                      # data in ../shared/data
    python scripts/derive_calibration.py --data /path/to/data --out calibration.json
    python scripts/derive_calibration.py --check              # exit 1 if the file differs

Needs numpy only. What is derived (quantile arrays are evenly spaced in probability, first
= minimum, last = maximum, so a sampler interpolates linearly between them):

* ServeGen (Alibaba Bailian, 14 days, one row per client per 10 min): per-client mean
  requests per *active* day and the fraction of days a client is active; the spread of a
  client's daily volume from day to day; the CV of inter-arrival times in active windows;
  which inter-arrival family was fitted (Gamma / Weibull) and its shape parameter; the
  diurnal profile (mean over persistent clients of each one's normalised hour-of-day
  profile, so one giant client does not dominate).
* Azure LLM inference traces 2023 (conv and code, ~1 h each): input (context) and output
  (generated) token counts, request rate and inter-arrival CV.
* Prompt sets: character-length quantiles of Arena-Hard (real user prompts), GSM8K,
  HumanEval and MBPP prompts.

Nothing else leaves the data folder: no prompt text, no rows.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "stream_guard" / "loadgen" / "calibration.json"

WINDOW_S = 600
WINDOWS_PER_DAY = 144


def quantiles(values: Any, n: int) -> list[float]:
    """``n + 1`` evenly spaced quantiles (0 %, 100/n %, ..., 100 %), rounded for JSON."""
    arr = np.asarray(values, dtype=float)
    qs = np.percentile(arr, np.linspace(0.0, 100.0, n + 1))
    return [round(float(q), 4) for q in qs]


def _read_servegen_client(path: Path) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    rates: list[float] = []
    cvs: list[float] = []
    fams: list[str] = []
    p1: list[float] = []
    with path.open(newline="") as fh:
        for row in csv.reader(fh):
            if not row:
                continue
            rates.append(float(row[1]))
            cvs.append(float(row[2]))
            fams.append(row[3])
            p1.append(float(row[4]))
    return np.array(rates), np.array(cvs), fams, np.array(p1)


def derive_servegen(folder: Path) -> dict[str, Any]:
    """Per-client volume, presence, burstiness and diurnal figures from ServeGen."""
    files = sorted(folder.glob("*/*.csv"))
    if not files:
        raise SystemExit(f"no ServeGen traces under {folder}")
    per_active_day: list[float] = []
    active_day_frac: list[float] = []
    day_sigma: list[float] = []
    cvs: list[float] = []
    gamma_k: list[float] = []
    weibull_k: list[float] = []
    families: Counter[str] = Counter()
    profiles: list[np.ndarray] = []
    windows = 0
    for path in files:
        rate, cv, fam, p1 = _read_servegen_client(path)
        windows = len(rate)
        days = len(rate) // WINDOWS_PER_DAY
        daily = rate[: days * WINDOWS_PER_DAY].reshape(days, WINDOWS_PER_DAY).sum(1) * WINDOW_S
        active_days = daily > 0
        if not active_days.any():
            continue
        per_active_day.append(float(daily[active_days].mean()))
        active_day_frac.append(float(active_days.mean()))
        if active_days.sum() >= 3:
            day_sigma.append(float(np.log(daily[active_days]).std()))
        for i in np.nonzero(rate > 0)[0]:
            families[fam[i]] += 1
            cvs.append(float(cv[i]))
            if fam[i] == "Gamma":
                gamma_k.append(float(p1[i]))
            elif fam[i] == "Weibull":
                weibull_k.append(float(p1[i]))
        if (rate > 0).mean() > 0.5:  # persistent clients: their own hour-of-day shape
            hourly = rate[: days * WINDOWS_PER_DAY].reshape(days, 24, 6).sum(axis=(0, 2))
            profiles.append(hourly / hourly.mean())
    total_fam = sum(families.values())
    profile = np.mean(profiles, axis=0)
    profile = profile / profile.mean()
    return {
        "clients": len(per_active_day),
        "persistent_clients": len(profiles),
        "days": windows // WINDOWS_PER_DAY,
        "requests_per_active_day_quantiles": quantiles(per_active_day, 20),
        "requests_per_active_day_log_sigma": round(float(np.log(per_active_day).std()), 4),
        "active_day_fraction_quantiles": quantiles(active_day_frac, 20),
        "daily_volume_log_sigma_quantiles": quantiles(day_sigma, 20),
        "interarrival_cv_quantiles": quantiles(cvs, 20),
        "family_share": {k: round(v / total_fam, 4) for k, v in sorted(families.items())},
        "gamma_shape_quantiles": quantiles(gamma_k, 20),
        "weibull_shape_quantiles": quantiles(weibull_k, 20),
        "hourly_profile": [round(float(x), 4) for x in profile],
        "hourly_profile_note": (
            "hour 0 = trace start, read as local midnight: the trough falls at 04:00-06:00"
        ),
    }


def _read_azure(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts: list[float] = []
    inp: list[int] = []
    out: list[int] = []
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            ts.append(datetime.strptime(row[0][:26], "%Y-%m-%d %H:%M:%S.%f").timestamp())
            inp.append(int(row[1]))
            out.append(int(row[2]))
    return np.array(ts), np.array(inp), np.array(out)


def derive_azure(folder: Path) -> dict[str, Any]:
    """Token-count quantiles (1 % steps) and arrival figures of the Azure 2023 traces."""
    result: dict[str, Any] = {}
    for kind in ("conv", "code"):
        ts, inp, out = _read_azure(folder / f"AzureLLMInferenceTrace_{kind}.csv")
        gaps = np.diff(np.sort(ts))
        result[kind] = {
            "requests": len(ts),
            "requests_per_s": round(float(len(ts) / (ts.max() - ts.min())), 4),
            "interarrival_cv": round(float(gaps.std() / gaps.mean()), 4),
            "input_tokens_quantiles": quantiles(inp, 100),
            "output_tokens_quantiles": quantiles(out, 100),
            "input_tokens_mean": round(float(inp.mean()), 1),
            "output_tokens_mean": round(float(out.mean()), 1),
        }
    return result


def _jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def derive_prompts(folder: Path) -> dict[str, Any]:
    """Character-length quantiles (5 % steps) of each prompt set."""
    sets = {
        "arena_hard": ("arena-hard/question.jsonl", "prompt"),
        "gsm8k": ("gsm8k/test.jsonl", "question"),
        "humaneval": ("humaneval/HumanEval.jsonl.gz", "prompt"),
        "mbpp": ("mbpp/mbpp.jsonl", "text"),
    }
    result: dict[str, Any] = {}
    for name, (rel, field) in sets.items():
        lengths = [len(rec[field]) for rec in _jsonl(folder / rel)]
        result[name] = {
            "items": len(lengths),
            "chars_quantiles": quantiles(lengths, 20),
            "chars_mean": round(float(np.mean(lengths)), 1),
        }
    return result


def derive(data: Path) -> dict[str, Any]:
    """All calibration figures, as the JSON document the package ships."""
    return {
        "schema_version": 1,
        "generated_by": "scripts/derive_calibration.py",
        "sources": {
            "servegen": "alibaba/ServeGen data/language (m-large, m-small), Apache-2.0",
            "azure": "Azure/AzurePublicDataset AzureLLMInferenceTrace 2023 (conv, code), CC-BY-4.0",
            "prompts": "arena-hard-auto v0.1 (Apache-2.0), GSM8K test (MIT), HumanEval (MIT), "
            "MBPP (CC-BY-4.0)",
        },
        "servegen": derive_servegen(data / "traces" / "servegen" / "language"),
        "azure": derive_azure(data / "traces" / "azure-llm-2023"),
        "prompts": derive_prompts(data / "prompts"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="calibration file")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if --out differs")
    args = parser.parse_args(argv)
    text = json.dumps(derive(args.data), indent=1) + "\n"
    if args.check:
        same = args.out.exists() and args.out.read_text("utf-8") == text
        print("calibration up to date" if same else f"{args.out} differs from the data")
        return 0 if same else 1
    args.out.write_text(text, "utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
