"""``heavy_user`` (benign): very heavy individual users.

Established accounts sending thousands of requests a day from one or two clients (the
browser or SDK they always use, plus an IDE assistant for developers), from home and
office addresses; varied organic prompts including some code and math (pasted homework
or work problems, now and then asking for the steps), long multi-turn chats, the
calibrated diurnal shape in their own time zone.

Variants (``heavy_user_variant``; see ``variants.HEAVY_USER``): ``power_chat``,
``developer``, ``researcher``. Accounts take the selected variants in turn.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from stream_guard.loadgen import design_parts as D
from stream_guard.loadgen import infra
from stream_guard.loadgen.accounts import Account, Event, Identity, RunContext, lognormal, make_identity
from stream_guard.loadgen.design_kit import campaign_sweep, established_age_ms
from stream_guard.loadgen.ids import rng_for
from stream_guard.loadgen.scenarios import Scenario
from stream_guard.loadgen.sweep import SweepItems
from stream_guard.loadgen.variants import HeavyUserVariant

__all__ = ["HeavyUser", "build_heavy_users"]

_BROWSERS = tuple(c for c in infra.SDK_CLIENTS if c.user_agent.startswith("Mozilla"))


class HeavyUser(Account):
    """One heavy user (see the module docstring)."""

    kind = "heavy_user"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        variant: HeavyUserVariant,
        daily: float,
        second: infra.Client | None,
        items: SweepItems,
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=300)
        self.variant = variant.name
        self.v = variant
        self.daily = daily * lognormal(rng, 1.0, 0.3)
        self.second = second
        self.items = items
        self.max_tokens = rng.choice((4096, 8192))
        self.temperature = rng.choice((1.0, 0.7))
        if rng.random() < 0.5:
            self.set_system_prompt(f"my custom instructions {self.account_id[-8:]}")

    def _prompt(self, rng: random.Random, n: int) -> tuple[str, bool]:
        """A prompt, and whether it is a coding prompt."""
        v, prompts = self.v, self.ctx.prompts
        u = rng.random()
        if u < v.code_share:
            if rng.random() < 0.6:
                return prompts.agent.instruction(rng), True
            return rng.choice(D.HEAVY_PREFIXES) + self.items.item("code", n), True
        if u < v.code_share + v.math_share:
            category = "science" if rng.random() < 0.3 else "math"
            text = rng.choice(D.HEAVY_PREFIXES) + self.items.item(category, n)
        else:
            text = prompts.chat.draw(rng)
        if rng.random() < v.cot_share:
            text += " Explain step by step."
        return text, False

    def events(self) -> Iterator[tuple[int, Event]]:
        rng, cal, v = self.rng, self.ctx.calibration, self.v
        proc = self.arrivals(self.daily, active_day_prob=0.93, min_gap_s=1.0, day_sigma=0.3)
        conv: str | None = None
        turn = 0
        last = -(10**15)
        n = 0
        while (ts := proc.next()) is not None:
            if conv is not None and ts - last < 900_000 and turn < 60 and rng.random() < 0.8:
                turn += 1
            else:
                conv, turn = self.conversation_id(), 0
            last = ts
            prompt, code = self._prompt(rng, n)
            n += 1
            tools = 12 if code and rng.random() < v.tools_share / max(v.code_share, 1e-9) else 0
            inp = int(cal.conv_input.sample(rng.random) + len(prompt) * 0.25 + 250 * min(turn, 40))
            out = int(cal.conv_output.sample(rng.random) * v.out_scale)
            stop = "tool_use" if tools and rng.random() < 0.5 else "end_turn"
            model = self.model_at(ts)
            ev = self.event(
                ts, model, prompt, inp, out, self.max_tokens, self.temperature, True, tools, stop, conv, turn
            )
            if self.second is not None and (tools or (code and rng.random() < 0.5)):
                ev["user_agent"] = self.second.user_agent
                ev["client_fingerprint"] = self.second.fingerprint
            yield ts, ev


def build_heavy_users(ctx: RunContext, sc: Scenario, count: int) -> list[Account]:
    """``count`` heavy users, taking the selected variants in turn."""
    variants = sc.variants("heavy_user")
    out: list[Account] = []
    for i in range(count):
        variant = variants[i % len(variants)]
        rng = rng_for(ctx.seed, "heavy_user", i)
        country = infra.pick_country(rng)
        addrs = [infra.residential_addr(rng, country)]
        if rng.random() < 0.6:  # home and office
            addrs.append(infra.residential_addr(rng, country))
        client = rng.choice(_BROWSERS) if variant.name == "power_chat" else infra.pick_client(rng)
        second = infra.AGENT_CLIENTS[1] if variant.clients > 1 else None
        ident = make_identity(
            ctx.seed,
            "heavy_user",
            i,
            created_ms=ctx.start_ms - established_age_ms(rng, 150.0),
            country=country,
            addrs=addrs,
            client=client,
            endpoint=infra.endpoint_for(rng, client),
        )
        daily = sc.heavy_user_rate if sc.heavy_user_rate > 0 else variant.rate
        items = campaign_sweep(ctx, f"heavy_user/{i}")
        out.append(HeavyUser(ctx, ident, rng, variant=variant, daily=daily, second=second, items=items))
    return out
