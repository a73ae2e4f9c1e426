"""Account features (stream_guard.core.features.extract / scaled) on hand-built AccountStates.

Sequences are written out here event by event; times start at a day boundary (T0) and, unless
a test is about the windows' overlap weighting, evaluation happens inside the generation of
every horizon that holds the events, so counts are exact.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from typing import Any

import pytest
from stream_guard.core.features import DAY_SUMMARY, MODEL_FEATURES, day_summary, extract, scaled
from stream_guard.core.recent import RINGS
from stream_guard.core.state import AccountState
from stream_guard.settings import Settings

HORIZONS = Settings().horizons
T0 = 20513 * 86400.0  # 2026-03-01T00:00:00Z
HOUR = 3600.0
DOC = Path(__file__).resolve().parents[3] / "docs" / "detection.md"

# a few lowercase nouns: prompts built from them have different templates (nothing to mask)
NOUNS = (
    "apple", "banana", "cherry", "dolphin", "eagle", "falcon", "garden", "harbor", "island", "jungle",
    "kettle", "lantern", "meadow", "nectar", "orchard", "pepper", "quarry", "river", "saddle", "tunnel",
    "violin", "walrus", "yogurt", "zephyr", "anchor", "basket", "candle", "desert", "ember", "forest",
)


def ev(**kw: Any) -> dict[str, Any]:
    event = {"model": "m", "input_tokens": 100, "output_tokens": 200}
    event.update(kw)
    return event


def state(events: list[dict[str, Any]], start: float = T0 + 5 * HOUR, every: float = 5.0) -> AccountState:
    """An account that sent ``events`` from ``start`` on, one every ``every`` seconds."""
    st = AccountState("acct", HORIZONS)
    for i, event in enumerate(events):
        st.add(event, start + i * every)
    return st


def features(events: list[dict[str, Any]], start: float = T0 + 5 * HOUR, every: float = 5.0,
             at: float | None = None) -> dict[str, float]:
    st = state(events, start, every)
    return extract(st, at if at is not None else start + len(events) * every)


# --- volume ----------------------------------------------------------------------------------

def test_requests_per_horizon() -> None:
    st = AccountState("acct", HORIZONS)
    for i in range(4):
        st.add(ev(), T0 + 1 * HOUR + i)        # early in the day
    for i in range(6):
        st.add(ev(), T0 + 5 * HOUR + 10 * i)   # this hour, an older short generation
    for i in range(5):
        st.add(ev(), T0 + 5 * HOUR + 600 + i)  # this short generation
    f = extract(st, T0 + 5 * HOUR + 610)
    assert (f["short_requests"], f["long_requests"], f["day_requests"]) == (5, 11, 15)


def test_tokens_and_output_input_ratio() -> None:
    f = features([ev(input_tokens=50 + i, output_tokens=1000) for i in range(20)])
    assert f["long_input_tokens"] == sum(50 + i for i in range(20))
    assert f["long_output_tokens"] == 20_000 and f["day_output_tokens"] == 20_000
    assert f["out_in_ratio_long"] == pytest.approx(20_000 / f["long_input_tokens"])
    assert f["mean_output_tokens_long"] == 1000 and f["mean_output_tokens_day"] == 1000


def test_output_input_ratio_without_input_tokens_stays_finite() -> None:
    f = features([ev(input_tokens=0, output_tokens=10) for _ in range(3)])
    assert f["out_in_ratio_long"] == 30.0


def test_max_tokens_share_counts_only_max_tokens_stops() -> None:
    stops = ["max_tokens"] * 6 + ["end_turn"] * 10 + ["length"] * 2 + [None] * 2
    f = features([ev(stop_reason=s) if s else ev() for s in stops])
    assert f["max_tokens_share_day"] == pytest.approx(6 / 20)


def test_rate_limited_share_counts_429s() -> None:
    statuses = [429] * 5 + [200] * 12 + [500] * 3
    f = features([ev(status=s) for s in statuses])
    assert f["rate_limited_share_day"] == pytest.approx(5 / 20)


def test_an_empty_account_has_neutral_features() -> None:
    f = extract(AccountState("acct", HORIZONS), T0)
    shares = [k for k in f if "share" in k or k == "distinct_ratio_day"]
    assert shares and all(f[k] == 0.0 for k in shares)
    assert f["iat_cv_day"] == 1.0 and f["burstiness_day"] == 0.0
    assert f["observed_hours"] == 0.0 and f["account_age_days"] == 0.0


# --- diversity and templating ----------------------------------------------------------------

def test_repeat_share_and_distinct_ratio() -> None:
    prompts = [f"tell me about the {n}" for n in NOUNS[:8]]
    f = features([ev(prompt=p) for p in prompts for _ in range(2)])  # each prompt twice in a row
    assert f["prompt_basis_day"] == 16
    assert f["repeat_share_day"] == pytest.approx(0.5)
    assert f["distinct_prompts_day"] == pytest.approx(8, abs=1e-6)  # up to 8: exact
    assert f["distinct_ratio_day"] == pytest.approx(0.5, abs=1e-6)


def test_repeats_count_only_among_recent_prompts() -> None:
    k = RINGS["prompt"]
    prompts = [f"tell me about the {n}" for n in NOUNS[: k + 1]]
    f = features([ev(prompt=p) for p in prompts + prompts[:1]])  # the first again after k others
    assert f["repeat_share_day"] == 0.0


def test_all_distinct_prompts_give_a_distinct_ratio_near_one() -> None:
    f = features([ev(prompt=f"tell me about the {n}") for n in NOUNS[:30]])
    assert f["distinct_prompts_day"] == pytest.approx(30, rel=0.35)  # HyperLogLog estimate
    assert f["distinct_ratio_day"] >= 0.7
    assert f["repeat_share_day"] == 0.0


def test_template_repeat_share_for_fills_of_one_template() -> None:
    f = features([ev(prompt=f"Solve {i} + {3 * i}. Think step by step.") for i in range(20)])
    assert f["template_repeat_share_day"] == pytest.approx(19 / 20)  # all but the first fill
    assert f["repeat_share_day"] == 0.0


def test_template_repeat_share_for_different_templates_is_zero() -> None:
    f = features([ev(prompt=f"tell me about the {n}") for n in NOUNS[:20]])
    assert f["template_repeat_share_day"] == 0.0


def test_exact_repeats_are_not_template_repeats() -> None:
    prompts = [f"Solve {i} + 1" for i in range(10)]
    f = features([ev(prompt=p) for p in prompts for _ in range(2)])
    assert f["repeat_share_day"] == pytest.approx(10 / 20)
    # the denominator is the fresh (non-repeated) prompts: 9 of the 10 fill a seen template
    assert f["template_repeat_share_day"] == pytest.approx(9 / 10)


def test_categories_day_counts_capabilities_covered() -> None:
    prompts = ["Compute the integral of x.", "Debug my python code.", "Explain the physics of a molecule."]
    assert features([ev(prompt=p) for p in prompts])["categories_day"] == 4  # math, code, science, knowledge
    assert features([ev(prompt="lorem ipsum") for _ in range(5)])["categories_day"] == 0


# --- content ---------------------------------------------------------------------------------

def test_cot_and_benchmark_shares_over_text_requests() -> None:
    prompts = (["Think step by step: what is 2 + 2?"] * 4 + ["Which is prime? A) 4 B) 6 C) 7"] * 6
               + ["hello there"] * 10)
    f = features([ev(prompt=f"{p} #{i}") for i, p in enumerate(prompts)])
    assert f["text_basis_long"] == 20 and f["text_basis_day"] == 20
    assert f["cot_share_long"] == pytest.approx(4 / 20) and f["cot_share_day"] == pytest.approx(4 / 20)
    assert f["benchmark_share_long"] == pytest.approx(6 / 20)
    assert f["benchmark_share_day"] == pytest.approx(6 / 20)


def test_first_turn_share() -> None:
    turns = [0] * 5 + [1, 2, 3] * 5
    f = features([ev(turn_index=t) for t in turns])
    assert f["first_turn_share_long"] == pytest.approx(5 / 20)
    assert f["first_turn_share_day"] == pytest.approx(5 / 20)


def test_requests_without_turn_index_count_as_first_turns() -> None:
    assert features([ev() for _ in range(4)])["first_turn_share_day"] == 1.0


def test_tool_share() -> None:
    tools = [2] * 5 + [0] * 5 + [None] * 10
    f = features([ev(tools=t) if t is not None else ev() for t in tools])
    assert f["tool_share_day"] == pytest.approx(5 / 20)


# --- timing ----------------------------------------------------------------------------------

def test_perfectly_regular_gaps_have_zero_cv() -> None:
    f = features([ev() for _ in range(40)], every=60.0)
    assert f["gap_basis_day"] == 39
    assert f["iat_cv_day"] == pytest.approx(0.0, abs=1e-3)
    assert f["burstiness_day"] == pytest.approx(-1.0, abs=2e-3)


def test_poisson_like_gaps_have_cv_near_one() -> None:
    rnd = random.Random(11)
    st = AccountState("acct", HORIZONS)
    t = T0 + HOUR
    for _ in range(400):
        t += rnd.expovariate(1 / 120)
        st.add(ev(), t)
    f = extract(st, t + 1)
    assert f["iat_cv_day"] == pytest.approx(1.0, abs=0.2)
    assert f["burstiness_day"] == pytest.approx(0.0, abs=0.1)


def test_bursts_have_cv_above_one_and_positive_burstiness() -> None:
    st = AccountState("acct", HORIZONS)
    t = T0 + HOUR
    for _burst in range(10):  # 10 requests 1 s apart, then 1000 s of silence
        for _ in range(10):
            st.add(ev(), t)
            t += 1.0
        t += 1000.0
    f = extract(st, t)
    assert f["iat_cv_day"] > 2.0
    assert f["burstiness_day"] > 0.3


def test_too_few_gaps_give_the_neutral_cv() -> None:
    f = features([ev(), ev()], every=30.0)
    assert f["gap_basis_day"] == 1
    assert f["iat_cv_day"] == 1.0 and f["burstiness_day"] == 0.0


def test_simultaneous_and_out_of_order_events_add_no_gap() -> None:
    st = AccountState("acct", HORIZONS)
    for t in (100.0, 160.0, 160.0, 130.0, 220.0):
        st.add(ev(), T0 + HOUR + t)
    f = extract(st, T0 + HOUR + 300)
    assert f["gap_basis_day"] == 2  # 160 - 100 and 220 - 160
    assert f["iat_cv_day"] == pytest.approx(0.0, abs=1e-3)


def test_around_the_clock_activity_covers_24_hours_and_has_no_rest() -> None:
    st = AccountState("acct", HORIZONS)
    for h in range(30):
        st.add(ev(), T0 + h * HOUR + 100)
    f = extract(st, T0 + 30 * HOUR)
    assert f["active_hours"] == 24
    assert f["observed_hours"] >= 24
    assert f["longest_rest_hours"] == 0


def office_hours(days: int) -> AccountState:
    st = AccountState("acct", HORIZONS)
    for d in range(days):
        for h in range(9, 17):  # 09:00 to 17:00, every 10 minutes
            for m in range(6):
                st.add(ev(), T0 + d * 86400 + h * HOUR + m * 600)
    return st


def test_office_hours_are_eight_active_hours_with_a_sixteen_hour_rest() -> None:
    st = office_hours(2)
    f = extract(st, T0 + 86400 + 17 * HOUR)  # the end of the second working day
    assert f["active_hours"] == 8
    assert f["observed_hours"] == 32
    assert f["longest_rest_hours"] == 16


def test_longest_rest_is_neutral_until_a_day_was_observed() -> None:
    st = office_hours(1)
    f = extract(st, T0 + 17 * HOUR)  # observed 8 hours only
    assert f["active_hours"] == 8
    assert f["observed_hours"] == 8
    assert f["longest_rest_hours"] == 24.0


def test_active_hours_fade_out_after_a_day_of_silence() -> None:
    st = office_hours(1)
    assert extract(st, T0 + 17 * HOUR + 20 * HOUR)["active_hours"] == 4   # 13:00-16:00 still in the last 24 h
    assert extract(st, T0 + 17 * HOUR + 30 * HOUR)["active_hours"] == 0


# --- spread ----------------------------------------------------------------------------------

def test_spread_counts_distinct_models_params_ips_user_agents_clients() -> None:
    events = [ev(model=f"model-{i % 3}", temperature=0.1 * (i % 2), top_p=1.0, ip=f"10.0.0.{i % 2}",
                 user_agent="sdk/1.0", client_fingerprint=f"c{i % 3}") for i in range(12)]
    f = features(events)
    assert (f["distinct_models"], f["distinct_params"], f["distinct_ips"],
            f["distinct_user_agents"], f["distinct_clients"]) == (3, 2, 2, 1, 3)


def test_spread_saturates_at_the_ring_sizes() -> None:
    events = [ev(model=f"m{i}", temperature=i / 20, ip=f"10.1.0.{i}", user_agent=f"ua/{i}",
                 client_fingerprint=f"c{i}") for i in range(20)]
    f = features(events)
    assert f["distinct_models"] == RINGS["model"]
    assert f["distinct_params"] == RINGS["params"]
    assert f["distinct_ips"] == RINGS["ip"]
    assert f["distinct_user_agents"] == RINGS["user_agent"]
    assert f["distinct_clients"] == RINGS["client"]


def test_missing_spread_fields_count_nothing() -> None:
    f = features([ev() for _ in range(5)])
    assert f["distinct_models"] == 1
    assert f["distinct_params"] == f["distinct_ips"] == f["distinct_user_agents"] == f["distinct_clients"] == 0


# --- age -------------------------------------------------------------------------------------

@pytest.mark.parametrize("created", [T0 - 30 * 86400, "2026-01-30T00:00:00Z", "2026-01-30T01:00:00+01:00"])
def test_age_from_account_created_at(created: float | str) -> None:
    f = features([ev(account_created_at=created)], start=T0, at=T0 + 86400)
    assert f["account_age_days"] == pytest.approx(31.0)
    assert f["age_known"] == 1.0


def test_age_from_first_seen_without_created_at() -> None:
    st = state([ev(), ev()], start=T0)
    f = extract(st, T0 + 2.5 * 86400)
    assert f["account_age_days"] == pytest.approx(2.5)
    assert f["age_known"] == 0.0


# --- hash-only traffic -----------------------------------------------------------------------

def test_hash_only_events_keep_repeat_and_distinct_signals() -> None:
    hashes = [f"sha256:{i}" for i in range(6)] + ["sha256:0", "sha256:1"]
    f = features([ev(prompt_hash=h, output_tokens=1500, input_tokens=40) for h in hashes])
    assert f["text_basis_long"] == 0 and f["text_basis_day"] == 0
    assert f["prompt_basis_day"] == 8
    for text_based in ("cot_share_long", "cot_share_day", "benchmark_share_long", "benchmark_share_day",
                       "template_repeat_share_day", "categories_day"):
        assert f[text_based] == 0.0, text_based
    assert f["repeat_share_day"] == pytest.approx(2 / 8)
    assert f["distinct_prompts_day"] == pytest.approx(6, abs=1e-6)
    assert f["distinct_ratio_day"] == pytest.approx(6 / 8, abs=1e-6)


def test_text_and_hash_mixed_use_their_own_bases() -> None:
    events = ([ev(prompt=f"Think step by step about the {n}") for n in NOUNS[:4]]
              + [ev(prompt_hash=f"h{i}") for i in range(4)] + [ev() for _ in range(2)])
    f = features(events)
    assert f["text_basis_day"] == 4 and f["prompt_basis_day"] == 8 and f["day_requests"] == 10
    assert f["cot_share_day"] == 1.0  # over the 4 texts, not the 10 requests
    assert f["distinct_ratio_day"] == pytest.approx(1.0, abs=1e-6)  # over the 8 with a prompt


# --- scaled ----------------------------------------------------------------------------------

def test_scaled_maps_every_model_feature_into_the_unit_interval() -> None:
    rnd = random.Random(5)
    st = AccountState("acct", HORIZONS)
    for i in range(300):
        st.add(ev(prompt=f"Solve {i}. Think step by step.", output_tokens=rnd.randint(0, 8000),
                  stop_reason="max_tokens"), T0 + HOUR + 3 * i)
    base = extract(st, T0 + 2 * HOUR)
    extremes = [
        base,
        dict.fromkeys(base, 0.0),
        dict.fromkeys(base, 1000000000000000.0),
        {k: rnd.uniform(0, 1e7) for k in base},
        {k: rnd.uniform(0, 1.5) for k in base},
    ]
    for f in extremes:
        x = scaled(f)
        assert set(x) == set(MODEL_FEATURES)
        assert all(0.0 <= v <= 1.0 and not math.isnan(v) for v in x.values()), x


def test_scaled_is_monotonic_in_each_feature() -> None:
    low = dict.fromkeys(MODEL_FEATURES, 0.0)
    for name in MODEL_FEATURES:
        values = [scaled(dict(low, **{name: v}))[name] for v in (0.0, 0.2, 0.5, 1.0, 3.0, 24.0, 1e3, 1e6)]
        assert values == sorted(values), name
        assert values[-1] > values[0], name


def test_model_features_are_features() -> None:
    assert set(MODEL_FEATURES) <= set(extract(AccountState("acct", HORIZONS), T0))


# --- documentation ---------------------------------------------------------------------------

def test_every_feature_is_documented() -> None:
    text = DOC.read_text()
    documented = set(re.findall(r"`([a-z_]+)`", text))
    missing = set(extract(AccountState("acct", HORIZONS), T0)) - documented
    assert not missing, f"docs/detection.md lacks {sorted(missing)}"


# --- counter indices ----------------------------------------------------------------------------
def test_counter_indices_are_looked_up_by_name_and_a_missing_one_fails_at_import() -> None:
    """features.py reads Windows.view by counter name (not by a positional unpack behind an
    ``assert`` that ``python -O`` drops); AccountState.add's positional tuple is checked
    against COUNTERS at import of state.py."""
    import subprocess
    import sys

    from stream_guard.core import features, state
    from stream_guard.core.window import COUNTERS

    assert (COUNTERS[features.REQ], COUNTERS[features.GSQ], COUNTERS[features.NEAR]) == (
        "requests", "gap_sq_sum", "near_dup_requests")
    assert state._ADD_ORDER == COUNTERS
    with pytest.raises(ImportError, match="no_such_counter"):
        features._counter("no_such_counter")
    # the checks are plain code: they still run under python -O
    code = ("import stream_guard.core.window as w; w.COUNTERS = w.COUNTERS[::-1]\n"
            "try:\n    import stream_guard.core.state\nexcept ImportError as e:\n    print('refused:', e)")
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("refused:")


@pytest.mark.parametrize("seed", range(5))
def test_day_summary_gives_exactly_what_extract_gives(seed: int) -> None:
    """The profile's day-window shortcut equals the full extraction on its features, at
    boundaries inside, at and past the day window's generations."""
    rnd = random.Random(seed)
    st = AccountState("a", (300.0, 3600.0, 86400.0))
    ts = 1_772_000_000.0 + rnd.uniform(0, 86400)
    created = "2026-02-20T00:00:00Z" if seed % 2 else None
    for _ in range(rnd.randint(1, 400)):
        ts += rnd.expovariate(1 / rnd.choice([5.0, 60.0, 3600.0]))
        ev: dict[str, Any] = {"model": "m", "input_tokens": rnd.randint(1, 900), "output_tokens": rnd.randint(1, 4000),
                              "turn_index": rnd.choice([0, 0, 1]), "stop_reason": rnd.choice(["stop", "max_tokens"])}
        if created:
            ev["account_created_at"] = created
        if rnd.random() < 0.8:
            ev["prompt"] = rnd.choice(["Think step by step about item {}.", "What is the sum of {} and 4?",
                                       "Write a poem about {}."]).format(rnd.randint(0, 50))
        elif rnd.random() < 0.5:
            ev["prompt_hash"] = f"h{rnd.randint(0, 30)}"
        st.add(ev, ts)
        for at in (ts + 1.0, (ts // 900 + 1) * 900, ts + 86400.0 * rnd.random(), ts + 2 * 86400.0):
            full = extract(st, at)
            assert day_summary(st, at) == {k: full[k] for k in DAY_SUMMARY}
