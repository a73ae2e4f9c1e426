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
from collections.abc import Iterator

from stream_guard.loadgen import infra
from stream_guard.loadgen import prompt_parts as P
from stream_guard.loadgen.accounts import Account, Event, Identity, RunContext, lognormal, make_identity
from stream_guard.loadgen.arrivals import DiurnalRenewal
from stream_guard.loadgen.campaigns import Campaign
from stream_guard.loadgen.design_kit import age_ms, campaign_name, campaign_sweep, pick_benchmark
from stream_guard.loadgen.ids import prompt_hash, rng_for, short_hex
from stream_guard.loadgen.scenarios import Scenario
from stream_guard.loadgen.sweep import SweepItems
from stream_guard.loadgen.variants import HashedResellerVariant, params_of

__all__ = ["HashedReseller", "build_hashed_reseller"]


class HashedReseller(Account):
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
        super().__init__(ctx, identity, rng, rpm=8000)
        self.private = True  # the gateway logs prompt_hash, never prompt
        self.variant = variant.name
        self.active_from_ms = start_ms
        self.daily = daily
        self.share = share
        self.items = items
        n = max(variant.customers, 1)
        self.customers = [
            prompt_hash(f"hashed reseller customer {short_hex(identity.account_id, c)}") for c in range(n)
        ]
        self.weights = [1.0 / (c + 1) for c in range(n)]
        self.extractor_sys = prompt_hash(f"extraction customer {short_hex(identity.account_id, 'x')}")
        self.templates = (P.COT_TEMPLATES[1], P.COT_TEMPLATES[3], P.COT_TEMPLATES[5])

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng, cal = self.ctx, self.rng, self.ctx.calibration
        proc = DiurnalRenewal(
            rng,
            ctx.start_ms,
            ctx.end_ms,
            daily=self.daily,
            profile=cal.hourly_profile,
            utc_offset_h=self.identity.country.utc_offset_h,
            day_sigma=0.2,
            gamma_shape=cal.gamma_shape.median,
            min_gap_s=0.01,
        )
        chat = ctx.prompts.chat
        i = 0
        while (ts := proc.next()) is not None:
            if ts >= self.active_from_ms and rng.random() < self.share:
                pre, post = self.templates[int(rng.random() * len(self.templates))]
                prompt = f"{pre}{self.items.item(pick_benchmark(rng), i)}{post}"
                i += 1
                out = int(lognormal(rng, 950.0, 0.45))
                yield (
                    ts,
                    self.event(
                        ts, "atlas-large", prompt, int(len(prompt) * 0.25) + 45, out, 8192, 0.0, False,
                        0, "end_turn", None, 0, self.extractor_sys,
                    ),
                )
                continue
            prompt = chat.draw(rng)
            sys_hash = rng.choices(self.customers, self.weights)[0]
            inp = int(cal.conv_input.sample(rng.random) + len(prompt) * 0.25)
            out = int(cal.conv_output.sample(rng.random))
            yield (
                ts,
                self.event(
                    ts, self.model_at(ts), prompt, inp, out, 2048, 0.7, True, 0, "end_turn",
                    self.conversation_id() if rng.random() < 0.5 else None, 0, sys_hash,
                ),
            )


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
