"""MixtureDetector (reseller mixing) on hand-made event sequences (stream_guard.core.linking.mixture).

Each case builds one account's day of traffic: a majority of customers under many stream
keys (system prompts) and, where the case is about it, a minority stream. Signals are made
with ``analyze_prompt`` on made-up prompts in the realistic case and as ``PromptSignals``
directly elsewhere. Thresholds are read from ``Settings``.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from stream_guard.core.linking import mixture
from stream_guard.core.linking.mixture import MAX_STREAMS, MixtureDetector
from stream_guard.core.rules import Verdict
from stream_guard.core.signals import PromptSignals, analyze_prompt
from stream_guard.settings import Settings

S = Settings()
DAY = S.day_window_s
T0 = 20513 * DAY  # 2026-03-01T00:00:00Z, a day boundary
CUSTOMERS = [0x1000 + c for c in range(30)]  # system prompt keys of a reseller's customers
MINORITY = 0xE7E7E7E7E7E7E7E7  # the minority stream's key
SWEEP_TEMPLATE = 0xABCDEF

#: (prompt signals or None, first turn, output tokens)
Draw = tuple[PromptSignals | None, bool, int]
Kind = Callable[[random.Random], Draw]
Event = tuple[float, int, PromptSignals | None, bool, int]


def chat(rnd: random.Random) -> Draw:
    """An end customer chatting: rare CoT wording, some benchmark-looking questions, mixed turns, short answers."""
    sig = PromptSignals(rnd.random() < 0.03, rnd.random() < 0.08, 1 << rnd.randrange(8), rnd.getrandbits(64))
    return sig, rnd.random() < 0.5, rnd.randint(60, 450)


def sweep(rnd: random.Random) -> Draw:
    """Templated CoT benchmark items, first turn only, long outputs."""
    return PromptSignals(True, True, 1, SWEEP_TEMPLATE), True, rnd.randint(600, 1500)


def eval_items(rnd: random.Random) -> Draw:
    """An evaluation run's CoT benchmark items (many different ones), first turn, long outputs."""
    return PromptSignals(True, True, 1, rnd.getrandbits(64)), True, rnd.randint(400, 1200)


def tutoring(rnd: random.Random) -> Draw:
    """A tutoring chat: step-by-step wording, but multi-turn with short answers."""
    return PromptSignals(True, rnd.random() < 0.3, 1, rnd.getrandbits(64)), rnd.random() < 0.25, rnd.randint(60, 220)


def untemplated_cot(rnd: random.Random) -> Draw:
    """CoT prompts without benchmark shape or templates, first turn, long outputs (score 0.65)."""
    return PromptSignals(True, False, 1, rnd.getrandbits(64)), True, rnd.randint(600, 1500)


def day_of(n: int, share: float, minority: Kind | None, majority: Kind = chat, *, streams: list[int] = CUSTOMERS,
           start: float = 0.0, seed: int = 1, t0: float = T0) -> list[Event]:
    """``n`` requests over 90 % of a day; from ``start`` (a fraction of the day) each one is the
    minority's with probability ``share``, else a customer's (Zipf-weighted over ``streams``)."""
    rnd = random.Random(seed)
    weights = [1.0 / (c + 1) for c in range(len(streams))]
    out: list[Event] = []
    for i in range(n):
        ts = t0 + i * 0.9 * DAY / n
        if minority is not None and i >= start * n and rnd.random() < share:
            out.append((ts, MINORITY, *minority(rnd)))
        else:
            out.append((ts, rnd.choices(streams, weights)[0], *majority(rnd)))
    return out


def feed(d: MixtureDetector, events: Iterable[Event], account: str = "acct") -> None:
    for ts, stream, sig, first, tokens in events:
        d.observe(account, ts, stream, sig, first_turn=first, output_tokens=tokens)


def judge(events: Iterable[Event], settings: Settings = S) -> Verdict | None:
    events = list(events)
    d = MixtureDetector(settings)
    feed(d, events)
    return d.evaluate("acct", events[-1][0] + 60.0)


def by_signal(v: Verdict) -> dict[str, dict[str, Any]]:
    return {r["signal"]: r for r in v.reasons}


# --- the reseller: fires --------------------------------------------------------------------

