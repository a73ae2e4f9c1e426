"""The Faust application: one ingest agent, timers, and the state checkpoint topics.

The agent only moves bytes: each input message goes to
:meth:`~stream_guard.stream.runtime.WorkerRuntime.handle` (the pure core does the work),
and what comes back goes to the alerts and dead-letter topics. Batched message values
(JSON arrays) divide Faust's per-message cost by the batch size. Per-account state is
kept in memory and checkpointed to the ``account-state`` checkpoint topic at most once per
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
from typing import Any, TypedDict

import faust
import orjson
from faust.types import TP
from prometheus_client import Histogram

from stream_guard.contracts import DeadLetter, dead_letter_record, encode_alert
from stream_guard.core.alerts import Alert
from stream_guard.core.checkpoint import by_partition
from stream_guard.metrics import Metrics
from stream_guard.settings import Settings
from stream_guard.stream.catchup import CatchUps, InputRecord
from stream_guard.stream.changelog import read_latest
from stream_guard.stream.commits import CommitAdvancer
from stream_guard.stream.health import WorkerHealth
from stream_guard.stream.kafka_config import faust_security
from stream_guard.stream.linking import AttributeStage, ClusterStage, ProfileOutbox
from stream_guard.stream.memory import release_free_memory
from stream_guard.stream.probe import BrokerProbe
from stream_guard.stream.runtime import IDLE_PARTITION_S, WorkerRuntime
from stream_guard.stream.stalls import DeliveryWatch, StallWatch
from stream_guard.stream.topics import (
    CLUSTER_TABLE,
    STATE_TABLE,
    changelog_topic,
    link_verdicts_topic,
    profiles_topic,
)
from stream_guard.stream.verdicts import VerdictIntake

__all__ = ["CONSUMER_TUNING", "IngestFailure", "WorkerApp", "build_app"]

log = logging.getLogger(__name__)

#: The stages whose partitions are checkpointed and re-read after a restore.
INPUT, PROFILES, VERDICTS, ANALYST = "input", "profiles", "verdicts", "analyst"



#: The worker's Faust consumer settings (bench/throughput.py runs a bare Faust agent with them
#: too, beside one with Faust's defaults).
CONSUMER_TUNING: dict[str, Any] = {  # (Any: faust.App types each option apart)
    # Faust's default 1 MiB fetch stalls ~1 s after every few hundred batched messages
    # (measured in bench/: 13.5k -> 34.4k events/s on 30 KB messages). A limit of records per
    # poll (broker_max_poll_records 100-2,000) was tried for one-event messages and not kept:
    # +17% in one A/B, nothing in another and in a full benchmark run (docs/performance.md)
    "consumer_max_fetch_size": 16 * 1024 * 1024,
}


class _RawTopicOptions(TypedDict):
    key_type: type[bytes]
    value_type: type[bytes]
    key_serializer: str
    value_serializer: str


#: Every topic carries bytes: the codec (contracts/codec.py) decodes and validates them itself.
RAW = _RawTopicOptions(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


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
    worker = WorkerApp(settings, metrics, partitions, health or WorkerHealth.of(settings))
    return worker.app, worker.runtime


class WorkerApp:
    """One worker's Faust app and what its agents, timers and signal handlers share: the
    runtime (the pure flow), the cross-account stages, the topics and the checkpoints.
    The handlers are its methods; :meth:`_register` hands them to Faust."""

    def __init__(self, settings: Settings, metrics: Metrics, partitions: int, health: WorkerHealth) -> None:
        self.s = settings
        self.metrics = metrics
        self.health = health
        self.app = app = faust.App(
            settings.app_id,
            broker=settings.broker_url,
            datadir=settings.data_dir,
            store="memory://",
            web_enabled=False,
            topic_partitions=partitions,
            topic_replication_factor=settings.topic_replication_factor,
            broker_session_timeout=settings.session_timeout_s,
            broker_heartbeat_interval=settings.heartbeat_interval_s,
            producer_max_request_size=settings.producer_max_request_bytes,
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,
            producer_linger_ms=5,
            broker_commit_interval=2.0,
            **CONSUMER_TUNING,
            key_serializer="raw",
            value_serializer="raw",
            **faust_security(settings),
        )
        source = f"{socket.gethostname()}-{os.getpid()}"
        self.outbox = ProfileOutbox(metrics, source, partitions)
        self.runtime = WorkerRuntime(settings, metrics, self.outbox)
        self.input_topic = app.topic(settings.input_topic, **RAW)
        # co-partitioned with the input: Faust assigns its partition p with the input's p
        self.verdicts_in = app.topic(settings.verdicts_topic, partitions=partitions, **RAW)
        self.intake = VerdictIntake(self.runtime.flow.verdicts, metrics, partitions)
        self.alerts_topic = app.topic(settings.alerts_topic, **RAW)
        self.dlq_topic = app.topic(settings.dlq_topic, **RAW)
        self.attributes = AttributeStage(settings, metrics, source)
        self.link_profiles = app.topic(profiles_topic(settings), partitions=partitions, **RAW)
        self.link_verdicts = app.topic(link_verdicts_topic(settings), partitions=1, **RAW)
        # The checkpoint topics (compacted; see stream/changelog.py): partition p of the state
        # topic holds input partition p's accounts and link-profiles partition p's index (the
        # two topics' partitions p need not be on one worker); the one-partition cluster
        # topic holds the cluster stage's, written by the owner of link-verdicts partition 0
        self.state_topic = changelog_topic(settings, STATE_TABLE)
        self.cluster_topic = changelog_topic(settings, CLUSTER_TABLE)
        self.clusters = ClusterStage(settings, metrics)  # a new one when its partition is revoked
        self.last_checkpoint = time.monotonic()  # of the last checkpoint pass
        # one pass at a time: a partition's records stay in pass order
        self.checkpoint_lock = asyncio.Lock()
        # What a restored partition re-reads before its next message from Faust, per stage:
        # (topic, offsets still to re-read from, handler of one re-read message).
        self.catch_ups = CatchUps(settings, self._failed_catch_up, IDLE_PARTITION_S)
        self.catch_ups.stage(INPUT, settings.input_topic, lambda: self.runtime.resume_at, self._input_message)
        self.catch_ups.stage(PROFILES, self.link_profiles.get_topic_name(), lambda: self.attributes.resume_at,
                             self._profiles_message)
        self.catch_ups.stage(VERDICTS, self.link_verdicts.get_topic_name(), lambda: self.clusters.resume_at,
                             self._verdicts_message)
        # (retried, not fatal: a worker that starts while the broker goes away must wait, not exit)
        self.catch_ups.stage(ANALYST, settings.verdicts_topic, lambda: self.intake.resume_at, self._analyst_message,
                             retry=True)
        self.probe = BrokerProbe(settings)
        self.commits = CommitAdvancer(settings.input_topic, after_s=settings.commit_stall_repair_s)
        self.stalls = StallWatch(settings.stall_warning_s)
        self._stall_logged: dict[str, float] = {}  # step name -> when it was last logged as stalled
        self.starved = DeliveryWatch(2 * settings.stall_warning_s)
        #: the worker is stopping: its final checkpoint is written (or being written) and
        #: Faust is about to close the producer, so the timers send nothing more
        self.stopping = asyncio.Event()
        self._register()

    def _register(self) -> None:
        app, s = self.app, self.s
        # Faust sends it when a rebalance's assignment is known, before the assigned
        # partitions are resumed (the app has no Faust tables: no changelog recovery)
        app.on_rebalance_complete.connect(self.restore_state)  # type: ignore[arg-type]  # (see above)
        # Faust types signal receivers as (sender, /, *args, signal=, **kw); ours name their args
        app.on_partitions_revoked.connect(self.on_revoked)  # type: ignore[arg-type]  # (see above)
        app.on_before_shutdown.connect(self.on_shutdown)  # type: ignore[arg-type]  # (see above)
        app.agent(self.input_topic, name="ingest")(self.ingest)
        app.agent(self.verdicts_in, name="verdicts")(self.take_verdicts)
        if s.cross_account:
            app.agent(self.link_profiles, name="link-attributes")(self.link_attributes)
            app.agent(self.link_verdicts, name="link-clusters")(self.link_clusters)
        app.timer(interval=s.broker_probe_interval_s)(self.probe_broker)
        app.on_before_shutdown.connect(self.close_probe)  # type: ignore[arg-type]  # (see above)
        app.timer(interval=1.0)(self.tick)
        app.timer(interval=1.0)(self.checkpoint_timer)
        if s.stall_warning_s > 0:
            app.timer(interval=min(5.0, s.stall_warning_s))(self.watch_stalls)

    # --- output ------------------------------------------------------------------------------
    async def send_alerts(self, alerts: list[Alert]) -> None:
        metrics = self.metrics
        for alert in alerts:
            fut = await self.alerts_topic.send(key=alert["subject"].encode(), value=encode_alert(alert))
            fut.add_done_callback(self.delivered("alert"))  # type: ignore[attr-defined]  # an asyncio.Future
            metrics.alerts.labels(alert["kind"], alert["severity"], "+".join(alert["detectors"])).inc()
            metrics.alert_score.labels(alert["kind"]).observe(alert["score"])
            # member alerts one per account (cluster_member_alerts=each) go to DEBUG
            log.log(
                logging.DEBUG if alert["detectors"] == ["cluster_member"] and alert["kind"] == "account"
                else logging.INFO,
                "alert %s kind=%s severity=%s score=%.2f detectors=%s accounts=%d",
                alert["alert_id"], alert["kind"], alert["severity"], alert["score"], alert["detectors"],
                alert["account_count"],
            )

    async def dead_letter(self, key: bytes | None, dl: DeadLetter, partition: int, offset: int,
                          topic: str | None = None) -> None:
        record = dead_letter_record(dl, key, partition, offset, limit=self.s.producer_max_request_bytes, topic=topic)
        if record.truncated:
            self.metrics.dead_letters_truncated.inc()
        fut = await self.dlq_topic.send(key=record.key, value=record.value, headers=record.headers)
        fut.add_done_callback(self.delivered("dead letter"))  # type: ignore[attr-defined]  # an asyncio.Future

    def delivered(self, what: str) -> Callable[[asyncio.Future[Any]], None]:
        """A done-callback that stops the worker when the broker refused the record (the
        input, alert or checkpoint would be lost without trace)."""
        def check(fut: asyncio.Future[Any]) -> None:
            exc = None if fut.cancelled() else fut.exception()  # cancelled: the worker is stopping
            if exc is not None:
                self.fail(IngestFailure(f"{what} not delivered: {type(exc).__name__}"))

        return check

    def fail(self, exc: BaseException) -> None:
        health, metrics = self.health, self.metrics
        if health.failure is not None:
            return
        metrics.fatal_errors.inc()
        health.fail(str(exc) if isinstance(exc, IngestFailure) else type(exc).__name__)
        metrics.ready.set(0)
        log.critical("ingest agent failed, stopping the worker (exit code 1): %r", exc)
        # SIGTERM: Faust's own orderly shutdown; the worker then exits 1 (see worker.py)
        os.kill(os.getpid(), signal.SIGTERM)

    # --- checkpoints -------------------------------------------------------------------------
    # Checkpoint records go straight to the checkpoint topics through the producer (aiokafka
    # waits when a partition's batch is full: bounded memory), not through a Faust table:
    # Faust buffers a table's changelog records in an unbounded queue and throttles every
    # input message while it is long ("producer buffer full"), keeps a second in-memory copy
    # of every state, and its changelog recovery can hang (see stream/changelog.py). They are
    # read back only when a partition is taken over (restore_state).
    async def write_all(self, records: Iterable[tuple[int, bytes, bytes | None]], duration: Histogram, what: str,
                        topic: str | None = None) -> int:
        topic = self.state_topic if topic is None else topic
        started = time.perf_counter()
        try:
            # every record of the pass is taken before the first await: a pass is a picture
            # of one moment (the ingest agent runs on while it is sent)
            batch = list(records)
        except Exception:
            self.metrics.checkpoint_failures.inc()
            log.exception("%s checkpoint failed", what)
            raise
        finally:
            duration.observe(time.perf_counter() - started)
        send = self.app.producer.send
        done = self.delivered(f"{what} checkpoint record")
        for p, key, value in batch:
            fut = await send(topic, key, value, p, None, None)
            fut.add_done_callback(done)  # type: ignore[attr-defined]  # an asyncio.Future
        return len(batch)

    async def _write_clusters(self) -> None:
        await self.write_all(((0, k, v) for k, v in self.clusters.checkpoint()), self.metrics.checkpoint_duration,
                             "cluster book", self.cluster_topic)

    async def checkpoint(self, partitions: set[int] | None = None) -> None:
        runtime, attributes, metrics = self.runtime, self.attributes, self.metrics
        async with self.checkpoint_lock:
            # Only restored partitions: before its restore a partition's state is provisional,
            # and a partition suspended by a rebalance in progress may be another worker's
            # now; a pass of either would overwrite the checkpoint its restore reads.
            ready = set(runtime.restored) if partitions is None else partitions & runtime.restored
            n = await self.write_all(runtime.checkpoint(ready), metrics.checkpoint_duration, "state")
            metrics.checkpoint_states.inc(n)
            if self.s.cross_account:
                linked = set(attributes.restored) if partitions is None else partitions & attributes.restored
                await self.write_all(attributes.checkpoint(linked), metrics.checkpoint_duration, "attribute index")
                if self.clusters.restored and partitions is None:
                    await self._write_clusters()
            if self.s.release_free_memory:
                started = time.perf_counter()
                release_free_memory()  # the pass's records are garbage now
                trimmed = time.perf_counter() - started
                if trimmed > 0.1:
                    log.info("returning free memory to the OS took %.2f s", trimmed)
            self.last_checkpoint = time.monotonic()

    # --- rebalances ----------------------------------------------------------------------------
    def assigned(self, topic: str) -> set[int]:
        """This worker's partitions of ``topic`` in the consumer's current assignment."""
        return {tp.partition for tp in self.app.consumer.assignment() if tp.topic == topic}

    async def restore_state(self, app: faust.App | None = None, **_: Any) -> None:
        """When a rebalance's assignment is known: partitions not held before it are restored
        from their checkpoints (read back from the checkpoint topics), replacing any
        provisional state; each is re-read from its checkpoint's offset before its next
        message (catch-up). A read that fails stops the worker (exit code 1: the supervisor
        restarts it) rather than running on without the state."""
        with self.stalls.step("restoring state"):
            try:
                await self._restore_state()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("restoring state failed")
                self.fail(IngestFailure(f"restoring state failed: {type(exc).__name__}"))

    async def _restore_state(self) -> None:
        runtime, attributes, catch_ups = self.runtime, self.attributes, self.catch_ups
        now = time.time()
        held = self.assigned(self.s.input_topic)
        runtime.keep(held)  # partitions kept through the rebalance stay as they are
        for p in self.intake.take_over(self.assigned(self.s.verdicts_topic)):
            catch_ups.restored(ANALYST, p)  # re-read from offset 0 now (evaluation waits for it)
            catch_ups.start_now(ANALYST, p)
        linked = self.assigned(self.link_profiles.get_topic_name()) if self.s.cross_account else set()
        attributes.keep(linked)
        take_clusters = (self.s.cross_account and not self.clusters.restored
                         and 0 in self.assigned(self.link_verdicts.get_topic_name()))
        needed = (held - runtime.restored) | (linked - attributes.restored)
        started = time.monotonic()
        groups = by_partition((await read_latest(self.s, self.state_topic, needed)).items())
        cluster_items = list((await read_latest(self.s, self.cluster_topic, [0])).items()) if take_clusters else []
        if needed or take_clusters:
            log.info("read the checkpoints of %d partitions%s in %.1f s", len(needed),
                     " and the cluster book" if take_clusters else "", time.monotonic() - started)
        stale: list[tuple[int, bytes, bytes | None]] = []  # records to delete, of the state topic
        stale_clusters: list[tuple[int, bytes, bytes | None]] = []
        for p in sorted(held - runtime.restored):
            restored = runtime.restore(p, groups.get(p, ()))
            stale += [(p, key, None) for key in restored.stale]
            catch_ups.restored(INPUT, p)
        if self.s.cross_account:
            for p in sorted(linked - attributes.restored):
                stale += [(p, key, None) for key in attributes.restore(p, groups.get(p, ()), now).stale]
                catch_ups.restored(PROFILES, p)
            if take_clusters:
                stale_clusters += [(0, key, None) for key in self.clusters.restore(cluster_items, now).stale]
                catch_ups.restored(VERDICTS, 0)
        del groups, cluster_items  # the detectors and stages hold the state now: no second copy
        async with self.checkpoint_lock:  # in order before the next pass (which may reuse a key)
            await self.write_all(stale, self.metrics.checkpoint_duration, "stale record deletion")
            await self.write_all(stale_clusters, self.metrics.checkpoint_duration, "stale record deletion",
                                 self.cluster_topic)
        runtime.ready = self.health.restored = True
        log.info("state restored: %d partitions, %d accounts, to re-read from %s", len(runtime.detectors),
                 sum(len(d.accounts) for d in runtime.detectors.values()), dict(runtime.resume_at) or "nothing")

    async def on_revoked(self, app: faust.App, revoked: set[TP], **_: Any) -> None:
        # a rebalance starts: not ready (and no tick evaluates) until restore_state has the new
        # assignment; a rebalance that never completes is then seen on /readyz and
        # stream_guard_ready instead of a ready worker that consumes nothing
        self.health.restored = False
        with self.stalls.step("partitions revoked: final checkpoint"):
            await self._on_revoked(revoked)

    async def _on_revoked(self, revoked: set[TP]) -> None:
        lost = {tp.partition for tp in revoked if tp.topic == self.s.input_topic}
        lost_links = {tp.partition for tp in revoked if tp.topic == self.link_profiles.get_topic_name()}
        if lost or lost_links:
            await self.checkpoint(lost | lost_links)
            # kept in memory: Faust's eager rebalance revokes every partition and usually
            # hands most back; restore_state drops those that went elsewhere and reads back
            # only the ones this worker did not hold
            self.runtime.suspend(lost)
            self.attributes.suspend(lost_links)
        if any(tp.topic == self.link_verdicts.get_topic_name() for tp in revoked):
            if self.clusters.restored:
                async with self.checkpoint_lock:
                    await self._write_clusters()
            self.clusters.reset_gauges()
            self.clusters = ClusterStage(self.s, self.metrics)  # the new owner restores it
        # delivered before this worker rejoins: the new owner reads the checkpoint topics up
        # to their end offsets when it is given the partitions
        await self.app.producer.flush()

    async def on_shutdown(self, app: faust.App, **_: Any) -> None:
        self.stopping.set()
        with self.stalls.step("final checkpoint"):
            await self.checkpoint()
        log.info("final checkpoint written")

    # --- re-reading a restored partition (catch-up) -------------------------------------------
    async def _input_message(self, p: int, rec: InputRecord) -> None:
        if p not in self.runtime.detectors:
            return  # the partition went to another worker while it was being re-read
        result = self.runtime.handle(p, rec.offset, rec.value)
        for dl in result.dead_letters:
            await self.dead_letter(rec.key, dl, p, rec.offset)

    async def _profiles_message(self, p: int, rec: InputRecord) -> None:
        if p not in self.attributes.indexes:
            return  # (as _input_message)
        # a source counts as heard from when it sent the message, not when it is re-read
        self.attributes.handle(p, rec.value or b"", rec.timestamp_ms / 1000.0, rec.offset)

    async def _verdicts_message(self, p: int, rec: InputRecord) -> None:
        self.clusters.handle(rec.value or b"", rec.timestamp_ms / 1000.0, rec.offset)

    async def _analyst_message(self, p: int, rec: InputRecord) -> None:
        await self._verdict(p, rec.offset, rec.key, rec.value, reread=True)

    async def _verdict(self, p: int, offset: int, key: bytes | None, raw: bytes | None, *, reread: bool) -> None:
        out = self.intake.handle(p, offset, raw, reread=reread)
        if out.dead_letter is not None:
            await self.dead_letter(key, out.dead_letter, p, offset, topic=self.s.verdicts_topic)
        if out.forward is not None and self.s.cross_account:
            await self.link_verdicts.send(value=out.forward, partition=0)

    def _failed_catch_up(self, exc: BaseException) -> None:
        self.fail(IngestFailure(f"re-reading a restored partition failed: {type(exc).__name__}"))

    # --- agents ------------------------------------------------------------------------------
    async def ingest(self, stream: faust.StreamT[bytes]) -> None:
        runtime = self.runtime
        if self.health.failure is not None:  # restarted by Faust's supervisor after a failure
            return
        try:
            async for event in stream.events():
                msg = event.message
                if msg.partition in runtime.resume_at:
                    with self.stalls.step(f"ingest: re-reading input partition {msg.partition}"):
                        await self.catch_ups.before_message(INPUT, msg.partition, msg.offset)
                result = runtime.handle(msg.partition, msg.offset, event.value)
                for dl in result.dead_letters:
                    await self.dead_letter(msg.key, dl, msg.partition, msg.offset)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.fail(exc)
            raise

    async def take_verdicts(self, stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            msg = event.message
            if msg.partition in self.intake.resume_at:
                with self.stalls.step(f"verdicts: re-reading partition {msg.partition}"):
                    await self.catch_ups.before_message(ANALYST, msg.partition, msg.offset)
            await self._verdict(msg.partition, msg.offset, msg.key, event.value, reread=False)

    async def link_attributes(self, stream: faust.StreamT[bytes]) -> None:
        attributes = self.attributes
        async for event in stream.events():
            msg = event.message
            if msg.partition in attributes.resume_at:
                with self.stalls.step(f"link-attributes: re-reading partition {msg.partition}"):
                    await self.catch_ups.before_message(PROFILES, msg.partition, msg.offset)
            attributes.handle(msg.partition, event.value, time.time(), msg.offset)

    async def link_clusters(self, stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            msg = event.message
            if msg.partition in self.clusters.resume_at:
                with self.stalls.step("link-clusters: re-reading its partition"):
                    await self.catch_ups.before_message(VERDICTS, msg.partition, msg.offset)
            self.clusters.handle(event.value, time.time(), msg.offset)

    # --- timers ------------------------------------------------------------------------------
    async def tick(self) -> None:
        if self.stopping.is_set():
            return
        with self.stalls.step("tick (evaluation and its sends)"):
            try:
                await self._tick()
            except Exception as exc:
                if not self.stopping.is_set():
                    raise
                # a tick that was sending when the shutdown closed the producer: what it
                # evaluated is after the final checkpoint, so a restart evaluates it again
                # (re-read from the checkpoint's offset) and raises the same alerts
                log.info("a tick was cut short by the shutdown (%s)", type(exc).__name__)

    async def _tick(self) -> None:
        self.health.ticked()
        self.metrics.ready.set(1 if self.health.not_ready() is None else 0)
        now = time.time()
        if not self.health.restored:
            # a rebalance is in progress: the partitions it revoked are kept (suspended) but
            # may be going to another worker, so nothing is evaluated or sent until
            # restore_state knows (the counts are still flushed)
            self.runtime.tick(now, hold=True)
            return
        self.catch_ups.start_idle()
        # an account's allow or benign verdict must be back before it is evaluated again
        await self.send_alerts(self.runtime.tick(now, hold=bool(self.intake.resume_at)))
        if self.s.cross_account:
            for p, msg in self.outbox.take():
                await self.link_profiles.send(value=msg, partition=p)
            for msg in self.attributes.tick(now):
                await self.link_verdicts.send(value=msg, partition=0)
            for member in self.clusters.take_given():  # to the workers holding those accounts
                fut = await self.verdicts_in.send(key=member.subject.encode(), value=orjson.dumps(member.to_json()))
                fut.add_done_callback(self.delivered("member verdict"))  # type: ignore[attr-defined]  # an asyncio.Future
            await self.send_alerts(self.clusters.tick(now))

    async def checkpoint_timer(self) -> None:
        # its own timer: sending a pass may wait on the broker, ticks must not
        due = time.monotonic() - self.last_checkpoint >= self.s.checkpoint_interval_s
        if due and not self.checkpoint_lock.locked() and not self.stopping.is_set():
            with self.stalls.step("checkpoint pass"):
                await self.checkpoint()

    async def probe_broker(self) -> None:
        runtime, metrics, health = self.runtime, self.metrics, self.health
        try:
            offsets = await self.probe.next_offsets(runtime.detectors)
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
        lags = self.probe.lag.observe(offsets, runtime.last_offset, now)
        metrics.report_lag(lags)
        if self.s.stall_warning_s > 0:
            for starved in self.starved.observe({p: lag.lag for p, lag in lags.items()}, runtime.last_offset, now):
                self._warn_once_a_minute(f"input partition {starved.partition}", now,
                                         "input partition %d: %d messages waiting, none handled for %.0f s (%s)",
                                         starved.partition, starved.waiting, starved.seconds,
                                         "re-reading it" if starved.partition in runtime.resume_at
                                         else "not delivered by the consumer, or the ingest agent is stuck")
        if self.s.commit_stall_repair_s > 0:
            # only partitions whose state is restored and not re-reading: every offset below
            # the next one to handle has its outcome
            handled = {p: o for p, o in runtime.last_offset.items()
                       if p in runtime.restored and p not in runtime.resume_at}
            try:
                repaired = await self.commits.repair(self.app.consumer, offsets, handled, now)
                metrics.commit_repairs.inc(len(repaired))
            except Exception as exc:  # noqa: BLE001 - a failed repair is retried at the next probe
                log.warning("committing a stuck partition failed (%s); retried at the next probe",
                            type(exc).__name__)

    async def watch_stalls(self) -> None:
        """Log each step that has run for ``stall_warning_s`` or longer (once a minute per step)."""
        now = time.monotonic()
        stalls = self.stalls.stalled()
        self.metrics.stalled_step.set(stalls[0].seconds if stalls else 0.0)
        for stall in stalls:
            self._warn_once_a_minute(stall.name, now, "worker step '%s' has not finished after %.0f s; waiting in: %s",
                                     stall.name, stall.seconds, stall.waiting_in)

    def _warn_once_a_minute(self, key: str, now: float, msg: str, *args: object) -> None:
        """A WARNING about ``key`` (a step, a partition), at most once a minute per key (the
        root logger's RepeatFilter folds repeats per message template, not per key)."""
        if now - self._stall_logged.get(key, float("-inf")) < 60.0:
            return
        if len(self._stall_logged) > 100:  # keys carry partition numbers: keep it bounded
            self._stall_logged = {k: v for k, v in self._stall_logged.items() if now - v < 60.0}
        self._stall_logged[key] = now
        log.warning(msg, *args)

    async def close_probe(self, app: faust.App, **_: Any) -> None:
        await self.probe.close()
