"""Scenario knobs and named presets.

Every knob is a field of :class:`Scenario` with its help text in the field metadata; the
``loadgen`` command turns each into a ``--flag`` (underscores become dashes), so the help
and the defaults live in one place. A preset is a set of overrides of the defaults.

>>> s = scenario("smoke", seed=3)
>>> s.name, s.seed, s.span_s
('smoke', 3, 21600.0)
>>> s.offset_s("0.5"), s.offset_s("1h")
(10800.0, 3600.0)
>>> sorted(s.benign_mix_dict())[:3]
['batch', 'chat', 'cloud_egress']
>>> [v.name for v in s.variants("mimicry")], "mimicry_variant" in recorded_knobs(s)
(['tutor'], False)
>>> "mimicry_variant" in recorded_knobs(s.replace(mimicry_variant="all"))
True

Knobs added after the first release (metadata ``since`` 2: the designs and their variants)
enter the run id and the labels' ``run.knobs`` only when set away from their default, so
the presets that existed before them generate byte-identical events and labels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from stream_guard.loadgen.timeutil import parse_duration, parse_start
from stream_guard.loadgen.variants import DEFAULT_VARIANTS, select, variant_help

__all__ = [
    "BENIGN_KINDS",
    "CAMPAIGN_KINDS",
    "CORE_BENIGN_KINDS",
    "DEFAULT_CAMPAIGNS",
    "DESIGN_BENIGN_KINDS",
    "DESIGN_CAMPAIGN_KINDS",
    "PRESETS",
    "PRESET_HELP",
    "Scenario",
    "knob_fields",
    "recorded_knobs",
    "scenario",
]

CORE_BENIGN_KINDS = ("chat", "saas", "coding_agent", "eval_run", "batch", "corporate_nat", "cloud_egress")
#: Extraction-like or coordinated-looking benign kinds: share 0 unless ``benign_mix`` names them.
DESIGN_BENIGN_KINDS = ("event_cohort", "research_nat", "heavy_user")
BENIGN_KINDS = CORE_BENIGN_KINDS + DESIGN_BENIGN_KINDS
#: The campaigns of the default ``campaigns`` knob (every preset but ``designs``).
DEFAULT_CAMPAIGNS = ("blunt", "slow_cot", "hydra", "reseller", "pivot")
#: Campaign designs with variants (``<kind>_variant``); only enabled when ``campaigns`` names them.
DESIGN_CAMPAIGN_KINDS = ("mimicry", "adaptive_hydra", "agentic_distiller", "hashed_reseller")
CAMPAIGN_KINDS = DEFAULT_CAMPAIGNS + DESIGN_CAMPAIGN_KINDS


def _k(default: Any, help: str, group: str = "scenario", since: int = 1) -> Any:  # `help`: the argparse word
    return field(default=default, metadata={"help": help, "group": group, "since": since})


def _k2(default: Any, help: str, group: str) -> Any:
    """A knob added with the designs: recorded only when set away from its default."""
    return _k(default, help, group, since=2)


def _variant_k(design: str, group: str) -> Any:
    """The ``<design>_variant`` knob of a design (a ``_k2``): its default variant, its
    variants in the help."""
    return _k2(DEFAULT_VARIANTS[design], variant_help(design), group)


@dataclass(frozen=True)
class Scenario:
    """All knobs of one generated scenario (defaults = the ``standard`` preset)."""

    name: str = _k("standard", "preset this scenario started from", "meta")
    seed: int = _k(1, "random seed: same seed and knobs -> byte-identical output", "run")
    start: str = _k("2026-03-02T00:00:00+00:00", "event-time start (RFC 3339, date, or epoch seconds)", "run")
    duration: str = _k("2d", "simulated span of event time (e.g. 6h, 2d, 1w)", "run")
    privacy: float = _k(
        0.0, "share of accounts whose events carry only prompt_hash, no prompt text (0..1)", "run"
    )
    error_rate: float = _k(0.002, "share of requests answered 500/529 (overload)", "run")

    benign_accounts: int = _k(2000, "number of benign accounts", "benign")
    benign_mix: str = _k(
        "chat=0.82,saas=0.02,coding_agent=0.10,eval_run=0.01,batch=0.02,"
        "corporate_nat=0.025,cloud_egress=0.005",
        "share of benign accounts per kind (kind=share,...; normalised; a kind not named gets 0). Kinds: "
        + ", ".join(BENIGN_KINDS),
        "benign",
    )
    chat_median: float = _k(
        12.0, "median requests per active day of a chat user (ServeGen shape around it)", "benign"
    )
    saas_median: float = _k(
        800.0, "median requests per day of a SaaS integrator (ServeGen shape, 0.2x..20x)", "benign"
    )
    agent_sessions: float = _k(3.0, "median coding-agent sessions per active day", "benign")
    nat_group_size: int = _k(25, "accounts behind one corporate NAT / cloud egress IP", "benign")
    max_daily: float = _k(
        1500.0, "cap on a chat user's requests per active day (ServeGen's tail is cut here)", "benign"
    )

    event_cohort_variant: str = _variant_k("event_cohort", "benign")
    event_cohort_size: int = _k2(60, "event_cohort: accounts per cohort (one event each)", "benign")
    event_cohort_at: str = _k2(
        "0.3", "event_cohort: when the first cohort's event starts (later cohorts 5 h apart)", "benign"
    )
    research_nat_variant: str = _variant_k("research_nat", "benign")
    research_nat_size: int = _k2(25, "research_nat: accounts per research group (one NAT address each)", "benign")
    research_nat_items: int = _k2(
        0, "research_nat: size of a group's fixed benchmark item set (0 = the variant's)", "benign"
    )
    heavy_user_variant: str = _variant_k("heavy_user", "benign")
    heavy_user_rate: float = _k2(
        0.0, "heavy_user: median requests per active day (0 = the variant's)", "benign"
    )

    campaigns: str = _k(
        ",".join(DEFAULT_CAMPAIGNS),
        "campaigns to mix in, comma-separated (or 'none'): " + ", ".join(CAMPAIGN_KINDS),
        "campaigns",
    )
    campaign_start: str = _k(
        "0.25",
        "default campaign start: a fraction of the span (0.25) or an offset (12h)",
        "campaigns",
    )
    blunt_rate: float = _k(5000.0, "blunt extractor: requests per day (bursty, 24/7)", "campaigns")
    blunt_start: str = _k(
        "", "blunt extractor start (fraction or offset; empty = campaign start)", "campaigns"
    )
    slow_rate: float = _k(30.0, "slow templated CoT extractor: requests per day per account", "campaigns")
    slow_accounts: int = _k(1, "slow CoT extractor: number of accounts", "campaigns")
    slow_start: str = _k("0.1", "slow CoT extractor start", "campaigns")
    hydra_accounts: int = _k(1000, "hydra: number of accounts", "campaigns")
    hydra_rate: float = _k(26.0, "hydra: requests per account per day", "campaigns")
    hydra_accounts_per_ip: float = _k(
        20.0, "hydra: accounts sharing one proxy IP (1 = none shared)", "campaigns"
    )
    hydra_accounts_per_payment: float = _k(
        10.0, "hydra: accounts sharing one payment fingerprint (1 = none shared)", "campaigns"
    )
    hydra_fingerprint_share: float = _k(
        0.8,
        "hydra: share of accounts with the campaign's own client fingerprint (rest: popular SDKs)",
        "campaigns",
    )
    hydra_system_prompt_share: float = _k(
        1.0, "hydra: share of accounts sending the campaign's system prompt", "campaigns"
    )
    hydra_account_age: str = _k(
        "7d", "hydra: accounts are created up to this long before the start", "campaigns"
    )
    hydra_jitter: str = _k(
        "120s", "hydra: std-dev of each request's offset from its synchronized slot", "campaigns"
    )
    hydra_shift_hours: float = _k(
        24.0, "hydra: hours per day the accounts work, all in the same window", "campaigns"
    )
    hydra_start: str = _k("", "hydra start", "campaigns")
    reseller_rate: float = _k(4000.0, "reseller: requests per day (real customers + extraction)", "campaigns")
    reseller_share: float = _k(
        0.08, "reseller: share of its traffic that is extraction (<= 0.1)", "campaigns"
    )
    reseller_start: str = _k("0.4", "reseller: when its extraction share begins", "campaigns")
    pivot_accounts: int = _k(4, "pivot campaign: number of accounts", "campaigns")
    pivot_rate: float = _k(
        150.0, "pivot campaign: requests per account per day before the release", "campaigns"
    )
    pivot_boost: float = _k(4.0, "pivot campaign: rate multiplier once the new model is out", "campaigns")
    pivot_start: str = _k("0.2", "pivot campaign start", "campaigns")
    release_at: str = _k("0.6", "when the new model is released (fraction or offset)", "campaigns")
    new_model: str = _k("atlas-large-2", "name of the newly released model", "campaigns")
    mimicry_variant: str = _variant_k("mimicry", "campaigns")
    mimicry_accounts: int = _k2(12, "mimicry: young accounts per variant", "campaigns")
    mimicry_rate: float = _k2(0.0, "mimicry: requests per account per active day (0 = the variant's)", "campaigns")
    mimicry_start: str = _k2("", "mimicry start (empty = campaign start)", "campaigns")
    adaptive_hydra_variant: str = _variant_k("adaptive_hydra", "campaigns")
    adaptive_hydra_accounts: int = _k2(
        2000, "adaptive_hydra: accounts working at any time per variant (retired ones are replaced)", "campaigns"
    )
    adaptive_hydra_rate: float = _k2(
        0.0, "adaptive_hydra: requests per account per active day (0 = the variant's)", "campaigns"
    )
    adaptive_hydra_start: str = _k2("", "adaptive_hydra start (empty = campaign start)", "campaigns")
    agentic_distiller_variant: str = _variant_k("agentic_distiller", "campaigns")
    agentic_distiller_accounts: int = _k2(
        0, "agentic_distiller: accounts per variant (0 = the variant's)", "campaigns"
    )
    agentic_distiller_start: str = _k2("", "agentic_distiller start (empty = campaign start)", "campaigns")
    hashed_reseller_variant: str = _variant_k("hashed_reseller", "campaigns")
    hashed_reseller_rate: float = _k2(
        0.0, "hashed_reseller: requests per day, customers + extraction (0 = the variant's)", "campaigns"
    )
    hashed_reseller_share: float = _k2(
        0.0, "hashed_reseller: extraction share of its traffic (0 = the variant's)", "campaigns"
    )
    hashed_reseller_start: str = _k2(
        "", "hashed_reseller: when its extraction share begins (empty = campaign start)", "campaigns"
    )

    # -- derived ----------------------------------------------------------------------
    @property
    def start_s(self) -> float:
        """Event-time start, Unix seconds."""
        return parse_start(self.start)

    @property
    def span_s(self) -> float:
        """Simulated span, seconds."""
        return parse_duration(self.duration)

    def offset_s(self, text: str, default: str | None = None) -> float:
        """Seconds after the start for a fraction of the span (``0.25``) or an offset (``6h``)."""
        t = (text or default or self.campaign_start).strip()
        try:
            frac = float(t)
        except ValueError:
            return min(parse_duration(t), self.span_s)
        if not 0.0 <= frac <= 1.0:
            raise ValueError(f"not a fraction of the span: {text!r} (use 0..1, or an offset like 6h)")
        return frac * self.span_s

    def campaign_list(self) -> tuple[str, ...]:
        """Enabled campaign kinds."""
        names = tuple(c.strip() for c in self.campaigns.split(",") if c.strip() and c.strip() != "none")
        for n in names:
            if n not in CAMPAIGN_KINDS:
                raise ValueError(f"unknown campaign {n!r}; known: {', '.join(CAMPAIGN_KINDS)}")
        return names

    def benign_mix_dict(self) -> dict[str, float]:
        """Normalised share of benign accounts per kind."""
        out: dict[str, float] = {}
        for part in self.benign_mix.split(","):
            if not part.strip():
                continue
            k, _, v = part.partition("=")
            k = k.strip()
            if k not in BENIGN_KINDS:
                raise ValueError(f"unknown benign kind {k!r}; known: {', '.join(BENIGN_KINDS)}")
            out[k] = float(v)
        total = sum(out.values()) or 1.0
        return {k: v / total for k, v in out.items()}

    def variants(self, design: str) -> tuple[Any, ...]:
        """The selected variants of ``design`` (its ``<design>_variant`` knob; see ``variants``)."""
        return select(design, str(getattr(self, f"{design}_variant")))

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some knobs changed."""
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "duration": "6h",
        "benign_accounts": 60,
        "nat_group_size": 8,
        "hydra_accounts": 40,
        "blunt_rate": 2000.0,
        "reseller_rate": 1500.0,
        "pivot_accounts": 2,
        "pivot_rate": 300.0,
        "campaign_start": "0.2",
        "slow_start": "0.0",
        "pivot_start": "0.1",
        "reseller_start": "0.3",
        "release_at": "0.5",
        "saas_median": 400.0,
        "start": "2026-03-02T08:00:00+00:00",
    },
    "standard": {},
    "hydra": {
        "duration": "1d",
        "benign_accounts": 1000,
        "campaigns": "hydra",
        "hydra_accounts": 20000,
        "hydra_start": "0.0",
    },
    "week": {"duration": "7d", "benign_accounts": 5000, "hydra_accounts": 2000},
    "designs": {
        "duration": "2d",
        "benign_accounts": 1186,
        "benign_mix": "chat=820,saas=20,coding_agent=100,eval_run=10,batch=20,corporate_nat=25,"
        "cloud_egress=5,event_cohort=120,research_nat=60,heavy_user=6",
        "event_cohort_variant": "all",
        "event_cohort_size": 40,
        "research_nat_variant": "all",
        "research_nat_size": 20,
        "heavy_user_variant": "all",
        "campaigns": ",".join(DESIGN_CAMPAIGN_KINDS),
        "campaign_start": "0.2",
        "mimicry_variant": "all",
        "mimicry_accounts": 8,
        "adaptive_hydra_variant": "all",
        "adaptive_hydra_accounts": 300,
        "agentic_distiller_variant": "all",
        "hashed_reseller_variant": "all",
    },
}

