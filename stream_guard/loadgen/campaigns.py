"""Labelled extraction campaigns, each configurable from the scenario.

No public data set of real distillation traffic exists, so these are *modelled* on what
is publicly described of such campaigns; every figure is a scenario knob.

``blunt``
    One account, scripted runs of requests (several workers) around the clock, varied CoT
    wrappers around benchmark-style tasks, long outputs, rate-limited (429) at times.
    Young account, hosting address, a rare client fingerprint.
``slow_cot``
    One (or a few) account(s) at ~30 requests/day in office hours, ONE fixed
    chain-of-thought template over sequential tasks; residential address, popular SDK.
``hydra``
    Thousands of young accounts at ~26 requests/account/day, evenly load-balanced
    (every account fires once per round, at its own fixed phase, so the campaign's total
    rate is flat) on a synchronized schedule, disjoint tasks handed out by a dispatcher,
    sharing proxy IPs, payment instruments, the tool's client fingerprint and system
    prompt to configurable degrees.
``reseller``
    A proxy/reseller account: real customers' diverse traffic under many system prompts,
    with an extraction share (<= 10 %) from one of its customers from ``active_from``
    (:class:`Reseller` is what every reseller does, ``hashed_reseller`` included).
``pivot``
    A few accounts extracting at a moderate rate; when the new model is released they
    switch all traffic to it and speed up.

The newer designs (``mimicry``, ``adaptive_hydra``, ``agentic_distiller``,
``hashed_reseller``), each with variants, have modules of their own (see ``designs``).
"""

from __future__ import annotations

import bisect
import functools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from stream_guard.loadgen import infra
from stream_guard.loadgen import prompt_parts as P
from stream_guard.loadgen.accounts import (
    Account,
    Event,
    Identity,
    RunContext,
    age_ms,
    lognormal,
    make_identity,
    std_normal,
)
from stream_guard.loadgen.arrivals import DiurnalRenewal
from stream_guard.loadgen.ids import derive_seed, prompt_hash, rng_for, short_hex
from stream_guard.loadgen.prompts import TaskSource
from stream_guard.loadgen.scenarios import DESIGN_CAMPAIGN_KINDS, Scenario
from stream_guard.loadgen.timeutil import DAY_MS, parse_duration

__all__ = ["Campaign", "Reseller", "build_campaigns", "hydra_stream"]

_DISTILL_SYSTEM = "You are a world-class expert. Always reason step by step in full detail before answering."


@dataclass(slots=True)
class Campaign:
    """One labelled campaign: its accounts and when it starts (ground truth)."""

    name: str
    kind: str
    active_from_ms: int
    accounts: list[Account]
    params: dict[str, Any] = field(default_factory=dict)
    pivot_at_ms: int | None = None
    streams: list[Callable[[], Iterator[tuple[int, Event]]]] | None = None

    def sources(self) -> list[Iterator[tuple[int, Event]]]:
        """Event streams of this campaign: a few merged streams, or one per account."""
        if self.streams is not None:
            return [make() for make in self.streams]
        return [a.events() for a in self.accounts]


class _Extractor(Account):
    """Shared by campaign accounts: building one extraction request."""

    kind = "extraction"
    active_from_ms = 0

    def setup_extraction(
        self,
        tasks: TaskSource,
        template: tuple[str, str],
        *,
        temperature: float,
        max_tokens: int = 8192,
        out_median: float = 900.0,
    ) -> None:
        self.tasks = tasks
        self.template = template
        self.extraction_settings(temperature=temperature, max_tokens=max_tokens, out_median=out_median)

    def extraction_settings(self, *, temperature: float, max_tokens: int = 8192, out_median: float = 900.0) -> None:
        """The sampling settings and answer length of every extraction request."""
        self.x_temperature = temperature
        self.x_max_tokens = max_tokens
        self.out_median = out_median

    def extraction(
        self,
        ts: int,
        model: str,
        task_index: int,
        template: tuple[str, str] | None = None,
        system_hash: str | None = None,
        stream: bool = False,
    ) -> Event:
        pre, post = template or self.template
        return self.extraction_of(ts, model, f"{pre}{self.tasks.task(task_index)}{post}", system_hash, stream)

    def extraction_of(
        self, ts: int, model: str, prompt: str, system_hash: str | None = None, stream: bool = False
    ) -> Event:
        """One extraction request for ``prompt`` (settings of :meth:`extraction_settings`)."""
        out = int(lognormal(self.rng, self.out_median, 0.45))
        inp = int(len(prompt) * 0.25) + 45
        return self.event(
            ts,
            model,
            prompt,
            inp,
            out,
            self.x_max_tokens,
            self.x_temperature,
            stream,
            0,
            "end_turn",
            None,
            0,
            system_hash,
        )


