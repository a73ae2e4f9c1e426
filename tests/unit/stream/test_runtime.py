"""WorkerRuntime without Faust: accounting, processing errors, watermark, checkpoints."""

from __future__ import annotations

import orjson
import pytest
from stream_guard.core.checkpoint import by_partition
from stream_guard.core.signals import native_panic
from stream_guard.core.state_record import decode_state
from stream_guard.metrics import Metrics
from stream_guard.settings import Settings
from stream_guard.stream.runtime import WorkerRuntime


def event(i: int, account: str = "a", ts: float = 1000.0) -> dict[str, object]:
    return {"event_id": f"e{i}", "ts": ts, "account_id": account, "model": "m", "input_tokens": 1, "output_tokens": 2}


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_every_event_is_accounted_for_by_outcome() -> None:
    m = Metrics()
    rt = WorkerRuntime(Settings(max_accounts=1), m)
    rt.handle(0, 0, orjson.dumps([event(1), event(1), event(2, "b"), {"bad": True}]))
    rt.handle(0, 1, b"{")
    rt.flush_counts()
    outcomes = {o: value(m, "stream_guard_events_total", outcome=o)
                for o in ("processed", "duplicate", "untracked", "dead_lettered")}
    assert outcomes == {"processed": 1, "duplicate": 1, "untracked": 1, "dead_lettered": 2}
    assert value(m, "stream_guard_messages_consumed_total") == 2


def test_a_processing_failure_is_a_dead_letter_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    m = Metrics()
    rt = WorkerRuntime(Settings(), m)
    det = rt.detector(3)

    def boom(ev: dict[str, object], ts: float, offset: int = -1) -> list[dict[str, object]]:
        raise RuntimeError("bug")

    monkeypatch.setattr(det, "process", boom)
    raw = orjson.dumps(event(1))
    (dead,) = rt.handle(3, 9, raw).dead_letters
    assert dead.reason.value == "processing_error" and dead.payload == raw and "bug" in dead.detail
    batch = rt.handle(3, 10, orjson.dumps([event(2), event(3)])).dead_letters
    assert [d.index for d in batch] == [0, 1]
    assert value(m, "stream_guard_dead_letters_total", reason="processing_error") == 3


def test_watermark_is_the_minimum_over_active_partitions() -> None:
    rt = WorkerRuntime(Settings(), Metrics())
    rt.handle(0, 0, orjson.dumps(event(1, ts=5000.0)))
    rt.handle(1, 0, orjson.dumps(event(2, "b", ts=3000.0)))
    now = max(rt.last_message_wall.values())
    assert rt.watermark(now) == 3000.0
    assert rt.watermark(now + 60) == 5000.0 + 60 + 120  # both idle: past the newest by interval + grace


def test_checkpoint_writes_changed_accounts_once_and_tombstones_expired() -> None:
    rt = WorkerRuntime(Settings(account_ttl_s=7200), Metrics())
    rt.handle(2, 0, orjson.dumps([event(1, "a", 100.0), event(2, "b", 100.0)]))
    first = list(rt.checkpoint())
    models = [f"2#models/{p}/0".encode() for p in ("new-light", "new-heavy", "established-light", "established-heavy")]
    assert [k for _, k, _ in first] == [b"2/a", b"2/b", b"2#ids/0/1.0", *models, b"2#marker"]
    assert list(rt.checkpoint()) == []  # nothing changed since
    assert decode_state(first[0][2])[0].upto == 1  # the next offset: offset 0 is in it
    (records,) = by_partition((k, v) for _, k, v in first).values()
    again = WorkerRuntime(Settings(account_ttl_s=7200), Metrics())
    assert again.restore(2, records).resume_at == 1
    assert sorted(again.detectors[2].accounts) == ["a", "b"] and again.last_offset[2] == 0
    rt.handle(2, 1, orjson.dumps(event(3, "c", 100_000.0)))
    rt.tick(now=0.0)
    rt.tick(now=0.0)
    written = {k: v for _, k, v in rt.checkpoint()}
    assert written[b"2/a"] is None and written[b"2/b"] is None and written[b"2/c"] is not None


def test_a_checkpoint_of_some_partitions_keeps_the_others_pending() -> None:
    rt = WorkerRuntime(Settings(), Metrics())
    rt.handle(0, 0, orjson.dumps(event(1, "a")))
    rt.handle(1, 0, orjson.dumps(event(2, "b")))
    # each pass is consumed whole (a pass is a generator: it finishes only when exhausted)
    revoked = [k for _, k, _ in rt.checkpoint({0})]
    assert revoked[0] == b"0/a"  # a revoked partition alone
    later = [k for _, k, _ in rt.checkpoint()]
    assert later[0] == b"1/b"  # the other is still written later


