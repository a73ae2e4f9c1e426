"""Near-duplicate prompts (stream_guard.core.neardup and its use in recent/state/features/rules).

The sketch on hand-made prompts (identical, one word changed, unrelated), its bit tricks
against naive versions, determinism across processes, the signature ring in ``Recent``,
the per-account sampling of ``AccountState``, old checkpoints, the features and
PatternRule's use of near duplicates as templating evidence.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import xxhash
from stream_guard.core.features import extract, pack, unpack
from stream_guard.core.neardup import MIN_WORDS, NEAR, STOP_WORDS, K, near_any, signature, similarity, sketch
from stream_guard.core.recent import RINGS, SKETCHES, Recent
from stream_guard.core.rules import PatternRule
from stream_guard.core.signals import analyze_prompt
from stream_guard.core.state import AccountState
from stream_guard.core.window import COUNTERS, Windows
from stream_guard.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
S = Settings()
# the near-duplicate sampling knobs' defaults
SKETCH_ALL_BELOW, SKETCH_EVERY = S.near_dup_sketch_all_below, S.near_dup_sketch_every
NEAR_DUP_MIN_BASIS = S.near_dup_min_basis
T0 = 20513 * 86400.0  # 2026-03-01T00:00:00Z
HOUR = 3600.0

# 30 words, 20 distinct content words
BASE = ("Our support team needs a short reply to a customer whose laptop battery drains overnight; "
        "explain the likely causes and the first checks they should run before sending it back.")
UNRELATED = [
    BASE,
    "Write a cover letter for a junior accountant position at a regional bank, stressing attention to detail.",
    "Translate the following restaurant menu into Spanish, keeping dish names and prices unchanged in the output.",
    "Compare electric and gas water heaters for a family of four living in a cold mountain climate.",
    "Suggest a seven day hiking itinerary through the Scottish highlands with hostels and train connections.",
    "Debug this recursive Python function that computes Fibonacci numbers but overflows the stack for large inputs.",
    "Summarise the main arguments for and against a four day working week in manufacturing companies.",
    "Plan a birthday party for a ten year old who loves dinosaurs, with games, food and decorations.",
    "Describe how photosynthesis converts sunlight into chemical energy inside plant chloroplasts, "
    "for high school students.",
    "Draft polite email declining a wedding invitation because of travel costs, offering to send a gift.",
    "Which houseplants tolerate low light in a north facing apartment and need watering only every two weeks?",
    "Outline a beginner strength training routine using only dumbbells, three sessions weekly, with progression tips.",
]


def words(prompt: str) -> set[str]:
    """The word set analyze_prompt reads: ``[a-z]+`` runs of the lower-cased text."""
    return set(re.findall(r"[a-z]+", prompt.lower()))


def sig(prompt: str) -> int:
    s = analyze_prompt(prompt, sketch=True).sketch
    assert s is not None, prompt
    return s


# --- the sketch ---------------------------------------------------------------------------------

def test_identical_prompts_agree_on_every_byte() -> None:
    assert similarity(sig(BASE), sig(BASE)) == K == 8
    # word order, case, punctuation and repeated words do not matter: it is a set
    shuffled = " ".join(sorted(BASE.upper().replace(";", " ").split(), reverse=True)) + " the the"
    assert sig(shuffled) == sig(BASE)


@pytest.mark.parametrize(("old", "new"), [
    ("overnight", "quickly"),
    ("laptop", "tablet"),
    ("customer", "client"),
    ("causes", "reasons"),
])
def test_one_word_changed_in_a_30_word_prompt_is_a_near_duplicate(old: str, new: str) -> None:
    assert len(BASE.split()) == 30
    edited = BASE.replace(old, new)
    assert edited != BASE and len(words(BASE) ^ words(edited)) == 2
    assert similarity(sig(BASE), sig(edited)) >= NEAR


def test_reordered_clauses_are_a_near_duplicate() -> None:
    reordered = ("Explain the likely causes and the first checks they should run before sending it back: "
                 "our support team needs a short reply to a customer whose laptop battery drains overnight.")
    assert similarity(sig(BASE), sig(reordered)) == 8


def test_unrelated_prompts_are_not_near_duplicates() -> None:
    sigs = [sig(p) for p in UNRELATED]
    pairs = [(i, j, similarity(a, b)) for i, a in enumerate(sigs) for j, b in enumerate(sigs) if i < j]
    assert [p for p in pairs if p[2] >= NEAR] == []
    assert max(s for _, _, s in pairs) <= 3


def test_stop_words_do_not_count() -> None:
    assert {"the", "and", "you", "what", "how", "of", "to"} <= STOP_WORDS
    content = {"battery", "laptop", "drains", "overnight", "support", "reply", "customer"}
    assert sketch(content) == sketch(content | {"the", "and", "what", "can", "you"})


def test_too_few_content_words_are_not_sketched() -> None:
    few = {f"word{i}" for i in range(MIN_WORDS - 1)}
    assert sketch(few) is None
    assert sketch(few | {"extra"}) is not None
    assert sketch(few | {"the", "and", "of"}) is None  # stop words do not make up the count
    assert analyze_prompt("Tell me about the kettle, please.", sketch=True).sketch is None
    assert analyze_prompt(BASE).sketch is None  # only when asked for


def test_signatures_are_stable_across_processes() -> None:
    # computed once, in another process; xxh3, never the salted hash() (a change here
    # would make checkpointed rings compare against signatures of another kind)
    assert sig(BASE) == 0x66D04EC7F030B127
    assert signature(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
                      "juliet"]) == 0xBC9968C4611ED01F
    code = ("from stream_guard.core.signals import analyze_prompt; import sys; "
            "print(analyze_prompt(sys.argv[1], sketch=True).sketch)")
    for seed in ("0", "1", "4242"):  # set iteration order differs with the hash seed
        out = subprocess.run([sys.executable, "-c", code, BASE], capture_output=True, text=True, check=True,
                             cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed})
        assert int(out.stdout) == 0x66D04EC7F030B127


def test_densification_borrows_from_the_next_non_empty_bucket() -> None:
    h = xxhash.xxh3_64_intdigest(b"alpha")
    bucket, low = h >> 61, h & 0xFF
    expected = bytes((low + ((bucket - j) % K) * 0x9D) & 0xFF for j in range(K))
    assert signature(["alpha"]) == int.from_bytes(expected, "little")
    assert signature([]) == 0


def test_each_bucket_keeps_the_low_byte_of_its_smallest_hash() -> None:
    rnd = random.Random(1)
    ws = [f"w{rnd.getrandbits(40)}" for _ in range(200)]  # enough words to fill every bucket
    hashes = [xxhash.xxh3_64_intdigest(w.encode()) for w in ws]
    expected = bytes(min(h for h in hashes if h >> 61 == b) & 0xFF for b in range(K))
    assert signature(ws) == int.from_bytes(expected, "little")


def test_similarity_counts_equal_bytes() -> None:
    rnd = random.Random(2)
    for _ in range(2000):
        a = rnd.getrandbits(64)
        b = a
        for j in rnd.sample(range(8), rnd.randint(0, 8)):  # change some bytes (maybe to the same value)
            b = b & ~(0xFF << 8 * j) | rnd.choice((0, 0x80, 0x7F, 0xFF, rnd.getrandbits(8))) << 8 * j
        naive = sum((a >> 8 * j & 0xFF) == (b >> 8 * j & 0xFF) for j in range(8))
        assert similarity(a, b) == naive


def test_near_any_is_similarity_on_every_filled_lane() -> None:
    rnd = random.Random(3)
    for _ in range(2000):
        base = rnd.getrandbits(64)
        ring = []
        for _ in range(8):
            s = base
            for j in rnd.sample(range(8), rnd.randint(0, 8)):
                s ^= (rnd.getrandbits(8) or 1) << 8 * j
            ring.append(s if rnd.random() < 0.6 else rnd.getrandbits(64))
        probe = base if rnd.random() < 0.5 else rnd.getrandbits(64)
        lanes = rnd.randint(0, 8)
        packed = sum(s << 64 * i for i, s in enumerate(ring))
        assert near_any(probe, packed, lanes) == any(similarity(probe, s) >= NEAR for s in ring[:lanes])


# --- the ring in Recent ---------------------------------------------------------------------------

def test_the_ring_compares_with_the_last_eight_and_forgets_older_ones() -> None:
    r = Recent()
    first = 0x0102030405060708
    assert r.near(first) is False  # nothing to compare with
    for i in range(SKETCHES - 1):
        assert r.near(0xA0A0A0A0A0A0A0A0 ^ (i + 1) * 0x0101010101010101) is False
    assert r.near(first ^ 0xFF) is True  # 7 bytes equal to the first, still in the ring
    # the first was the oldest: after 8 more stores it is gone (and its near copy too)
    for i in range(SKETCHES):
        r.near(0x5050505050505050 ^ (i + 1) * 0x0101010101010101 << 1)
    assert r.near(first ^ 0xFFFF) is False


def test_empty_slots_are_not_signatures() -> None:
    r = Recent()
    assert r.near(0) is False  # an all-zero signature against empty (zero) slots
    assert r.near(0) is True
    r2 = Recent()
    assert r2.near(0x00000000_0000FFFF) is False


def test_the_ring_does_not_disturb_the_other_rings() -> None:
    r = Recent()
    for ring in RINGS:
        r.push(ring, 0xFFFFFFFF)
    for i in range(20):
        r.near(2**64 - 1 - i)
    assert all(r.distinct(ring) == 1 for ring in RINGS)
    assert all(r.push(ring, 0xFFFFFFFF) for ring in RINGS)


def test_the_ring_round_trips_and_continues_alike() -> None:
    r = Recent()
    for i in range(11):
        r.near(0x1111111111111111 * (i % 5 + 1) ^ i)
    restored = Recent.from_dict(json.loads(json.dumps(r.to_dict())))
    assert restored.to_dict() == r.to_dict()
    follow = [0x3333333333333333, 0x3333333333330000, 0x7777777777777777, 0x1111111111111111 ^ 3]
    assert [restored.near(s) for s in follow] == [r.near(s) for s in follow]


def test_a_ring_checkpoint_from_before_the_signatures_reads_with_an_empty_ring() -> None:
    r = Recent()
    for fp in (5, 6, 7):
        r.push("prompt", fp)
    data = r.to_dict()
    old = {"slots": data["slots"][: -16 * 8 * 2 // 2], "pos": data["pos"][:-4]}  # 16 slots, 2 positions fewer
    assert len(bytes.fromhex(old["slots"])) == 4 * sum(RINGS.values())
    restored = Recent.from_dict(old)
    assert restored.to_dict() == r.to_dict()
    assert restored.push("prompt", 6) is True
    assert restored.near(0x1234) is False and restored.near(0x1234) is True


# --- sampling in AccountState -------------------------------------------------------------------------

def paraphrases(n: int) -> list[str]:
    """``n`` distinct prompts, each a few word swaps away from the others (no numbers: no
    shared template), asking for step-by-step reasoning."""
    slots = [("farmer", "grower"), ("plan", "organise"), ("reduce", "limit"), ("losses", "damage"),
             ("storage", "grain"), ("full", "stocked"), ("wheat", "barley"), ("rain", "storms")]
    out = []
    for i in range(n):
        w = [pair[i >> k & 1] for k, pair in enumerate(slots)]
        out.append(f"A {w[0]} owns several fields of {w[6]} and corn. Think step by step: how should the {w[0]} "
                   f"{w[1]} the harvest schedule to {w[2]} {w[3]} from {w[7]} and keep the {w[4]} barns {w[5]}?")
    assert len(set(out)) == n
    return out


def ev(prompt: str | None = None, **kw: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"model": "m", "input_tokens": 90, "output_tokens": 900, "turn_index": 0}
    if prompt is not None:
        event["prompt"] = prompt
    event.update(kw)
    return event


def sketched_flags(st: AccountState, events: list[dict[str, Any]], start: float, every: float = 10.0) -> list[bool]:
    """Whether each event was sketched (its signals carry a signature)."""
    out = []
    for i, event in enumerate(events):
        sig_ = st.add(event, start + i * every)
        out.append(sig_ is not None and sig_.sketch is not None)
    return out


def test_every_new_prompt_is_sketched_below_the_day_threshold_then_every_fourth() -> None:
    prompts = [f"{p} Variant wording {chr(97 + i % 26)}." for i, p in enumerate(UNRELATED * 20)]  # 240 prompts
    st = AccountState("acct", S.horizons)
    flags = sketched_flags(st, [ev(p) for p in prompts], T0 + HOUR)
    assert all(flags[:SKETCH_ALL_BELOW])
    # from the 65th text request on: every SKETCH_EVERY-th by the account's own counter
    later = flags[SKETCH_ALL_BELOW:]
    turns = [(SKETCH_ALL_BELOW + i) % SKETCH_EVERY == 0 for i in range(len(later))]
    assert later == turns
    f = extract(st, T0 + HOUR + len(prompts) * 10.0)
    assert f["near_dup_basis_day"] == sum(flags) == SKETCH_ALL_BELOW + (len(prompts) - SKETCH_ALL_BELOW) // SKETCH_EVERY


def test_the_sample_follows_the_settings() -> None:
    prompts = [ev(f"{p} Variant wording {chr(97 + i % 26)}.") for i, p in enumerate(UNRELATED * 3)]  # 36
    every_third = Settings(near_dup_sketch_all_below=10, near_dup_sketch_every=3)
    st = AccountState("acct", S.horizons)
    flags = []
    for i, event in enumerate(prompts):
        sig_ = st.add(event, T0 + HOUR + i * 10.0, every_third)
        flags.append(sig_ is not None and sig_.sketch is not None)
    assert all(flags[:10]) and flags[10:] == [(10 + i) % 3 == 0 for i in range(len(prompts) - 10)]
    assert extract(st, T0 + 2 * HOUR)["near_dup_basis_day"] == sum(flags)


def test_exact_repeats_and_short_prompts_are_not_sketched_nor_take_a_turn() -> None:
    st = AccountState("acct", S.horizons)
    events = [ev(BASE), ev(BASE), ev("hi there"), ev(), ev(prompt_hash="abc"), ev(UNRELATED[1])]
    assert sketched_flags(st, events, T0 + HOUR) == [True, False, False, False, False, True]
    # the repeat took no turn; the short prompt did (the turn is taken before the words are known)
    assert st.sketch_seq == 3 % SKETCH_EVERY
    f = extract(st, T0 + 2 * HOUR)
    assert f["near_dup_basis_day"] == 2 and f["text_basis_day"] == 4


def test_the_sample_is_the_same_live_replayed_and_across_a_restart() -> None:
    prompts = [ev(p) for p in (paraphrases(64) + UNRELATED) * 2]
    a, b = AccountState("acct", S.horizons), AccountState("acct", S.horizons)
    first = sketched_flags(a, prompts[:100], T0 + HOUR)
    assert sketched_flags(b, prompts[:100], T0 + HOUR) == first
    restored = AccountState.from_dict(json.loads(json.dumps(b.to_dict())))
    rest_a = sketched_flags(a, prompts[100:], T0 + HOUR + 1000.0)
    assert sketched_flags(restored, prompts[100:], T0 + HOUR + 1000.0) == rest_a
    assert any(rest_a) and not all(rest_a)
    at = T0 + 3 * HOUR
    assert extract(restored, at) == extract(a, at)


# --- counters and features ------------------------------------------------------------------------

def test_near_dup_share_for_a_paraphrasing_account() -> None:
    st = AccountState("acct", S.horizons)
    for i, p in enumerate(paraphrases(40)):
        st.add(ev(p), T0 + HOUR + 60 * i)
    f = extract(st, T0 + 2 * HOUR)
    assert f["near_dup_basis_day"] == 40
    assert f["near_dup_share_day"] >= 0.9  # all but the first few find a close one among the last 8
    assert f["template_repeat_share_day"] == 0.0 and f["repeat_share_day"] == 0.0


def test_near_dup_share_of_unrelated_prompts_is_zero() -> None:
    st = AccountState("acct", S.horizons)
    for i, p in enumerate(UNRELATED):
        st.add(ev(p), T0 + HOUR + 60 * i)
    f = extract(st, T0 + 2 * HOUR)
    assert f["near_dup_basis_day"] == len(UNRELATED) >= NEAR_DUP_MIN_BASIS
    assert f["near_dup_share_day"] == 0.0


def test_near_dup_share_is_neutral_below_its_basis() -> None:
    st = AccountState("acct", S.horizons)
    n = int(NEAR_DUP_MIN_BASIS) - 1
    for i, p in enumerate(paraphrases(n)):
        st.add(ev(p), T0 + HOUR + 60 * i)
    f = extract(st, T0 + 2 * HOUR)
    assert f["near_dup_basis_day"] == n and f["near_dup_share_day"] == 0.0
    assert extract(st, T0 + 2 * HOUR, Settings(near_dup_min_basis=n))["near_dup_share_day"] > 0.5  # the knob
    st.add(ev(paraphrases(n + 1)[-1]), T0 + HOUR + 60 * n)
    assert extract(st, T0 + 2 * HOUR)["near_dup_share_day"] > 0.5


# --- old checkpoints ------------------------------------------------------------------------------------

OLD_COUNTERS = 16  # before sketched_requests and near_dup_requests


def old_windows_dict(w: Windows) -> dict[str, Any]:
    """``w``'s checkpoint as the 16-counter version wrote it."""
    data = w.to_dict()
    c = len(COUNTERS)
    data["data"] = [x for i in range(0, len(data["data"]), c) for x in data["data"][i : i + OLD_COUNTERS]]
    return data


