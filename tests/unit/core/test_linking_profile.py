"""ProfileBuilder / AccountProfile (stream_guard.core.linking.profile) on hand-made event sequences.

Each case feeds a few events of one or two accounts through a real ``Detector`` (whose
scheduler closes the profiles) and takes the profiles it closed.
"""

from __future__ import annotations

import json
import math
from typing import Any

from stream_guard.core.detector import Detector
from stream_guard.core.linking.attributes import opaque
from stream_guard.core.linking.profile import (
    FRAME_SAMPLES,
    UNKNOWN_AGE,
    AccountProfile,
    ProfileBuilder,
    is_young,
)
from stream_guard.core.rules import Verdict
from stream_guard.core.state import AccountState
from stream_guard.settings import Settings

DAY = 86400.0
T0 = 20513 * DAY  # 2026-03-01T00:00:00Z: a multiple of every interval used here
S = Settings(link_interval_s=900.0, idle_grace_s=60.0)


def ev(account: str = "a", **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"account_id": account, "model": "m", "input_tokens": 20, "output_tokens": 400}
    out.update(fields)
    return out


class Feed:
    """A detector (its profile builder and account states), fed event by event."""

    def __init__(self, settings: Settings = S) -> None:
        self.s = settings
        self.detector = Detector(settings, clock=lambda: 0.0)
        assert self.detector.links is not None
        self.builder: ProfileBuilder = self.detector.links
        self.states: dict[str, AccountState] = self.detector.accounts
        self.n = 0

    def add(self, event: dict[str, Any], ts: float) -> None:
        self.n += 1
        self.detector.process({"event_id": f"e{self.n}", **event}, ts)

    def flush(self, watermark: float) -> list[AccountProfile]:
        alerts = self.detector.advance(watermark)
        assert alerts == []  # no findings in these small cases
        return self.detector.take_profiles()


def test_counts_per_value_in_one_interval() -> None:
    f = Feed()
    f.add(ev(ip="10.1.2.3", user_agent="sdk/1.0", payment_fingerprint="pm_1"), T0 + 10)
    f.add(ev(ip="10.1.2.3", user_agent="sdk/1.0"), T0 + 20)
    f.add(ev(ip="10.1.2.3", asn=64500), T0 + 30)
    f.add(ev(ip="10.1.2.4", model="m2", user_agent=""), T0 + 40)
    (p,) = f.flush(math.inf)
    assert (p.account, p.at, p.requests) == ("a", T0 + 900, 4)
    assert p.values == sorted([
        ("asn", "64500", 1),
        ("ip", opaque("10.1.2.3"), 3),  # addresses and user agents only as hashes
        ("ip", opaque("10.1.2.4"), 1),
        ("ip_prefix", opaque("10.1.2.0/24"), 4),
        ("model", "m", 3),
        ("model", "m2", 1),
        ("payment", "pm_1", 1),
        ("user_agent", opaque("sdk/1.0"), 2),
    ])
    assert p.day_requests == 4.0
    assert p.hours == 1  # one active hour, the latest
    assert p.age_days == UNKNOWN_AGE  # no account_created_at: age unknown, never young
    assert 0.0 <= p.likeness <= 1.0


def test_summary_age_and_likeness_come_from_the_state() -> None:
    f = Feed()
    created = T0 - 3 * DAY
    for i in range(4):
        f.add(ev(account_created_at=created, output_tokens=2000, turn_index=0), T0 + 100 + i)
    (p,) = f.flush(math.inf)
    assert p.age_days == round((T0 + 900 - created) / DAY, 3) == 3.01
    # hash-only (no text): 0.5 first turns + 0.35 long outputs + 0.15 * max_tokens share 0
    assert p.likeness == 0.85


def test_is_young_only_with_a_known_age() -> None:
    assert is_young(0.0, 14.0) and is_young(13.999, 14.0)
    assert not is_young(14.0, 14.0)
    assert not is_young(UNKNOWN_AGE, 14.0)