def test_event_times_out_of_range_are_dead_lettered_and_move_nothing() -> None:
    m = Metrics()
    rt = WorkerRuntime(Settings(max_event_ahead_s=3600, max_event_behind_s=86400), m)
    now = 2_000_000_000.0
    rt.handle(0, 0, orjson.dumps(event(1, ts=now - 60)), now=now)
    result = rt.handle(0, 1, orjson.dumps([event(2, ts=1e12), event(3, ts="9999-12-31T23:59:59Z"),
                                           event(4, ts=now - 2 * 86400), event(5, ts=now)]), now=now)
    assert [(d.reason.value, d.index) for d in result.dead_letters] == [
        ("out_of_range_time", 0), ("out_of_range_time", 1), ("out_of_range_time", 2)]
    assert "ahead" in result.dead_letters[0].detail and "behind" in result.dead_letters[2].detail
    assert rt.detectors[0].max_ts == now  # the far-future events did not move the partition's time
    rt.flush_counts()
    assert value(m, "stream_guard_dead_letters_total", reason="out_of_range_time") == 3
    assert value(m, "stream_guard_events_total", outcome="processed") == 2


def test_null_empty_and_deeply_nested_values_each_get_one_dead_letter() -> None:
    m = Metrics()
    rt = WorkerRuntime(Settings(), m)
    deep_element = b'{"event_id":"d","x":' + b"[" * 300 + b"]" * 300 + b"}"
    deep_unknown_field = orjson.loads(orjson.dumps(event(9, ts=1e12)))
    raw_deep_ok = orjson.dumps([deep_unknown_field])[:-2] + b',"y":' + b"[" * 300 + b"]" * 300 + b"}]"
    results = [rt.handle(0, i, raw) for i, raw in enumerate(
        [None, b"", b"[" * 2000 + b"]" * 2000, b"[" + deep_element + b"]", raw_deep_ok])]
    reasons = [[d.reason.value for d in r.dead_letters] for r in results]
    assert reasons == [["invalid_json"], ["invalid_json"], ["invalid_json"], ["schema_violation"],
                       ["out_of_range_time"]]
    # an element nested too deeply to re-encode goes to the DLQ as the whole original message
    assert results[3].dead_letters[0].payload == b"[" + deep_element + b"]"
    assert results[4].dead_letters[0].payload == raw_deep_ok
    assert results[0].dead_letters[0].payload is None
    rt.flush_counts()
    assert value(m, "stream_guard_events_total", outcome="dead_lettered") == 5
    assert value(m, "stream_guard_messages_consumed_total") == 5


def test_event_time_holds_while_a_restored_partition_re_reads() -> None:
    rt = WorkerRuntime(Settings(), Metrics())
    rt.handle(0, 0, orjson.dumps(event(1, "a", 100.0)))
    (records,) = by_partition((k, v) for _, k, v in rt.checkpoint()).values()
    again = WorkerRuntime(Settings(), Metrics())
    assert again.restore(0, records).resume_at == 1
    again.handle(1, 0, orjson.dumps(event(2, "b", 100_000.0)))  # another partition moves on
    assert again.tick(now=1e12) == [] and again.last_watermark is None  # held: partition 0 re-reads
    again.resume_at.pop(0)  # caught up
    again.tick(now=1e12)
    assert again.last_watermark is not None


def test_a_restored_partition_holds_event_time_while_its_handled_messages_come_again() -> None:
    """After a failover Faust may deliver a restored partition from the group's committed
    offset, below the checkpoint's: those messages are skipped, but the partition is not
    idle. Were it counted idle, the other partitions' clocks would finalise boundaries whose
    events it has yet to deliver (seen in bench/faults.py: an extractor alerted at `high`
    instead of replay's `critical`)."""
    rt = WorkerRuntime(Settings(), Metrics())
    for offset in range(5):
        rt.handle(0, offset, orjson.dumps(event(offset, "a", 100.0 + offset)))
    (records,) = by_partition((k, v) for _, k, v in rt.checkpoint()).values()
    again = WorkerRuntime(Settings(), Metrics())
    assert again.restore(0, records).resume_at == 5
    again.resume_at.pop(0)  # its re-read found nothing newer
    again.handle(1, 0, orjson.dumps(event(9, "b", 100_000.0)))  # another partition moves on
    for offset in range(2, 5):  # Faust starts below the checkpoint: skipped, already handled
        assert again.handle(0, offset, orjson.dumps(event(offset, "a", 100.0 + offset))).outcomes == 0
    now = max(again.last_message_wall.values())
    assert again.watermark(now) == 104.0  # partition 0's clock, not partition 1's
    assert again.watermark(now + 60) == 100_000.0 + 60 + 120  # silent for long: idle after all