_CHAT_PROMPTS = (
    "Can you suggest a name for my {0} shop?",
    "What should I cook tonight with {0} and {1}?",
    "Rewrite this sentence so it sounds friendlier: we cannot refund your {0}.",
    "Give me three ideas for a weekend trip near the {0}.",
    "How do I fix a squeaky {0}?",
    "Write a short birthday message for my friend who loves {0}.",
    "Summarize the main points of a meeting about the {0} budget.",
    "Is it rude to bring {0} to a dinner party?",
)
_WORDS = ("kettle", "garden", "violin", "harbor", "meadow", "bakery", "lantern", "bicycle", "rice", "lemons")
_SWEEP_PROMPTS = (
    ("Q{0}. A tank holds {1} litres and leaks {2} litres per hour. How long until it holds {3} litres? "
     "Think step by step and show all your work."),
    ("Q{0}. A train travels {1} km in {2} hours. How far does it travel in {3} hours? "
     "Think step by step and show all your work."),
)
_PROMPT_WORDS = ("litres", "train travels", "squeaky", "bakery", "dinner party", "birthday")


def test_reseller_with_a_templated_cot_minority_fires_with_reasons() -> None:
    """92 % diverse chat under 30 system prompts, 8 % templated CoT benchmark sweep (first
    turn, long outputs) under one system prompt, starting once the slots are taken."""
    rnd = random.Random(7)
    d = MixtureDetector(S)
    n = 4000
    swept = 0
    for i in range(n):
        ts = T0 + i * 0.9 * DAY / n
        if i >= 0.3 * n and rnd.random() < 0.08 / 0.7:  # 8 % of the day overall
            prompt = rnd.choice(_SWEEP_PROMPTS).format(i, rnd.randint(10, 99), rnd.randint(2, 9), rnd.randint(2, 9))
            d.observe("reseller", ts, MINORITY, analyze_prompt(prompt), first_turn=True,
                      output_tokens=rnd.randint(600, 1500))
            swept += 1
        else:
            prompt = rnd.choice(_CHAT_PROMPTS).format(rnd.choice(_WORDS), rnd.choice(_WORDS))
            d.observe("reseller", ts, rnd.choice(CUSTOMERS), analyze_prompt(prompt),
                      first_turn=rnd.random() < 0.5, output_tokens=rnd.randint(60, 450))
        if i == int(0.3 * n):
            assert d.evaluate("reseller", ts) is None  # before the sweep: customers only
    assert 0.06 < swept / n < 0.1
    v = d.evaluate("reseller", T0 + 0.9 * DAY)
    assert v is not None
    assert (v.detector, v.severity) == ("mixture_rule", "high")
    assert v.score >= 0.8
    r = by_signal(v)
    assert list(r) == ["substream_share", "substream_requests", "substream_cot_share", "substream_benchmark_share",
                       "substream_template_repeat_share", "substream_first_turn_share",
                       "substream_mean_output_tokens", "rest_cot_share", "rest_benchmark_share"]
    assert r["substream_share"]["value"] == pytest.approx(swept / n, abs=0.005)
    assert r["substream_requests"]["value"] == swept
    assert r["substream_cot_share"]["value"] == 1.0
    assert r["substream_benchmark_share"]["value"] == 1.0
    assert r["substream_template_repeat_share"]["value"] > 0.95
    assert r["substream_first_turn_share"]["value"] == 1.0
    assert r["substream_mean_output_tokens"]["value"] > 600
    assert r["rest_cot_share"]["value"] < 0.05
    assert f"{MINORITY:016x}" in str(r["substream_share"]["detail"])
    text = json.dumps(v.reasons)
    assert not any(word in text for word in _PROMPT_WORDS)  # no prompt text in reasons


def test_reasons_compare_with_the_settings() -> None:
    v = judge(day_of(2000, 0.08, sweep))
    assert v is not None
    thresholds = {r["signal"]: r["threshold"] for r in v.reasons}
    assert thresholds == {
        "substream_share": S.mixture_max_share,
        "substream_requests": S.mixture_min_requests,
        "substream_cot_share": S.rule_cot_share,
        "substream_benchmark_share": S.rule_benchmark_share,
        "substream_template_repeat_share": S.pattern_template_share,
        "substream_first_turn_share": S.rule_first_turn_share,
        "substream_mean_output_tokens": S.rule_min_mean_output_tokens,
        "rest_cot_share": S.rule_cot_share,
        "rest_benchmark_share": S.rule_benchmark_share,
    }
    assert all(isinstance(r["detail"], str) and r["detail"] for r in v.reasons)


def test_a_weaker_shape_is_medium_and_follows_mixture_min_score() -> None:
    events = day_of(2000, 0.08, untemplated_cot)
    v = judge(events)
    assert v is not None and v.severity == "medium"
    assert v.score == pytest.approx(0.65)
    assert judge(events, dataclasses.replace(S, mixture_min_score=0.7)) is None


