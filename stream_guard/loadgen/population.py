"""The benign population, calibrated on real traces, hard cases included.

Kinds (the ``kind`` written to the labels file):

``chat``
    Ordinary users. Volume per active day: ServeGen's per-client distribution (heavy
    tail) scaled to ``chat_median``; whole days off with ServeGen's active-day share;
    bursty Gamma/Weibull gaps (ServeGen shapes) over ServeGen's hour-of-day profile in
    the user's local time; Azure *conv* token counts; multi-turn conversations.
``saas``
    Integrators: thousands of requests a day from many end users, diverse prompts under
    ONE system prompt, diurnal, from a few cloud addresses.
``coding_agent``
    Long multi-turn tool sessions: ``conversation_id``, growing ``turn_index``,
    ``tools`` > 0, ``stop_reason`` ``tool_use`` until the last turn; context grows per
    turn from Azure *code* input sizes. The agent product's system prompt is shared by all
    its users.
``eval_run``
    A one-off evaluation of a public benchmark: a burst of benchmark prompts (often with
    "think step by step") over a few hours at temperature 0, then nothing.
``batch``
    Scheduled jobs: regular start times, a fixed pace, one template, short outputs.
``corporate_nat`` / ``cloud_egress``
    Groups of ordinary users or agents behind one address. Corporate: same IP, ASN,
    proxy TLS fingerprint, org and card. Cloud egress: same IP and ASN only.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from stream_guard.loadgen import infra
from stream_guard.loadgen.accounts import Account, Event, Identity, RunContext, lognormal, make_identity
from stream_guard.loadgen.ids import rng_for, short_hex
from stream_guard.loadgen.prompts import BatchPrompts
from stream_guard.loadgen.scenarios import Scenario
from stream_guard.loadgen.timeutil import DAY_MS

__all__ = [
    "BatchJob",
    "ChatUser",
    "CodingAgent",
    "EvalRun",
    "SaasIntegrator",
    "build_population",
]

_AGENT_PRODUCTS = (  # (tools offered, system prompt), one per AGENT_CLIENTS entry
    (18, "You are an autonomous coding agent running in the user's terminal. Use the tools."),
    (31, "You are an AI pair programmer inside an IDE. Prefer small, reviewed edits."),
    (12, "You are a code-review bot. Read the diff, run the tests, propose patches."),
)


def _account_age_ms(rng: random.Random) -> int:
    """Benign account age: median ~200 days, a tenth under a week (new sign-ups)."""
    if rng.random() < 0.1:
        return int(rng.random() * 7 * DAY_MS)
    return int(min(lognormal(rng, 200.0, 1.0), 1500.0) * DAY_MS)


@dataclass(slots=True)
class _Conversation:
    """An open conversation of an integrator: its id and the turn it is at."""

    conversation_id: str
    turn: int


class ChatUser(Account):
    """An ordinary chat / API user (see module docstring)."""

    kind = "chat"

    def __init__(self, ctx: RunContext, identity: Identity, rng: random.Random, sc: Scenario) -> None:
        super().__init__(ctx, identity, rng, rpm=50)
        cal = ctx.calibration
        self.daily = min(sc.chat_median * cal.volume_ratio.at(rng.random()), sc.max_daily)
        self.max_tokens = rng.choice((1024, 2048, 4096, 4096, 8192))
        self.temperature = rng.choice((1.0, 1.0, 0.7, 0.5, 0.2))
        self.top_p = rng.choice((None, None, None, 0.9, 0.95))
        self.stream = rng.random() < 0.7
        self.tools = rng.choice((2, 3, 5)) if rng.random() < 0.15 else 0
        if rng.random() < 0.3:
            self.set_system_prompt(f"custom system prompt {short_hex(self.account_id, 'sys')}")

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng, cal = self.ctx, self.rng, self.ctx.calibration
        chat = ctx.prompts.chat
        proc = self.arrivals(self.daily)
        conv: str | None = None
        turn = 0
        last = -(10**15)
        while (ts := proc.next()) is not None:
            if ts - last < 1_200_000 and rng.random() < 0.85 and conv is not None:
                turn += 1
            else:
                conv, turn = self.conversation_id(), 0
            last = ts
            prompt = chat.draw(rng)
            inp = int(cal.conv_input.sample(rng.random) + len(prompt) * 0.25 + 300 * turn)
            out = int(cal.conv_output.sample(rng.random))
            stop = "tool_use" if self.tools and rng.random() < 0.1 else "end_turn"
            yield (
                ts,
                self.event(
                    ts,
                    self.model_at(ts),
                    prompt,
                    inp,
                    out,
                    self.max_tokens,
                    self.temperature,
                    self.stream,
                    self.tools,
                    stop,
                    conv,
                    turn,
                    None,
                    self.top_p,
                ),
            )


class SaasIntegrator(Account):
    """A SaaS product calling the API for its end users (one system prompt)."""

    kind = "saas"

    def __init__(self, ctx: RunContext, identity: Identity, rng: random.Random, sc: Scenario) -> None:
        super().__init__(ctx, identity, rng, rpm=4000)
        cal = ctx.calibration
        self.daily = sc.saas_median * min(max(cal.volume_ratio.at(rng.random()), 0.2), 20.0)
        self.domain = rng.choice(sorted(ctx.prompts.saas))
        self.set_system_prompt(f"You are the assistant of product {short_hex(self.account_id, 'saas')}.")
        self.prefer_models(rng.choice(((1, 0, 0), (0, 1, 0), (0, 0.3, 0.7))))
        self.max_tokens = rng.choice((512, 1024, 2048))

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng, cal = self.ctx, self.rng, self.ctx.calibration
        source = ctx.prompts.saas[self.domain]
        chat = ctx.prompts.chat
        proc = self.arrivals(
            self.daily,
            active_day_prob=1.0,
            min_gap_s=0.01,
            day_sigma=min(cal.day_log_sigma.at(rng.random()), 0.4),
        )
        open_convs: list[_Conversation] = []
        while (ts := proc.next()) is not None:
            if open_convs and rng.random() < 0.6:
                c = open_convs[int(rng.random() * len(open_convs))]
                c.turn += 1
            else:
                c = _Conversation(self.conversation_id(), 0)
                if len(open_convs) >= 30:
                    open_convs[int(rng.random() * 30)] = c
                else:
                    open_convs.append(c)
            prompt = source.draw(rng) if rng.random() < 0.75 else chat.draw(rng)
            turn = c.turn
            inp = int(cal.conv_input.sample(rng.random) + len(prompt) * 0.25 + 200 * turn)
            out = int(cal.conv_output.sample(rng.random))
            yield (
                ts,
                self.event(
                    ts,
                    self.model_at(ts),
                    prompt,
                    inp,
                    out,
                    self.max_tokens,
                    0.7,
                    True,
                    0,
                    "end_turn",
                    c.conversation_id,
                    turn,
                ),
            )


class CodingAgent(Account):
    """A developer using an agentic coding tool: long tool-use sessions."""

    kind = "coding_agent"

    def __init__(
        self, ctx: RunContext, identity: Identity, rng: random.Random, sc: Scenario, product: int
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=200)
        cal = ctx.calibration
        self.sessions = min(sc.agent_sessions * max(cal.volume_ratio.at(rng.random()), 0.1), 40.0)
        self.tools, system = _AGENT_PRODUCTS[product % len(_AGENT_PRODUCTS)]
        self.set_system_prompt(system)
        self.prefer_models((0.8, 0.2, 0.0))

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng, cal = self.ctx, self.rng, self.ctx.calibration
        agent = ctx.prompts.agent
        starts = self.arrivals(self.sessions, min_gap_s=60.0)
        t = ctx.start_ms
        while (s := starts.next()) is not None:
            t = max(s, t + 1000)
            turns = int(min(max(lognormal(rng, 20.0, 0.8), 2.0), 300.0))
            conv = self.conversation_id()
            model = self.model_at(t)
            base = cal.code_input.sample(rng.random)
            growth = lognormal(rng, 900.0, 0.5)
            for turn in range(turns):
                if t >= ctx.end_ms:
                    return
                prompt = agent.instruction(rng) if turn == 0 else agent.tool_result(rng)
                inp = int(min(base + growth * turn + len(prompt) * 0.25, 200_000))
                out = int(cal.conv_output.sample(rng.random))
                stop = "end_turn" if turn == turns - 1 else "tool_use"
                yield t, self.event(t, model, prompt, inp, out, 8192, 1.0, True, self.tools, stop, conv, turn)
                gap = lognormal(rng, 6.0, 0.8) + (rng.random() * 240.0 if rng.random() < 0.08 else 0.0)
                t += int(gap * 1000) + 1


class EvalRun(Account):
    """One evaluation of a public benchmark: a burst over a few hours, then gone."""

    kind = "eval_run"

    def __init__(self, ctx: RunContext, identity: Identity, rng: random.Random, sc: Scenario) -> None:
        super().__init__(ctx, identity, rng, rpm=1000)
        span = ctx.end_ms - ctx.start_ms
        size = ctx.prompts.tasks.size
        self.items = size if size else rng.choice((250, 500, 500, 1000))
        self.hours = 1.0 + rng.random() * 3.0
        self.begin = ctx.start_ms + int(rng.random() * max(span - self.hours * 3_600_000, 0))
        self.cot = rng.choice(
            ("", "", "\n\nLet's think step by step.", "\n\nShow your reasoning, then give the final answer.")
        )
        self.passes = 2 if rng.random() < 0.3 else 1
        self.set_system_prompt(None)

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng = self.ctx, self.rng
        tasks = ctx.prompts.tasks.with_salt(7) if not ctx.prompts.tasks.size else ctx.prompts.tasks
        mean_gap_ms = self.hours * 3_600_000 / (self.items * self.passes)
        t = self.begin
        models = ctx.models.models
        for p in range(self.passes):
            model = models[p % len(models)]
            for i in range(self.items):
                t += int(rng.expovariate(1.0) * mean_gap_ms) + 1
                if t >= ctx.end_ms:
                    return
                prompt = tasks.task(i) + self.cot
                out = int(lognormal(rng, 350.0 if self.cot else 120.0, 0.5))
                yield t, self.event(t, model, prompt, int(len(prompt) * 0.25) + 20, out, 2048, 0.0, False)


class BatchJob(Account):
    """A scheduled batch job: fixed start times, fixed pace, one template."""

    kind = "batch"

    def __init__(self, ctx: RunContext, identity: Identity, rng: random.Random, sc: Scenario) -> None:
        super().__init__(ctx, identity, rng, rpm=3000)
        self.period_ms = rng.choice((6, 12, 24, 24)) * 3_600_000
        self.phase_ms = int(rng.random() * self.period_ms) // 60_000 * 60_000
        self.items = int(lognormal(rng, 200.0, 0.8)) + 10
        self.pace_ms = int(500 + rng.random() * 2500)
        self.template = BatchPrompts(int(rng.random() * 4))
        self.set_system_prompt(f"batch pipeline {short_hex(self.account_id, 'batch')}: answer tersely")
        self.prefer_models((0.1, 0.4, 0.5))

    def events(self) -> Iterator[tuple[int, Event]]:
        ctx, rng = self.ctx, self.rng
        model = self.model_at(ctx.start_ms)
        run = (ctx.start_ms - self.phase_ms) // self.period_ms
        t = 0
        while True:
            t = max(run * self.period_ms + self.phase_ms, t)  # a late run starts when the last ends
            run += 1
            if t >= ctx.end_ms:
                return
            for _ in range(self.items):
                t += int(self.pace_ms * (0.9 + 0.2 * rng.random()))
                if t < ctx.start_ms:
                    continue
                if t >= ctx.end_ms:
                    return
                prompt = self.template.draw(rng)
                out = int(lognormal(rng, 40.0, 0.6))
                yield (
                    t,
                    self.event(
                        t, model, prompt, int(len(prompt) * 0.25) + 60, out, 256, 0.0, False, 0, "end_turn"
                    ),
                )


def _benign_identity(
    ctx: RunContext, rng: random.Random, tag: str, i: int, *, hosting: bool = False
) -> Identity:
    country = infra.pick_country(rng)
    created = ctx.start_ms - _account_age_ms(rng)
    if hosting:
        provider = int(rng.random() * 4)  # the big clouds
        addrs = [infra.hosting_ip(rng, provider) for _ in range(1 + int(rng.random() * 4))]
        client = infra.pick_client(rng)
    else:
        addrs = [infra.residential_addr(rng, country) for _ in range(1 + int(rng.random() * 2.2))]
        client = infra.pick_client(rng)
    endpoint = infra.endpoint_for(rng, client)
    return make_identity(
        ctx.seed, tag, i, created_ms=created, country=country, addrs=addrs, client=client, endpoint=endpoint
    )


def _shared_ip_group(ctx: RunContext, sc: Scenario, kind: str, g: int, size: int) -> list[Account]:
    """One corporate NAT (shared IP, ASN, proxy fingerprint, org and card) or cloud egress."""
    rng = rng_for(ctx.seed, kind, "group", g)
    corporate = kind == "corporate_nat"
    country = infra.pick_country(rng)
    if corporate:
        ip, asn = infra.ipv4(rng, (12, 62, 80, 144, 193)), 64000 + int(rng.random() * 1400)
        proxy = infra.custom_client(f"corp-proxy-{g}", "Zscaler/1.0 forwarding proxy")
    else:
        ip, asn = infra.hosting_ip(rng, int(rng.random() * 3))
        proxy = None
    org = f"org_{short_hex(ctx.seed, kind, g)}"
    card = f"pm_{short_hex(ctx.seed, kind, 'card', g)}"
    out: list[Account] = []
    for j in range(size):
        arng = rng_for(ctx.seed, kind, g, j)
        client = proxy if proxy is not None else infra.pick_client(arng)
        ident = make_identity(
            ctx.seed,
            f"{kind}-{g}",
            j,
            created_ms=ctx.start_ms - _account_age_ms(arng),
            country=country,
            addrs=[(ip, asn)],
            client=client,
            payment_fp=card if corporate else None,
            org_id=org if corporate else None,
        )
        acct: Account
        if arng.random() < 0.3:
            acct = CodingAgent(ctx, ident, arng, sc, int(arng.random() * 3))
        else:
            acct = ChatUser(ctx, ident, arng, sc)
        acct.kind = kind  # labelled by the group's kind, whatever the member does
        out.append(acct)
    return out


def build_population(ctx: RunContext, sc: Scenario) -> list[Account]:
    """The benign accounts of scenario ``sc``, deterministic for ``ctx.seed``."""
    mix = sc.benign_mix_dict()
    n = sc.benign_accounts
    counts = {k: round(share * n) for k, share in mix.items()}
    accounts: list[Account] = []
    for kind in ("chat", "saas", "coding_agent", "eval_run", "batch"):
        for i in range(counts.get(kind, 0)):
            rng = rng_for(ctx.seed, kind, i)
            hosting = kind in ("saas", "batch") or (kind == "eval_run" and rng.random() < 0.6)
            ident = _benign_identity(ctx, rng, kind, i, hosting=hosting)
            if kind == "coding_agent":
                product = int(rng.random() * 3)
                ident.client = infra.AGENT_CLIENTS[product]
                accounts.append(CodingAgent(ctx, ident, rng, sc, product))
            elif kind == "chat":
                accounts.append(ChatUser(ctx, ident, rng, sc))
            elif kind == "saas":
                accounts.append(SaasIntegrator(ctx, ident, rng, sc))
            elif kind == "eval_run":
                accounts.append(EvalRun(ctx, ident, rng, sc))
            else:
                accounts.append(BatchJob(ctx, ident, rng, sc))
    for kind in ("corporate_nat", "cloud_egress"):
        remaining = counts.get(kind, 0)
        g = 0
        while remaining > 0:
            size = min(max(sc.nat_group_size, 1), remaining)
            accounts.extend(_shared_ip_group(ctx, sc, kind, g, size))
            remaining -= size
            g += 1
    return accounts
