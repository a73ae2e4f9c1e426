"""Helpers shared by the newer designs: ages, addresses, endpoints, names, item sources.

>>> campaign_name("mimicry", "tutor")
'mimicry:tutor'
>>> import random
>>> 2 * 86_400_000 <= age_ms(random.Random(1), 2, 3) <= 3 * 86_400_000
True
"""

from __future__ import annotations

import random

from stream_guard.loadgen import infra
from stream_guard.loadgen.accounts import RunContext, lognormal
from stream_guard.loadgen.ids import derive_seed
from stream_guard.loadgen.prompts import TaskSource
from stream_guard.loadgen.sweep import SweepItems

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "age_ms",
    "campaign_name",
    "campaign_sweep",
    "campaign_tasks",
    "endpoint_for",
    "established_age_ms",
    "pick_benchmark",
    "residential_addr",
]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def campaign_name(kind: str, variant: str) -> str:
    """A design campaign's name in the labels: ``<kind>:<variant>``."""
    return f"{kind}:{variant}"


def age_ms(rng: random.Random, lo_days: float, hi_days: float) -> int:
    """An account age drawn uniformly between ``lo_days`` and ``hi_days``, in ms."""
    return int((lo_days + rng.random() * (hi_days - lo_days)) * DAY_MS)


def established_age_ms(rng: random.Random, min_days: float = 90.0) -> int:
    """An established account's age: median ~400 days, at least ``min_days``, in ms."""
    return int(max(min(lognormal(rng, 400.0, 0.7), 2000.0), min_days) * DAY_MS)


def residential_addr(rng: random.Random, country: infra.Country) -> tuple[str, int]:
    """A consumer address in ``country`` and its ASN."""
    ip = infra.residential_ip(rng, country)
    return ip, infra.asn_of(ip)


def endpoint_for(rng: random.Random, client: infra.Client) -> str:
    """The endpoint a client of this kind calls (as benign accounts choose it)."""
    return "/v1/chat/completions" if "openai" in client.user_agent and rng.random() < 0.9 else "/v1/messages"


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
