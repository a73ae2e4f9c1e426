"""The Faust application: one ingest agent, a timer, and the changelog-backed state table.

The agent only moves bytes: each input message goes to
:meth:`~stream_guard.stream.runtime.WorkerRuntime.handle` (the pure core does the work),
and what comes back goes to the alerts and dead-letter topics. Batched message values
(JSON arrays) divide Faust's per-message cost by the batch size. Per-account state is
kept in memory and checkpointed to the ``account-state`` table at most once per
``checkpoint_interval_s`` per changed account, not once per event.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypedDict

import faust
from faust.types import TP
from prometheus_client import Histogram

from stream_guard.contracts import DeadLetter, dead_letter_record, encode_alert
from stream_guard.core.alerts import Alert
from stream_guard.core.checkpoint import by_partition
from stream_guard.metrics import Metrics
from stream_guard.settings import Settings
from stream_guard.stream.catchup import CatchUps, InputRecord
from stream_guard.stream.commits import CommitAdvancer
from stream_guard.stream.health import WorkerHealth
from stream_guard.stream.kafka_config import faust_security
from stream_guard.stream.linking import AttributeStage, ClusterStage, ProfileOutbox
from stream_guard.stream.memory import release_free_memory
from stream_guard.stream.probe import BrokerProbe
from stream_guard.stream.runtime import IDLE_PARTITION_S, WorkerRuntime
from stream_guard.stream.topics import (
    CLUSTER_TABLE,
    STATE_TABLE,
    profiles_topic,
    verdicts_topic,
)

__all__ = ["IngestFailure", "build_app"]

log = logging.getLogger(__name__)

#: The stages whose partitions are checkpointed and re-read after a restore.
INPUT, PROFILES, VERDICTS = "input", "profiles", "verdicts"



class _RawTopicOptions(TypedDict):
    key_type: type[bytes]
    value_type: type[bytes]
    key_serializer: str
    value_serializer: str


#: Every topic carries bytes: the codec (contracts/codec.py) decodes and validates them itself.
RAW = _RawTopicOptions(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


@dataclass(slots=True)
class _Replaceable:
    """What the app's agents and timers replace while it runs."""

    clusters: ClusterStage  # the cluster stage (a new one when its partition is revoked)
    last_checkpoint: float  # monotonic time of the last checkpoint pass


class IngestFailure(RuntimeError):
    """The ingest agent cannot go on (e.g. the dead-letter topic refuses writes)."""


