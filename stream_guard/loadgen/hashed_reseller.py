"""``hashed_reseller``: a reseller whose gateway logs hashes only.

Like ``reseller`` (real customers' diverse traffic under many customer system prompts,
with a small extraction share from one customer once the campaign is active), but every
event of the account carries ``prompt_hash`` and never ``prompt``: the detector sees
no text at all, only metadata (hashes, token counts, sampling settings, timing, system
prompt hash per customer). The extracting customer sends chain-of-thought-wrapped
benchmark tasks (each one new) at temperature 0 with long answers.

Variants (``hashed_reseller_variant``; see ``variants.HASHED_RESELLER``) differ in the
extraction share, the rate and the number of customers.
"""

from __future__ import annotations

import random

from stream_guard.loadgen import infra
from stream_guard.loadgen import prompt_parts as P
from stream_guard.loadgen.accounts import Event, Identity, RunContext, age_ms, make_identity
from stream_guard.loadgen.campaigns import Campaign, Reseller
from stream_guard.loadgen.design_kit import campaign_name, campaign_sweep, pick_benchmark
from stream_guard.loadgen.ids import prompt_hash, rng_for, short_hex
from stream_guard.loadgen.scenarios import Scenario
from stream_guard.loadgen.sweep import SweepItems
from stream_guard.loadgen.variants import HashedResellerVariant, params_of

__all__ = ["HashedReseller", "build_hashed_reseller"]


class HashedReseller(Reseller):
    """The reseller account (see the module docstring)."""

    kind = "hashed_reseller"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        variant: HashedResellerVariant,
        start_ms: int,
        daily: float,
        share: float,
        items: SweepItems,
    ) -> None:
        super().__init__(
            ctx,
            identity,
            rng,
            rpm=8000,
            start_ms=start_ms,
            daily=daily,
            share=share,
            customer_tag="hashed reseller customer",
            customers=max(variant.customers, 1),
        )
        self.private = True  # the gateway logs prompt_hash, never prompt
        self.variant = variant.name
        self.items = items
        self.extractor_sys = prompt_hash(f"extraction customer {short_hex(identity.account_id, 'x')}")
        self.templates = (P.COT_TEMPLATES[1], P.COT_TEMPLATES[3], P.COT_TEMPLATES[5])
        self.extraction_settings(temperature=0.0, out_median=950.0)

    def extraction_request(self, ts: int, i: int) -> Event:
        """A chain-of-thought-wrapped benchmark item, each one new."""
        rng = self.rng
        pre, post = self.templates[int(rng.random() * len(self.templates))]
        prompt = f"{pre}{self.items.item(pick_benchmark(rng), i)}{post}"
        return self.extraction_of(ts, "atlas-large", prompt, self.extractor_sys)


def build_hashed_reseller(
    ctx: RunContext, sc: Scenario, variant: HashedResellerVariant, start_ms: int
) -> Campaign:
    """The hashed reseller of one variant."""
    name = campaign_name("hashed_reseller", variant.name)
    rng = rng_for(ctx.seed, name, 0)
    daily = sc.hashed_reseller_rate if sc.hashed_reseller_rate > 0 else variant.rate
    share = sc.hashed_reseller_share if sc.hashed_reseller_share > 0 else variant.share
    ident = make_identity(
        ctx.seed,
        name,
        0,
        created_ms=start_ms - age_ms(rng, 200.0, 700.0),
        country=infra.pick_country(rng),
        addrs=[infra.hosting_ip(rng) for _ in range(3)],
        client=infra.SDK_CLIENTS[8],  # litellm: a popular gateway
    )
    acct = HashedReseller(
        ctx,
        ident,
        rng,
        variant=variant,
        start_ms=start_ms,
        daily=daily,
        share=min(max(share, 0.0), 1.0),
        items=campaign_sweep(ctx, name),
    )
    params = {"variant": variant.name, "rate_per_day": daily, "extraction_share": share, **params_of(variant)}
    return Campaign(name, "hashed_reseller", start_ms, [acct], params)