def test_the_sweep_keeps_its_slot_against_churning_customers() -> None:
    """A reseller with hundreds of customers, some sending the odd CoT prompt: the sweep's
    slot is never handed over, and at most MAX_STREAMS sub-streams are kept."""
    many = [0x5000 + c for c in range(400)]
    events = day_of(4000, 0.08, sweep, streams=many, start=0.2, seed=3)
    d = MixtureDetector(S)
    feed(d, events)
    v = d.evaluate("acct", events[-1][0])
    assert v is not None and f"{MINORITY:016x}" in str(v.reasons[0]["detail"])
    st = d._accounts["acct"]
    assert isinstance(st, mixture._Mixed) and len(st.subs) <= MAX_STREAMS
    total = sum(sub.c[0] for sub in st.subs.values()) + st.other[0]
    assert total == len(events)  # nothing lost: evicted and slot-less streams count in `other`


def test_a_minority_with_no_stream_key_is_a_sub_stream_too() -> None:
    events = [(ts, 0 if stream == MINORITY else stream, sig, first, n) for ts, stream, sig, first, n in
              day_of(2000, 0.08, sweep)]
    v = judge(events)
    assert v is not None and "0000000000000000" in str(v.reasons[0]["detail"])


def test_requests_without_text_count_toward_volume_only() -> None:
    """30 sweep requests against 70 chat requests are a 30 % share (too big to be a
    minority); 400 hash-only requests more make it 6 %."""
    rnd = random.Random(5)
    text_only = [(T0 + i, MINORITY, *sweep(rnd)) if i % 10 < 3 else (T0 + i, CUSTOMERS[i % 7], *chat(rnd))
                 for i in range(100)]
    assert judge(text_only) is None
    hashed: list[Event] = [(T0 + 100 + i, CUSTOMERS[i % 7], None, True, 300) for i in range(400)]
    v = judge(text_only + hashed)
    assert v is not None
    assert by_signal(v)["substream_share"]["value"] == pytest.approx(30 / 500)
    # a hash-only minority has no text to judge
    assert judge([(ts, s, None if s == MINORITY else sig, f, n)
                  for ts, s, sig, f, n in day_of(2000, 0.08, sweep)]) is None


# --- benign: must not fire ----------------------------------------------------------------------

def test_saas_integrator_with_one_system_prompt_is_not_judged() -> None:
    """One stream key, even CoT/benchmark-heavy: nothing to contrast, and a tiny record only."""
    d = MixtureDetector(S)
    feed(d, day_of(3000, 0.0, None, eval_items, streams=[0x42]))
    assert d.evaluate("acct", T0 + DAY) is None
    assert type(d._accounts["acct"]) is mixture._Single
    assert len(d) == 1


def test_ordinary_reseller_whose_customers_all_chat() -> None:
    assert judge(day_of(4000, 0.0, None)) is None
    assert judge(day_of(4000, 0.08, chat, seed=2)) is None  # a small customer that chats too


def test_evaluation_account_with_two_system_prompts_is_stopped_by_the_contrast() -> None:
    """Majority and minority both CoT benchmark items with long outputs: no contrast. The
    same minority next to a chatting majority fires (so it is the contrast that stops it)."""
    evaluation = day_of(2000, 0.15, eval_items, eval_items, streams=[0x77])
    assert judge(evaluation) is None
    assert judge(day_of(2000, 0.15, eval_items)) is not None


def test_a_majority_that_is_cot_heavy_gives_no_contrast() -> None:
    def cot_chat(rnd: random.Random) -> Draw:
        sig, first, n = chat(rnd)
        assert sig is not None
        return sig._replace(cot=rnd.random() < 0.35), first, n

    assert judge(day_of(3000, 0.08, sweep, cot_chat)) is None


def test_a_small_conversational_minority_does_not_fire() -> None:
    """Step-by-step tutoring, but multi-turn with short answers."""
    assert judge(day_of(3000, 0.08, tutoring)) is None


def test_a_large_sub_stream_is_left_to_the_per_account_rules() -> None:
    events = day_of(2000, 0.4, sweep)
    assert judge(events) is None
    assert judge(events, dataclasses.replace(S, mixture_max_share=0.5)) is not None


def test_a_sub_stream_needs_mixture_min_requests() -> None:
    rnd = random.Random(9)
    majority = [(T0 + i, CUSTOMERS[i % 10], *chat(rnd)) for i in range(600)]
    few = [(T0 + 600 + i, MINORITY, *sweep(rnd)) for i in range(int(S.mixture_min_requests) - 1)]
    assert judge(majority + few) is None
    assert judge(majority + few + [(T0 + 700, MINORITY, *sweep(rnd))]) is not None


