"""The newer designs: contract, labels, each design's distinguishing properties, variants,
determinism, and that the presets that existed before them are unchanged."""

from __future__ import annotations

import hashlib
import itertools
import statistics
import string
from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest
from loadgen_helpers import contract_problems, encode_all
from stream_guard.contracts import validate_event
from stream_guard.core.signals import COT_PATTERN
from stream_guard.loadgen import design_parts as D
from stream_guard.loadgen import infra
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.prompts import TaskSource
from stream_guard.loadgen.scenarios import (
    BENIGN_KINDS,
    CAMPAIGN_KINDS,
    DEFAULT_CAMPAIGNS,
    DESIGN_BENIGN_KINDS,
    DESIGN_CAMPAIGN_KINDS,
    PRESET_HELP,
    PRESETS,
    recorded_knobs,
    scenario,
)
from stream_guard.loadgen.sweep import _FAMILIES, CATEGORIES, SweepItems, dispatch_index
from stream_guard.loadgen.timeutil import parse_iso
from stream_guard.loadgen.variants import DEFAULT_VARIANTS, VARIANTS, select

from conftest import DESIGNS_SMALL

Events = list[dict[str, Any]]
Run = tuple[Events, dict[str, Any]]
DAY = 86400.0

# sha256 of the events (JSON lines) and of the labels (sorted keys) of the presets as they
# were before the newer designs existed (recorded from the commit before them)
BEFORE_DESIGNS: dict[str, tuple[tuple[str, dict[str, Any]], int, str, str]] = {
    "smoke": (
        ("smoke", {}),
        3149,
        "37e5f470e6cde22d22ea7310bf976943d6866b82c19d41f23a591c5f5c425117",
        "f4c49ffe3098a1a0ae1f8d73ac1fb128af0dad883e1ecc9e078815133e865f9e",
    ),
    "standard-small": (
        ("standard", {"duration": "3h", "benign_accounts": 200, "hydra_accounts": 50}),
        4086,
        "de42f21024f5d47682fec8c420dd85e523c2607415302e7910c6df3233019286",
        "3419bc3655976a28bd1a891d2427a0f3dcbed15a921e2a5ea8fbefc301dc5c6a",
    ),
    "hydra-small": (
        ("hydra", {"duration": "30m", "benign_accounts": 50, "hydra_accounts": 500}),
        402,
        "9f65895675e0dd0537f2d12cf7c120a5cbc3770a7b1d9d5c9b2a68d10dc0e837",
        "9926bf7a9b61885491249fd430d4bfb108fa9a99054fc186156ad1859b4f929a",
    ),
    "week-small": (
        ("week", {"duration": "2h", "benign_accounts": 100, "hydra_accounts": 30}),
        2485,
        "fbab14dde22638463d13ddf6d377efae078a0bcf8ee3b1d0bfdfc23c5aa7d132",
        "51a18fc34358704a2808187e8709c0ce96f52d13d351e30ef44ce0c7a20a5167",
    ),
}


def _by(events: Events, labels: dict[str, Any], key: str) -> dict[str, Events]:
    """Events grouped by the labels' ``campaign`` (campaign accounts) or ``kind:variant``."""
    out: dict[str, Events] = defaultdict(list)
    accts = labels["accounts"]
    for e in events:
        a = accts[e["account_id"]]
        if key == "campaign":
            if a["label"] == "campaign":
                out[a["campaign"]].append(e)
        elif a["label"] == "benign" and "variant" in a:
            out[f"{a['kind']}:{a['variant']}"].append(e)
    return out


def _grouped(events: Events, key: str = "account_id") -> dict[str, Events]:
    """Events grouped by field ``key`` (per account by default), in order."""
    out: dict[str, Events] = defaultdict(list)
    for e in events:
        out[e[key]].append(e)
    return out


def _cot_share(prompts: list[str]) -> float:
    return sum(bool(COT_PATTERN.search(p)) for p in prompts) / len(prompts)