def test_a_16_counter_window_checkpoint_reads_with_the_new_counters_at_zero() -> None:
    assert COUNTERS[OLD_COUNTERS:] == ("sketched_requests", "near_dup_requests")
    w = Windows(S.horizons)
    rnd = random.Random(5)
    for i in range(200):
        vals = [float(rnd.randint(0, 9)) for _ in COUNTERS[:OLD_COUNTERS]] + [0.0, 0.0]
        w.add(T0 + 500 * i, vals, rnd.getrandbits(64), 1 << rnd.randrange(8))
    old = json.loads(json.dumps(old_windows_dict(w)))
    assert len(old["data"]) == 2 * OLD_COUNTERS * 3
    restored = Windows.from_dict(old)
    assert restored.to_dict() == w.to_dict()
    at = T0 + 500 * 200
    assert restored.snapshot(at) == w.snapshot(at)
    restored.add(at, [1.0] * len(COUNTERS), None, 0)
    assert restored.snapshot(at + 1)["day_near_dup_requests"] == 1.0


def test_an_account_checkpoint_from_before_near_duplicates_restores_and_evaluates() -> None:
    st = AccountState("acct", S.horizons)
    for i, p in enumerate(paraphrases(20)):
        st.add(ev(p), T0 + HOUR + 60 * i)
    staged = extract(st, T0 + 2 * HOUR)
    st.staged = [(T0 + 2 * HOUR, pack(staged))]
    data = json.loads(json.dumps(st.to_dict()))
    # what the previous version wrote: no sketch_seq, 16 counters, no signature ring, staged
    # features without the near-duplicate ones
    del data["sketch_seq"]
    data["windows"] = old_windows_dict(Windows.from_dict(data["windows"]))
    data["recent"] = {"slots": data["recent"]["slots"][: 8 * sum(RINGS.values())], "pos": data["recent"]["pos"][:-4]}
    for _, f in data["staged"]:
        del f["near_dup_share_day"], f["near_dup_basis_day"]
    restored = AccountState.from_dict(data)
    assert restored.sketch_seq == 0
    (_, packed), = restored.staged
    assert packed is not None
    f = unpack(packed)
    assert f["near_dup_share_day"] == 0.0 and f["near_dup_basis_day"] == 0.0
    PatternRule(S).evaluate(f)  # every key the rule reads is there
    g = extract(restored, T0 + 2 * HOUR)
    assert g["near_dup_basis_day"] == 0.0 and g["day_requests"] == 20
    restored.add(ev(paraphrases(21)[-1]), T0 + HOUR + 60 * 20)  # the empty ring fills again
    assert extract(restored, T0 + 2 * HOUR)["near_dup_basis_day"] == 1.0