# --- time and state ---------------------------------------------------------------------------

def test_the_day_horizon_fades_the_previous_day() -> None:
    d = MixtureDetector(S)
    feed(d, day_of(2000, 0.08, sweep, t0=T0))
    assert d.evaluate("acct", T0 + 0.95 * DAY) is not None
    assert d.evaluate("acct", T0 + DAY + 0.1 * DAY) is not None  # 90 % of yesterday still inside
    assert d.evaluate("acct", T0 + DAY + 0.95 * DAY) is None  # 5 %: too few requests left
    assert d.evaluate("acct", T0 + 2.5 * DAY) is None
    # a new day of chat only: the account rolls, the sweep's slot empties out
    feed(d, day_of(2000, 0.0, None, t0=T0 + 3 * DAY, seed=4))
    assert d.evaluate("acct", T0 + 3.95 * DAY) is None
    st = d._accounts["acct"]
    assert isinstance(st, mixture._Mixed) and MINORITY not in st.subs


def test_late_events_count_in_the_previous_day_only_if_inside_it() -> None:
    rnd = random.Random(11)
    d = MixtureDetector(S)
    feed(d, [(T0 + DAY + i, CUSTOMERS[i % 10], *chat(rnd)) for i in range(600)])  # today
    feed(d, [(T0 + DAY - 100 + i, MINORITY, *sweep(rnd)) for i in range(30)])  # late, from yesterday
    feed(d, [(T0 - 100 + i, MINORITY, *sweep(rnd)) for i in range(30)])  # two days ago: dropped
    v = d.evaluate("acct", T0 + DAY + 700)
    assert v is not None
    assert by_signal(v)["substream_requests"]["value"] == pytest.approx(30 * (1 - 700 / DAY), abs=1e-3)


def test_state_expires_after_the_account_ttl() -> None:
    d = MixtureDetector(S)
    events = day_of(2000, 0.08, sweep)
    feed(d, events)
    feed(d, [(T0, 0x9, None, True, 10)], account="other")
    last = events[-1][0]
    assert len(d) == 2
    assert d.expire(last + S.account_ttl_s) == 1  # "other" was idle for longer
    assert len(d) == 1 and d.evaluate("acct", last) is not None
    assert d.expire(last + S.account_ttl_s + 1) == 1
    assert len(d) == 0 and d.evaluate("acct", last) is None


def test_unknown_account_has_no_verdict() -> None:
    assert MixtureDetector(S).evaluate("nobody", T0) is None


def test_nothing_stored_holds_text() -> None:
    """The per-stream state is counters, weights and 64-bit template fingerprints only."""
    d = MixtureDetector(S)
    feed(d, day_of(500, 0.1, sweep))
    st = d._accounts["acct"]
    assert isinstance(st, mixture._Mixed)
    for sub in st.subs.values():
        assert all(isinstance(x, float) for x in sub.c)
        assert all(isinstance(x, int) for x in sub.ring)


def test_expire_drops_exactly_the_idle_accounts_at_every_call() -> None:
    """Against a model of the plain scan (drop every account whose last event is before
    watermark - ttl): random traffic with late events, watermarks that jump, stand still
    and go back, checkpoint round trips (load, also over a tracked account) and removals."""
    rnd = random.Random(17)
    ttl = S.account_ttl_s
    d = MixtureDetector(S)
    last: dict[str, float] = {}  # the model: account -> last event time
    now = T0
    for step in range(3000):
        action = rnd.random()
        if action < 0.7:
            account = f"a{rnd.randrange(60)}"
            ts = now - (rnd.random() * 3 * ttl if rnd.random() < 0.1 else rnd.random() * 60)  # some very late
            d.observe(account, ts, rnd.choice([1, 2, 3]), None, first_turn=True, output_tokens=10)
            last[account] = max(last.get(account, ts), ts)  # a dropped late event still counts as seen
            now += rnd.random() * ttl / 50
        elif action < 0.8:
            account = rnd.choice(sorted(last)) if last else "a0"
            data = json.loads(json.dumps(d.export(account)))
            target = account if rnd.random() < 0.5 else f"a{rnd.randrange(60)}"  # restore over another one
            d.load(target, data)
            if data is None:
                last.pop(target, None)
            else:
                last[target] = data[2] if data[0] == "s" else data[1]
        elif action < 0.82:
            account = f"a{rnd.randrange(60)}"
            d.load(account, None)
            last.pop(account, None)
        else:
            watermark = now + rnd.choice([0.0, -ttl, ttl / 3, rnd.random() * ttl])
            cutoff = watermark - ttl
            dead = {a for a, t in last.items() if t < cutoff}
            assert d.expire(watermark) == len(dead), step
            for a in dead:
                del last[a]
        assert set(d._accounts) == set(last), step
        assert {a: st.last for a, st in d._accounts.items()} == last
    assert d.expire(now + 10 * ttl) == len(last)
    assert len(d) == 0 and d._expiry == []