def _local_hour(e: dict[str, Any]) -> int:
    return int((parse_iso(e["ts"]) / 3600 + infra.country_by_code(e["country"]).utc_offset_h) % 24)


def _active_days(events: Events) -> float:
    ts = [parse_iso(e["ts"]) for e in events]
    return (max(ts) - min(ts)) / DAY


# -- the presets from before the designs -------------------------------------------------------
@pytest.mark.parametrize("case", sorted(BEFORE_DESIGNS))
def test_presets_from_before_the_designs_are_byte_identical(case: str) -> None:
    (preset, knobs), count, events_sha, labels_sha = BEFORE_DESIGNS[case]
    gen = Generator(scenario(preset, **knobs))
    h = hashlib.sha256()
    n = 0
    for _key, line in gen.lines(1):
        h.update(line + b"\n")
        n += 1
    assert (n, h.hexdigest()) == (count, events_sha)
    assert hashlib.sha256(orjson.dumps(gen.labels_doc(), option=orjson.OPT_SORT_KEYS)).hexdigest() == labels_sha


def test_designs_are_off_by_default_and_unrecorded_at_their_defaults() -> None:
    for name in ("smoke", "standard", "hydra", "week"):
        sc = scenario(name)
        assert not set(sc.campaign_list()) & set(DESIGN_CAMPAIGN_KINDS)
        assert not set(sc.benign_mix_dict()) & set(DESIGN_BENIGN_KINDS)
        assert not any(k.startswith(DESIGN_CAMPAIGN_KINDS + DESIGN_BENIGN_KINDS) for k in recorded_knobs(sc))
    assert scenario("standard").campaign_list() == DEFAULT_CAMPAIGNS
    assert set(CAMPAIGN_KINDS) == set(DEFAULT_CAMPAIGNS) | set(DESIGN_CAMPAIGN_KINDS)
    assert set(BENIGN_KINDS) >= set(DESIGN_BENIGN_KINDS)
    assert recorded_knobs(scenario("standard", mimicry_accounts=3))["mimicry_accounts"] == 3


# -- the designs preset and the variant knobs -----------------------------------------------------
def test_designs_preset_has_every_new_kind_and_variant() -> None:
    assert "designs" in PRESETS and "designs" in PRESET_HELP
    gen = Generator(scenario("designs"))  # built only: generating it takes ~10 s
    names = {c.name for c in gen.campaigns}
    expected = {f"{kind}:{v}" for kind in DESIGN_CAMPAIGN_KINDS for v in VARIANTS[kind]}
    assert names == expected
    kinds = Counter(a.kind for a in gen.benign)
    assert {k: kinds[k] for k in DESIGN_BENIGN_KINDS} == {"event_cohort": 120, "research_nat": 60, "heavy_user": 6}
    assert sum(kinds[k] for k in ("chat", "saas", "coding_agent", "eval_run", "batch")) == 970
    for kind in DESIGN_BENIGN_KINDS:  # groups take the variants in turn: as many as there are groups
        used = {a.variant for a in gen.benign if a.kind == kind}
        assert used <= set(VARIANTS[kind]) and len(used) >= 3


def test_variant_knobs_select_and_validate() -> None:
    for design, default in DEFAULT_VARIANTS.items():
        assert default in VARIANTS[design] and len(VARIANTS[design]) >= 3
        sc = scenario("standard")
        assert [v.name for v in sc.variants(design)] == [default]
        assert len(sc.replace(**{f"{design}_variant": "all"}).variants(design)) == len(VARIANTS[design])
    assert [v.name for v in select("adaptive_hydra", "trickle,churn,trickle")] == ["trickle", "churn"]
    with pytest.raises(ValueError):
        Generator(scenario("smoke", campaigns="mimicry", mimicry_variant="nope"))
    gen = Generator(scenario("smoke", campaigns="mimicry,hashed_reseller", hashed_reseller_variant="thin,heavy"))
    assert [c.name for c in gen.campaigns] == ["mimicry:tutor", "hashed_reseller:thin", "hashed_reseller:heavy"]