PRESET_HELP = {
    "smoke": "tiny: 60 benign accounts, the 5 original campaigns small, 6 h (a few seconds to generate)",
    "standard": "2,000 benign accounts + the 5 original campaign kinds (hydra of 1,000), 2 days",
    "hydra": "20,000 hydra accounts at 26 req/account/day + 1,000 benign accounts, 1 day",
    "week": "5,000 benign accounts + the 5 original campaign kinds (hydra of 2,000), 7 days",
    "designs": "every newer design, all its variants, modest scale: 1,000 benign accounts + 3 event "
    "cohorts of 40, 3 research groups of 20, 6 heavy users; campaigns mimicry (3x8 accounts), "
    "adaptive_hydra (3x300 working accounts), agentic_distiller, hashed_reseller (one per variant); 2 days",
}


def scenario(name: str = "standard", **overrides: Any) -> Scenario:
    """The preset ``name`` with ``overrides`` applied (``None`` values are ignored)."""
    if name not in PRESETS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(PRESETS)}")
    values: dict[str, Any] = {"name": name, **PRESETS[name]}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Scenario(**values)


def recorded_knobs(sc: Scenario) -> dict[str, Any]:
    """The knobs a run records (labels ``run.knobs``) and derives its run id from: every
    knob, except those added with the designs (``since`` 2) while at their default."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Scenario):
        value = getattr(sc, f.name)
        if f.metadata.get("since", 1) > 1 and value == f.default:
            continue
        out[f.name] = value
    return out


def knob_fields() -> list[dataclasses.Field[Any]]:
    """The fields that become command-line flags (all but ``name``)."""
    return [f for f in dataclasses.fields(Scenario) if f.metadata.get("group") != "meta"]