def test_a_restored_partition_without_its_first_event_holds_the_watermark() -> None:
    """At a worker's start Faust hands the assigned partitions their first messages one
    after another. Were a partition that has delivered nothing yet left out of the minimum,
    the others' clocks would run ahead and finalise boundaries whose events it is about to
    deliver (live and replay then differ)."""
    rt = WorkerRuntime(Settings(), Metrics())
    for p in (0, 1):
        assert rt.restore(p, ()).resume_at is None  # a fresh start: nothing checkpointed
    rt.handle(0, 0, orjson.dumps(event(1, "a", ts=5000.0)))
    now = max(rt.last_message_wall.values())
    assert rt.watermark(now) is None  # partition 1 has not spoken yet
    assert rt.tick(now) == [] and rt.last_watermark is None
    rt.handle(1, 0, orjson.dumps(event(2, "b", ts=3000.0)))
    assert rt.watermark(now) == 3000.0
    quiet = WorkerRuntime(Settings(), Metrics())
    for p in (0, 1):
        quiet.restore(p, ())
    quiet.handle(0, 0, orjson.dumps(event(1, "a", ts=5000.0)))
    later = max(quiet.last_message_wall.values()) + 6.0
    quiet.last_message_wall[0] = later  # partition 0 still busy; partition 1 silent since its restore
    assert quiet.watermark(later) == 5000.0  # an empty partition holds for a while, not forever


def test_a_partition_sending_only_garbage_does_not_hold_the_watermark() -> None:
    rt = WorkerRuntime(Settings(), Metrics())
    for p in (0, 1):
        rt.restore(p, ())
    rt.last_message_wall[1] -= 60.0  # partition 1 was restored a minute ago
    for offset in range(3):
        assert rt.handle(1, 2 * offset, b"{not json").dead_letters
        assert rt.handle(1, 2 * offset + 1, orjson.dumps(event(offset, "b", ts=1e15))).dead_letters  # far future
    rt.handle(0, 0, orjson.dumps(event(1, "a", ts=5000.0)))
    assert rt.watermark(max(rt.last_message_wall.values())) == 5000.0


def test_a_panic_in_the_compiled_kernels_is_a_dead_letter_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    # a Rust panic reaches Python as a BaseException, which `except Exception` would miss
    panic = native_panic()
    assert issubclass(panic, BaseException) and not issubclass(panic, Exception)
    m = Metrics()
    rt = WorkerRuntime(Settings(), m)
    det = rt.detector(0)

    def boom(ev: dict[str, object], ts: float, offset: int = -1) -> None:
        raise panic("index out of bounds")

    monkeypatch.setattr(det, "process", boom)
    (dead,) = rt.handle(0, 0, orjson.dumps(event(1))).dead_letters
    assert dead.reason.value == "processing_error" and "index out of bounds" in dead.detail
    monkeypatch.undo()
    assert not rt.handle(0, 1, orjson.dumps(event(2))).dead_letters  # and the next event is processed


def test_partitions_revoked_by_a_rebalance_are_kept_if_handed_back_and_dropped_if_not() -> None:
    rt = WorkerRuntime(Settings(), Metrics())
    for p in (0, 1):
        rt.handle(p, 0, orjson.dumps(event(p, f"acct-{p}")))
        rt.restore(p, [])  # restored (no checkpoint yet): its detector is kept as it is
    list(rt.checkpoint())
    rt.handle(1, 1, orjson.dumps(event(9, "acct-1b")))
    rt.suspend({0, 1})  # eager rebalance: everything revoked
    # another worker may be taking them over: the worker's passes (of the restored
    # partitions only, see stream/app.py) write nothing of them now
    assert rt.restored == set() and list(rt.checkpoint(set(rt.restored))) == []
    rt.keep({1})  # partition 1 handed back, partition 0 gone
    assert set(rt.detectors) == {1} and rt.restored == {1} and rt.suspended == set()
    assert sorted(rt.detectors[1].accounts) == ["acct-1", "acct-1b"]  # as it was: nothing read back
    assert {k for _, k, _ in rt.checkpoint(set(rt.restored))} >= {b"1/acct-1b", b"1#marker"}  # checkpointed again
