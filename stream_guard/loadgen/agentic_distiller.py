"""``agentic_distiller``: round-the-clock tool-use sessions harvested for agent training.

A few accounts run an agent harness in the cloud with no rest: each session is a fresh,
self-contained task (a coding task with tests, sometimes a data task) with tools
offered; the first turn states the task, the later turns feed back tool results (test
runs, files written), ``stop_reason`` is ``tool_use`` until the last turn, answers are
long. Each account runs a few sessions at a time ("lanes"); a turn follows the previous
answer once it has streamed and the tool has run. Looks like a busy coding agent, but
never sleeps, never returns to a repository, and every session is a new task.

Variants (``agentic_distiller_variant``; see ``variants.AGENTIC``) differ in session
length, accounts, concurrent sessions (hence rate) and answer length.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass

from stream_guard.loadgen import design_parts as D
from stream_guard.loadgen import infra
from stream_guard.loadgen.accounts import Account, Event, Identity, RunContext, age_ms, lognormal, make_identity
from stream_guard.loadgen.campaigns import Campaign
from stream_guard.loadgen.design_kit import campaign_name, campaign_sweep
from stream_guard.loadgen.ids import rng_for
from stream_guard.loadgen.scenarios import Scenario
from stream_guard.loadgen.sweep import SweepItems, dispatch_index
from stream_guard.loadgen.variants import AgenticVariant, params_of

__all__ = ["AgenticDistiller", "Step", "build_agentic_distiller"]

_MODEL = "atlas-large"
_CLIENTS = (
    infra.AGENT_CLIENTS[0],
    infra.SDK_CLIENTS[0],  # anthropic-python
    infra.SDK_CLIENTS[5],  # python-httpx
)


@dataclass(frozen=True, slots=True)
class Step:
    """One planned request of a lane: when, which session and turn, how long the answer."""

    ts: int
    lane: int
    session: int
    turn: int
    turns: int
    out: int


class AgenticDistiller(Account):
    """One agentic-distiller account (see the module docstring)."""

    kind = "agentic_distiller"

    def __init__(
        self,
        ctx: RunContext,
        identity: Identity,
        rng: random.Random,
        *,
        variant: AgenticVariant,
        start_ms: int,
        items: SweepItems,
    ) -> None:
        super().__init__(ctx, identity, rng, rpm=400)
        self.variant = variant.name
        self.v = variant
        self.active_from_ms = start_ms
        self.items = items
        self.tools = 6 + int(rng.random() * 8)
        self.set_system_prompt(D.AGENT_HARNESS_SYSTEM)

    def lane(self, k: int) -> Iterator[Step]:
        """The planned requests of lane ``k`` (its own random stream), in time order."""
        v, ctx = self.v, self.ctx
        rng = rng_for(ctx.seed, self.account_id, "lane", k)
        speed = ctx.speeds.get(_MODEL, 20.0)
        lo, hi = v.turns
        t = self.active_from_ms + int(rng.random() * 60_000)
        session = 0
        while t < ctx.end_ms:
            turns = lo + int(rng.random() * (hi - lo + 1))
            for turn in range(turns):
                if t >= ctx.end_ms:
                    return
                out = int(lognormal(rng, v.out_median, 0.5))
                yield Step(t, k, session, turn, turns, out)
                t += int(250 + out * speed + lognormal(rng, v.tool_gap_s, 0.7) * 1000)
            t += int(lognormal(rng, v.session_gap_s, 0.8) * 1000)
            session += 1

    def _task_prompt(self, rng: random.Random, index: int) -> str:
        wrapper = rng.choice(D.AGENT_TASK_WRAPPERS)
        kind = "math" if wrapper.startswith("Data task") else "code"
        return wrapper.format(task=self.items.item(kind, index), n=1000 + index)

    def _tool_result(self, rng: random.Random) -> str:
        if rng.random() < 0.5:
            return self.ctx.prompts.agent.tool_result(rng)
        return rng.choice(D.AGENT_TEST_RESULTS).format(
            p=int(rng.random() * 30), f=int(rng.random() * 4), k=int(rng.random() * 90) + 1,
            x=int(rng.random() * 1000), y=int(rng.random() * 400) + 5,
        )

    def events(self) -> Iterator[tuple[int, Event]]:
        rng, v = self.rng, self.v
        lanes = [self.lane(k) for k in range(v.lanes)]
        convs: dict[int, str] = {}
        context: dict[int, int] = {}
        for step in heapq.merge(*lanes, key=lambda s: (s.ts, s.lane)):
            if step.turn == 0:
                convs[step.lane] = self.conversation_id()
                prompt = self._task_prompt(rng, dispatch_index(step.lane, v.lanes, step.session))
                context[step.lane] = 1500 + self.tools * 120  # system prompt and tool definitions
            else:
                prompt = self._tool_result(rng)
            inp = min(context[step.lane] + int(len(prompt) * 0.25), 200_000)
            last = step.turn == step.turns - 1
            ev = self.event(
                step.ts,
                _MODEL,
                prompt,
                inp,
                step.out,
                16384,
                1.0,
                True,
                self.tools,
                "end_turn" if last else "tool_use",
                convs[step.lane],
                step.turn,
            )
            context[step.lane] = inp + ev["output_tokens"]
            yield step.ts, ev


def build_agentic_distiller(ctx: RunContext, sc: Scenario, variant: AgenticVariant, start_ms: int) -> Campaign:
    """The agentic distiller of one variant."""
    name = campaign_name("agentic_distiller", variant.name)
    n = sc.agentic_distiller_accounts if sc.agentic_distiller_accounts > 0 else variant.accounts
    accounts: list[Account] = []
    for i in range(n):
        rng = rng_for(ctx.seed, name, i)
        addr = infra.hosting_ip(rng, int(rng.random() * 6))
        ident = make_identity(
            ctx.seed,
            name,
            i,
            created_ms=start_ms - age_ms(rng, 3.0, 30.0),
            country=infra.pick_country(rng),
            addrs=[addr],
            client=rng.choice(_CLIENTS),
        )
        accounts.append(
            AgenticDistiller(
                ctx, ident, rng, variant=variant, start_ms=start_ms, items=campaign_sweep(ctx, f"{name}/{i}")
            )
        )
    params = {"variant": variant.name, "accounts": n, **params_of(variant)}
    return Campaign(name, "agentic_distiller", start_ms, accounts, params)