class BluntExtractor(_Extractor):
    """Bursty, scripted, round-the-clock extraction from one account."""

    kind = "blunt"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        start_ms: int,
        daily: float,
        tasks: TaskSource,
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=12)  # a young account's low tier: bursts hit 429
        self.active_from_ms = start_ms
        self.daily = daily
        self.rate_on = 0.25  # requests/s while its workers run (a few workers, long CoT answers)
        self.setup_extraction(tasks, P.COT_TEMPLATES[0], temperature=1.0)
        self.set_system_prompt(_DISTILL_SYSTEM)

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng = self.ctx, self.rng
        on_frac = min(self.daily / (self.rate_on * 86400.0), 1.0)
        on_mean = 1800.0
        off_mean = on_mean * (1.0 - on_frac) / max(on_frac, 1e-9)
        t = self.active_from_ms / 1000.0
        end = ctx.end_ms / 1000.0
        i = 0
        templates = P.COT_TEMPLATES
        while t < end:
            burst_end = t + rng.expovariate(1.0 / on_mean)
            while t < min(burst_end, end):
                ts = int(t * 1000)
                yield ts, self.extraction(ts, "atlas-large", i, templates[int(rng.random() * len(templates))])
                i += 1
                t += rng.expovariate(self.rate_on) + 0.001
            if off_mean > 0:
                t = burst_end + rng.expovariate(1.0 / off_mean)


class SlowCotExtractor(_Extractor):
    """A patient extractor: a fixed CoT template, tens of requests a day, office hours."""

    kind = "slow_cot"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        start_ms: int,
        daily: float,
        tasks: TaskSource,
        template: tuple[str, str],
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=50)
        self.active_from_ms = start_ms
        self.daily = daily
        self.setup_extraction(tasks, template, temperature=0.7, max_tokens=4096)

    def events(self) -> Iterator[tuple[int, Event]]:
        office = [0.0] * 24
        for h in range(9, 18):
            office[h] = 24.0 / 9.0
        proc = DiurnalRenewal(
            self.rng,
            self.active_from_ms,
            self.ctx.end_ms,
            daily=self.daily,
            profile=office,
            utc_offset_h=self.identity.country.utc_offset_h,
            gamma_shape=1.0,
            min_gap_s=30.0,
        )
        i = 0
        while (ts := proc.next()) is not None:
            yield ts, self.extraction(ts, "atlas-large", i, stream=True)
            i += 1


class HydraMember(_Extractor):
    """One of the hydra's many accounts: one request per round at a fixed phase."""

    kind = "hydra"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        hydra: _HydraPlan,
        member: int,
        system_hash: str | None,
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=50)
        self.plan = hydra
        self.member = member
        self.active_from_ms = hydra.start_ms
        self.member_sys = system_hash
        self.setup_extraction(
            hydra.tasks, hydra.templates[member % len(hydra.templates)], temperature=0.8, max_tokens=4096
        )


@dataclass(slots=True)
class _HydraPlan:
    """The hydra's shared schedule and task dispatcher."""

    accounts: int
    start_ms: int
    end_ms: int
    rate: float
    shift_hours: float
    shift_start_h: float
    jitter_ms: float
    tasks: TaskSource
    templates: tuple[tuple[str, str], ...]
    period_ms: float = 0.0
    per_day: int = 0

    def __post_init__(self) -> None:
        if self.shift_hours >= 24.0:
            self.period_ms = DAY_MS / self.rate
        else:
            self.per_day = max(round(self.rate), 1)
            self.period_ms = self.shift_hours * 3_600_000 / self.per_day

    def slot_start(self, r: int) -> float | None:
        """Start of round ``r`` (``None`` past the end)."""
        if self.shift_hours >= 24.0:
            t = self.start_ms + r * self.period_ms
        else:
            first_day = math.floor(self.start_ms / DAY_MS)
            # rounds before the start on the first day are skipped
            shift0 = first_day * DAY_MS + self.shift_start_h * 3_600_000
            skip = (
                max(0, math.ceil((self.start_ms - shift0) / self.period_ms)) if self.start_ms > shift0 else 0
            )
            k = r + skip
            day, idx = divmod(k, self.per_day)
            t = shift0 + day * DAY_MS + idx * self.period_ms
        return t if t < self.end_ms else None


HYDRA_STREAMS = 8  # fixed, so the merge order never depends on how many processes generate


