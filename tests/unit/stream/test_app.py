"""stream_guard.stream.app: what build_app hands to Faust (no broker: an App connects only
when started; the agents' and timers' behaviour is tested against a real broker in
tests/integration/)."""

from __future__ import annotations

import asyncio
import inspect
import logging

import orjson
import pytest
from stream_guard.metrics import Metrics
from stream_guard.settings import Settings
from stream_guard.stream.app import WorkerApp, build_app
from stream_guard.stream.catchup import InputRecord
from stream_guard.stream.health import WorkerHealth
from stream_guard.stream.topics import CLUSTER_TABLE, STATE_TABLE, changelog_topic


def _timer_targets(worker: WorkerApp) -> list[str]:
    """The WorkerApp methods behind the app's timers (Faust wraps each twice)."""
    return sorted(inspect.unwrap(task).__name__ for task in worker.app._app_tasks)


def test_build_app_registers_the_agents_and_timers_of_the_worker_and_no_faust_table() -> None:
    app, runtime = build_app(Settings(), Metrics(), 4)
    assert sorted(app.agents) == ["ingest", "link-attributes", "link-clusters", "verdicts"]
    # the checkpoints are read back by the worker itself (stream/changelog.py): a Faust table
    # would put Faust's changelog recovery (which can hang) back into every rebalance
    assert not app.tables
    assert runtime.flow.transport is not None  # profiles leave through the outbox


def test_the_state_is_restored_when_faust_completes_a_rebalance() -> None:
    s = Settings(cross_account=False)
    worker = WorkerApp(s, Metrics(), 4, WorkerHealth.of(s))
    # (the app is the signal's default sender: mode keeps its receivers per sender)
    receivers = {r for rs in worker.app.on_rebalance_complete._filter_receivers.values() for r in rs}
    assert worker.restore_state in receivers
    assert worker.state_topic == changelog_topic(s, STATE_TABLE)
    assert worker.cluster_topic == changelog_topic(s, CLUSTER_TABLE)


def test_without_cross_account_only_the_ingest_and_verdicts_agents_run() -> None:
    s = Settings(cross_account=False)
    worker = WorkerApp(s, Metrics(), 4, WorkerHealth.of(s))
    assert sorted(worker.app.agents) == ["ingest", "verdicts"]
    assert _timer_targets(worker) == ["checkpoint_timer", "probe_broker", "tick", "watch_stalls"]
    assert worker.runtime.flow.transport is None


def test_a_rebalance_makes_the_worker_not_ready_until_its_recovery_is_done() -> None:
    s = Settings(cross_account=False)
    worker = WorkerApp(s, Metrics(), 4, WorkerHealth.of(s))
    worker.health.restored = True
    worker.health.broker_ok()
    worker.health.ticked()
    assert worker.health.not_ready() is None
    asyncio.run(worker.on_revoked(worker.app, set()))  # the start of a rebalance, nothing revoked
    assert worker.health.not_ready() == "partitions not assigned or state not restored yet"


def test_a_recovery_that_never_ends_makes_the_worker_not_alive() -> None:
    now = [0.0]
    s = Settings(restore_timeout_s=600.0)
    health = WorkerHealth(broker_lost_after_s=s.broker_lost_after_s, stall_s=30.0,
                          restore_timeout_s=s.restore_timeout_s, clock=lambda: now[0])
    worker = WorkerApp(Settings(cross_account=False), Metrics(), 4, health)
    health.restored = True
    now[0] = 1000.0
    asyncio.run(worker.on_revoked(worker.app, set()))  # a rebalance starts at 1000 s
    for t in (1000.0, 1300.0, 1599.0):
        now[0] = t
        health.ticked()
        assert health.not_alive() is None  # recovering: not ready, still alive
    now[0] = 1600.0
    health.ticked()
    assert health.not_alive() == "state not restored for 600 s (a recovery that hangs?)"
    health.restored = True  # the recovery ended after all
    assert health.not_alive() is None


def _restored_worker(s: Settings) -> WorkerApp:
    """A worker whose partitions' state is restored (a tick during a rebalance does nothing)."""
    worker = WorkerApp(s, Metrics(), 4, WorkerHealth.of(s))
    worker.health.restored = True
    return worker


