"""``event_cohort`` (benign): many new accounts created together for one event.

A workshop, hackathon or product launch: a cohort of accounts signs up within hours,
uses one client (the event's notebook image or the launch's new SDK release) and one
shared system prompt, and is active in the same few hours; at the event's synchronized
moments (an exercise, an announcement) everyone sends the same exercise template with
their own details. Prompts are otherwise ordinary and varied, outputs moderate, and some
prompts carry the chain-of-thought wording tutorials teach (``cot_share`` of exercise
prompts, half that of the others). Many members share
the venue's address and the event's promotional credit (payment fingerprint); a share of
them keep using the API lightly afterwards.

Variants (``event_cohort_variant``; see ``variants.EVENT_COHORT``): ``workshop``,
``hackathon``, ``launch``. Cohorts take the selected variants in turn; cohort ``g``'s
event starts ``event_cohort_at`` + 5 h x ``g`` into the span (wrapped around it).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from stream_guard.loadgen import design_parts as D
from stream_guard.loadgen import infra
from stream_guard.loadgen import prompt_parts as P
from stream_guard.loadgen.accounts import Account, Event, Identity, RunContext, age_ms, lognormal, make_identity
from stream_guard.loadgen.arrivals import DiurnalRenewal
from stream_guard.loadgen.design_kit import established_age_ms, variant_groups
from stream_guard.loadgen.ids import rng_for, short_hex
from stream_guard.loadgen.scenarios import Scenario
from stream_guard.loadgen.timeutil import HOUR_MS
from stream_guard.loadgen.variants import EventCohortVariant

__all__ = ["CohortEvent", "CohortMember", "build_event_cohorts"]


@dataclass(frozen=True, slots=True)
class CohortEvent:
    """One cohort's event: when it runs, what it shares."""

    index: int
    variant: EventCohortVariant
    start_ms: int
    end_ms: int
    title: str

    def sync_times(self) -> list[int]:
        """The synchronized moments (exercises, announcements)."""
        n = self.variant.sync_points
        span = self.end_ms - self.start_ms
        return [self.start_ms + int((k + 0.5) * span / n) for k in range(n)]


@dataclass(frozen=True, slots=True)
class _Planned:
    """One planned request of a member during the event."""

    ts: int
    what: str  # "quickstart", "exercise" or "free"
    number: int  # quickstart or exercise number


class CohortMember(Account):
    """One cohort member (see the module docstring)."""

    kind = "event_cohort"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        event: CohortEvent,
        first_ms: int,
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=50)
        self.variant = event.variant.name
        self.ev = event
        self.first_ms = first_ms
        self.follow_on = rng.random() < event.variant.follow_on_share
        self.set_system_prompt(f"You are the assistant of the '{event.title}' event. Be friendly and concise.")
        self.prefer_models((0.2, 0.6, 0.2))

    def _plan(self) -> list[_Planned]:
        rng, ev, v = self.rng, self.ev, self.ev.variant
        out: list[_Planned] = []
        t = self.first_ms
        for q in range(v.quickstart_turns):
            out.append(_Planned(t, "quickstart", q))
            t += int(lognormal(rng, 50.0, 0.6) * 1000)
        lo, hi = v.per_sync
        for k, sync in enumerate(ev.sync_times()):
            if sync < self.first_ms:
                continue
            ts = sync + int(lognormal(rng, 100.0, 0.6) * 1000)
            for _ in range(lo + int(rng.random() * (hi - lo + 1))):
                out.append(_Planned(ts, "exercise", k))
                ts += int(lognormal(rng, 45.0, 0.6) * 1000)
        end = max(ev.end_ms, self.first_ms + int(v.session_hours * HOUR_MS)) if v.sync_points == 0 else ev.end_ms
        t = self.first_ms
        rate_ms = v.free_rate_h / HOUR_MS
        while rate_ms > 0:
            t += int(rng.expovariate(rate_ms)) + 1000
            if t >= end:
                break
            out.append(_Planned(t, "free", 0))
        out.sort(key=lambda p: (p.ts, p.what, p.number))
        return out

    def _prompt(self, rng: random.Random, p: _Planned) -> str:
        v = self.ev.variant
        if p.what == "quickstart":
            return D.QUICKSTART_PROMPTS[p.number % len(D.QUICKSTART_PROMPTS)]
        if p.what == "exercise":
            template = D.COHORT_EXERCISES[(self.ev.index + p.number) % len(D.COHORT_EXERCISES)]
            text = template.format(
                k=p.number + 1,
                topic=rng.choice(P.TOPICS),
                n=3 + int(rng.random() * 5),
                review=rng.choice(P.REVIEW_BITS).format(product=rng.choice(P.PRODUCTS), n=2 + int(rng.random() * 8)),
                hlang=rng.choice(D.HUMAN_LANGS),
                product=rng.choice(P.PRODUCTS),
                items=rng.choice(P.ITEMS)[1],
                lang=rng.choice(P.LANGS),
                city=rng.choice(P.CITIES),
                name=rng.choice(P.NAMES),
            )
            if rng.random() < v.cot_share:
                text += rng.choice(D.TUTORIAL_COT)
            return text
        if rng.random() < v.code_share:
            text = self.ctx.prompts.agent.instruction(rng)
        else:
            text = self.ctx.prompts.chat.draw(rng)
        if rng.random() < v.cot_share * 0.5:  # tried out what the tutorial showed
            text += rng.choice(D.TUTORIAL_COT)
        return text

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng, cal = self.ctx, self.rng, self.ctx.calibration
        conv: str | None = None
        turn = 0
        last_what = ""
        last_t = -(10**15)
        t = ctx.start_ms
        for p in self._plan():
            t = max(p.ts, t + 1)
            if t >= ctx.end_ms:
                return
            if t < ctx.start_ms:
                continue
            if conv is not None and p.what == last_what and t - last_t < 600_000:
                turn += 1
            else:
                conv, turn = self.conversation_id(), 0
            last_what, last_t = p.what, t
            prompt = self._prompt(rng, p)
            inp = int(cal.conv_input.sample(rng.random) * 0.5 + len(prompt) * 0.25 + 150 * turn)
            out = int(lognormal(rng, 260.0, 0.6))
            yield t, self.event(t, self.model_at(t), prompt, inp, out, 1024, 0.7, True, 0, "end_turn", conv, turn)
        if not self.follow_on:
            return
        proc = DiurnalRenewal(
            rng,
            max(self.ev.end_ms, t + 1, ctx.start_ms),
            ctx.end_ms,
            daily=4.0 + rng.random() * 8.0,
            profile=cal.hourly_profile,
            utc_offset_h=self.identity.country.utc_offset_h,
            active_day_prob=0.6,
            gamma_shape=0.8,
            min_gap_s=5.0,
        )
        while (ts := proc.next()) is not None:
            prompt = ctx.prompts.chat.draw(rng)
            inp = int(cal.conv_input.sample(rng.random) + len(prompt) * 0.25)
            out = int(cal.conv_output.sample(rng.random))
            yield ts, self.event(
                ts, self.model_at(ts), prompt, inp, out, 1024, 0.7, True, 0, "end_turn", self.conversation_id(), 0
            )


