#!/usr/bin/env python3
"""The text signals of one prompt: the compiled kernel against the pure-Python reference.

``stream_guard.core.signals.analyze_prompt`` and ``prompt_fingerprint`` run the compiled
kernel (``stream_guard._native``, built from ``native/`` by ``pip install`` when cargo is
there) on the prompts it reads (ASCII without ``\\x1c``-``\\x1f``) and the Python reference
on the others. This benchmark times both paths on the same prompts, interleaved per round,
and checks that they agree on every prompt:

* ``analyze``: ``analyze_prompt(p)``; ``analyze+sketch``: with the near-duplicate signature;
  ``fingerprint``: ``prompt_fingerprint({"prompt": p})``;
* prompts: the load generator's (``--scenario``, first ``--prompts-n`` text prompts) and, with
  ``--corpus DIR``, every prompt of the ``*.jsonl[.gz]`` files under it (e.g. the public
  sets in ``../shared/data/prompts``: Arena-Hard chat, GSM8K, HumanEval, MBPP), each set a
  row of its own.

Prints a table (median us per prompt over the rounds, and the Python / kernel ratio) and
writes JSON (``--out``). A benchmark, not a test: nothing is enforced, but a prompt on which
the two paths disagree is reported (and makes the exit status 1).

    python bench/text_kernel.py
    python bench/text_kernel.py --corpus ../shared/data/prompts --rounds 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream_guard.core import signals
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.prompts import load_corpora
from stream_guard.loadgen.scenarios import scenario

RESULTS = Path(__file__).resolve().parent / "results"


def _per_prompt_us(fn: Callable[[str], object], prompts: list[str]) -> float:
    start = time.perf_counter()
    for p in prompts:
        fn(p)
    return (time.perf_counter() - start) / len(prompts) * 1e6


def _disagreements(prompts: list[str]) -> int:
    """Prompts on which the kernel path and the Python reference give different signals."""
    bad = 0
    for p in prompts:
        signals.native(True)
        got = (signals.analyze_prompt(p, sketch=True), signals.prompt_fingerprint({"prompt": p}))
        signals.native(False)
        want = (signals.analyze_prompt(p, sketch=True), signals.prompt_fingerprint({"prompt": p}))
        bad += got != want
    signals.native(True)
    return bad


def measure(name: str, prompts: list[str], rounds: int) -> dict[str, Any]:
    """Median us per prompt of each operation on both paths, over ``rounds`` interleaved rounds."""
    ops: dict[str, Callable[[str], object]] = {
        "analyze": signals.analyze_prompt,
        "analyze+sketch": lambda p: signals.analyze_prompt(p, sketch=True),
        "fingerprint": lambda p: signals.prompt_fingerprint({"prompt": p}),
    }
    times: dict[str, dict[str, list[float]]] = {op: {"python": [], "kernel": []} for op in ops}
    for _ in range(rounds):
        for path in ("python", "kernel"):
            signals.native(path == "kernel")
            for op, fn in ops.items():
                times[op][path].append(_per_prompt_us(fn, prompts))
    signals.native(True)
    kernel = signals._kernel
    read = sum(1 for p in prompts if kernel is not None and kernel.analyze(p) is not None)
    row: dict[str, Any] = {
        "prompts": len(prompts),
        "mean_chars": round(sum(map(len, prompts)) / len(prompts), 1),
        "read_by_kernel": round(read / len(prompts), 4),
        "disagreements": _disagreements(prompts),
        "rounds": rounds,
    }
    for op, by_path in times.items():
        py, k = statistics.median(by_path["python"]), statistics.median(by_path["kernel"])
        row[op] = {"python_us": round(py, 2), "kernel_us": round(k, 2), "ratio": round(py / k, 2),
                   "python_rounds": [round(x, 2) for x in by_path["python"]],
                   "kernel_rounds": [round(x, 2) for x in by_path["kernel"]]}
    print(f"[text_kernel] {name}: {len(prompts):,} prompts measured", file=sys.stderr)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="standard", help="load generator scenario of the prompts (default standard)")
    p.add_argument("--prompts-n", type=int, default=30000, help="text prompts taken from the scenario (default 30,000)")
    p.add_argument("--corpus", type=Path, help="folder of *.jsonl[.gz] prompt sets (e.g. ../shared/data/prompts)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per path (default 3; medians reported)")
    p.add_argument("--out", type=Path, default=RESULTS / "text_kernel.json", help="JSON results (default %(default)s)")
    args = p.parse_args(argv)
    if not signals.native():
        print("text_kernel: the compiled kernel is not built (no cargo at install?): nothing to compare",
              file=sys.stderr)
        return 1
    sets: dict[str, list[str]] = {}
    events = Generator(scenario(args.scenario)).events()
    sets[f"loadgen {args.scenario}"] = list(itertools.islice(
        (e["prompt"] for e in events if isinstance(e.get("prompt"), str)), args.prompts_n))
    if args.corpus is not None:
        c = load_corpora(args.corpus)
        for name, prompts in (("corpus chat", c.chat), ("corpus math", c.math), ("corpus code", c.code)):
            if prompts:
                sets[name] = list(prompts)
    results = {name: measure(name, prompts, args.rounds) for name, prompts in sets.items() if prompts}
    print(f"{'prompts':<22}{'n':>8}{'chars':>8}{'kernel reads':>14}  "
          f"{'analyze py/kernel us':>22}{'ratio':>7}  {'+sketch py/kernel us':>22}{'ratio':>7}  "
          f"{'fingerprint':>18}{'ratio':>7}  disagree")
    for name, r in results.items():
        a, s, f = r["analyze"], r["analyze+sketch"], r["fingerprint"]
        print(f"{name:<22}{r['prompts']:>8,}{r['mean_chars']:>8.0f}{r['read_by_kernel']:>14.1%}  "
              f"{a['python_us']:>11.2f} / {a['kernel_us']:<8.2f}{a['ratio']:>7.1f}  "
              f"{s['python_us']:>11.2f} / {s['kernel_us']:<8.2f}{s['ratio']:>7.1f}  "
              f"{f['python_us']:>8.2f} / {f['kernel_us']:<7.2f}{f['ratio']:>7.1f}  {r['disagreements']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"results": results}, indent=2) + "\n")
    print(f"[text_kernel] JSON -> {args.out}", file=sys.stderr)
    return 1 if any(r["disagreements"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