# --- PatternRule ------------------------------------------------------------------------------------------

def sweep(prompts: list[str], hours: float = 8.0) -> dict[str, float]:
    """An account sending ``prompts`` spread irregularly over ``hours``, long single-turn outputs."""
    rnd = random.Random(9)
    st = AccountState("acct", S.horizons)
    times = sorted(T0 + HOUR + rnd.uniform(0, hours * HOUR) for _ in prompts)
    for p, t in zip(prompts, times, strict=True):
        st.add(ev(p), t)
    return extract(st, T0 + HOUR + hours * HOUR + 60)


def test_a_paraphrasing_account_without_template_repeats_gets_the_templating_weight() -> None:
    f = sweep(paraphrases(40))
    assert f["template_repeat_share_day"] < S.pattern_template_share <= f["near_dup_share_day"]
    assert f["cot_share_day"] == 1.0 and f["iat_cv_day"] > S.pattern_max_iat_cv
    v = PatternRule(S).evaluate(f)
    assert v is not None
    (r,) = [r for r in v.reasons if r["signal"] in {"near_dup_share_day", "template_repeat_share_day"}]
    assert r["signal"] == "near_dup_share_day" and r["threshold"] == S.pattern_template_share
    assert r["value"] == round(f["near_dup_share_day"], 4)
    # without the near duplicates the same day scores 0.15 less and stays below the gate
    w = PatternRule(Settings(pattern_min_score=0.0)).evaluate(dict(f, near_dup_share_day=0.0))
    assert w is not None and w.score == pytest.approx(v.score - 0.15)
    assert w.score < S.pattern_min_score


def test_the_same_day_with_unrelated_prompts_gets_no_templating_weight() -> None:
    prompts = [f"{p} Think step by step." for p in UNRELATED] * 3  # each one back after 11 others
    f = sweep([f"{p} ({chr(97 + i)})" for i, p in enumerate(prompts)])
    assert f["near_dup_basis_day"] == len(prompts) and f["near_dup_share_day"] == 0.0
    v = PatternRule(Settings(pattern_min_score=0.0)).evaluate(f)
    assert v is not None
    assert not {"near_dup_share_day", "template_repeat_share_day"} & {r["signal"] for r in v.reasons}
