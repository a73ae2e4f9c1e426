"""``mimicry``: human-paced multi-turn extraction that looks like a student or tutor.

A few young accounts (days old), each at the keyboard in a daily window of 8-14 hours
of its local time with a night rest, irregular gaps of minutes between conversations.
Every conversation is two or three turns around a *new* benchmark-style problem (math
word problem, code task with tests, science multiple choice, from ``sweep``: never
repeated): the first turn pastes the problem (asking for step-by-step reasoning only in
a minority of them), the follow-ups ask about a step or for a variant ("can you explain
the second step in more detail", "now solve the variant with ..."), answers are long. Residential addresses, popular
clients, own payment instruments: nothing shared between the accounts.

Variants (``mimicry_variant``; see ``variants.MIMICRY``) differ in rate, turns per
conversation, share of first turns with reasoning wording, the length of the daily
window and whether follow-ups are a few fixed strings or varied and item-specific.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from stream_guard.loadgen import design_parts as D
from stream_guard.loadgen import infra
from stream_guard.loadgen import prompt_parts as P
from stream_guard.loadgen.accounts import Account, Event, Identity, RunContext, age_ms, lognormal, make_identity
from stream_guard.loadgen.campaigns import Campaign
from stream_guard.loadgen.design_kit import campaign_name, campaign_sweep, pick_benchmark
from stream_guard.loadgen.ids import rng_for
from stream_guard.loadgen.pacing import HumanDays, gamma_gap_ms
from stream_guard.loadgen.scenarios import Scenario
from stream_guard.loadgen.sweep import SweepItems, dispatch_index
from stream_guard.loadgen.variants import MimicryVariant, params_of

__all__ = ["MimicryAccount", "build_mimicry", "first_turn", "follow_up"]


def first_turn(rng: random.Random, task: str, cot_share: float) -> str:
    """The first turn around ``task``: pasted as a person would, asking for the
    reasoning with probability ``cot_share``."""
    text = rng.choice(D.MIMICRY_FIRST).format(task=task)
    if rng.random() < cot_share:
        text = f"{text}\n\n{rng.choice(D.MIMICRY_COT_ASKS)}"
    return text


def follow_up(rng: random.Random, shape: str, templated: bool) -> str:
    """A follow-up turn on a task of ``shape`` (``math``, ``code``, ``mc``).

    >>> r = random.Random(4)
    >>> follow_up(r, "math", True) in D.MIMICRY_TEMPLATED
    True
    >>> len({follow_up(r, "code", False) for _ in range(200)}) > 40
    True
    """
    if templated:
        return rng.choice(D.MIMICRY_TEMPLATED)
    pool = D.MIMICRY_FOLLOWUPS["any"] + D.MIMICRY_FOLLOWUPS[shape]
    text = rng.choice(pool).format(
        ordinal=rng.choice(D.ORDINALS),
        a=2 + int(rng.random() * 98),
        b=5 + int(rng.random() * 15),
        name=rng.choice(P.NAMES),
        lang=rng.choice(P.LANGS[1:]),
        letter="ABCD"[int(rng.random() * 4)],
    )
    opener = rng.choice(D.MIMICRY_OPENERS)
    text = opener + text
    return text[0].upper() + text[1:]


class MimicryAccount(Account):
    """One mimicry account (see the module docstring)."""

    kind = "mimicry"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        variant: MimicryVariant,
        start_ms: int,
        rate: float,
        items: SweepItems,
        slot: int,
        slots: int,
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=50)
        self.variant = variant.name
        self.v = variant
        self.active_from_ms = start_ms
        self.rate = rate * lognormal(rng, 1.0, 0.2)
        self.days = HumanDays(
            rng,
            utc_offset_h=identity.country.utc_offset_h,
            first_hour=7.0 + rng.random() * 4.0,
            hours=variant.active_hours,
            day_off=0.08,
        )
        self.items = items
        self.slot = slot
        self.slots = slots
        self.max_tokens = rng.choice((4096, 8192, 8192))
        self.temperature = rng.choice((1.0, 1.0, 0.7))
        self.top_p = rng.choice((None, None, 0.95))
        self.stream = rng.random() < 0.8
        self.prefer_models((0.85, 0.15, 0.0))

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng, v = self.ctx, self.rng, self.v
        end = ctx.end_ms
        mean_turns = sum(v.turns) / len(v.turns)
        n = 0  # conversations so far: each one a new item
        for w in self.days.windows(self.active_from_ms, end):
            convs = max(self.rate * lognormal(rng, 1.0, 0.25) / mean_turns, 1.0)  # in a whole window
            conv_s = (mean_turns - 1) * 150.0  # the answer streams, is read, the follow-up typed
            gap_s = max(w.planned_ms / 1000.0 / convs - conv_s, 30.0)
            t = w.start_ms + gamma_gap_ms(rng, gap_s * 0.5, 1.0, 5.0)
            while t < w.end_ms:
                turns = rng.choice(v.turns)
                category = pick_benchmark(rng)
                task = self.items.item(category, dispatch_index(self.slot, self.slots, n))
                n += 1
                shape = "mc" if category == "science" else category
                conv = self.conversation_id()
                model = self.model_at(t)
                context = 0
                for turn in range(turns):
                    if t >= end:
                        return
                    if turn == 0:
                        prompt = first_turn(rng, task, v.cot_share)
                        out = int(lognormal(rng, v.out_median, 0.45))
                    else:
                        prompt = follow_up(rng, shape, v.templated_followups)
                        out = int(lognormal(rng, v.out_median * 0.7, 0.5))
                    inp = int(len(prompt) * 0.25) + 30 + context
                    ev = self.event(
                        t,
                        model,
                        prompt,
                        inp,
                        out,
                        self.max_tokens,
                        self.temperature,
                        self.stream,
                        0,
                        "end_turn",
                        conv,
                        turn,
                        None,
                        self.top_p,
                    )
                    yield t, ev
                    context = inp + ev["output_tokens"]
                    # the answer streams, then the person reads it and types the next turn
                    t += int(ev["latency_ms"]) + int(lognormal(rng, 75.0, 0.6) * 1000) + 1
                t += gamma_gap_ms(rng, gap_s, 0.7, 20.0)


def build_mimicry(ctx: RunContext, sc: Scenario, variant: MimicryVariant, start_ms: int) -> Campaign:
    """The mimicry campaign of one variant."""
    name = campaign_name("mimicry", variant.name)
    n = max(sc.mimicry_accounts, 1)
    rate = sc.mimicry_rate if sc.mimicry_rate > 0 else variant.rate
    items = campaign_sweep(ctx, name)
    accounts: list[Account] = []
    for i in range(n):
        rng = rng_for(ctx.seed, name, i)
        country = infra.pick_country(rng)
        addrs = [infra.residential_addr(rng, country)]
        if rng.random() < 0.3:  # phone on mobile data now and then
            addrs.append(infra.residential_addr(rng, country))
        client = infra.pick_client(rng)
        ident = make_identity(
            ctx.seed,
            name,
            i,
            created_ms=start_ms - age_ms(rng, 1.0, 10.0),
            country=country,
            addrs=addrs,
            client=client,
            endpoint=infra.endpoint_for(rng, client),
        )
        accounts.append(
            MimicryAccount(
                ctx, ident, rng, variant=variant, start_ms=start_ms, rate=rate, items=items, slot=i, slots=n
            )
        )
    params = {"variant": variant.name, "accounts": n, "rate_per_account_day": rate, **params_of(variant)}
    return Campaign(name, "mimicry", start_ms, accounts, params)
