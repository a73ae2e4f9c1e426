"""Detector: event-time evaluation, determinism, cooldown, expiry, caps, restore."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
from stream_guard.core.detector import Detector
from stream_guard.settings import Settings

S = Settings(eval_interval_s=60, short_window_s=300, long_window_s=3600, idle_grace_s=60, cooldown_s=3600)


def extractor(account: str, start: float, n: int, every: float = 1.0) -> list[tuple[dict[str, Any], float]]:
    return [({"event_id": f"{account}-{i}", "account_id": account, "model": "m", "input_tokens": 80,
              "output_tokens": 900, "prompt": f"Task {i}: think step by step."}, start + i * every)
            for i in range(n)]


def benign(account: str, start: float, n: int, seed: int) -> list[tuple[dict[str, Any], float]]:
    rnd = random.Random(seed)
    out, t = [], start
    for i in range(n):
        t += rnd.expovariate(1 / 120)
        out.append(({"event_id": f"{account}-{i}", "account_id": account, "model": "m",
                     "input_tokens": 100, "output_tokens": 300, "prompt": f"help with thing {rnd.random()}"}, t))
    return out


def run(events: list[tuple[dict[str, Any], float]], settings: Settings = S) -> list[dict[str, Any]]:
    det = Detector(settings, clock=lambda: 0.0)
    alerts = []
    for ev, ts in events:
        det.process(ev, ts)
        alerts += det.advance(ts)
    alerts += det.flush()
    return alerts


def strip(alerts: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted((a["alert_id"], a["subject"], a["severity"]) for a in alerts)


def test_the_extractor_is_alerted_and_benign_accounts_are_not() -> None:
    events = extractor("x", 0, 3000) + benign("b1", 0, 40, 1) + benign("b2", 0, 40, 2)
    events.sort(key=lambda e: e[1])
    alerts = run(events)
    assert {a["subject"] for a in alerts} == {"x"}


def test_alerts_do_not_depend_on_how_accounts_interleave() -> None:
    x, b = extractor("x", 0, 2000), benign("b", 0, 60, 3) + extractor("y", 500, 1500, every=1.5)
    time_ordered = sorted(x + b, key=lambda e: e[1])
    account_blocks = x + sorted(b, key=lambda e: e[1])  # one account entirely first: a lagging partition
    assert strip(run(time_ordered)) == strip(run(account_blocks))
    assert strip(run(time_ordered))


@pytest.mark.parametrize("episodes", [True, False])
def test_cooldown_holds_repeats_and_escalation_raises_a_new_alert(episodes: bool) -> None:
    settings = dataclasses.replace(S, alert_episodes=episodes)
    alerts = run(extractor("x", 0, 3000), settings)
    severities = [a["severity"] for a in alerts]
    assert severities == sorted(severities, key=["low", "medium", "high", "critical"].index)
    assert len(severities) == len(set(severities))  # no repeat while active

    def again(gap: float) -> list[dict[str, Any]]:
        second = [(dict(ev, event_id="late" + ev["event_id"]), ts + gap) for ev, ts in extractor("x", 0, 3000)]
        return [a for a in run(extractor("x", 0, 3000) + extractor("x2", 0, 1) + second, settings)
                if a["subject"] == "x"]

    if episodes:
        assert [a["evidence"]["episode"] for a in alerts] == ["new"] + ["escalation"] * (len(alerts) - 1)
        assert len(again(4000.0)) == len(alerts)  # findings resume within the cooldown: the same episode
    else:
        assert len(again(4000.0)) > len(alerts)  # each detector's cooldown ran out: it fires again
    assert len(again(3000.0 + 3600.0 + 600.0)) > len(alerts)  # quiet for longer than the cooldown: again


def test_quiet_accounts_are_evaluated_when_the_watermark_passes() -> None:
    det = Detector(Settings(rule_short_requests=50, rule_day_requests=50, idle_grace_s=60), clock=lambda: 0.0)
    alerts = []
    for ev, ts in extractor("x", 0, 80, every=0.5):  # 40 s of traffic, then silence
        det.process(ev, ts)
        alerts += det.advance(ts)
    assert alerts == []  # its first boundary (60) lies beyond its last event
    assert det.advance(119.0) == []  # boundary 60 + grace 60 not yet passed
    alerts = det.advance(120.0)
    assert [a["subject"] for a in alerts] == ["x"]
    assert det.advance(1000.0) == []  # evaluated once


def test_duplicates_are_dropped() -> None:
    det = Detector(S)
    ev, ts = extractor("x", 0, 1)[0]
    det.process(ev, ts)
    det.process(ev, ts)
    assert det.duplicates == 1
    assert det.accounts["x"].windows.snapshot(60.0)["short_requests"] == 1.0


def test_duplicate_ids_are_remembered_for_two_generations_and_restored() -> None:
    settings = Settings(eval_interval_s=60, dedup_window=10)  # a generation turns every 5 ids
    events = extractor("x", 0, 12)
    det = Detector(settings)
    for ev, ts in events[:7]:  # ids 0-4 fill a generation (now the previous one), 5-6 the current
        det.process(ev, ts)
    for ev, ts in (events[0], events[4], events[6]):  # in the previous generation, and in the current one
        det.process(ev, ts)
    assert det.duplicates == 3 and det.ids_generation == 1
    again = Detector(settings)
    turned = det.take_new_ids()
    current = [i for g, ids in turned if g == det.ids_generation for i in ids]
    previous = [i for g, ids in turned if g == det.ids_generation - 1 for i in ids]
    again.load_ids(det.ids_generation, current, previous)
    for ev, ts in (events[0], events[4], events[6]):
        again.process(ev, ts)
    assert again.duplicates == 3
    for ev, ts in events[7:]:  # ids 7-9 turn the generation twice over: 0-4 are forgotten
        det.process(ev, ts)
    det.process(*events[1])
    assert det.duplicates == 3 and det.ids_generation == 2


def test_idle_accounts_expire_and_restart_fresh() -> None:
    settings = Settings(account_ttl_s=3600, eval_interval_s=60)
    det = Detector(settings)
    ev, _ = extractor("x", 0, 1)[0]
    det.process(ev, 0.0)
    det.advance(0.0)
    det.advance(10_000.0)
    assert "x" not in det.accounts
    assert det.take_dirty() == {"x": None}  # a tombstone for the checkpoint
    det.process(dict(ev, event_id="again"), 10_001.0)
    assert det.accounts["x"].first_seen == 10_001.0


def test_the_account_cap_refuses_new_accounts_and_counts_them() -> None:
    det = Detector(Settings(max_accounts=2))
    for i in range(5):
        ev, ts = extractor(f"a{i}", 0, 1)[0]
        det.process(ev, ts)
    assert len(det.accounts) == 2 and det.rejected == 3


@pytest.mark.parametrize("cut", [500, 1700])
def test_restored_state_continues_exactly(cut: int) -> None:
    events = extractor("x", 0, 2500) + benign("b", 0, 60, 9)
    events.sort(key=lambda e: e[1])

    def feed(det: Detector, part: list[tuple[dict[str, Any], float]]) -> list[dict[str, Any]]:
        out = []
        for ev, ts in part:
            det.process(ev, ts)
            out += det.advance(ts)
        return out

    whole = Detector(S, clock=lambda: 0.0)
    expected = feed(whole, events) + whole.flush()
    first = Detector(S, clock=lambda: 0.0)
    got = feed(first, events[:cut])
    states = [s for s in first.take_dirty().values() if s is not None]
    second = Detector(S, clock=lambda: 0.0)
    second.scorer.models.loads(first.scorer.models.dumps())
    assert second.restore(states) == 2
    got += feed(second, events[cut:]) + second.flush()
    assert strip(got) == strip(expected) and expected


def test_the_expiry_wheel_drops_exactly_what_a_full_scan_would() -> None:
    """At every sweep, every account idle for more than the TTL (and not waiting for an
    evaluation) is gone, and every account dropped was such an account."""
    settings = Settings(account_ttl_s=1800, eval_interval_s=60, idle_grace_s=0)
    det = Detector(settings, clock=lambda: 0.0)
    rnd = random.Random(7)
    ts = 1_000_000.0
    dropped_total = 0
    for step in range(3000):
        ts += rnd.expovariate(1 / 8.0)
        account = f"a{int(rnd.paretovariate(1.2)) % 200}"
        det.process({"event_id": f"e{step}", "account_id": account, "model": "m", "input_tokens": 1,
                     "output_tokens": 1}, ts)
        before = {a: st.last_ts for a, st in det.accounts.items()}
        swept = ts >= det._next_sweep
        det.advance(ts)
        gone = set(before) - set(det.accounts)
        assert all(ts - before[a] > settings.account_ttl_s for a in gone)
        if swept:
            assert not [a for a, st in det.accounts.items()
                        if ts - st.last_ts > settings.account_ttl_s and not st.pending and not st.staged]
        dropped_total += len(gone)
    assert dropped_total > 20  # the case exercises expiry
