"""The generator: determinism, contract validity, no label leaks, ordering, knobs."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Any

import pytest
from loadgen_helpers import contract_problems, encode_all, small
from stream_guard.contracts import validate_event
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.scenarios import (
    BENIGN_KINDS,
    CAMPAIGN_KINDS,
    CORE_BENIGN_KINDS,
    DEFAULT_CAMPAIGNS,
    scenario,
)
from stream_guard.loadgen.timeutil import parse_iso


def test_same_seed_gives_byte_identical_output() -> None:
    a = encode_all(small(duration="2h", seed=11))
    b = encode_all(small(duration="2h", seed=11))
    assert a and hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()


def test_different_seed_gives_different_output() -> None:
    assert encode_all(small(duration="2h", seed=11)) != encode_all(small(duration="2h", seed=12))


def test_labels_are_deterministic_too() -> None:
    g1, g2 = small(duration="1h", seed=5), small(duration="1h", seed=5)
    list(g1.events()), list(g2.events())
    assert g1.labels_doc() == g2.labels_doc()


def test_every_event_follows_the_contract(smoke_events: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, _ = smoke_events
    assert len(events) > 1000
    bad = [(e["event_id"], p) for e in events for p in contract_problems(e)]
    assert not bad, bad[:5]
    for ev in events[:: max(1, len(events) // 500)]:  # the shipped JSON Schema, on a sample
        validate_event(ev)


def test_events_are_in_event_time_order_within_the_span(
    smoke_events: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    events, labels = smoke_events
    ts = [parse_iso(e["ts"]) for e in events]
    assert ts == sorted(ts)
    assert parse_iso(labels["run"]["start"]) <= ts[0] and ts[-1] < parse_iso(labels["run"]["end"])
    assert all(e["ts"].endswith("+00:00") for e in events[:100])
    assert len({e["event_id"] for e in events}) == len(events)


def test_labels_never_leak_into_events(smoke_events: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, labels = smoke_events
    words = set(CAMPAIGN_KINDS) | set(BENIGN_KINDS) | {"campaign", "label", "benign", "extraction"}
    for ev in events:
        assert not words & set(ev)
        for field in (
            "account_id",
            "org_id",
            "api_key_id",
            "event_id",
            "payment_fingerprint",
            "conversation_id",
        ):
            value = str(ev.get(field, "")).lower()
            assert not any(w in value for w in words), (field, value)
    assert {e["account_id"] for e in events} <= set(labels["accounts"])


def test_labels_list_every_account_and_campaign(
    smoke_events: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    events, labels = smoke_events
    assert labels["run"]["complete"] and labels["run"]["events"] == len(events)
    assert set(labels["campaigns"]) == set(DEFAULT_CAMPAIGNS)  # the newer designs are off by default
    per_account = Counter(e["account_id"] for e in events)
    for acct, entry in labels["accounts"].items():
        assert entry["events"] == per_account.get(acct, 0)
        assert entry["label"] in ("benign", "campaign")
        if entry["label"] == "campaign":
            assert entry["campaign"] in labels["campaigns"]
    assert labels["campaigns"]["hydra"]["accounts"] == 40
    assert sum(sum(v) for v in labels["activity"]["series"].values()) == len(events)
    for name, c in labels["campaigns"].items():
        assert c["events"] > 0, name


def test_benign_population_has_every_kind() -> None:
    gen = small(duration="1d", benign_accounts=300, nat_group_size=6, campaigns="none")
    events = list(gen.events())
    labels = gen.labels_doc()
    kinds = {e["kind"] for e in labels["accounts"].values()}
    assert kinds == set(CORE_BENIGN_KINDS)  # the newer benign kinds have share 0 by default
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    kind_of = {a: e["kind"] for a, e in labels["accounts"].items()}
    for ev in events:
        by_kind[kind_of[ev["account_id"]]].append(ev)
    agent = by_kind["coding_agent"]
    assert any(e["turn_index"] > 5 for e in agent) and all(e["tools"] > 0 for e in agent)
    assert Counter(e.get("stop_reason") for e in agent).most_common(1)[0][0] == "tool_use"
    saas_accounts = {e["account_id"] for e in by_kind["saas"]}
    for acct in saas_accounts:
        evs = [e for e in by_kind["saas"] if e["account_id"] == acct]
        assert len({e["system_prompt_hash"] for e in evs}) == 1
        assert len({e["prompt_hash"] for e in evs}) > 0.3 * len(evs)
    nat = defaultdict(set)
    for e in by_kind["corporate_nat"]:
        nat[e["org_id"]].add(e["account_id"])
    assert any(len(accts) > 1 for accts in nat.values())
    assert len({e["ip"] for e in by_kind["corporate_nat"]}) < len(
        {e["account_id"] for e in by_kind["corporate_nat"]}
    )
    for acct in {e["account_id"] for e in by_kind["eval_run"]}:
        ts = [parse_iso(e["ts"]) for e in by_kind["eval_run"] if e["account_id"] == acct]
        assert max(ts) - min(ts) <= 4 * 3600 * 2  # a burst of a few hours (two passes at most)
    chat_hours = Counter(int(parse_iso(e["ts"]) // 3600) for e in by_kind["chat"])
    assert len(chat_hours) > 12  # spread over the day


def _per_account_rate(events: list[dict[str, Any]], days: float) -> list[float]:
    counts = Counter(e["account_id"] for e in events)
    return [n / days for n in counts.values()]


def test_hydra_rate_and_sharing_follow_the_knobs() -> None:
    gen = small(
        duration="2d",
        benign_accounts=0,
        campaigns="hydra",
        hydra_accounts=300,
        hydra_start="0",
        hydra_accounts_per_ip=20.0,
        hydra_accounts_per_payment=10.0,
        hydra_fingerprint_share=0.8,
    )
    events = list(gen.events())
    rates = _per_account_rate(events, 2.0)
    assert len(rates) == 300
    assert 25.0 <= sum(rates) / len(rates) <= 27.0
    assert max(rates) - min(rates) <= 1.0  # evenly load-balanced
    assert 12 <= len({e["payment_fingerprint"] for e in events}) <= 35
    first_ip = {}
    for e in events:
        first_ip.setdefault(e["account_id"], e["ip"])
    assert len(set(first_ip.values())) == 15
    fp = Counter(e["client_fingerprint"] for e in {e["account_id"]: e for e in events}.values())
    assert 0.7 <= fp.most_common(1)[0][1] / 300 <= 0.9
    created = [parse_iso(e["account_created_at"]) for e in events]
    start = parse_iso(gen.labels_doc()["run"]["start"])
    assert all(start - 8 * 86400 <= c <= start for c in created)
    # synchronized: in every hour each account sends about the same number of requests
    per_hour = Counter(int(parse_iso(e["ts"]) // 3600) for e in events)
    inner = sorted(per_hour.values())[2:-2]
    assert max(inner) <= 1.25 * min(inner)


def test_hydra_scales_to_twenty_thousand_accounts_lazily() -> None:
    gen = small(duration="1h", benign_accounts=0, campaigns="hydra", hydra_accounts=20000, hydra_start="0")
    n = sum(1 for _ in gen.events())
    assert 20000 * 26 / 24 * 0.8 < n < 20000 * 26 / 24 * 1.2


def test_single_account_campaign_rates() -> None:
    gen = small(
        duration="4d",
        benign_accounts=0,
        campaigns="blunt,slow_cot",
        blunt_start="0",
        slow_start="0",
        blunt_rate=5000.0,
        slow_rate=30.0,
    )
    events = list(gen.events())
    labels = gen.labels_doc()
    kind = {a: e["kind"] for a, e in labels["accounts"].items()}
    per = Counter(kind[e["account_id"]] for e in events)
    assert 5000 * 4 * 0.6 < per["blunt"] < 5000 * 4 * 1.4
    assert 30 * 4 * 0.6 < per["slow_cot"] < 30 * 4 * 1.4
    slow = [e for e in events if kind[e["account_id"]] == "slow_cot"]
    suffixes = {e["prompt"][-60:] for e in slow}
    assert len(suffixes) == 1 and "step by step" in slow[0]["prompt"]  # one fixed CoT template
    blunt_status = Counter(e["status"] for e in events if kind[e["account_id"]] == "blunt")
    assert blunt_status[429] > 0


def test_reseller_extraction_share_and_pivot_to_new_model() -> None:
    gen = small(
        duration="2d",
        benign_accounts=40,
        campaigns="reseller,pivot",
        reseller_rate=4000.0,
        reseller_share=0.08,
        reseller_start="0.5",
        pivot_start="0",
        release_at="0.5",
        new_model="nova-9",
    )
    events = list(gen.events())
    labels = gen.labels_doc()
    kind = {a: e["kind"] for a, e in labels["accounts"].items()}
    release = parse_iso(labels["campaigns"]["pivot"]["pivot_at"])
    res = [e for e in events if kind[e["account_id"]] == "reseller"]
    later = [e for e in res if parse_iso(e["ts"]) >= release]
    extraction = [e for e in later if "Final answer:" in e.get("prompt", "")]
    assert 0.05 < len(extraction) / len(later) <= 0.11
    assert len({e["system_prompt_hash"] for e in extraction}) == 1
    earlier = [e for e in res if parse_iso(e["ts"]) < release]
    sys_hashes = Counter(e["system_prompt_hash"] for e in later)
    assert len(sys_hashes) > 10 and earlier
    pivot = [e for e in events if kind[e["account_id"]] == "pivot"]
    assert {e["model"] for e in pivot if parse_iso(e["ts"]) >= release} == {"nova-9"}
    assert "nova-9" not in {e["model"] for e in pivot if parse_iso(e["ts"]) < release}
    assert "nova-9" not in {e["model"] for e in events if parse_iso(e["ts"]) < release}
    before = sum(1 for e in pivot if parse_iso(e["ts"]) < release)
    after = len(pivot) - before
    assert after > 2.5 * before  # the campaign speeds up on the new model


def test_privacy_and_field_options() -> None:
    private = list(small(duration="1h", privacy=1.0).events())
    assert all("prompt" not in e and len(e["prompt_hash"]) == 64 for e in private)
    half = list(small(duration="1h", privacy=0.5).events())
    with_text = {e["account_id"] for e in half if "prompt" in e}
    without = {e["account_id"] for e in half if "prompt" not in e}
    assert with_text and without and not with_text & without
    evs = list(
        Generator(
            scenario("smoke", duration="1h"), ts_format="epoch", omit_fields=("ip", "asn", "prompt")
        ).events()
    )
    assert all(isinstance(e["ts"], float) for e in evs)
    assert not any({"ip", "asn", "prompt"} & set(e) for e in evs)
    with pytest.raises(ValueError):
        Generator(scenario("smoke"), omit_fields=("account_id",))


def test_bad_knobs_are_rejected() -> None:
    with pytest.raises(ValueError):
        scenario("nope")
    with pytest.raises(ValueError):
        scenario("smoke", campaigns="hydra,bogus").campaign_list()
    with pytest.raises(ValueError):
        scenario("smoke", benign_mix="chat=1,robots=2").benign_mix_dict()
    with pytest.raises(ValueError):
        scenario("smoke").offset_s("1.5")


def test_parallel_generation_gives_the_same_bytes_and_labels() -> None:
    one, two = small(duration="3h", seed=21), small(duration="3h", seed=21)
    lines_one = list(one.lines(1))
    lines_two = list(two.lines(2))
    assert lines_one and lines_one == lines_two
    assert one.labels_doc() == two.labels_doc()
    epoch = Generator(scenario("smoke", duration="1h"), ts_format="epoch", omit_fields=("prompt",))
    epoch2 = Generator(scenario("smoke", duration="1h"), ts_format="epoch", omit_fields=("prompt",))
    assert list(epoch.lines(1)) == list(epoch2.lines(3))