def test_event_at_interval_end_closes_the_interval() -> None:
    f = Feed()
    f.add(ev(ip="10.0.0.1"), T0 + 100)
    f.add(ev(ip="10.0.0.2"), T0 + 900)  # exactly at the end: belongs to the next interval
    # the closed interval is delivered at once (the account moved on), whatever the grace
    (p,) = f.flush(T0 + 901)
    assert (p.at, p.requests) == (T0 + 900, 1)
    assert ("ip", opaque("10.0.0.1"), 1) in p.values and all(v[1] != opaque("10.0.0.2") for v in p.values)
    assert f.flush(T0 + 1800 + 59) == []  # the second one waits for end + grace
    (q,) = f.flush(T0 + 1800 + 60)
    assert (q.at, q.requests) == (T0 + 1800, 1)
    assert ("ip", opaque("10.0.0.2"), 1) in q.values


def test_event_before_the_end_stays_in_the_interval() -> None:
    f = Feed()
    f.add(ev(), T0 + 1)
    f.add(ev(), T0 + 899.999)
    (p,) = f.flush(math.inf)
    assert (p.at, p.requests) == (T0 + 900, 2)


def test_flush_respects_idle_grace() -> None:
    f = Feed()
    f.add(ev(), T0 + 100)
    assert f.flush(T0 + 100) == []
    assert f.flush(T0 + 900) == []  # at the end, but within the grace
    assert f.flush(T0 + 959.9) == []
    (p,) = f.flush(T0 + 960)
    assert p.at == T0 + 900
    assert f.flush(T0 + 5000) == []  # delivered once


def test_flush_with_zero_grace_at_the_end() -> None:
    f = Feed(Settings(link_interval_s=900.0, idle_grace_s=0.0))
    f.add(ev(), T0 + 100)
    assert f.flush(T0 + 899) == []
    assert [p.at for p in f.flush(T0 + 900)] == [T0 + 900]


def test_profiles_sorted_by_end_then_account() -> None:
    f = Feed()
    f.add(ev("b"), T0 + 10)
    f.add(ev("c"), T0 + 950)
    f.add(ev("a"), T0 + 20)
    f.add(ev("a"), T0 + 1000)  # closes a's first interval
    f.add(ev("b"), T0 + 1001)
    out = [(p.at, p.account, p.requests) for p in f.flush(math.inf)]
    assert out == [
        (T0 + 900, "a", 1), (T0 + 900, "b", 1),
        (T0 + 1800, "a", 1), (T0 + 1800, "b", 1), (T0 + 1800, "c", 1),
    ]


def test_unknown_account_state_yields_no_profile() -> None:
    f = Feed()
    f.add(ev("a"), T0 + 10)
    f.add(ev("b"), T0 + 20)
    del f.states["a"]  # gone (expired) before its interval closes
    assert [p.account for p in f.flush(math.inf)] == ["b"]


def _template_total(p: AccountProfile) -> int:
    return sum(n for k, _, n in p.values if k == "template")


def test_template_frames_sampled_at_most_frame_samples_per_interval() -> None:
    f = Feed()
    prompts = [
        "Alpha wrapper one: describe the weather on the mountain today please.",
        "Bravo wrapper two: list three fruits that grow well in cold climates.",
        "Charlie wrapper three: name a river that crosses more than two countries.",
        "Delta wrapper four: explain how a lever multiplies a small force.",
        "Echo wrapper five: give a synonym for quick that starts with the letter f.",
    ]
    for i, prompt in enumerate(prompts):
        f.add(ev(prompt=prompt), T0 + 10 + i)
    f.add(ev(prompt=prompts[0]), T0 + 950)  # next interval: sampling starts over
    first, second = f.flush(math.inf)
    assert FRAME_SAMPLES == 2
    assert first.requests == 5
    assert _template_total(first) == 2 * FRAME_SAMPLES  # head + tail of the first two prompts only
    assert len([v for v in first.values if v[0] == "template"]) == 4
    assert _template_total(second) == 2
    # the events without prompt text are not sampled and do not use up the samples
    g = Feed()
    g.add(ev(), T0 + 1)
    g.add(ev(prompt=prompts[2]), T0 + 2)
    g.add(ev(prompt=prompts[3]), T0 + 3)
    (p,) = g.flush(math.inf)
    assert _template_total(p) == 4


def test_wire_round_trip_through_json() -> None:
    f = Feed()
    f.add(ev(ip="10.1.2.3", payment_fingerprint="pm_1", prompt="Think step by step: what is 2+2?"), T0 + 10)
    f.add(ev("b", ip="2001:db8::5"), T0 + 20)
    for p in f.flush(math.inf):
        wire = json.loads(json.dumps(p.to_wire()))
        back = AccountProfile.from_wire(wire)
        assert back == p
        assert all(isinstance(v, tuple) for v in back.values)