def hydra_stream(
    members: list[HydraMember], plan: _HydraPlan, part: int = 0, parts: int = 1
) -> Iterator[tuple[int, Event]]:
    """The events of hydra members ``part, part + parts, ...``, merged, in time order.

    Scheduling the campaign as a few streams (rather than 20,000 separate generators in
    the global heap) computes each round's slots in one pass and sorts them once: per
    event this is a tuple and a linear merge instead of a 15-level heap operation. Every
    member draws from its own generator in the same order whatever ``parts`` is.
    """
    n = plan.accounts
    phases = [(j + 0.5) / n * plan.period_ms * 0.95 for j in range(n)]
    mine = range(part, n, parts)
    last = [0] * n
    jitter = plan.jitter_ms
    reach = 3.6 * jitter + 2.0  # table normals stay within +-3.5 sigma
    end = plan.end_ms
    pending: list[tuple[int, int, int]] = []
    r = 0
    slot = plan.slot_start(0)
    while slot is not None:
        fresh: list[tuple[int, int, int]] = []
        for j in mine:
            ts = (
                int(slot + phases[j] + jitter * std_normal(members[j].rng.random))
                if jitter
                else int(slot + phases[j])
            )
            if ts < plan.start_ms:
                ts = plan.start_ms
            if ts <= last[j]:
                ts = last[j] + 1
            last[j] = ts
            if ts < end:
                fresh.append((ts, j, r))
        fresh.sort()
        pending.extend(fresh)
        pending.sort()  # two sorted runs: a linear merge
        nxt = plan.slot_start(r + 1)
        cutoff = nxt + phases[0] - reach if nxt is not None else math.inf
        k = bisect.bisect_left(pending, (cutoff,)) if nxt is not None else len(pending)
        for ts, j, rr in pending[:k]:
            m = members[j]
            yield ts, m.extraction(ts, "atlas-large", rr * n + j, None, m.member_sys)
        del pending[:k]
        r += 1
        slot = nxt


class Reseller(_Extractor):
    """What every reseller does: its customers' diverse traffic, each customer under a
    system prompt of its own (``customers`` of them, named from ``customer_tag``, the
    first ones busiest), and from ``start_ms`` a ``share`` of requests from the
    extracting customer (:meth:`extraction_request`, per subclass)."""

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        rpm: int,
        start_ms: int,
        daily: float,
        share: float,
        customer_tag: str,
        customers: int,
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=rpm)
        self.active_from_ms = start_ms
        self.daily = daily
        self.share = share
        self.customers = [
            prompt_hash(f"{customer_tag} {short_hex(identity.account_id, c)}") for c in range(customers)
        ]
        self.weights = [1.0 / (c + 1) for c in range(customers)]

    def extraction_request(self, ts: int, i: int) -> Event:
        """The extracting customer's ``i``-th request."""
        raise NotImplementedError

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
                yield ts, self.extraction_request(ts, i)
                i += 1
                continue
            prompt = chat.draw(rng)
            sys_hash = rng.choices(self.customers, self.weights)[0]
            inp = int(cal.conv_input.sample(rng.random) + len(prompt) * 0.25)
            out = int(cal.conv_output.sample(rng.random))
            yield (
                ts,
                self.event(
                    ts,
                    self.model_at(ts),
                    prompt,
                    inp,
                    out,
                    2048,
                    0.7,
                    True,
                    0,
                    "end_turn",
                    self.conversation_id() if rng.random() < 0.5 else None,
                    0,
                    sys_hash,
                ),
            )


class ResellerAccount(Reseller):
    """A reseller: many customers' traffic, a small extraction share from one of them."""

    kind = "reseller"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        start_ms: int,
        daily: float,
        share: float,
        tasks: TaskSource,
    ) -> None:
        super().__init__(
            ctx,
            identity,
            rng,
            rpm=5000,
            start_ms=start_ms,
            daily=daily,
            share=share,
            customer_tag="reseller customer",
            customers=40,
        )
        self.extractor_sys = prompt_hash(_DISTILL_SYSTEM + " (reseller customer)")
        self.setup_extraction(tasks, P.COT_TEMPLATES[3], temperature=0.0)

    def extraction_request(self, ts: int, i: int) -> Event:
        return self.extraction(ts, "atlas-large", i, None, self.extractor_sys)


