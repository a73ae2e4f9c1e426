"""The newer designs, built from a scenario: benign kinds and campaigns with variants.

The core benign kinds and the first campaigns are built by ``population`` and
``campaigns``; this module builds the rest, after them, so that a scenario without the
newer designs generates exactly what it did before they existed.

* benign: ``event_cohort``, ``research_nat``, ``heavy_user`` (a module each, same name);
  each account's label carries its variant;
* campaigns: ``mimicry``, ``adaptive_hydra``, ``agentic_distiller``, ``hashed_reseller``
  (a module each, same name); one campaign per selected variant, named ``<kind>:<variant>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stream_guard.loadgen.accounts import Account, RunContext
from stream_guard.loadgen.adaptive_hydra import build_adaptive_hydra
from stream_guard.loadgen.agentic_distiller import build_agentic_distiller
from stream_guard.loadgen.campaigns import Campaign
from stream_guard.loadgen.event_cohort import build_event_cohorts
from stream_guard.loadgen.hashed_reseller import build_hashed_reseller
from stream_guard.loadgen.heavy_user import build_heavy_users
from stream_guard.loadgen.mimicry import build_mimicry
from stream_guard.loadgen.research_nat import build_research_groups
from stream_guard.loadgen.scenarios import DESIGN_BENIGN_KINDS, DESIGN_CAMPAIGN_KINDS, Scenario

__all__ = ["build_design_campaigns", "build_design_population"]

_BENIGN: dict[str, Callable[[RunContext, Scenario, int], list[Account]]] = {
    "event_cohort": build_event_cohorts,
    "research_nat": build_research_groups,
    "heavy_user": build_heavy_users,
}
_CAMPAIGNS: dict[str, Callable[[RunContext, Scenario, Any, int], Campaign]] = {
    "mimicry": build_mimicry,
    "adaptive_hydra": build_adaptive_hydra,
    "agentic_distiller": build_agentic_distiller,
    "hashed_reseller": build_hashed_reseller,
}


def build_design_population(ctx: RunContext, sc: Scenario) -> list[Account]:
    """The accounts of the newer benign kinds (shares of ``benign_accounts`` per ``benign_mix``)."""
    mix = sc.benign_mix_dict()
    out: list[Account] = []
    for kind in DESIGN_BENIGN_KINDS:
        count = round(mix.get(kind, 0.0) * sc.benign_accounts)
        if count > 0:
            out.extend(_BENIGN[kind](ctx, sc, count))
    return out


def build_design_campaigns(ctx: RunContext, sc: Scenario) -> list[Campaign]:
    """One campaign per enabled newer campaign kind and selected variant."""
    out: list[Campaign] = []
    for kind in sc.campaign_list():
        if kind not in DESIGN_CAMPAIGN_KINDS:
            continue
        start = ctx.start_ms + int(sc.offset_s(getattr(sc, f"{kind}_start")) * 1000)
        for variant in sc.variants(kind):
            out.append(_CAMPAIGNS[kind](ctx, sc, variant, start))
    return out