def test_a_tick_during_a_rebalance_evaluates_and_sends_nothing() -> None:
    s = Settings(cross_account=False)
    worker = _restored_worker(s)
    sends: list[object] = []

    async def send(alerts: object) -> None:
        sends.append(alerts)

    worker.send_alerts = send  # type: ignore[method-assign]  # records what the tick sends
    asyncio.run(worker.tick())
    assert len(sends) == 1  # restored: the tick evaluates (nothing to alert here) and sends
    asyncio.run(worker.on_revoked(worker.app, set()))  # a rebalance starts
    asyncio.run(worker.tick())
    assert len(sends) == 1  # revoked partitions may be moving: nothing until the restore


def test_a_tick_that_hangs_in_a_send_is_logged_with_where_it_waits(caplog: pytest.LogCaptureFixture) -> None:
    s = Settings(cross_account=False, stall_warning_s=0.05)
    worker = _restored_worker(s)
    never = asyncio.Event()

    async def send_that_never_returns(alerts: object) -> None:
        await never.wait()

    worker.send_alerts = send_that_never_returns  # type: ignore[method-assign]  # a broker that never answers

    async def main() -> None:
        tick = asyncio.ensure_future(worker.tick())
        await asyncio.sleep(0.1)
        with caplog.at_level(logging.WARNING, logger="stream_guard.stream.app"):
            await worker.watch_stalls()
            await worker.watch_stalls()  # logged once a minute per step, not per call
        assert worker.metrics.stalled_step._value.get() >= 0.05  # the gauge on the dashboard
        never.set()
        await tick
        caplog_after = len(caplog.records)
        await worker.watch_stalls()  # done: nothing more
        assert len(caplog.records) == caplog_after
        assert worker.metrics.stalled_step._value.get() == 0.0

    asyncio.run(main())
    [record] = caplog.records
    assert "'tick (evaluation and its sends)' has not finished" in record.getMessage()
    assert "send_that_never_returns" in record.getMessage()
    assert "_tick" in record.getMessage()


def test_a_tick_cut_short_by_the_shutdown_does_not_crash_the_worker_and_later_ticks_send_nothing() -> None:
    s = Settings(cross_account=False)
    worker = _restored_worker(s)
    closing = asyncio.Event()
    sends: list[object] = []

    class ProducerClosedError(Exception):
        """What the producer raises once Faust closed it (a ProducerSendError)."""

    async def send_while_the_producer_closes(alerts: object) -> None:
        sends.append(alerts)
        await closing.wait()
        raise ProducerClosedError

    worker.send_alerts = send_while_the_producer_closes  # type: ignore[method-assign]  # the shutdown race

    async def main() -> None:
        tick = asyncio.ensure_future(worker.tick())
        await asyncio.sleep(0.05)
        await worker.on_shutdown(worker.app)  # the final checkpoint; then Faust closes the producer
        closing.set()
        await tick  # returns: no crash, so the worker exits 0
        await worker.tick()  # after the shutdown began: nothing is evaluated or sent
        assert len(sends) == 1

    asyncio.run(main())


def test_a_tick_that_fails_while_running_still_crashes_the_worker() -> None:
    s = Settings(cross_account=False)
    worker = _restored_worker(s)

    async def broken(alerts: object) -> None:
        raise RuntimeError("not a shutdown")

    worker.send_alerts = broken  # type: ignore[method-assign]  # a failure outside a shutdown
    with pytest.raises(RuntimeError, match="not a shutdown"):
        asyncio.run(worker.tick())


def test_a_re_read_of_a_partition_that_went_elsewhere_meanwhile_creates_no_state() -> None:
    s = Settings()
    worker = _restored_worker(s)
    rec = InputRecord(5, b"acct-a", orjson.dumps({"event_id": "e1", "ts": 1000.0, "account_id": "acct-a",
                                                  "model": "m", "input_tokens": 1, "output_tokens": 2}), 0)
    asyncio.run(worker._input_message(2, rec))  # partition 2 is not (or no longer) held
    asyncio.run(worker._profiles_message(2, InputRecord(5, None, b"[]", 0)))
    assert 2 not in worker.runtime.detectors and 2 not in worker.attributes.indexes
    worker.runtime.detector(2)  # held: its re-read is handled
    asyncio.run(worker._input_message(2, rec))
    assert "acct-a" in worker.runtime.detectors[2].accounts
