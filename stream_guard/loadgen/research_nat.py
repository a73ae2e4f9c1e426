"""``research_nat`` (benign): a research group evaluating models behind one NAT address.

10-40 established accounts of one lab share a university network address and run
chain-of-thought benchmark evaluations: a FINITE item set (a few hundred fixed items,
the same for the whole group) replayed again and again, across runs, models and days.
Within a run every request has the same sampling settings (temperature, top_p,
max_tokens) and the same prompt format, most formats ask for step-by-step reasoning,
answers are long; runs are bursts of an hour or a few hours, and one account's runs
queue up (the next starts when the last is done). Part of the group bills the
lab's organisation and card.

Unlike ``eval_run`` (one account, one burst, never again), the same items come back
every day from many accounts on one address, on several models.

Variants (``research_nat_variant``; see ``variants.RESEARCH_NAT``): ``sweep`` (ad-hoc
runs in working hours over 300 items and three models), ``nightly`` (a scheduled run at
a fixed local night time over 200 items, settings fixed for good), ``sampling``
(self-consistency: each item sampled several times in a row at temperature > 0).
Groups take the selected variants in turn.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from stream_guard.loadgen import design_parts as D
from stream_guard.loadgen import infra
from stream_guard.loadgen.accounts import Account, Event, Identity, RunContext, lognormal, make_identity
from stream_guard.loadgen.design_kit import established_age_ms, variant_groups
from stream_guard.loadgen.ids import derive_seed, rng_for, short_hex
from stream_guard.loadgen.prompts import TaskSource
from stream_guard.loadgen.scenarios import Scenario
from stream_guard.loadgen.timeutil import DAY_MS, HOUR_MS
from stream_guard.loadgen.variants import ResearchNatVariant

__all__ = ["ResearchGroup", "ResearchMember", "RunConfig", "build_research_groups"]

#: Research and education networks (ASN) and first octets of their addresses.
_RESEARCH_NETS = ((680, (129, 141)), (786, (128, 131)), (2200, (134, 193)), (11537, (128, 130)), (1103, (145, 192)))
_HARNESS_CLIENTS = (infra.SDK_CLIENTS[0], infra.SDK_CLIENTS[3], infra.SDK_CLIENTS[5], infra.SDK_CLIENTS[8])


@dataclass(frozen=True, slots=True)
class ResearchGroup:
    """What a group shares: its item set, models, address and time zone."""

    index: int
    variant: ResearchNatVariant
    items: int
    tasks: TaskSource
    models: tuple[str, ...]
    country: infra.Country


@dataclass(frozen=True, slots=True)
class RunConfig:
    """One evaluation run: fixed settings for every request in it."""

    start_ms: int
    hours: float
    model: str
    temperature: float
    top_p: float
    max_tokens: int
    fmt: str
    cot: bool
    first_item: int
    items: int
    samples: int


class ResearchMember(Account):
    """One researcher's account (see the module docstring)."""

    kind = "research_nat"

    def __init__(
        self, ctx: RunContext, identity: Identity, rng: random.Random, *, group: ResearchGroup, member: int
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=600)
        self.variant = group.variant.name
        self.group = group
        self.member = member
        self.runs = 0
        v = group.variant
        # a scheduled job keeps its settings for good; ad-hoc runs draw theirs per run
        self.nightly_minute = 60 + member * 13 % 180
        self.nightly_fmt = rng.choice(D.RESEARCH_COT_FORMATS)
        self.nightly_max = rng.choice((2048, 4096))
        self.daily = v.runs_per_day * lognormal(rng, 1.0, 0.3)

    def _config(self, rng: random.Random, start_ms: int, *, nightly: bool) -> RunConfig:
        g, v = self.group, self.group.variant
        model = g.models[(self.member + self.runs) % len(g.models)]
        self.runs += 1
        lo, hi = v.run_hours
        hours = lo + rng.random() * (hi - lo)
        if nightly:
            return RunConfig(start_ms, hours, model, 0.0, 1.0, self.nightly_max, self.nightly_fmt, True, 0, g.items, 1)
        temperature = rng.choice(v.temperatures)
        cot = rng.random() < v.cot_share
        fmt = rng.choice(D.RESEARCH_COT_FORMATS if cot else D.RESEARCH_DIRECT_FORMATS)
        first, n = 0, g.items
        if rng.random() < 0.3:  # a quick check on a slice of the set
            n = max(g.items // 3, 1)
            first = int(rng.random() * (g.items - n + 1))
        return RunConfig(
            start_ms,
            hours,
            model,
            temperature,
            1.0 if temperature == 0.0 else rng.choice((0.95, 1.0)),
            rng.choice((2048, 4096)),
            fmt,
            cot,
            first,
            n,
            v.samples,
        )

    def _runs_on(self, rng: random.Random, midnight_ms: int, weekday: int) -> list[RunConfig]:
        v = self.group.variant
        runs: list[RunConfig] = []
        if v.nightly:
            runs.append(self._config(rng, midnight_ms + self.nightly_minute * 60_000, nightly=True))
        mean = (0.3 if v.nightly else self.daily) * (0.4 if weekday >= 5 else 1.0)
        for _ in range(_poisson(rng, mean)):
            start = midnight_ms + int((9.0 + rng.random() * 10.0) * HOUR_MS)
            runs.append(self._config(rng, start, nightly=False))
        return runs

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng, g = self.ctx, self.rng, self.group
        offset_ms = int(g.country.utc_offset_h * HOUR_MS)
        day = math.floor((ctx.start_ms + offset_ms) / DAY_MS)
        last = ctx.start_ms
        busy_until = 0  # one account's runs queue up: the next starts when the last is done
        while True:
            midnight = day * DAY_MS - offset_ms
            if midnight >= ctx.end_ms:
                return
            runs = sorted(self._runs_on(rng, midnight, (day + 3) % 7), key=lambda r: r.start_ms)
            for run in runs:
                run = dataclasses.replace(run, start_ms=max(run.start_ms, busy_until))
                span = int(run.hours * HOUR_MS)
                busy_until = run.start_ms + span + 60_000
                n = run.items * run.samples
                # the harness's requests: n instants spread over the run (sorted uniform)
                instants = sorted(run.start_ms + int(rng.random() * span) for _ in range(n))
                for k, ts in enumerate(instants):
                    ts = max(ts, last + 1)
                    if ts >= ctx.end_ms:
                        return
                    if ts < ctx.start_ms:
                        continue
                    last = ts
                    yield ts, self._request(rng, ts, run, run.first_item + k // run.samples)
            day += 1

    def _request(self, rng: random.Random, ts: int, run: RunConfig, item: int) -> Event:
        prompt = run.fmt.format(item=self.group.tasks.task(item))
        out = int(lognormal(rng, 700.0 if run.cot else 40.0, 0.5))
        return self.event(
            ts, run.model, prompt, int(len(prompt) * 0.25) + 20, out, run.max_tokens, run.temperature,
            False, 0, "end_turn", None, 0, None, run.top_p,
        )


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth; small means)."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def build_research_groups(ctx: RunContext, sc: Scenario, count: int) -> list[Account]:
    """``count`` accounts in research groups of ``research_nat_size``, variants in turn."""
    out: list[Account] = []
    for g, n, variant in variant_groups(sc.variants("research_nat"), count, max(sc.research_nat_size, 1)):
        rng = rng_for(ctx.seed, "research_nat", "group", g)
        country = infra.country_by_code(rng.choice(("US", "DE", "GB", "FR", "NL", "CA", "JP", "KR")))
        base = ctx.prompts.tasks
        items = sc.research_nat_items if sc.research_nat_items > 0 else variant.items
        if base.size:
            items = min(items, base.size)
        group = ResearchGroup(
            g,
            variant,
            items,
            base if base.size else base.with_salt(derive_seed(ctx.seed, "research_nat", g) & 0xFFFFFF),
            ctx.models.models[: max(min(variant.models, len(ctx.models.models)), 1)],
            country,
        )
        asn, octets = rng.choice(_RESEARCH_NETS)
        nat = (infra.ipv4(rng, octets), asn)
        org = f"org_{short_hex(ctx.seed, 'research_nat', g)}"
        card = f"pm_{short_hex(ctx.seed, 'research_nat', 'card', g)}"
        for j in range(n):
            arng = rng_for(ctx.seed, "research_nat", g, j)
            lab_billed = arng.random() < 0.4
            ident = make_identity(
                ctx.seed,
                f"research_nat-{g}",
                j,
                created_ms=ctx.start_ms - established_age_ms(arng, 120.0),
                country=country,
                addrs=[nat],
                client=arng.choice(_HARNESS_CLIENTS),
                payment_fp=card if lab_billed else None,
                org_id=org if lab_billed else None,
            )
            out.append(ResearchMember(ctx, ident, arng, group=group, member=j))
    return out
