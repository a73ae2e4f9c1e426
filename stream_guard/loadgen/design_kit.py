"""Helpers shared by the newer designs: names, ages, variant groups, item sources.

(What the first kinds and campaigns share with them lives where the concept does: ages
in ``accounts``, addresses and endpoints in ``infra``, time units in ``timeutil``.)

>>> campaign_name("mimicry", "tutor")
'mimicry:tutor'
>>> list(variant_groups(("a", "b"), 7, 3))
[(0, 3, 'a'), (1, 3, 'b'), (2, 1, 'a')]
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import TypeVar

from stream_guard.loadgen.accounts import RunContext, lognormal
from stream_guard.loadgen.ids import derive_seed
from stream_guard.loadgen.prompts import TaskSource
from stream_guard.loadgen.sweep import SweepItems
from stream_guard.loadgen.timeutil import DAY_MS

__all__ = [
    "campaign_name",
    "campaign_sweep",
    "campaign_tasks",
    "established_age_ms",
    "pick_benchmark",
    "variant_groups",
]

V = TypeVar("V")


def campaign_name(kind: str, variant: str) -> str:
    """A design campaign's name in the labels: ``<kind>:<variant>``."""
    return f"{kind}:{variant}"


def established_age_ms(rng: random.Random, min_days: float = 90.0) -> int:
    """An established account's age: median ~400 days, at least ``min_days``, in ms."""
    return int(max(min(lognormal(rng, 400.0, 0.7), 2000.0), min_days) * DAY_MS)


def variant_groups(variants: Sequence[V], count: int, size: int) -> Iterator[tuple[int, int, V]]:
    """``count`` accounts in groups of ``size`` (the last one smaller), the groups taking
    ``variants`` in turn: ``(group, accounts, variant)``."""
    g = 0
    while count > 0:
        n = min(size, count)
        count -= n
        yield g, n, variants[g % len(variants)]
        g += 1


def campaign_tasks(ctx: RunContext, name: str) -> TaskSource:
    """Benchmark-style tasks private to ``name`` (a corpus, when given, is shared)."""
    base = ctx.prompts.tasks
    return base if base.size else base.with_salt(derive_seed(ctx.seed, "design-tasks", name) & 0xFFFFFF)


def campaign_sweep(ctx: RunContext, name: str) -> SweepItems:
    """Never-repeating benchmark-like items private to ``name`` (see ``sweep``)."""
    return SweepItems(campaign_tasks(ctx, name), derive_seed(ctx.seed, "design-sweep", name) & 0xFFFFFF)


def pick_benchmark(rng: random.Random) -> str:
    """A benchmark-style category: math word problem (50 %), code task (30 %) or science
    multiple choice (20 %), the mix of the built-in task source."""
    u = rng.random()
    return "math" if u < 0.5 else "code" if u < 0.8 else "science"