def test_profiles_hold_no_prompt_text() -> None:
    f = Feed()
    words = ("zanzibar", "quixotic", "marmalade", "zeppelin", "xylophone")
    f.add(ev(prompt="Zanzibar quixotic marmalade: compute the zeppelin speed step by step."), T0 + 10)
    f.add(ev(prompt="Xylophone tuning: Solve the following problem. Show your full reasoning."), T0 + 20)
    f.add(ev(prompt="Another zeppelin riddle about marmalade jars, answer briefly."), T0 + 30)
    (p,) = f.flush(math.inf)
    text = json.dumps(p.to_wire()).lower()
    for word in words:
        assert word not in text
    assert _template_total(p) == 4  # the frames are there, as hashes


def test_profile_summary_does_not_depend_on_flush_cadence() -> None:
    events = [(ev(), T0 + 100), (ev(), T0 + 950), (ev(), T0 + 960), (ev(), T0 + 970)]
    eager, lazy = Feed(), Feed()
    eager_out: list[AccountProfile] = []
    for event, ts in events:
        eager.add(event, ts)
        eager_out += eager.flush(ts)  # a worker advancing after every event
        lazy.add(event, ts)
    eager_out += eager.flush(math.inf)
    lazy_out = lazy.flush(math.inf)  # replay advancing once
    assert [p.at for p in eager_out] == [p.at for p in lazy_out] == [T0 + 900, T0 + 1800]
    # the interval [T0, T0 + 900) saw one request, whenever it is flushed
    assert (eager_out[0].day_requests, lazy_out[0].day_requests) == (1.0, 1.0)


def test_repeated_fields_count_per_event_and_export_keeps_first_seen_order() -> None:
    """The cached values of a repeated combination count once per event; equal values of
    other types (asn 64500 and 64500.0) stay apart; the checkpoint lists values in the
    order they were first seen (template frames where their event was)."""
    f = Feed()
    f.add(ev(ip="10.9.8.7", asn=64500, prompt="Alpha wrapper: describe the weather on the hill today."), T0 + 1)
    f.add(ev(ip="10.9.8.7", asn=64500), T0 + 2)
    f.add(ev(ip="10.9.8.6", asn=64500.0, model="m2"), T0 + 3)
    f.add(ev(ip="10.9.8.7", asn=64500), T0 + 4)
    exported = f.builder.export("a")
    assert exported is not None
    end, requests, frames, counts = exported["open"]
    assert (end, requests, frames) == (T0 + 900, 4, 1)
    kinds = [(k, n) for k, _, n in counts]
    assert kinds == [("ip", 3), ("ip_prefix", 4), ("asn", 3), ("model", 3), ("template", 1), ("template", 1),
                     ("ip", 1), ("asn", 1), ("model", 1)]
    assert [v for k, v, _ in counts if k == "asn"] == ["64500", "64500.0"]
    (p,) = f.flush(math.inf)
    assert ("asn", "64500", 3) in p.values and ("asn", "64500.0", 1) in p.values
    assert ("ip", opaque("10.9.8.7"), 3) in p.values


def _mixture_alerts_over(hours: int, settings: Settings) -> list[dict[str, Any]]:
    """The mixture alerts of one account whose mixture finding holds at every interval for
    ``hours`` (the finding itself is tested in test_mixture.py: here only its alert gate)."""
    feed = Feed(settings)
    feed.builder.mixture.evaluate = lambda account, at: Verdict("mixture_rule", 0.8, "medium")  # type: ignore[method-assign]  # the finding, held
    alerts: list[dict[str, Any]] = []
    for i in range(hours * 4):
        feed.add(ev(), T0 + i * 900.0 + 10.0)
        alerts += [a for a in feed.detector.advance(T0 + i * 900.0 + 100.0) if a["detectors"] == ["mixture_rule"]]
    return alerts


def test_a_mixture_finding_that_goes_on_is_one_episode_not_one_alert_per_cooldown() -> None:
    episodes = _mixture_alerts_over(14, S)
    assert [a["evidence"]["episode"] for a in episodes] == ["new"]
    repeated = _mixture_alerts_over(14, Settings(link_interval_s=900.0, idle_grace_s=60.0, alert_episodes=False))
    assert len(repeated) == 3  # at 0 h, 6 h and 12 h: one per cooldown_s (6 h)