def test_expire_with_nothing_idle_looks_at_no_account() -> None:
    d = MixtureDetector(S)
    for i in range(1000):
        d.observe(f"a{i}", T0 + i, 1, None, first_turn=True, output_tokens=10)
    queued = list(d._expiry)
    for tick in range(100):
        assert d.expire(T0 + 1000 + tick) == 0
    assert d._expiry == queued  # untouched: the earliest entry is not below the cutoff
    assert d.expire(T0 + 500.5 + S.account_ttl_s) == 501 and len(d) == 499


# --- a gateway that sends prompt hashes only ------------------------------------------------------

def hashed_day(minority_tokens: int, customer_tokens: tuple[int, int] = (60, 450), *, n: int = 3000,
               share: float = 0.07, start: float = 0.3, seed: int = 4) -> list[Event]:
    """A reseller's day known by prompt hashes only: customers with short answers under 30 keys,
    from ``start`` a minority single-turn stream whose answers are ``minority_tokens`` long."""
    rnd = random.Random(seed)
    out: list[Event] = []
    for ts, stream, _sig, first, _tokens in day_of(n, share, sweep, start=start, seed=seed):
        if stream == MINORITY:
            out.append((ts, stream, None, True, minority_tokens + rnd.randint(-100, 100)))
        else:
            out.append((ts, stream, None, first, rnd.randint(*customer_tokens)))
    return out


def judge_hashed(events: list[Event], settings: Settings = S) -> Verdict | None:
    d = MixtureDetector(settings)
    for ts, stream, sig, first, tokens in events:
        d.observe("acct", ts, stream, sig, first_turn=first, output_tokens=tokens, hashed=True)
    return d.evaluate("acct", events[-1][0] + 60.0)


def test_a_hash_only_minority_with_long_answers_fires_at_medium() -> None:
    """Without text, a single-turn minority answered at length against customers answered
    briefly is the shape left to judge; it keeps a slot although it starts after 30 other
    keys (its long answers weigh like CoT events do), and is never more than medium."""
    v = judge_hashed(hashed_day(1000))
    assert v is not None and v.severity == "medium" and v.score >= S.mixture_min_score
    r = by_signal(v)
    assert r["substream_share"]["value"] == pytest.approx(0.07 * 0.7, abs=0.01)  # from 30 % of the day on
    assert r["substream_mean_output_tokens"]["value"] > 2 * r["rest_mean_output_tokens"]["value"]
    assert "substream_cot_share" not in r  # nothing is claimed about content it cannot read


@pytest.mark.parametrize("case", ["short answers", "the rest answers at length too", "too few"])
def test_a_hash_only_minority_needs_length_contrast_and_volume(case: str) -> None:
    if case == "short answers":
        events = hashed_day(250)
    elif case == "the rest answers at length too":
        events = hashed_day(1000, customer_tokens=(320, 480))  # long enough, never long enough to take a slot
    else:
        events = hashed_day(1000, n=3000, share=0.004)
    assert judge_hashed(events) is None


def test_text_and_hash_counters_of_old_checkpoints_still_load() -> None:
    d = MixtureDetector(S)
    feed(d, day_of(2000, 0.08, sweep))
    data = d.export("acct")
    assert data is not None and data[0] == "m"
    old = json.loads(json.dumps(data))
    n = len(old[3]) // 2  # counters per generation today
    cut = 7  # before the hash-only counters

    def shrink(c: list[float]) -> list[float]:
        return c[:cut] + c[n:n + cut]

    old[3] = shrink(old[3])
    for sub in old[4]:
        sub[1] = shrink(sub[1])
    again = MixtureDetector(S)
    again.load("acct", old)
    assert again.evaluate("acct", T0 + DAY - 1) == d.evaluate("acct", T0 + DAY - 1)
    with pytest.raises(ValueError, match="mixture counters"):
        bad = json.loads(json.dumps(data))
        bad[3] = bad[3][:5]
        again.load("acct", bad)