# -- every design: contract, labels ---------------------------------------------------------------
def test_design_events_follow_the_contract_and_labels_name_kinds(designs_events: Run) -> None:
    events, labels = designs_events
    bad = [(e["event_id"], p) for e in events for p in contract_problems(e)]
    assert not bad, bad[:5]
    for ev in events[:: max(1, len(events) // 1000)]:
        validate_event(ev)
    camps = labels["campaigns"]
    assert {c["kind"] for c in camps.values()} == set(DESIGN_CAMPAIGN_KINDS)
    for name, c in camps.items():
        kind, variant = name.split(":")
        assert c["kind"] == kind and c["params"]["variant"] == variant and c["events"] > 0, name
    for acct, entry in labels["accounts"].items():
        if entry["label"] == "campaign":
            assert entry["kind"] == camps[entry["campaign"]]["kind"]
            assert entry["variant"] == entry["campaign"].split(":")[1]
        elif entry["kind"] in DESIGN_BENIGN_KINDS:
            assert entry["variant"] in VARIANTS[entry["kind"]], acct
        else:
            assert "variant" not in entry
    for kind in DESIGN_BENIGN_KINDS:
        assert labels["benign_kinds"][kind]["events"] > 0
        assert set(labels["benign_kinds"][kind]["variants"]) == set(VARIANTS[kind])
        assert sum(labels["activity"]["series"][f"benign:{kind}"]) == labels["benign_kinds"][kind]["events"]
    words = set(CAMPAIGN_KINDS) | set(BENIGN_KINDS) | {"campaign", "benign", "extraction", "variant"}
    for ev in events[::7]:
        assert not words & set(ev)
        for f in ("account_id", "org_id", "api_key_id", "payment_fingerprint", "conversation_id"):
            assert not any(w in str(ev.get(f, "")) for w in words), (f, ev.get(f))


def test_designs_are_deterministic_and_parallel_safe() -> None:
    knobs = {**DESIGNS_SMALL, "duration": "5h", "campaign_start": "0", "event_cohort_at": "0.1"}
    a = encode_all(Generator(scenario("designs", **knobs)))
    b = encode_all(Generator(scenario("designs", **knobs)))
    assert a and hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
    assert a != encode_all(Generator(scenario("designs", **{**knobs, "seed": 6})))
    one, two = Generator(scenario("designs", **knobs)), Generator(scenario("designs", **knobs))
    assert list(one.lines(1)) == list(two.lines(2))
    assert one.labels_doc() == two.labels_doc()


# -- campaigns ---------------------------------------------------------------------------------
def test_mimicry_is_human_paced_multi_turn_with_a_minority_of_cot(designs_events: Run) -> None:
    events, labels = designs_events
    camps = _by(events, labels, "campaign")
    rates = {}
    for variant in VARIANTS["mimicry"].values():
        evs = camps[f"mimicry:{variant.name}"]
        convs = _grouped(evs, "conversation_id")
        lengths = Counter(len(c) for c in convs.values())
        assert set(lengths) <= set(variant.turns) | {min(variant.turns) - 1}  # one cut by the run's end
        assert all([e["turn_index"] for e in c] == list(range(len(c))) for c in convs.values())
        first = [e["prompt"] for e in evs if e["turn_index"] == 0]
        follow = [e["prompt"] for e in evs if e["turn_index"] > 0]
        assert len(set(first)) == len(first)  # every problem a new item
        assert 0.5 * variant.cot_share <= _cot_share(first) <= 1.8 * variant.cot_share + 0.05
        assert _cot_share(follow) < 0.05
        if variant.templated_followups:
            assert set(follow) <= set(D.MIMICRY_TEMPLATED)
        else:
            assert len(set(follow)) > 0.6 * len(follow)
        assert statistics.median(e["output_tokens"] for e in evs if e["status"] == 200) > 500
        assert all(not 1 <= _local_hour(e) <= 4 for e in evs)  # a night's rest
        per_acct = _grouped(evs)
        assert len({e["payment_fingerprint"] for e in evs}) == len(per_acct)
        ips = [{e["ip"] for e in es} for es in per_acct.values()]
        assert all(not (x & y) for i, x in enumerate(ips) for y in ips[i + 1 :])
        for es in per_acct.values():
            created = parse_iso(es[0]["account_created_at"])
            assert parse_iso(es[0]["ts"]) - created < 12 * DAY
            gaps = [parse_iso(b["ts"]) - parse_iso(a["ts"]) for a, b in itertools.pairwise(es)]
            assert min(gaps) > 20 and statistics.median(gaps) < 900  # minutes, not seconds or hours
        span = DAY * 2 * 0.8  # from the campaign start (0.2 of 2 days)
        rates[variant.name] = len(evs) / len(per_acct) / (span / DAY)
    assert rates["casual"] < rates["tutor"] < rates["grinder"]
    assert 25 < rates["casual"] < 60 and 90 < rates["grinder"] < 190


def test_adaptive_hydra_accounts_share_nothing_and_are_replaced(designs_events: Run) -> None:
    events, labels = designs_events
    camps = _by(events, labels, "campaign")
    sdk_fps = {c.fingerprint for c in infra.SDK_CLIENTS}
    rates = {}
    for variant in VARIANTS["adaptive_hydra"].values():
        name = f"adaptive_hydra:{variant.name}"
        evs = camps[name]
        per_acct = _grouped(evs)
        owners: dict[str, set[str]] = defaultdict(set)
        for key in ("ip", "payment_fingerprint", "system_prompt_hash"):
            owners.clear()
            for e in evs:
                if key in e:
                    owners[e[key]].add(e["account_id"])
            assert max(len(v) for v in owners.values()) == 1, (name, key)  # never shared
        assert {e["client_fingerprint"] for e in evs} <= sdk_fps  # popular clients only
        prompts = [e["prompt"] for e in evs]
        assert len(set(prompts)) == len(prompts)  # a sweep: never repeated
        assert _cot_share(prompts) < 0.1 + 0.05 * (len(prompts) < 1000)
        assert statistics.median(e["output_tokens"] for e in evs if e["status"] == 200) > 600
        info = labels["campaigns"][name]["params"]
        assert info["accounts_total"] == labels["campaigns"][name]["accounts"] >= info["working_accounts"] == 40
        for es in per_acct.values():
            assert parse_iso(es[0]["ts"]) - parse_iso(es[0]["account_created_at"]) < 6 * DAY  # young
        hours = Counter(_local_hour(e) for e in evs)
        assert hours[3] < hours[15]  # diurnal in local time, not a synchronized schedule
        rates[variant.name] = len(evs) / sum(_active_days(es) or 0.1 for es in per_acct.values())
    params = {n: labels["campaigns"][f"adaptive_hydra:{n}"]["params"] for n in VARIANTS["adaptive_hydra"]}
    assert params["churn"]["replacements"] > 10 and params["trickle"]["replacements"] == 0
    assert rates["trickle"] < rates["steady"] < rates["churn"]


def test_adaptive_hydra_covers_its_variants_categories(designs_events: Run) -> None:
    events, labels = designs_events
    camps = _by(events, labels, "campaign")
    code = [e for e in camps["adaptive_hydra:trickle"] if "Python function" in e["prompt"]]
    math_in_churn = [e for e in camps["adaptive_hydra:churn"] if "How many" in e["prompt"]]
    translate = [e for e in camps["adaptive_hydra:churn"] if "Translate" in e["prompt"]]
    assert code and math_in_churn and not translate


def test_agentic_distiller_runs_tool_sessions_around_the_clock(designs_events: Run) -> None:
    events, labels = designs_events
    camps = _by(events, labels, "campaign")
    lengths = {}
    for variant in VARIANTS["agentic_distiller"].values():
        evs = camps[f"agentic_distiller:{variant.name}"]
        sessions = _grouped(evs, "conversation_id")
        lo, hi = variant.turns
        done = [s for s in sessions.values() if s[-1].get("stop_reason") == "end_turn"]
        assert done and all(lo <= len(s) <= hi for s in done)
        for s in sessions.values():
            assert all(e["tools"] > 0 for e in s) and [e["turn_index"] for e in s] == list(range(len(s)))
            assert all(e.get("stop_reason") in ("tool_use", "max_tokens", None) for e in s[:-1])
        firsts = [s[0]["prompt"] for s in sessions.values()]
        assert len(set(firsts)) == len(firsts)  # every session a fresh task
        assert statistics.median(e["output_tokens"] for e in evs if e["status"] == 200) > 900
        assert len({int(parse_iso(e["ts"]) // 3600) % 24 for e in evs}) == 24  # no rest
        lengths[variant.name] = statistics.mean(len(s) for s in done)
    assert lengths["short"] < lengths["swarm"] < lengths["long"]


def test_hashed_reseller_sends_no_prompt_text(designs_events: Run) -> None:
    events, labels = designs_events
    camps = _by(events, labels, "campaign")
    shares = {}
    for variant in VARIANTS["hashed_reseller"].values():
        name = f"hashed_reseller:{variant.name}"
        evs = camps[name]
        assert all("prompt" not in e and len(e["prompt_hash"]) == 64 for e in evs)
        start = parse_iso(labels["campaigns"][name]["active_from"])
        later = [e for e in evs if parse_iso(e["ts"]) >= start]
        extraction = [e for e in later if e["temperature"] == 0.0]  # the extracting customer's settings
        assert len({e["system_prompt_hash"] for e in extraction}) == 1
        assert len({e["prompt_hash"] for e in extraction}) == len(extraction)
        assert not [e for e in evs if parse_iso(e["ts"]) < start and e["temperature"] == 0.0]
        shares[variant.name] = len(extraction) / len(later)
        assert abs(shares[variant.name] - variant.share) < 0.03, shares
    assert shares["thin"] < shares["heavy"]


# -- benign kinds ------------------------------------------------------------------------------
def test_event_cohorts_sign_up_together_and_act_in_sync(designs_events: Run) -> None:
    events, labels = designs_events
    kinds = _by(events, labels, "variant")
    for variant in VARIANTS["event_cohort"].values():
        evs = kinds[f"event_cohort:{variant.name}"]
        per_acct = _grouped(evs)
        assert len(per_acct) == 10
        assert len({e["client_fingerprint"] for e in evs}) == 1
        assert len({e["system_prompt_hash"] for e in evs}) == 1
        created = sorted(parse_iso(es[0]["account_created_at"]) for es in per_acct.values())
        median = created[len(created) // 2]
        together = [c for c in created if abs(c - median) <= (variant.signup_hours + 0.5) * 3600]
        assert len(together) >= 7  # a few may be old accounts or early sign-ups
        ages = [parse_iso(es[0]["ts"]) - parse_iso(es[0]["account_created_at"]) for es in per_acct.values()]
        assert sum(a < 2 * DAY for a in ages) >= 7  # new accounts
        firsts = sorted(parse_iso(es[0]["ts"]) for es in per_acct.values())
        assert firsts[-1] - firsts[0] <= (variant.signup_hours + 1.0) * 3600  # they start together
        assert statistics.median(e["output_tokens"] for e in evs if e["status"] == 200) < 600
        if variant.sync_points:
            exercise = [e for e in evs if e["prompt"].startswith("Exercise ")]
            assert len({e["account_id"] for e in exercise}) >= 8
            assert _cot_share([e["prompt"] for e in exercise]) > 0
        if variant.quickstart_turns:
            counts = Counter(e["prompt"] for e in evs)
            assert all(counts[p] >= 8 for p in D.QUICKSTART_PROMPTS)
    venue = kinds["event_cohort:workshop"]
    assert Counter(e["ip"] for e in venue).most_common(1)[0][1] > 0.4 * len(venue)


def test_research_nat_repeats_a_finite_item_set_across_days_and_models(designs_events: Run) -> None:
    events, labels = designs_events
    kinds = _by(events, labels, "variant")
    for variant in VARIANTS["research_nat"].values():
        evs = kinds[f"research_nat:{variant.name}"]
        assert len({e["ip"] for e in evs}) == 1  # one NAT address
        accts = _grouped(evs)
        assert len(accts) >= 5
        formats = len(D.RESEARCH_COT_FORMATS) + len(D.RESEARCH_DIRECT_FORMATS)
        distinct = {e["prompt_hash"] for e in evs}
        assert len(distinct) <= 60 * formats and len(evs) > 3 * len(distinct)  # a finite set, replayed
        seen: dict[str, tuple[set[int], set[str], set[str]]] = defaultdict(lambda: (set(), set(), set()))
        for e in evs:
            days, models, who = seen[e["prompt_hash"]]
            days.add(int(parse_iso(e["ts"]) // DAY))
            models.add(e["model"])
            who.add(e["account_id"])
        assert any(len(d) >= 2 and len(m) >= 2 and len(w) >= 2 for d, m, w in seen.values())
        assert _cot_share([e["prompt"] for e in evs]) >= 0.5
        assert statistics.median(e["output_tokens"] for e in evs if e["status"] == 200) > 300
        for es in accts.values():
            assert parse_iso(es[0]["ts"]) - parse_iso(es[0]["account_created_at"]) > 100 * DAY
            # fixed settings within a run: the settings change only a few times a day
            settings = [(e["model"], e["temperature"], e.get("top_p"), e["max_tokens"]) for e in es]
            changes = sum(1 for a, b in itertools.pairwise(settings) if a != b)
            assert changes * 20 < len(es)
        if variant.samples > 1:  # the same item sampled several times in a row
            assert Counter(e["prompt_hash"] for e in evs).most_common(1)[0][1] >= variant.samples


def test_heavy_users_send_thousands_a_day_from_one_or_two_clients(designs_events: Run) -> None:
    events, labels = designs_events
    kinds = _by(events, labels, "variant")
    for variant in VARIANTS["heavy_user"].values():
        evs = kinds[f"heavy_user:{variant.name}"]
        assert len({e["client_fingerprint"] for e in evs}) == variant.clients
        days = Counter(int(parse_iso(e["ts"]) // DAY) for e in evs)
        assert max(days.values()) > 500  # 1,200/day median here (heavy_user_rate)
        assert max(e["turn_index"] for e in evs) >= 5
        assert parse_iso(evs[0]["ts"]) - parse_iso(evs[0]["account_created_at"]) > 100 * DAY
    dev = kinds["heavy_user:developer"]
    assert sum(e["tools"] > 0 for e in dev) > 0.05 * len(dev)


# -- the sweep -----------------------------------------------------------------------------------
def test_sweep_items_never_repeat_and_use_every_slot() -> None:
    sweep = SweepItems(TaskSource(), salt=11)
    for cat in CATEGORIES:
        items = [sweep.item(cat, dispatch_index(k, 50, n)) for k in range(50) for n in range(60)]
        assert len(set(items)) == len(items), cat
        # every slot shows in every template (itself, or the field derived from it): injective
        derived = {"science": {"name": "n1", "options": "shift"}, "knowledge": {"y2": "span"}, "code": {"fn": "spec"}}
        for t in _FAMILIES[cat].templates:
            used = {f for _l, f, _s, _c in string.Formatter().parse(t) if f}
            used |= {derived.get(cat, {}).get(u, u) for u in used}
            assert {s.name.lstrip("_") for s in _FAMILIES[cat].slots} <= used, (cat, t)
    assert SweepItems(TaskSource(("a", "b")), 1).item("math", 3) == "b"  # a corpus replaces built-ins