def _event_of(ctx: RunContext, sc: Scenario, g: int, variant: EventCohortVariant, rng: random.Random) -> CohortEvent:
    span = ctx.end_ms - ctx.start_ms
    offset = (int(sc.offset_s(sc.event_cohort_at) * 1000) + g * 5 * HOUR_MS) % max(span, 1)
    start = ctx.start_ms + offset
    return CohortEvent(
        g, variant, start, start + int(variant.session_hours * HOUR_MS), rng.choice(D.COHORT_TITLES)
    )


def build_event_cohorts(ctx: RunContext, sc: Scenario, count: int) -> list[Account]:
    """``count`` cohort members in cohorts of ``event_cohort_size``, variants in turn."""
    out: list[Account] = []
    for g, n, variant in variant_groups(sc.variants("event_cohort"), count, max(sc.event_cohort_size, 1)):
        rng = rng_for(ctx.seed, "event_cohort", "cohort", g)
        event = _event_of(ctx, sc, g, variant, rng)
        country = infra.pick_country(rng)
        venue = (infra.ipv4(rng, (81, 85, 93, 145, 194)), 64600 + int(rng.random() * 300))
        if variant.name == "launch":
            client = infra.custom_client(f"launch-sdk-{g}", "anthropic-python/0.50.0")
        else:
            client = infra.custom_client(f"cohort-notebook-{g}", "python-httpx/0.28.1")
        credit = f"pm_{short_hex(ctx.seed, 'event_cohort', 'credit', g)}"
        for j in range(n):
            arng = rng_for(ctx.seed, "event_cohort", g, j)
            if variant.name == "launch":
                first = event.start_ms + int(arng.random() * variant.signup_hours * HOUR_MS) + 60_000
                created = first - int(arng.random() * 600_000) - 30_000
            else:
                created = event.start_ms - int(arng.random() * variant.signup_hours * HOUR_MS) - 60_000
                first = event.start_ms + int(arng.random() * 600_000)
            if arng.random() < 0.05:  # an old account that joined the event
                created = event.start_ms - established_age_ms(arng)
            elif variant.name != "launch" and arng.random() < 0.1:
                created = event.start_ms - age_ms(arng, 1.0, 7.0)  # signed up ahead of time
            addr = venue if arng.random() < variant.venue_share else infra.residential_addr(arng, country)
            ident = make_identity(
                ctx.seed,
                f"event_cohort-{g}",
                j,
                created_ms=created,
                country=country,
                addrs=[addr],
                client=client,
                payment_fp=credit if variant.name != "launch" and arng.random() < 0.6 else None,
            )
            out.append(CohortMember(ctx, ident, arng, event=event, first_ms=first))
    return out