def build_app(
    settings: Settings, metrics: Metrics, partitions: int, health: WorkerHealth | None = None
) -> tuple[faust.App, WorkerRuntime]:
    """The Faust app wired to a :class:`WorkerRuntime` (``partitions`` of the input topic).

    ``health`` receives what the agents and timers observe (restore done, broker probes,
    ticks, a fatal ingest failure); on a fatal failure the app asks the worker to stop and
    the worker exits non-zero.
    """
    health = health or WorkerHealth.of(settings)
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        datadir=settings.data_dir,
        store="memory://",
        web_enabled=False,
        topic_partitions=partitions,
        topic_replication_factor=settings.topic_replication_factor,
        table_standby_replicas=0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        producer_max_request_size=settings.producer_max_request_bytes,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        producer_linger_ms=5,
        broker_commit_interval=2.0,
        # Faust's default 1 MiB fetch stalls ~1 s after every few hundred batched messages
        # (measured in bench/: 13.5k -> 34.4k events/s on 30 KB messages)
        consumer_max_fetch_size=16 * 1024 * 1024,
        key_serializer="raw",
        value_serializer="raw",
        **faust_security(settings),
    )
    source = f"{socket.gethostname()}-{os.getpid()}"
    outbox = ProfileOutbox(metrics, source, partitions)
    runtime = WorkerRuntime(settings, metrics, outbox)
    input_topic = app.topic(settings.input_topic, **RAW)
    alerts_topic = app.topic(settings.alerts_topic, **RAW)
    dlq_topic = app.topic(settings.dlq_topic, **RAW)
    attributes = AttributeStage(settings, metrics, source)
    link_profiles = app.topic(profiles_topic(settings), partitions=partitions, **RAW)
    link_verdicts = app.topic(verdicts_topic(settings), partitions=1, **RAW)
    table = app.Table(STATE_TABLE, default=None, partitions=partitions, key_type=bytes, value_type=bytes)
    # one partition: Faust assigns it with the one-partition verdicts topic (same partition
    # count, same subscribers), so the cluster stage's owner holds its checkpoint
    cluster_table = app.Table(CLUSTER_TABLE, default=None, partitions=1, key_type=bytes, value_type=bytes)
    current = _Replaceable(ClusterStage(settings, metrics), time.monotonic())

    async def send_alerts(alerts: list[Alert]) -> None:
        for alert in alerts:
            fut = await alerts_topic.send(key=alert["subject"].encode(), value=encode_alert(alert))
            fut.add_done_callback(delivered("alert"))  # type: ignore[attr-defined]  # an asyncio.Future
            metrics.alerts.labels(alert["kind"], alert["severity"], "+".join(alert["detectors"])).inc()
            metrics.alert_score.labels(alert["kind"]).observe(alert["score"])
            # a cluster alert is followed by one member alert per account: those go to DEBUG
            log.log(
                logging.DEBUG if alert["detectors"] == ["cluster_member"] else logging.INFO,
                "alert %s kind=%s severity=%s score=%.2f detectors=%s accounts=%d",
                alert["alert_id"], alert["kind"], alert["severity"], alert["score"], alert["detectors"],
                alert["account_count"],
            )

    # Checkpoint records go straight to the changelog topics through the producer (aiokafka
    # waits when a partition's batch is full: bounded memory), not through the table's
    # send_changelog: Faust buffers those in an unbounded queue and throttles every input
    # message while it is long ("producer buffer full"). Nor are they mirrored into the
    # table's in-memory data (a second copy of every state): the table's data is only read
    # once, after Faust's recovery filled it, and then cleared (see restore_state).
    checkpoint_lock = asyncio.Lock()  # one pass at a time: a partition's records stay in pass order

    async def write_all(records: Iterable[tuple[int, bytes, bytes | None]], duration: Histogram, what: str,
                        into: Any = None) -> int:
        topic = (table if into is None else into).changelog_topic.get_topic_name()
        started = time.perf_counter()
        try:
            # every record of the pass is taken before the first await: a pass is a picture
            # of one moment (the ingest agent runs on while it is sent)
            batch = list(records)
        except Exception:
            metrics.checkpoint_failures.inc()
            log.exception("%s checkpoint failed", what)
            raise
        finally:
            duration.observe(time.perf_counter() - started)
        send = app.producer.send
        done = delivered(f"{what} checkpoint record")
        for p, key, value in batch:
            fut = await send(topic, key, value, p, None, None)
            fut.add_done_callback(done)  # type: ignore[attr-defined]  # an asyncio.Future
        return len(batch)

    async def checkpoint(partitions: set[int] | None = None) -> None:
        async with checkpoint_lock:
            # Only restored partitions: before its restore a partition's state is provisional
            # (Faust hands out messages before the tables' recovery); a pass of it would
            # overwrite the checkpoint the restore is about to read.
            ready = set(runtime.restored) if partitions is None else partitions & runtime.restored
            n = await write_all(runtime.checkpoint(ready), metrics.checkpoint_duration, "state")
            metrics.checkpoint_states.inc(n)
            if settings.cross_account:
                linked = set(attributes.restored) if partitions is None else partitions & attributes.restored
                await write_all(attributes.checkpoint(linked), metrics.checkpoint_duration, "attribute index")
                if current.clusters.restored and partitions is None:
                    await write_all(((0, k, v) for k, v in current.clusters.checkpoint()), metrics.checkpoint_duration,
                                    "cluster book", cluster_table)
            if settings.release_free_memory:
                started = time.perf_counter()
                release_free_memory()  # the pass's records are garbage now
                trimmed = time.perf_counter() - started
                if trimmed > 0.1:
                    log.info("returning free memory to the OS took %.2f s", trimmed)
            current.last_checkpoint = time.monotonic()

    def assigned(topic: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}

    @table.on_recover
    async def restore_state() -> None:
        # Partitions not held before this rebalance come from the tables (replacing
        # provisional state of messages Faust handed over before the recovery); each is
        # re-read from its checkpoint's offset before its next message (catch_up).
        now = time.time()
        held = assigned(settings.input_topic)
        runtime.drop(set(runtime.detectors) - held)
        groups = by_partition(table.data.items())
        stale: list[tuple[int, bytes, bytes | None]] = []  # records to delete, of the state table
        stale_clusters: list[tuple[int, bytes, bytes | None]] = []
        for p in sorted(held - runtime.restored):
            restored = runtime.restore(p, groups.get(p, ()))
            stale += [(p, key, None) for key in restored.stale]
            catch_ups.restored(INPUT, p)
        if settings.cross_account:
            linked = assigned(link_profiles.get_topic_name())
            attributes.drop(set(attributes.indexes) - linked)
            for p in sorted(linked - attributes.restored):
                stale += [(p, key, None) for key in attributes.restore(p, groups.get(p, ()), now).stale]
                catch_ups.restored(PROFILES, p)
            if 0 in assigned(link_verdicts.get_topic_name()) and not current.clusters.restored:
                items = [(k, v) for k, v in cluster_table.data.items() if v is not None]
                stale_clusters += [(0, key, None) for key in current.clusters.restore(items, now).stale]
                catch_ups.restored(VERDICTS, 0)
        # what Faust's recovery read is in the detectors and stages now: no second copy
        # (a later recovery fills it again with what it reads then)
        table.data.clear()
        cluster_table.data.clear()
        async with checkpoint_lock:  # in order before the next pass (which may reuse a key)
            await write_all(stale, metrics.checkpoint_duration, "stale record deletion")
            await write_all(stale_clusters, metrics.checkpoint_duration, "stale record deletion", cluster_table)
        runtime.ready = health.restored = True
        log.info("state restored: %d partitions, %d accounts, to re-read from %s", len(runtime.detectors),
                 sum(len(d.accounts) for d in runtime.detectors.values()), dict(runtime.resume_at) or "nothing")

    # What a restored partition re-reads before its next message from Faust, per stage:
    # (topic, offsets still to re-read from, handler of one re-read message).
    async def input_message(p: int, rec: InputRecord) -> None:
        result = runtime.handle(p, rec.offset, rec.value)
        for dl in result.dead_letters:
            await dead_letter(rec.key, dl, p, rec.offset)

    async def profiles_message(p: int, rec: InputRecord) -> None:
        # a source counts as heard from when it sent the message, not when it is re-read
        attributes.handle(p, rec.value or b"", rec.timestamp_ms / 1000.0, rec.offset)

    async def verdicts_message(p: int, rec: InputRecord) -> None:
        current.clusters.handle(rec.value or b"", rec.timestamp_ms / 1000.0, rec.offset)

    def failed_catch_up(exc: BaseException) -> None:
        fail(IngestFailure(f"re-reading a restored partition failed: {type(exc).__name__}"))

    catch_ups = CatchUps(settings, failed_catch_up, IDLE_PARTITION_S)
    catch_ups.stage(INPUT, settings.input_topic, lambda: runtime.resume_at, input_message)
    catch_ups.stage(PROFILES, link_profiles.get_topic_name(), lambda: attributes.resume_at, profiles_message)
    catch_ups.stage(VERDICTS, link_verdicts.get_topic_name(), lambda: current.clusters.resume_at, verdicts_message)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # Faust types receivers as (sender, /, *args, signal=, **kw); ours name their args
    async def on_revoked(app: faust.App, revoked: set[TP], **_: Any) -> None:
        lost = {tp.partition for tp in revoked if tp.topic == settings.input_topic}
        lost_links = {tp.partition for tp in revoked if tp.topic == link_profiles.get_topic_name()}
        if lost or lost_links:
            await checkpoint(lost | lost_links)
            runtime.drop(lost)
            attributes.drop(lost_links)
        if any(tp.topic == link_verdicts.get_topic_name() for tp in revoked):
            if current.clusters.restored:
                async with checkpoint_lock:
                    await write_all(((0, k, v) for k, v in current.clusters.checkpoint()), metrics.checkpoint_duration,
                                    "cluster book", cluster_table)
            current.clusters.reset_gauges()
            current.clusters = ClusterStage(settings, metrics)  # the new owner restores it

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # Faust types receivers as (sender, /, *args, signal=, **kw); ours name their args
    async def on_shutdown(app: faust.App, **_: Any) -> None:
        await checkpoint()
        log.info("final checkpoint written")

    def delivered(what: str) -> Callable[[asyncio.Future[Any]], None]:
        def check(fut: asyncio.Future[Any]) -> None:
            exc = None if fut.cancelled() else fut.exception()  # cancelled: the worker is stopping
            if exc is not None:
                # the broker refused the record: the input (or alert) would be lost without trace
                fail(IngestFailure(f"{what} not delivered: {type(exc).__name__}"))

        return check

    async def dead_letter(key: bytes | None, dl: DeadLetter, partition: int, offset: int) -> None:
        record = dead_letter_record(dl, key, partition, offset, limit=settings.producer_max_request_bytes)
        if record.truncated:
            metrics.dead_letters_truncated.inc()
        fut = await dlq_topic.send(key=record.key, value=record.value, headers=record.headers)
        fut.add_done_callback(delivered("dead letter"))  # type: ignore[attr-defined]  # an asyncio.Future

    def fail(exc: BaseException) -> None:
        if health.failure is not None:
            return
        metrics.fatal_errors.inc()
        health.fail(str(exc) if isinstance(exc, IngestFailure) else type(exc).__name__)
        metrics.ready.set(0)
        log.critical("ingest agent failed, stopping the worker (exit code 1): %r", exc)
        # SIGTERM: Faust's own orderly shutdown; the worker then exits 1 (see worker.py)
        os.kill(os.getpid(), signal.SIGTERM)

    @app.agent(input_topic, name="ingest")
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        if health.failure is not None:  # restarted by Faust's supervisor after a failure
            return
        try:
            async for event in stream.events():
                msg = event.message
                if msg.partition in runtime.resume_at:
                    await catch_ups.before_message(INPUT, msg.partition, msg.offset)
                result = runtime.handle(msg.partition, msg.offset, event.value)
                for dl in result.dead_letters:
                    await dead_letter(msg.key, dl, msg.partition, msg.offset)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            fail(exc)
            raise

    if settings.cross_account:

        @app.agent(link_profiles, name="link-attributes")
        async def link_attributes(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                msg = event.message
                if msg.partition in attributes.resume_at:
                    await catch_ups.before_message(PROFILES, msg.partition, msg.offset)
                attributes.handle(msg.partition, event.value, time.time(), msg.offset)

        @app.agent(link_verdicts, name="link-clusters")
        async def link_clusters(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                msg = event.message
                if msg.partition in current.clusters.resume_at:
                    await catch_ups.before_message(VERDICTS, msg.partition, msg.offset)
                current.clusters.handle(event.value, time.time(), msg.offset)

    async def cross_account_tick(now: float) -> None:
        for p, msg in outbox.take():
            await link_profiles.send(value=msg, partition=p)
        for msg in attributes.tick(now):
            await link_verdicts.send(value=msg, partition=0)
        await send_alerts(current.clusters.tick(now))

    probe = BrokerProbe(settings)
    commits = CommitAdvancer(settings.input_topic, after_s=settings.commit_stall_repair_s)

    @app.timer(interval=settings.broker_probe_interval_s)  # type: ignore[untyped-decorator]  # faust's timer() is not annotated
    async def probe_broker() -> None:
        try:
            offsets = await probe.next_offsets(runtime.detectors)
        except Exception as exc:  # noqa: BLE001 - an unreachable broker is a state, not a crash
            metrics.broker_probe_failures.inc()
            metrics.broker_up.set(0)
            if not health.broker_reachable():
                log.warning("broker probe failed (%s); not ready until it answers", type(exc).__name__)
            return
        health.broker_ok()
        metrics.broker_up.set(1)
        # lag, committed lag (what stuck commits grow) and how long commits have stood still
        now = time.monotonic()
        metrics.report_lag(probe.lag.observe(offsets, runtime.last_offset, now))
        if settings.commit_stall_repair_s > 0:
            # only partitions whose state is restored and not re-reading: every offset below
            # the next one to handle has its outcome
            handled = {p: o for p, o in runtime.last_offset.items()
                       if p in runtime.restored and p not in runtime.resume_at}
            try:
                repaired = await commits.repair(app.consumer, offsets, handled, now)
                metrics.commit_repairs.inc(len(repaired))
            except Exception as exc:  # noqa: BLE001 - a failed repair is retried at the next probe
                log.warning("committing a stuck partition failed (%s); retried at the next probe",
                            type(exc).__name__)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # Faust types receivers as (sender, /, *args, signal=, **kw); ours name their args
    async def close_probe(app: faust.App, **_: Any) -> None:
        await probe.close()

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]  # faust's timer() is not annotated
    async def tick() -> None:
        health.ticked()
        metrics.ready.set(1 if health.not_ready() is None else 0)
        now = time.time()
        catch_ups.start_idle()
        await send_alerts(runtime.tick(now))
        if settings.cross_account:
            await cross_account_tick(now)

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]  # faust's timer() is not annotated
    async def checkpoint_timer() -> None:
        # its own timer: sending a pass may wait on the broker, ticks must not
        due = time.monotonic() - current.last_checkpoint >= settings.checkpoint_interval_s
        if due and not checkpoint_lock.locked():
            await checkpoint()

    return app, runtime
