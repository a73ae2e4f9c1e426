"""Every Prometheus metric of stream-guard, in one place.

Names follow Prometheus' guide: ``stream_guard_`` prefix, base units (seconds),
``_total`` for counters, and bounded labels only (outcome, reason, severity, detector,
kind, partition), never an account id.

The invariant that proves nothing is lost::

    stream_guard_events_total (all outcomes)
      == processed + duplicate + untracked + dead_lettered
    stream_guard_events_total{outcome="dead_lettered"} == sum(stream_guard_dead_letters_total)
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)

from stream_guard.contracts import DeadLetterReason
from stream_guard.core.linking.attributes import KINDS
from stream_guard.core.vocabulary import ALERT_KINDS, CROSS_ACCOUNT_DETECTORS, PER_ACCOUNT_DETECTORS, SEVERITIES

__all__ = ["EVENT_OUTCOMES", "Metrics", "serve_http"]

disable_created_metrics()  # the *_created series only double the exposition size

EVENT_OUTCOMES = ("processed", "duplicate", "untracked", "dead_lettered")
VERDICT_OUTCOMES = ("applied", "duplicate", "dead_lettered")
#: Detectors of account alerts; an alert's ``detector`` label joins its sorted detectors by '+'
#: (cross-account detectors raise alerts on their own, never combined with another).
DETECTOR_COMBINATIONS = tuple(
    "+".join(c)
    for n in range(1, len(PER_ACCOUNT_DETECTORS) + 1)
    for c in itertools.combinations(PER_ACCOUNT_DETECTORS, n)
)


class Metrics:
    """The worker's metrics, registered in their own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        self.build_info = Info("stream_guard_build", "Version of the running stream-guard.", registry=r)
        self.messages = Counter(
            "stream_guard_messages_consumed_total",
            "Kafka messages consumed from the input topic (one may hold many events).",
            registry=r,
        )
        self.events = Counter(
            "stream_guard_events_total",
            "Input events by outcome: processed, duplicate (event_id seen before), untracked "
            "(account cap reached) or dead_lettered.",
            ["outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "stream_guard_dead_letters_total",
            "Inputs sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.alerts = Counter(
            "stream_guard_alerts_total",
            "Alerts emitted, by kind, severity and detector (the alert's detectors joined by '+', "
            "so that each alert is counted once; a bounded set of combinations).",
            ["kind", "severity", "detector"],
            registry=r,
        )
        self.alert_score = Histogram(
            "stream_guard_alert_score",
            "Score in [0, 1] of emitted alerts.",
            ["kind"],
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
            registry=r,
        )
        self.evaluation_score = Histogram(
            "stream_guard_evaluation_score",
            "Combined score in [0, 1] of every account evaluation (alerted or not).",
            buckets=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
            registry=r,
        )
        self.model_learned = Gauge(
            "stream_guard_model_learned_samples",
            "Evaluations the population models of this worker have learned from, by population.",
            ["population"],
            registry=r,
        )
        self.model_checkpoint_duration = Histogram(
            "stream_guard_model_checkpoint_duration_seconds",
            "Wall-clock time of one checkpoint of the population models.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.evaluations = Counter(
            "stream_guard_evaluations_total",
            "Account evaluations (one per active account per evaluation interval).",
            registry=r,
        )
        self.processing_latency = Histogram(
            "stream_guard_processing_latency_seconds",
            "Wall-clock time to decode, validate and process one input message.",
            buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.event_lag = Gauge(
            "stream_guard_event_time_lag_seconds",
            "Wall-clock now minus the event-time watermark (how far behind real time).",
            registry=r,
        )
        self.watermark = Gauge(
            "stream_guard_watermark_timestamp_seconds",
            "Event-time watermark: the minimum over active partitions of the latest event time.",
            registry=r,
        )
        self.tracked_accounts = Gauge(
            "stream_guard_tracked_accounts", "Accounts whose state is held in memory.", registry=r
        )
        self.max_accounts = Gauge(
            "stream_guard_tracked_accounts_limit", "The configured cap on tracked accounts.", registry=r
        )
        self.cap_reached = Gauge(
            "stream_guard_tracked_accounts_cap_reached",
            "1 while new accounts are refused because the cap is reached, else 0.",
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "stream_guard_assigned_partitions", "Input partitions assigned to this worker.", registry=r
        )
        self.consumer_lag = Gauge(
            "stream_guard_consumer_lag_messages",
            "Messages in the input topic not yet processed by this worker, by partition.",
            ["partition"],
            registry=r,
        )
        self.consumer_committed_lag = Gauge(
            "stream_guard_consumer_committed_lag_messages",
            "Messages in the input topic after the consumer group's committed offset, by partition "
            "(what a restart would read again; the broker-side lag). Far above "
            "stream_guard_consumer_lag_messages: processed offsets are not being committed.",
            ["partition"],
            registry=r,
        )
        self.consumer_commit_stalled = Gauge(
            "stream_guard_consumer_commit_stalled_seconds",
            "Seconds since the consumer group's committed offset of the partition last advanced "
            "while messages wait beyond it (0 when it is at the end offset).",
            ["partition"],
            registry=r,
        )
        self.commit_repairs = Counter(
            "stream_guard_consumer_commit_repairs_total",
            "Input-partition commits made by the worker itself because the group's committed offset "
            "stayed behind what it had handled STREAM_GUARD_COMMIT_STALL_REPAIR_S earlier (Faust's "
            "commits of the partition were stuck).",
            registry=r,
        )
        self.stalled_step = Gauge(
            "stream_guard_stalled_step_seconds",
            "Seconds the longest-running watched worker step (a tick and its sends, a checkpoint "
            "pass, re-reading a restored partition, a rebalance handler) has been running, once past "
            "STREAM_GUARD_STALL_WARNING_S; 0 when none is (the worker log names where it waits).",
            registry=r,
        )
        self._lag_partitions: set[str] = set()
        self.checkpoint_duration = Histogram(
            "stream_guard_checkpoint_duration_seconds",
            "Wall-clock time of one state checkpoint to the changelog-backed table.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.checkpoint_states = Counter(
            "stream_guard_checkpoint_states_total",
            "Account states written to the changelog-backed table.",
            registry=r,
        )
        self.checkpoint_failures = Counter(
            "stream_guard_checkpoint_failures_total", "Checkpoints that failed.", registry=r
        )
        self.restored_states = Counter(
            "stream_guard_restored_states_total",
            "Account states restored from the changelog-backed table at partition assignment.",
            registry=r,
        )
        self.link_profiles = Counter(
            "stream_guard_link_profiles_total",
            "Account profiles (one per active account and link interval) re-keyed by attribute value.",
            registry=r,
        )
        self.attribute_values = Gauge(
            "stream_guard_attribute_values",
            "Linking attribute values held by this worker's attribute index partitions.",
            registry=r,
        )
        self.attribute_members = Gauge(
            "stream_guard_attribute_members",
            "Account memberships held over all attribute values (bounded per value by sampling).",
            registry=r,
        )
        self.linked_values = Gauge(
            "stream_guard_linked_values",
            "Attribute values currently linking their accounts (suspicious sharing), by kind.",
            ["kind"],
            registry=r,
        )
        self.clusters = Gauge(
            "stream_guard_clusters",
            "Clusters at the last evaluation with at least cluster_min_accounts members.",
            registry=r,
        )
        self.clustered_accounts = Gauge(
            "stream_guard_clustered_accounts",
            "Accounts in clusters with at least cluster_min_accounts members.",
            registry=r,
        )
        self.linking_duration = Histogram(
            "stream_guard_linking_duration_seconds",
            "Time of one linking stage evaluation (attribute index or cluster book), by stage.",
            ["stage"],
            buckets=(0.001, 0.005, 0.02, 0.1, 0.5, 2.0, 10.0),
            registry=r,
        )
        self.ready = Gauge(
            "stream_guard_ready",
            "1 while the worker is ready: partitions assigned, state restored, broker reachable, "
            "ingest healthy.",
            registry=r,
        )
        self.broker_up = Gauge(
            "stream_guard_broker_up",
            "1 if the last broker probe (metadata and end offsets of the input topic) succeeded.",
            registry=r,
        )
        self.broker_probe_failures = Counter(
            "stream_guard_broker_probe_failures_total", "Broker probes that failed or timed out.", registry=r
        )
        self.dead_letters_truncated = Counter(
            "stream_guard_dead_letters_truncated_total",
            "Dead letters sent to the DLQ cut to the producer's request limit (original size in a header).",
            registry=r,
        )
        self.verdicts = Counter(
            "stream_guard_verdicts_total",
            "Messages of the analyst verdicts topic by outcome: applied (new), duplicate (verdict_id "
            "known), dead_lettered (bad: on the dead-letter topic with the reason); re-reads at a "
            "rebalance or restart are not counted.",
            ["outcome"],
            registry=r,
        )
        self.verdicts_held = Gauge(
            "stream_guard_verdicts_held",
            "Analyst verdicts this worker holds (its accounts' and clusters', and member verdicts).",
            registry=r,
        )
        self.findings_silenced = Counter(
            "stream_guard_findings_silenced_total",
            "Per-account findings (evaluations at an alert's level, mixture alerts) that raised no alert "
            "because an allow or benign analyst verdict was in force on the account.",
            registry=r,
        )
        self.fatal_errors = Counter(
            "stream_guard_fatal_errors_total",
            "Errors that stopped the ingest agent; the worker then exits non-zero to be restarted.",
            registry=r,
        )
        # Pre-create bounded label sets so that dashboards see zeros, not gaps.
        for outcome in EVENT_OUTCOMES:
            self.events.labels(outcome)
        for reason in DeadLetterReason:
            self.dead_letters.labels(reason.value)
        for outcome in VERDICT_OUTCOMES:
            self.verdicts.labels(outcome)
        for stage in ("index", "clusters"):
            self.linking_duration.labels(stage)
        for link_kind in KINDS:
            if link_kind != "model":
                self.linked_values.labels(link_kind)
        for kind in ALERT_KINDS:
            self.alert_score.labels(kind)
            combos = (DETECTOR_COMBINATIONS if kind == "account" else ()) + CROSS_ACCOUNT_DETECTORS[kind]
            for severity in SEVERITIES:
                for combo in combos:
                    self.alerts.labels(kind, severity, combo)

    def report_lag(self, lags: Mapping[int, tuple[int, int, float]]) -> None:
        """Set the per-partition lag gauges from the broker probe's ``{partition: (lag,
        committed lag, commit stalled seconds)}`` (:class:`~stream_guard.stream.probe.PartitionLag`),
        and remove the series of partitions no longer reported (revoked ones would otherwise
        keep their last value)."""
        gauges = (self.consumer_lag, self.consumer_committed_lag, self.consumer_commit_stalled)
        current = {str(p): values for p, values in lags.items()}
        for label in self._lag_partitions - set(current):
            for gauge in gauges:
                try:
                    gauge.remove(label)
                except KeyError:  # never set
                    pass
        for label, values in current.items():
            for gauge, value in zip(gauges, values, strict=True):
                gauge.labels(label).set(value)
        self._lag_partitions = set(current)

    def exposition(self) -> bytes:
        """The text exposition format of all metrics."""
        return generate_latest(self.registry)


def serve_http(
    metrics: Metrics,
    host: str,
    port: int,
    not_ready: Callable[[], str | None],
    not_alive: Callable[[], str | None] = lambda: None,
) -> ThreadingHTTPServer:
    """Serve ``/metrics``, ``/healthz`` (alive) and ``/readyz`` (ready) in a daemon thread.

    ``not_ready`` / ``not_alive`` return why the worker is not ready / not alive (``None``
    when it is); the reason is the body of the 503 answer.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the http.server API's name
            if self.path.startswith("/metrics"):
                self._reply(200, metrics.exposition(), CONTENT_TYPE_LATEST)
            elif self.path in ("/healthz", "/readyz"):
                why = not_alive() if self.path == "/healthz" else not_ready()
                if why is None:
                    self._reply(200, b"ok\n" if self.path == "/healthz" else b"ready\n", "text/plain")
                else:
                    self._reply(503, f"not {'alive' if self.path == '/healthz' else 'ready'}: {why}\n".encode(),
                                "text/plain")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # `format`: http.server's name
            return  # scrapes every few seconds would flood the log

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
