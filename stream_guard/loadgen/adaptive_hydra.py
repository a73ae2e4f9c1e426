"""``adaptive_hydra``: a hydra that has learned what gets hydras caught.

Thousands of accounts, each looking like one more ordinary user: its own residential
address (a residential proxy exit in its own country, changing now and then), its own
payment instrument, a popular client (the same SDKs and browsers benign users have), no
shared system prompt (a quarter have a personal one, as chat users do), little
chain-of-thought wording, and the calibrated benign diurnal timing in its own time zone
(not synchronized with the others). Accounts retire after some days or requests and
young replacements take over, so the campaign keeps its size while no account grows old.

The prompts are a capability sweep: benchmark-like items across capability categories
(see ``sweep``), each item used once across the whole campaign, with long answers.

Variants (``adaptive_hydra_variant``; see ``variants.ADAPTIVE_HYDRA``) differ in rate per
account, replacement cadence, chain-of-thought share, category coverage and address
rotation.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from stream_guard.loadgen import design_parts as D
from stream_guard.loadgen import infra
from stream_guard.loadgen.accounts import Account, Event, Identity, RunContext, age_ms, lognormal, make_identity
from stream_guard.loadgen.campaigns import Campaign
from stream_guard.loadgen.design_kit import campaign_name, campaign_sweep
from stream_guard.loadgen.ids import rng_for, short_hex
from stream_guard.loadgen.scenarios import Scenario
from stream_guard.loadgen.sweep import SweepItems, dispatch_index
from stream_guard.loadgen.timeutil import DAY_MS, HOUR_MS
from stream_guard.loadgen.variants import AdaptiveHydraVariant, params_of

__all__ = ["AdaptiveMember", "Tenure", "build_adaptive_hydra", "plan_tenures"]


@dataclass(frozen=True, slots=True)
class Tenure:
    """One account's turn in one of the campaign's working slots."""

    slot: int
    generation: int
    born_ms: int  # first possible request
    retire_ms: int  # no request from here on
    created_ms: int  # account creation (before ``born_ms``: a young account)


def plan_tenures(
    rng: random.Random, slots: int, start_ms: int, end_ms: int, variant: AdaptiveHydraVariant, rate: float
) -> list[Tenure]:
    """Every account the campaign will use, slot by slot, in order of creation.

    >>> v = AdaptiveHydraVariant("t", "", 60.0, (1.0, 1.0), 0, 0.0, ("math",), 1.0)
    >>> ts = plan_tenures(random.Random(1), 2, 0, 3 * DAY_MS, v, 60.0)
    >>> sorted({t.slot for t in ts}), all(t.created_ms < t.born_ms < t.retire_ms for t in ts)
    ([0, 1], True)
    >>> len(ts) > 4
    True
    """
    lo, hi = variant.lifetime_days
    out: list[Tenure] = []
    for slot in range(slots):
        gen = 0
        born = start_ms
        while born < end_ms:
            life = (lo + rng.random() * (hi - lo)) * DAY_MS
            if variant.lifetime_requests > 0:
                life = min(life, variant.lifetime_requests / max(rate, 1e-9) * (0.8 + 0.4 * rng.random()) * DAY_MS)
            if gen == 0:  # the first accounts are already part-way through their lives
                life *= 0.3 + 0.7 * rng.random()
                created = born - age_ms(rng, 0.5, 5.0)
            else:
                created = born - age_ms(rng, 0.2, 3.0)
            retire = born + max(int(life), HOUR_MS)
            out.append(Tenure(slot, gen, born, retire, created))
            born = retire + int(rng.random() * 6 * HOUR_MS)
            gen += 1
    return out


class AdaptiveMember(Account):
    """One adaptive-hydra account during its tenure (see the module docstring)."""

    kind = "adaptive_hydra"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        variant: AdaptiveHydraVariant,
        tenure: Tenure,
        rate: float,
        sweep: SweepItems,
        index: int,
        accounts: int,
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=50)
        self.variant = variant.name
        self.v = variant
        self.tenure = tenure
        self.active_from_ms = tenure.born_ms
        self.rate = rate * lognormal(rng, 1.0, 0.3)
        self.sweep = sweep
        self.index = index
        self.accounts = accounts
        self.max_tokens = rng.choice((2048, 4096, 4096, 8192))
        self.temperature = rng.choice((1.0, 1.0, 0.7, 0.5))
        self.top_p = rng.choice((None, None, None, 0.9, 0.95))
        self.stream = rng.random() < 0.7
        self.prefer_models((0.8, 0.15, 0.05))
        if rng.random() < 0.25:
            self.set_system_prompt(f"custom system prompt {short_hex(self.account_id, 'sys')}")

    def _rotate(self) -> None:
        self._addrs = (infra.residential_addr(self.rng, self.identity.country),)

    def events(self) -> Iterator[tuple[int, Event]]:
        rng, v, tenure = self.rng, self.v, self.tenure
        proc = self.arrivals(
            self.rate,
            active_day_prob=0.9,
            min_gap_s=15.0,
            day_sigma=0.35,
            start_ms=tenure.born_ms,
            end_ms=min(tenure.retire_ms, self.ctx.end_ms),
        )
        mean_rot = v.ip_rotation_days * DAY_MS
        next_rot = tenure.born_ms + int(rng.expovariate(1.0) * mean_rot)
        cats = v.categories
        cap = v.lifetime_requests
        n = 0
        while (ts := proc.next()) is not None:
            if cap and n >= cap:
                return
            if ts >= next_rot:
                self._rotate()
                next_rot = ts + int(rng.expovariate(1.0) * mean_rot) + HOUR_MS
            item = self.sweep.item(cats[int(rng.random() * len(cats))], dispatch_index(self.index, self.accounts, n))
            prompt = rng.choice(D.SWEEP_PLAIN).format(item=item)
            if rng.random() < v.cot_share:
                prompt += rng.choice(D.SWEEP_COT_SUFFIXES)
            out = int(lognormal(rng, 900.0, 0.5))
            yield (
                ts,
                self.event(
                    ts,
                    self.model_at(ts),
                    prompt,
                    int(len(prompt) * 0.25) + 40,
                    out,
                    self.max_tokens,
                    self.temperature,
                    self.stream,
                    0,
                    "end_turn",
                    self.conversation_id(),
                    0,
                    None,
                    self.top_p,
                ),
            )
            n += 1


def build_adaptive_hydra(
    ctx: RunContext, sc: Scenario, variant: AdaptiveHydraVariant, start_ms: int
) -> Campaign:
    """The adaptive hydra of one variant: ``adaptive_hydra_accounts`` working slots."""
    name = campaign_name("adaptive_hydra", variant.name)
    slots = max(sc.adaptive_hydra_accounts, 1)
    rate = sc.adaptive_hydra_rate if sc.adaptive_hydra_rate > 0 else variant.rate
    plan_rng = rng_for(ctx.seed, name, "plan")
    tenures = plan_tenures(plan_rng, slots, start_ms, ctx.end_ms, variant, rate)
    sweep = campaign_sweep(ctx, name)
    members: list[Account] = []
    for k, tenure in enumerate(tenures):
        rng = rng_for(ctx.seed, name, k)
        country = infra.pick_country(rng)
        client = infra.pick_client(rng)
        ident = make_identity(
            ctx.seed,
            name,
            k,
            created_ms=tenure.created_ms,
            country=country,
            addrs=[infra.residential_addr(rng, country)],
            client=client,
            endpoint=infra.endpoint_for(rng, client),
        )
        members.append(
            AdaptiveMember(
                ctx,
                ident,
                rng,
                variant=variant,
                tenure=tenure,
                rate=rate,
                sweep=sweep,
                index=k,
                accounts=len(tenures),
            )
        )
    params = {
        "variant": variant.name,
        "working_accounts": slots,
        "accounts_total": len(members),
        "replacements": len(members) - slots,
        "rate_per_account_day": rate,
        **params_of(variant),
    }
    return Campaign(name, "adaptive_hydra", start_ms, members, params)