class PivotExtractor(_Extractor):
    """Extraction that moves to a newly released model and speeds up."""

    kind = "pivot"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        start_ms: int,
        daily: float,
        boost: float,
        tasks: TaskSource,
        offset: int,
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=120)
        self.active_from_ms = start_ms
        self.daily = daily
        self.boost = boost
        self.offset = offset
        self.setup_extraction(tasks, P.COT_TEMPLATES[4], temperature=0.6)
        self.set_system_prompt(_DISTILL_SYSTEM)

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng = self.ctx, self.rng
        release = ctx.models.release_ms if ctx.models.release_ms is not None else ctx.end_ms
        t = float(self.active_from_ms)
        i = self.offset
        while True:
            after = t >= release
            rate = self.daily * (self.boost if after else 1.0) / DAY_MS
            nt = t + rng.expovariate(rate)
            if not after and nt >= release:  # memoryless: restart at the release
                t = float(release)
                continue
            t = nt
            if t >= ctx.end_ms:
                return
            ts = int(t)
            model = ctx.models.new_model if after else "atlas-large"
            yield ts, self.extraction(ts, model, i)
            i += 1


def _hosting_identity(
    ctx: RunContext,
    rng: random.Random,
    tag: str,
    i: int,
    created_ms: int,
    client: infra.Client,
    n_addrs: int = 1,
) -> Identity:
    addrs = [infra.hosting_ip(rng) for _ in range(n_addrs)]
    return make_identity(
        ctx.seed, tag, i, created_ms=created_ms, country=infra.pick_country(rng), addrs=addrs, client=client
    )


def _tasks_for(ctx: RunContext, name: str) -> TaskSource:
    base = ctx.prompts.tasks
    return base if base.size else base.with_salt(derive_seed(ctx.seed, "tasks", name) & 0xFFFF)


