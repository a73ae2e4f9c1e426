"""The binary checkpoint record of an account state: exact round trips, old JSON, bad records."""

from __future__ import annotations

import struct

import orjson
import pytest
from stream_guard.core.alerts import Cooldown
from stream_guard.core.detector import Detector
from stream_guard.core.features import extract, pack, unpack
from stream_guard.core.state import AccountState
from stream_guard.core.state_record import StateRecordError, decode_state, encode_state
from stream_guard.settings import Settings

S = Settings()
T0 = 1_780_000_000.0


def busy_state(account: str = "acct-ü-\ud800") -> AccountState:
    st = AccountState(account, S.horizons)
    for i in range(300):
        st.add({"model": f"m{i % 3}", "input_tokens": 10 + i, "output_tokens": 900, "ip": f"10.0.0.{i % 7}",
                "user_agent": "sdk/1", "client_fingerprint": "c", "temperature": 0.1 * (i % 4),
                "account_created_at": "2026-01-01T00:00:00Z", "stop_reason": "max_tokens" if i % 5 else "end_turn",
                "prompt": f"Problem {i}: think step by step about {i * 7} apples."}, T0 + 37.0 * i)
    st.staged = [(T0 + 3600.0, pack(extract(st, T0 + 3600.0))), (T0 + 3660.0, None)]
    st.active_alerts = {"volume_rule": Cooldown(2.0, T0 + 9000.0), "pattern_rule": Cooldown(1.0, T0 + 100.0)}
    st.upto = 12345
    return st


def test_a_busy_state_round_trips_exactly() -> None:
    st = busy_state()
    extra = {"open": [T0 + 900.0, 3, 1, [["ip", "h:1", 3]]], "mix": ["s", 0, T0, 1, 3.0, 0.0]}
    again, got = decode_state(encode_state(st, extra))
    assert got == extra
    assert again.to_dict() == st.to_dict()  # every field, the sketch included
    for at in (T0 + 3600.0, T0 + 86400.0, T0 + 2 * 86400.0):
        assert extract(again, at) == extract(st, at)
    assert again.staged is not None and again.staged[1] == (T0 + 3660.0, None)
    assert unpack(again.staged[0][1]) == extract(st, T0 + 3600.0)  # type: ignore[arg-type]  # not None


def test_the_alert_gate_keeps_its_layout_in_both_formats() -> None:
    """Cooldown records are named tuples in memory; on disk they stay two doubles each in the
    binary record and a two-number array in the JSON picture, as in every earlier version."""
    st = busy_state("a")
    value = encode_state(st)
    gate = b"".join(struct.pack("<H", len(name)) + name.encode() + struct.pack("<dd", rank, until)
                    for name, rank, until in (("volume_rule", 2.0, T0 + 9000.0), ("pattern_rule", 1.0, T0 + 100.0)))
    assert value.endswith(struct.pack("<H", 2) + gate + struct.pack("<I", 0))  # two alerts, then no extra data
    again, _ = decode_state(value)
    assert again.active_alerts == {"volume_rule": Cooldown(2.0, T0 + 9000.0), "pattern_rule": Cooldown(1.0, T0 + 100.0)}
    assert all(type(c) is Cooldown for c in again.active_alerts.values())
    picture = orjson.loads(orjson.dumps(st.to_dict()))
    assert picture["active_alerts"] == {"volume_rule": [2.0, T0 + 9000.0], "pattern_rule": [1.0, T0 + 100.0]}
    old, _ = decode_state(orjson.dumps(picture))  # an earlier version's JSON record
    assert old.active_alerts == again.active_alerts
    assert all(type(c) is Cooldown for c in (old.active_alerts or {}).values())


def test_an_empty_state_round_trips() -> None:
    st = AccountState("a", S.horizons)
    again, extra = decode_state(encode_state(st))
    assert extra is None and again.to_dict() == st.to_dict()
    assert again.first_seen is None and again.created_at is None and again.staged is None


def test_the_record_of_an_earlier_version_is_json_and_still_reads() -> None:
    st = busy_state("a")
    data = st.to_dict()
    data["link"] = {"open": None, "mix": None}
    again, extra = decode_state(orjson.dumps(data))
    assert again.to_dict() == st.to_dict() and extra == {"open": None, "mix": None}


def test_the_record_is_smaller_than_the_json_picture() -> None:
    st = busy_state("a")
    assert len(encode_state(st)) < len(orjson.dumps(st.to_dict())) / 2


@pytest.mark.parametrize("cut", [1, 5, 40, 200, -1])
def test_a_truncated_record_is_refused_clearly(cut: int) -> None:
    value = encode_state(busy_state("a"), {"open": None, "mix": None})
    with pytest.raises(StateRecordError, match="truncated"):
        decode_state(value[:cut])


