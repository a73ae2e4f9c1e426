"""Named parameterisations ("variants") of the newer designs, and how a knob selects them.

Each newer campaign kind (``mimicry``, ``adaptive_hydra``, ``agentic_distiller``,
``hashed_reseller``) and benign kind (``event_cohort``, ``research_nat``, ``heavy_user``)
comes in several materially different variants, so that a detector can be tuned on some
variants and reported on the others (held out). The knob ``<design>_variant`` takes one
name, a comma-separated list, or ``all``; for a campaign kind each selected variant is a
campaign of its own, named ``<kind>:<variant>`` in the labels; for a benign kind the
groups (or accounts) take the selected variants in turn, and each account's label
carries its variant.

Data only (plus selection); the designs themselves live in their own modules.

>>> [v.name for v in select("mimicry", "all")]
['casual', 'tutor', 'grinder', 'evening']
>>> select("hashed_reseller", "thin, heavy")[1].share
0.1
>>> DEFAULT_VARIANTS["research_nat"]
'sweep'
>>> select("mimicry", "bogus")
Traceback (most recent call last):
...
ValueError: unknown mimicry variant 'bogus'; known: casual, tutor, grinder, evening (or all)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_VARIANTS",
    "VARIANTS",
    "AdaptiveHydraVariant",
    "AgenticVariant",
    "EventCohortVariant",
    "HashedResellerVariant",
    "HeavyUserVariant",
    "MimicryVariant",
    "ResearchNatVariant",
    "params_of",
    "select",
    "variant_help",
]


@dataclass(frozen=True, slots=True)
class MimicryVariant:
    """Human-paced multi-turn mimicry (see ``mimicry``)."""

    name: str
    summary: str
    rate: float  # requests per account per active day
    turns: tuple[int, ...]  # conversation lengths, one drawn uniformly per conversation
    cot_share: float  # share of first turns that ask for step-by-step reasoning
    templated_followups: bool  # a few fixed follow-up strings, or varied item-specific ones
    active_hours: tuple[float, float]  # length of the daily active window, hours (uniform)
    out_median: float  # output tokens of a first-turn answer (median)


@dataclass(frozen=True, slots=True)
class AdaptiveHydraVariant:
    """A hydra that hides in the benign population (see ``adaptive_hydra``)."""

    name: str
    summary: str
    rate: float  # requests per account per active day
    lifetime_days: tuple[float, float]  # an account retires after this long (uniform) ...
    lifetime_requests: int  # ... or after this many requests, whichever comes first (0: no cap)
    cot_share: float  # share of prompts with chain-of-thought wording
    categories: tuple[str, ...]  # capability categories the sweep covers
    ip_rotation_days: float  # mean days between changes of an account's address


@dataclass(frozen=True, slots=True)
class AgenticVariant:
    """Round-the-clock agentic tool-use distillation (see ``agentic_distiller``)."""

    name: str
    summary: str
    accounts: int
    lanes: int  # concurrent sessions per account
    turns: tuple[int, int]  # session length range (uniform, inclusive)
    out_median: float  # output tokens per turn (median)
    tool_gap_s: float  # median seconds a tool call takes before the next turn
    session_gap_s: float  # median seconds between two sessions of one lane


@dataclass(frozen=True, slots=True)
class HashedResellerVariant:
    """A reseller whose gateway logs hashes only (see ``hashed_reseller``)."""

    name: str
    summary: str
    rate: float  # requests per day, customers and extraction together
    share: float  # extraction share of the traffic once the campaign is active
    customers: int  # distinct customer system prompts


@dataclass(frozen=True, slots=True)
class EventCohortVariant:
    """Accounts created together for one event (see ``event_cohort``)."""

    name: str
    summary: str
    session_hours: float  # how long the synchronized event lasts
    sync_points: int  # moments everyone acts on (exercises, announcements)
    per_sync: tuple[int, int]  # requests per member at each of them (uniform, inclusive)
    free_rate_h: float  # other requests per member per hour during the event
    venue_share: float  # share of members behind the venue's one address
    cot_share: float  # share of exercise prompts with tutorial chain-of-thought wording (other prompts: half)
    code_share: float  # share of free prompts that are coding instructions
    follow_on_share: float  # share of members who keep using the API lightly afterwards
    signup_hours: float  # accounts are created over this many hours before (or from) the start
    quickstart_turns: int  # first requests of each member: the event's identical sample prompt


@dataclass(frozen=True, slots=True)
class ResearchNatVariant:
    """A research group running CoT benchmark evaluations behind one NAT (see ``research_nat``)."""

    name: str
    summary: str
    items: int  # size of the group's fixed benchmark item set
    models: int  # how many catalogue models the runs cycle through
    runs_per_day: float  # mean runs per member per day
    run_hours: tuple[float, float]  # duration of one run (uniform)
    cot_share: float  # share of runs whose prompt format asks for step-by-step reasoning
    samples: int  # samples per item within a run (self-consistency)
    temperatures: tuple[float, ...]  # a run's temperature is one of these (fixed within the run)
    nightly: bool  # runs start at a fixed local night hour (scheduled regression)


@dataclass(frozen=True, slots=True)
class HeavyUserVariant:
    """A very heavy individual user (see ``heavy_user``)."""

    name: str
    summary: str
    rate: float  # requests per active day (median; per-day spread around it)
    clients: int  # one or two client stacks
    code_share: float
    math_share: float
    cot_share: float
    tools_share: float  # share of requests offering tools (agentic IDE use)
    out_scale: float  # multiplier of the calibrated chat output length


MIMICRY: dict[str, MimicryVariant] = {
    v.name: v
    for v in (
        MimicryVariant(
            "casual", "45 req/day, 2 turns, 15% CoT, templated follow-ups, 8-11 h/day",
            45.0, (2,), 0.15, True, (8.0, 11.0), 750.0,
        ),
        MimicryVariant(
            "tutor", "90 req/day, 2-3 turns, 25% CoT, varied follow-ups, 9-13 h/day",
            90.0, (2, 3), 0.25, False, (9.0, 13.0), 950.0,
        ),
        MimicryVariant(
            "grinder", "150 req/day, 3 turns, 35% CoT, templated follow-ups, 11-14 h/day",
            150.0, (3,), 0.35, True, (11.0, 14.0), 1200.0,
        ),
        MimicryVariant(
            "evening", "60 req/day, 2-4 turns, 30% CoT, varied follow-ups, 4-7 h/day (after work)",
            60.0, (2, 3, 4), 0.30, False, (4.0, 7.0), 1000.0,
        ),
    )
}

_ALL_CATEGORIES = ("math", "code", "science", "writing", "reasoning", "knowledge", "language", "data")

ADAPTIVE_HYDRA: dict[str, AdaptiveHydraVariant] = {
    v.name: v
    for v in (
        AdaptiveHydraVariant(
            "steady", "30 req/day, accounts live 4-8 days, 5% CoT, all 8 categories, new IP every ~2 days",
            30.0, (4.0, 8.0), 0, 0.05, _ALL_CATEGORIES, 2.0,
        ),
        AdaptiveHydraVariant(
            "churn", "60 req/day, accounts retire after 1-2.5 days or 120 requests, 8% CoT, "
            "math/code/science/reasoning, new IP every ~18 h",
            60.0, (1.0, 2.5), 120, 0.08, ("math", "code", "science", "reasoning"), 0.75,
        ),
        AdaptiveHydraVariant(
            "trickle", "12 req/day, accounts live 10-20 days, 2% CoT, code/writing/data/language/knowledge, "
            "new IP every ~5 days",
            12.0, (10.0, 20.0), 0, 0.02, ("code", "writing", "data", "language", "knowledge"), 5.0,
        ),
        AdaptiveHydraVariant(
            "sprint", "40 req/day, accounts retire after 0.5-1.5 days or 50 requests, 6% CoT, "
            "math/code/science/reasoning/knowledge, new IP every ~12 h",
            40.0, (0.5, 1.5), 50, 0.06, ("math", "code", "science", "reasoning", "knowledge"), 0.5,
        ),
    )
}

AGENTIC: dict[str, AgenticVariant] = {
    v.name: v
    for v in (
        AgenticVariant(
            "short", "3 accounts x 2 concurrent sessions of 4-8 turns (~3k req/account/day)",
            3, 2, (4, 8), 1400.0, 4.0, 20.0,
        ),
        AgenticVariant(
            "long", "2 accounts x 3 concurrent sessions of 20-40 turns (~5.5k req/account/day)",
            2, 3, (20, 40), 1100.0, 6.0, 40.0,
        ),
        AgenticVariant(
            "swarm", "6 accounts x 1 session of 6-12 turns at a time (~1.4k req/account/day)",
            6, 1, (6, 12), 1800.0, 3.0, 10.0,
        ),
        AgenticVariant(
            "pair", "4 accounts x 2 concurrent sessions of 10-20 turns (~2.5k req/account/day)",
            4, 2, (10, 20), 1500.0, 5.0, 30.0,
        ),
    )
}

HASHED_RESELLER: dict[str, HashedResellerVariant] = {
    v.name: v
    for v in (
        HashedResellerVariant("thin", "2,500 req/day, 5% extraction, 25 customers", 2500.0, 0.05, 25),
        HashedResellerVariant("standard", "5,000 req/day, 8% extraction, 40 customers", 5000.0, 0.08, 40),
        HashedResellerVariant("heavy", "10,000 req/day, 10% extraction, 80 customers", 10000.0, 0.10, 80),
        HashedResellerVariant("medium", "4,000 req/day, 6% extraction, 60 customers", 4000.0, 0.06, 60),
    )
}

EVENT_COHORT: dict[str, EventCohortVariant] = {
    v.name: v
    for v in (
        EventCohortVariant(
            "workshop", "a 3 h workshop: 12 synchronized exercises, 70% behind the venue IP, 20% tutorial CoT",
            3.0, 12, (1, 4), 4.0, 0.7, 0.2, 0.25, 0.3, 1.0, 0,
        ),
        EventCohortVariant(
            "hackathon", "a 24 h hackathon: sign-ups over a day, 90% on the venue IP, code-heavy, 5% CoT",
            24.0, 6, (1, 2), 10.0, 0.9, 0.05, 0.6, 0.5, 24.0, 0,
        ),
        EventCohortVariant(
            "launch", "a product launch: sign-ups over 4 h from home, the same 3 quickstart prompts, then 6 h "
            "of use each, 5% CoT",
            6.0, 0, (0, 0), 6.0, 0.0, 0.1, 0.3, 0.4, 4.0, 3,
        ),
        EventCohortVariant(
            "course", "an 8 h course day: 8 synchronized exercises, 60% behind the venue IP, 30% tutorial CoT, "
            "sign-ups over 12 h",
            8.0, 8, (1, 3), 6.0, 0.6, 0.3, 0.4, 0.4, 12.0, 0,
        ),
    )
}

RESEARCH_NAT: dict[str, ResearchNatVariant] = {
    v.name: v
    for v in (
        ResearchNatVariant(
            "sweep", "300 fixed items, 3 models, ~1 run/member/day of 1-3 h, 85% CoT runs, temperature 0/0.6",
            300, 3, 1.0, (1.0, 3.0), 0.85, 1, (0.0, 0.0, 0.6), False,
        ),
        ResearchNatVariant(
            "nightly", "200 fixed items, nightly scheduled run per member (01-04 h local), 100% CoT, temperature 0",
            200, 3, 1.0, (1.0, 2.0), 1.0, 1, (0.0,), True,
        ),
        ResearchNatVariant(
            "sampling", "150 fixed items x 5 samples (self-consistency), 2 models, 70% CoT, temperature 0.7/1.0",
            150, 2, 0.7, (2.0, 4.0), 0.7, 5, (0.7, 1.0), False,
        ),
        ResearchNatVariant(
            "leaderboard", "500 fixed items, 4 models, ~2 runs/member/day of 0.5-1.5 h, 90% CoT runs, temperature 0",
            500, 4, 2.0, (0.5, 1.5), 0.9, 1, (0.0,), False,
        ),
    )
}

HEAVY_USER: dict[str, HeavyUserVariant] = {
    v.name: v
    for v in (
        HeavyUserVariant(
            "power_chat", "2,500 req/day, one browser/SDK client, 10% code, 5% math", 2500.0, 1, 0.10, 0.05,
            0.02, 0.0, 1.0,
        ),
        HeavyUserVariant(
            "developer", "4,000 req/day, two clients (SDK + IDE assistant), 45% code, 30% with tools",
            4000.0, 2, 0.45, 0.05, 0.02, 0.3, 1.2,
        ),
        HeavyUserVariant(
            "researcher", "1,500 req/day, one SDK client, 25% math/science, 8% CoT, long answers", 1500.0, 1,
            0.10, 0.25, 0.08, 0.0, 2.5,
        ),
        HeavyUserVariant(
            "writer", "2,000 req/day, one SDK client, 5% code, 2% math, 3% CoT, long answers", 2000.0, 1,
            0.05, 0.02, 0.03, 0.0, 2.0,
        ),
    )
}

VARIANTS: dict[str, Mapping[str, Any]] = {
    "mimicry": MIMICRY,
    "adaptive_hydra": ADAPTIVE_HYDRA,
    "agentic_distiller": AGENTIC,
    "hashed_reseller": HASHED_RESELLER,
    "event_cohort": EVENT_COHORT,
    "research_nat": RESEARCH_NAT,
    "heavy_user": HEAVY_USER,
}

DEFAULT_VARIANTS: dict[str, str] = {
    "mimicry": "tutor",
    "adaptive_hydra": "steady",
    "agentic_distiller": "short",
    "hashed_reseller": "standard",
    "event_cohort": "workshop",
    "research_nat": "sweep",
    "heavy_user": "power_chat",
}


def select(design: str, text: str) -> tuple[Any, ...]:
    """The variants of ``design`` named by ``text`` (comma-separated, or ``all``), in order."""
    table = VARIANTS[design]
    names = [t.strip() for t in text.split(",") if t.strip()] or [DEFAULT_VARIANTS[design]]
    if names == ["all"]:
        return tuple(table.values())
    out = []
    for n in names:
        if n not in table:
            raise ValueError(f"unknown {design} variant {n!r}; known: {', '.join(table)} (or all)")
        if table[n] not in out:
            out.append(table[n])
    return tuple(out)


def variant_help(design: str) -> str:
    """Help text listing the variants of ``design`` (the flag's help adds the default)."""
    table = VARIANTS[design]
    parts = "; ".join(f"{name} = {v.summary}" for name, v in table.items())
    return f"{design} variant(s): one name, a comma-separated list or 'all' ({parts})"


def params_of(variant: Any) -> dict[str, Any]:
    """A variant's parameters as a JSON-able dict (for the labels file)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(variant).items()}