def _hydra(ctx: RunContext, sc: Scenario, start: int) -> Campaign:
    n = sc.hydra_accounts
    rng = rng_for(ctx.seed, "hydra", "plan")
    plan = _HydraPlan(
        accounts=n,
        start_ms=start,
        end_ms=ctx.end_ms,
        rate=sc.hydra_rate,
        shift_hours=sc.hydra_shift_hours,
        shift_start_h=float(int(rng.random() * 24)),
        jitter_ms=parse_duration(sc.hydra_jitter) * 1000.0,
        tasks=_tasks_for(ctx, "hydra"),
        templates=(P.COT_TEMPLATES[1], P.COT_TEMPLATES[5]),
    )
    n_ips = max(1, math.ceil(n / max(sc.hydra_accounts_per_ip, 1.0)))
    ips: list[tuple[str, int, infra.Country]] = []
    for _ in range(n_ips):
        country = infra.pick_country(rng)
        if rng.random() < 0.5:  # residential proxy exit
            ip = infra.residential_ip(rng, country, v6_share=0.0)
            ips.append((ip, infra.asn_of(ip), country))
        else:
            ip, asn = infra.hosting_ip(rng, 4 + int(rng.random() * 6))
            ips.append((ip, asn, country))
    per_pay = max(sc.hydra_accounts_per_payment, 1.0)
    tool = infra.custom_client("hydra", "python-httpx/0.27.0")
    sys_hash = prompt_hash(_DISTILL_SYSTEM)
    max_age = parse_duration(sc.hydra_account_age) / 86400.0
    batch_time = [start - age_ms(rng, 0.2, max(max_age, 0.3)) for _ in range(n // 50 + 1)]
    members: list[HydraMember] = []
    for j in range(n):
        mrng = rng_for(ctx.seed, "hydra", j)
        ip, asn, country = ips[j % n_ips]
        addrs = [(ip, asn)]
        if mrng.random() < 0.1:
            other = ips[(j * 31 + 7) % n_ips]
            addrs.append((other[0], other[1]))
        client = tool if mrng.random() < sc.hydra_fingerprint_share else infra.pick_client(mrng)
        ident = make_identity(
            ctx.seed,
            "hydra",
            j,
            created_ms=batch_time[j // 50] + (j % 50) * 17_000,
            country=country,
            addrs=addrs,
            client=client,
            payment_fp=f"pm_{short_hex(ctx.seed, 'hydra-pay', int(j / per_pay))}",
        )
        member_sys = sys_hash if mrng.random() < sc.hydra_system_prompt_share else None
        members.append(HydraMember(ctx, ident, mrng, hydra=plan, member=j, system_hash=member_sys))
    params = {
        "accounts": n,
        "rate_per_account_day": sc.hydra_rate,
        "accounts_per_ip": sc.hydra_accounts_per_ip,
        "distinct_ips": n_ips,
        "accounts_per_payment": per_pay,
        "fingerprint_share": sc.hydra_fingerprint_share,
        "shift_hours": sc.hydra_shift_hours,
        "jitter": sc.hydra_jitter,
        "max_account_age": sc.hydra_account_age,
    }
    return Campaign(
        "hydra",
        "hydra",
        start,
        list(members),
        params,
        streams=[
            functools.partial(hydra_stream, members, plan, k, HYDRA_STREAMS) for k in range(HYDRA_STREAMS)
        ],
    )


def build_campaigns(ctx: RunContext, sc: Scenario) -> list[Campaign]:
    """The campaigns enabled in scenario ``sc``, deterministic for ``ctx.seed`` (the
    newer designs with variants are built by ``designs.build_design_campaigns``)."""
    out: list[Campaign] = []
    base = ctx.start_ms
    for kind in sc.campaign_list():
        if kind in DESIGN_CAMPAIGN_KINDS:
            continue
        start = base + int(sc.offset_s(getattr(sc, f"{'slow' if kind == 'slow_cot' else kind}_start")) * 1000)
        rng = rng_for(ctx.seed, "campaign", kind)
        if kind == "blunt":
            ident = _hosting_identity(
                ctx,
                rng,
                "blunt",
                0,
                start - age_ms(rng, 0.5, 3.0),
                infra.custom_client("blunt", "python-requests/2.31.0"),
                2,
            )
            blunt = BluntExtractor(
                ctx, ident, rng, start_ms=start, daily=sc.blunt_rate, tasks=_tasks_for(ctx, kind)
            )
            out.append(Campaign(kind, kind, start, [blunt], {"rate_per_day": sc.blunt_rate}))
        elif kind == "slow_cot":
            accts: list[Account] = []
            template = P.COT_TEMPLATES[2]
            for i in range(max(sc.slow_accounts, 1)):
                arng = rng_for(ctx.seed, "slow_cot", i)
                country = infra.country_by_code(arng.choice(("DE", "GB", "FR", "NL", "PL", "ES")))
                addr = infra.residential_addr(arng, country)
                ident = make_identity(
                    ctx.seed,
                    "slow_cot",
                    i,
                    created_ms=start - age_ms(arng, 20, 120),
                    country=country,
                    addrs=[addr],
                    client=infra.pick_client(arng),
                )
                accts.append(
                    SlowCotExtractor(
                        ctx,
                        ident,
                        arng,
                        start_ms=start,
                        daily=sc.slow_rate,
                        tasks=_tasks_for(ctx, f"slow{i}"),
                        template=template,
                    )
                )
            out.append(
                Campaign(
                    kind, kind, start, accts, {"rate_per_account_day": sc.slow_rate, "accounts": len(accts)}
                )
            )
        elif kind == "hydra":
            out.append(_hydra(ctx, sc, start))
        elif kind == "reseller":
            ident = _hosting_identity(
                ctx,
                rng,
                "reseller",
                0,
                start - age_ms(rng, 200, 700),
                infra.Client("litellm/1.63.2", infra.SDK_CLIENTS[8].fingerprint),
                3,
            )
            reseller = ResellerAccount(
                ctx,
                ident,
                rng,
                start_ms=start,
                daily=sc.reseller_rate,
                share=min(max(sc.reseller_share, 0.0), 1.0),
                tasks=_tasks_for(ctx, kind),
            )
            out.append(
                Campaign(
                    kind,
                    kind,
                    start,
                    [reseller],
                    {"rate_per_day": sc.reseller_rate, "extraction_share": sc.reseller_share},
                )
            )
        elif kind == "pivot":
            accts = []
            tool = infra.custom_client("pivot", "openai-python/1.66.3")
            for i in range(max(sc.pivot_accounts, 1)):
                arng = rng_for(ctx.seed, "pivot", i)
                ident = _hosting_identity(ctx, arng, "pivot", i, start - age_ms(arng, 3, 20), tool, 1)
                accts.append(
                    PivotExtractor(
                        ctx,
                        ident,
                        arng,
                        start_ms=start,
                        daily=sc.pivot_rate,
                        boost=sc.pivot_boost,
                        tasks=_tasks_for(ctx, "pivot"),
                        offset=i * 1_000_000,
                    )
                )
            out.append(
                Campaign(
                    kind,
                    kind,
                    start,
                    accts,
                    {
                        "accounts": len(accts),
                        "rate_per_account_day": sc.pivot_rate,
                        "boost": sc.pivot_boost,
                        "new_model": ctx.models.new_model,
                    },
                    pivot_at_ms=ctx.models.release_ms,
                )
            )
    return out