def test_an_unknown_version_is_refused_clearly() -> None:
    with pytest.raises(StateRecordError, match="version"):
        decode_state(b"\x07whatever")


@pytest.mark.parametrize("evaluators", ["evidence,population", "volume,pattern,population"])
def test_a_detector_restores_from_its_own_records_and_evaluates_the_same(evaluators: str) -> None:
    s = Settings(eval_interval_s=60, rule_short_requests=50, rule_day_requests=200,
                 per_account_evaluators=evaluators)
    first, second = Detector(s, clock=lambda: 0.0), Detector(s, clock=lambda: 0.0)
    for i in range(1600):
        first.process({"event_id": f"e{i}", "account_id": f"a{i % 4}", "model": "m", "input_tokens": 50,
                       "output_tokens": 1500, "ip": "10.1.1.1", "prompt": f"Problem {i}: think step by step."},
                      T0 + i / 8)
    first.advance(T0 + 100.0)  # nothing final yet; the accounts are staged: their features travel packed
    assert any(st.staged for st in first.accounts.values())
    records = [v for v in first.take_dirty().values() if v is not None]
    assert second.restore(records) == 4
    alerts = [a["alert_id"] for a in first.flush()]
    assert alerts and alerts == [a["alert_id"] for a in second.flush()]


def test_more_than_255_staged_evaluations_round_trip() -> None:
    """Version 1 counted staged evaluations in one byte: an account with 256 of them (a
    watermark held back by a lagging partition while a backlog drains) failed its checkpoint
    and stopped the worker. Version 2 counts them in four bytes."""
    st = busy_state("a")
    st.staged = [(T0 + 60.0 * i, None) for i in range(300)]
    again, _ = decode_state(encode_state(st))
    assert again.staged == st.staged


def test_a_version_1_record_still_reads() -> None:
    """A checkpoint written before version 2 (one-byte counts) restores the same state."""
    st = busy_state("a")
    value = encode_state(st)
    n_staged = len(st.staged or ())
    gate = b"".join(struct.pack("<H", len(name)) + name.encode() + struct.pack("<dd", rank, until)
                    for name, (rank, until) in (st.active_alerts or {}).items())
    tail = value[len(value) - len(gate) - 2 - 4:]  # <H alert count + gate + <I no extra data
    staged_at = value.rindex(struct.pack("<I", n_staged) + struct.pack("<d", (st.staged or [(0.0, None)])[0][0]))
    v1 = (b"\x01" + value[1:staged_at] + struct.pack("<B", n_staged) + value[staged_at + 4:len(value) - len(tail)]
          + struct.pack("<B", len(st.active_alerts or {})) + tail[2:])
    again, extra = decode_state(v1)
    assert extra is None
    assert again.to_dict() == st.to_dict()


def test_evaluator_memory_round_trips_beside_the_alert_gates() -> None:
    st = busy_state("m")
    st.active_alerts = {"episode": Cooldown(2.0, T0 + 3600.0)}
    st.memory = {"evidence_score": (3.25, T0 + 60.0)}
    again, _ = decode_state(encode_state(st))
    assert again.memory == st.memory and again.active_alerts == st.active_alerts
    assert AccountState.from_dict(orjson.loads(orjson.dumps(st.to_dict()))).memory == st.memory
    st.memory = None
    assert decode_state(encode_state(st))[0].memory is None


def test_a_restored_detector_goes_on_accumulating_evidence_exactly() -> None:
    """The graded evidence's sum lives in the account state: checkpoint after some
    evaluations, restore into a fresh detector, and both raise the same alerts next."""
    s = Settings(eval_interval_s=60, idle_grace_s=0.0)
    first = Detector(s, clock=lambda: 0.0)

    def feed(det: Detector, lo: int, hi: int) -> list[str]:
        out = []
        for i in range(lo, hi):  # one step-by-step item with a long answer every 90 s: steady, not blunt
            ts = T0 + 90.0 * i
            det.process({"event_id": f"e{i}", "account_id": "slow", "model": "m", "input_tokens": 60,
                         "output_tokens": 1500, "turn_index": 0, "account_created_at": T0 - 86400.0,
                         "prompt": f"Item {i}: prove that {i} squared is not {i * 7 + 3}. Think step by step."}, ts)
            out += [a["alert_id"] for a in det.advance(ts)]
        return out

    feed(first, 0, 200)
    assert first.accounts["slow"].memory, "the sum is kept in the state"
    second = Detector(s, clock=lambda: 0.0)
    second.restore([v for v in first.take_dirty().values() if v is not None])
    second.load_clock_state(first.clock_state())
    assert feed(first, 200, 600) == feed(second, 200, 600)
    assert second.accounts["slow"].memory == first.accounts["slow"].memory  # the same sum, to the bit
