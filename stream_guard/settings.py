"""The one place that reads configuration.

Every knob is a field of :class:`Settings`; each can be set by an environment variable
named ``STREAM_GUARD_`` + the field name in upper case. Nothing else in the package reads
the environment: a ``Settings`` object is built once (``Settings.from_env()``) and passed
down.

>>> s = Settings.from_env({"STREAM_GUARD_EVAL_INTERVAL_S": "30", "STREAM_GUARD_BROKER": "127.0.0.1:9092"})
>>> s.eval_interval_s, s.broker_url
(30.0, 'kafka://127.0.0.1:9092')
>>> Settings.from_env({"STREAM_GUARD_METRICS_PORT": "x"})
Traceback (most recent call last):
...
stream_guard.settings.SettingsError: STREAM_GUARD_METRICS_PORT: expected int, got 'x'
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

__all__ = ["DEFAULTS", "ENV_PREFIX", "EVIDENCE_TERMS", "Settings", "SettingsError"]

ENV_PREFIX = "STREAM_GUARD_"
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
#: The member-evidence terms a weight vector (``link_evidence_weights``,
#: ``cluster_evidence_weights``) weighs, in the order they are summed.
EVIDENCE_TERMS = ("likeness", "young_share", "evenness", "synchrony")
#: What ``per_account_evaluators`` may name.
PER_ACCOUNT_EVALUATORS = ("evidence", "volume", "pattern", "population", "supervised")
#: ``STREAM_GUARD_*`` variables that are not settings of the package (test and bench knobs).
NOT_SETTINGS = frozenset({"STREAM_GUARD_TEST_BOOTSTRAP", "STREAM_GUARD_KAFKA_CACHE", "STREAM_GUARD_KAFKA_VERSION"})


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _knob(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """All configuration of stream-guard (see ``stream-guard settings`` for a table)."""

    # --- Kafka and topics -------------------------------------------------------------
    broker: str = _knob(
        "127.0.0.1:9092",
        "Kafka bootstrap servers, `host:port[,host:port]` (a `kafka://` prefix is accepted).",
    )
    app_id: str = _knob(
        "stream-guard",
        "Faust application id: the consumer group and the prefix of internal/changelog topics.",
    )
    input_topic: str = _knob("llm.requests", "Topic of request events (contract: request event).")
    alerts_topic: str = _knob("llm.alerts", "Topic that alerts are written to (contract: alert).")
    dlq_topic: str = _knob(
        "llm.requests.dlq", "Dead-letter topic: original bytes plus reason headers."
    )
    verdicts_topic: str = _knob(
        "llm.verdicts",
        "Topic of analyst verdicts (contract: verdict; key: the subject), with as many partitions as "
        "the input topic; bad verdicts go to the dead-letter topic (docs/feedback.md).",
    )
    topic_partitions: int = _knob(
        4, "Partitions used when stream-guard creates its topics (input, alerts, DLQ, state)."
    )
    topic_replication_factor: int = _knob(
        1,
        "Replication factor of every topic stream-guard creates (input, alerts, DLQ, internal "
        "link topics, Faust's changelogs). Use 3 on a production cluster.",
    )
    topic_configs: str = _knob(
        "",
        "Extra topic configs for the topics stream-guard creates, `key=value,...` (e.g. "
        "`min.insync.replicas=2,retention.ms=604800000`).",
    )
    data_dir: str = _knob(
        "/tmp/stream-guard", "Worker data directory (Faust's local state, one per worker)."
    )
    # --- Kafka security (SASL / TLS) -----------------------------------------------------
    security_protocol: str = _knob(
        "PLAINTEXT",
        "How clients talk to Kafka: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.",
    )
    sasl_mechanism: str = _knob(
        "PLAIN", "SASL mechanism (SASL_* protocols): `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`."
    )
    sasl_username: str = _knob("", "SASL user name.")
    sasl_password: str = field(
        default="",
        metadata={"doc": "SASL password (secret: never logged or printed).", "secret": True},
    )
    ssl_cafile: str = _knob(
        "", "PEM file of the CA(s) that signed the brokers' certificates (default: system CAs)."
    )
    ssl_certfile: str = _knob("", "PEM client certificate (chain) for TLS client authentication (mTLS).")
    ssl_keyfile: str = _knob("", "PEM private key of the client certificate.")
    ssl_key_password: str = field(
        default="",
        metadata={"doc": "Password of the client key, if encrypted (secret).", "secret": True},
    )
    ssl_check_hostname: bool = _knob(
        True, "Check that the broker certificate matches the host name (TLS); keep it on."
    )
    # --- consumer group, producer and failover ---------------------------------------------
    session_timeout_s: float = _knob(
        30.0,
        "Consumer-group session timeout: a crashed worker's partitions move to the survivors "
        "after this long (failover time). Must lie within the broker's group.min/max.session.timeout.ms.",
    )
    heartbeat_interval_s: float = _knob(
        3.0, "Consumer-group heartbeat interval (keep it below a third of the session timeout)."
    )
    broker_probe_interval_s: float = _knob(
        5.0,
        "Wall-clock seconds between broker probes (end offsets and committed offsets of the input "
        "topic): the source of stream_guard_consumer_lag_messages and stream_guard_broker_up.",
    )
    broker_lost_after_s: float = _knob(
        15.0, "/readyz turns 503 when no broker probe has succeeded for this long."
    )
    restore_timeout_s: float = _knob(
        1800.0,
        "/healthz turns 503 (not alive: the supervisor restarts the worker) when the state has "
        "not been restored for this long since the worker started or a rebalance began: a "
        "rebalance that never completes would otherwise leave a live worker that consumes "
        "nothing. Longer than the slowest legitimate restore. 0 turns it off.",
    )
    stall_warning_s: float = _knob(
        15.0,
        "A worker step that awaits the broker (a tick's sends, a checkpoint pass, re-reading a "
        "restored partition, a rebalance's handlers) and has not finished after this many seconds "
        "is logged as a WARNING with the code locations it waits in, again every minute while "
        "it lasts (the metrics stop moving meanwhile: without it nothing says why). An input "
        "partition with messages waiting and none handled for twice as long is logged too (seen "
        "at the broker probes). 0 turns both off.",
    )
    commit_stall_repair_s: float = _knob(
        60.0,
        "When the consumer group's committed offset of an input partition is still below what "
        "this worker had handled this many seconds earlier (Faust's offset bookkeeping can stop "
        "committing a partition after a rebalance), the worker commits the next offset after "
        "the last handled itself (seen at each broker probe; logged and counted in "
        "stream_guard_consumer_commit_repairs_total). 0 turns the repair off.",
    )
    producer_max_request_bytes: int = _knob(
        1_048_576,
        "Largest record the worker's producer sends (Faust's producer_max_request_size); a dead "
        "letter larger than this goes to the DLQ truncated, with its original size in a header.",
    )
    # --- input limits -------------------------------------------------------------------
    max_message_bytes: int = _knob(
        1_048_576, "Larger input messages are dead-lettered with reason `oversized`."
    )
    max_batch_events: int = _knob(
        10_000, "A JSON array holding more events than this is dead-lettered as `oversized`."
    )
    max_event_ahead_s: float = _knob(
        3600.0,
        "Events whose `ts` lies more than this ahead of the wall clock (in replay: of the "
        "stream's own time) are dead-lettered as `out_of_range_time`: they must not move the "
        "watermark or allocate state.",
    )
    max_event_behind_s: float = _knob(
        86400.0,
        "Events more than this behind their partition's latest event time (in replay: the "
        "stream's time) are dead-lettered as `out_of_range_time` (older than every window).",
    )
    dedup_window: int = _knob(
        200_000,
        "How many recent event_ids per partition are remembered to drop exact duplicates.",
    )
    # --- windows, evaluation and checkpoints -----------------------------------------
    eval_interval_s: float = _knob(
        60.0,
        "Event-time seconds between evaluations of an account (evaluation happens on "
        "interval boundaries, so live and replay agree).",
    )
    short_window_s: float = _knob(300.0, "Length of the short (minutes) window, seconds.")
    long_window_s: float = _knob(3600.0, "Length of the long (hour) window, seconds.")
    day_window_s: float = _knob(86400.0, "Length of the day window, seconds.")
    idle_grace_s: float = _knob(
        120.0,
        "An account with no new events is evaluated once the watermark passes its "
        "next boundary plus this grace (event-time seconds).",
    )
    account_ttl_s: float = _knob(
        48 * 3600.0,
        "Accounts idle this long in event time are dropped from memory (keep it above a day: "
        "slow extractors pause for hours).",
    )
    max_accounts: int = _knob(
        500_000,
        "Cap on tracked accounts per input partition (per file in replay); beyond it new "
        "accounts are not tracked "
        "(counted as stream_guard_events_total{outcome=\"untracked\"}).",
    )
    checkpoint_interval_s: float = _knob(
        10.0,
        "Wall-clock seconds between checkpoint passes to the compacted checkpoint topic (per "
        "partition: the accounts, event ids and models that changed, then a marker with the "
        "input offset covered; after a crash the input is re-read from that offset).",
    )
    release_free_memory: bool = _knob(
        True,
        "After each checkpoint pass, hand the memory glibc's allocator keeps free back to the "
        "operating system (`malloc_trim`; glibc only, a no-op elsewhere). A pass's records and "
        "a batch's decoded events are short-lived; without it the worker's RSS keeps their "
        "high-water mark (bench/worker_memory.py: 24.5 KB of RSS per tracked account at 100k "
        "accounts, 10.5 KB after a trim). Turn off if RSS does not matter and the trim's "
        "few milliseconds per pass do.",
    )
    gc_threshold: int = _knob(
        50_000,
        "Net allocations before CPython's cyclic garbage collector runs its youngest generation "
        "(Python's default is 700); the worker and `replay` also freeze the objects alive at "
        "start-up out of the collector's reach (`stream_guard/gc_tuning.py`). The state is "
        "millions of long-lived objects with few cycles: at 700 the collector took 9-18% of a "
        "hydra replay. 0 leaves the collector as Python sets it.",
    )
    # --- alerting ------------------------------------------------------------------------
    cooldown_s: float = _knob(
        6 * 3600.0,
        "Event-time seconds an alert stays active: no repeat for the same subject and "
        "detector unless the severity rises.",
    )
    alert_episodes: bool = _knob(
        True,
        "One alert per account per episode: while an account keeps being judged suspicious, its "
        "alert is not repeated (each finding extends the episode by `cooldown_s`); a rise in "
        "severity is an update (a new alert marked `escalation`), and an account quiet for "
        "`cooldown_s` ends its episode. Off: one alert per detector per `cooldown_s`.",
    )
    # --- analyst verdicts (docs/feedback.md) ----------------------------------------------
    verdict_benign_quiet_s: float = _knob(
        7 * 86_400.0,
        "Event-time seconds a `benign` verdict without `expires_at` keeps its account from alerting "
        "(its evaluations stay clean data for the models throughout).",
    )
    verdict_joined_severity: str = _knob(
        "high",
        "Severity of the alert on an account that joins a cluster judged `malicious` after the verdict "
        "(replacement accounts): raised at once, at the first cluster evaluation that finds it.",
    )
    # --- thresholds of the volume rule --------------------------------------------------
    rule_short_requests: float = _knob(
        50.0, "Requests in the short window that count as extraction-grade volume."
    )
    rule_long_requests: float = _knob(
        150.0, "Requests in the long window that count as extraction-grade volume."
    )
    rule_long_output_tokens: float = _knob(
        150_000.0, "Output tokens in the long window that count as extraction-grade volume."
    )
    rule_min_active_hours: float = _knob(
        3.0, "volume_rule needs requests in at least this many of the last 24 hours (sustained volume)..."
    )
    rule_day_requests: float = _knob(
        2000.0, "...unless the day window holds at least this many requests (a burst that large counts alone)."
    )
    rule_distinct_ratio: float = _knob(
        0.8,
        "Distinct prompts / requests in the day window at or above which traffic "
        "counts as covering many different tasks (not one repeated job).",
    )
    rule_cot_share: float = _knob(
        0.3, "Share of requests with chain-of-thought-eliciting wording that counts as high."
    )
    rule_min_requests: float = _knob(
        30.0, "volume_rule judges shares (CoT, benchmark, distinct) only over at least this many requests."
    )
    rule_benchmark_share: float = _knob(
        0.5, "Share of benchmark-shaped prompts (word problems, code tasks, multiple choice) that counts as high."
    )
    rule_first_turn_share: float = _knob(
        0.9, "Share of conversation-opening requests at or above which an account shows no multi-turn use."
    )
    rule_min_mean_output_tokens: float = _knob(
        300.0,
        "Mean output tokens per request from which outputs count as long (full reasoning, not "
        "just answers); required by both rules.",
    )
    rule_out_in_ratio: float = _knob(
        3.0, "Output/input token ratio that counts as output-heavy (hash-only traffic in volume_rule)."
    )
    rule_overshoot_factor: float = _knob(
        2.0,
        "volume_rule's severity rises one step when a volume count reaches this many times its "
        "threshold (lower: more high/critical volume alerts).",
    )
    # --- thresholds of the pattern rule (slow extractors) ---------------------------------
    pattern_min_requests: float = _knob(
        15.0, "pattern_rule needs at least this many requests (with prompt text) in the day window."
    )
    pattern_min_hours: float = _knob(
        4.0, "pattern_rule needs requests in at least this many of the last 24 hours (not one burst)."
    )
    pattern_min_categories: float = _knob(
        3.0, "Capability categories in a day that count as covering a capability space."
    )
    pattern_min_active_hours: float = _knob(
        14.0,
        "Active hours out of the last 24 that count as around-the-clock activity (once the account "
        "has been observed for pattern_min_observed_hours).",
    )
    pattern_min_observed_hours: float = _knob(
        20.0,
        "Hours since an account was first seen before its active hours can count as around the "
        "clock (lower: judged sooner, on less of a day).",
    )
    pattern_template_share: float = _knob(
        0.5, "Share of new prompts reusing a recent template that counts as templated."
    )
    pattern_max_iat_cv: float = _knob(
        0.5, "Coefficient of variation of inter-arrival gaps at or below which timing is machine-regular."
    )
    pattern_min_gaps: float = _knob(
        10.0,
        "Inter-arrival gaps in the day window pattern_rule needs before it judges timing regularity "
        "(higher: fewer chance-regular light accounts).",
    )
    pattern_max_tokens_share: float = _knob(
        0.3, "Share of responses cut at max_tokens that counts as outputs pushed to the cap."
    )
    pattern_min_score: float = _knob(
        0.7, "pattern_rule fires at or above this evidence score (0.1 + the weights of its evidence)."
    )
    pattern_medium_score: float = _knob(
        0.75, "pattern_rule's severity is `medium` from this score (`low` below it)."
    )
    pattern_high_score: float = _knob(
        0.9,
        "pattern_rule's severity is `high` from this score, when the traffic is both templated and "
        "around the clock (else `medium`).",
    )
    # --- near-duplicate prompts (docs/detection.md, section 3) -------------------------------
    near_dup_sketch_all_below: int = _knob(
        64,
        "Every new text prompt is sketched (near-duplicate signature) while the account has fewer "
        "than this many text requests in its current and previous day generations; beyond it, a "
        "sample (higher: more exact near_dup_share_day on heavy accounts, more CPU).",
    )
    near_dup_sketch_every: int = _knob(
        4,
        "Beyond near_dup_sketch_all_below, every this many-th new text prompt of an account is "
        "sketched (1: all; higher: less CPU, a coarser share; at most 256: a checkpoint keeps the "
        "account's turn in one byte).",
    )
    near_dup_min_basis: float = _knob(
        10.0,
        "Sketched prompts in the day window below which near_dup_share_day stays 0 (neutral); "
        "higher: fewer chance near-duplicate shares on light accounts.",
    )
    # --- population models -------------------------------------------------------------------
    new_account_age_s: float = _knob(
        7 * 86400.0, "Accounts younger than this (created_at, else first seen) form the `new` populations."
    )
    heavy_tier_requests: float = _knob(
        500.0, "Day-window requests from which an account belongs to the `heavy` traffic tier."
    )
    model_warmup: int = _knob(
        300, "Evaluations a population's models learn from before they may contribute to alerts."
    )
    model_min_requests: float = _knob(
        10.0, "Population models judge only accounts with at least this many requests in the day window."
    )
    model_learn_every: int = _knob(
        4, "Each account feeds the models every n-th evaluation interval (bounds learning cost)."
    )
    model_min_score: float = _knob(
        0.85, "HalfSpaceTrees anomaly score (0-1) from which the population model reports an account."
    )
    baseline_mads: float = _knob(
        8.0, "A feature counts as far above its population when it exceeds median + this many scaled MADs."
    )
    model_alone_alerts: bool = _knob(
        False,
        "Let the population model raise (low) alerts on its own; by default it only corroborates "
        "a rule (peers' outliers include benign evaluation runs).",
    )
    alert_min_score: float = _knob(
        0.5, "Combined score in [0, 1] from which an evaluation becomes an alert."
    )
    per_account_evaluators: str = _knob(
        "evidence,population",
        "What judges an account at its evaluation boundaries, comma-separated: `evidence` (graded "
        "evidence, core/evidence.py), `volume` and `pattern` (the hard-gated rules of "
        "core/rules.py), `population` (the population models), `supervised` (River's logistic "
        "regression learning from `supervised_labels_file`, core/supervised.py).",
    )
    supervised_labels_file: str = _knob(
        "",
        "JSON Lines verdicts the `supervised` evaluator learns from: `{account_id, label: malicious|benign, "
        "at}` per line, each applying from its event time `at` on; empty: no labels (it never reports).",
    )
    supervised_min_examples: int = _knob(
        50, "The supervised model reports only after learning this many evaluations of each label."
    )
    supervised_min_probability: float = _knob(
        0.9, "Probability of extraction from which the supervised model reports (low; medium from halfway to 1)."
    )
    supervised_learning_rate: float = _knob(0.05, "SGD learning rate of the supervised model.")
    supervised_clean_weight: float = _knob(
        0.0,
        "Weight of a clean evaluation (nothing fired, on the account's learning turn, no verdict) as a "
        "negative example of the supervised model; 0: it learns from verdicts only.",
    )
    evidence_weights_file: str = _knob(
        "",
        "JSON file of the graded-evidence weights and severity thresholds (written by "
        "bench/evidence_calibration.py fit); empty: the packaged ones.",
    )
    # --- cross-account detection (docs/cross-account.md) ------------------------------------
    cross_account: bool = _knob(
        True, "Run cross-account detection (linking attributes, clusters, mixture, model pivot)."
    )
    link_interval_s: float = _knob(
        900.0,
        "Event-time seconds per account profile: each active account's attribute values and "
        "summary are re-keyed by attribute once per interval (also the cluster evaluation step).",
    )
    link_ttl_s: float = _knob(
        86400.0, "How long an account stays a member of an attribute value after its last use."
    )
    link_min_accounts: int = _knob(
        3, "Distinct accounts an attribute value needs before it can link them."
    )
    link_min_score: float = _knob(
        0.45,
        "Suspicion in [0, 1] from which a shared attribute value links its accounts "
        "(kind weight x member evidence: extraction-likeness, youth, evenness, synchrony).",
    )
    link_member_cap: int = _knob(
        4096,
        "Members kept per attribute value; beyond it accounts are sampled by hash (counts scaled).",
    )
    link_kind_weights: str = _knob(
        "payment=1.0,client=0.8,ip=0.8,system_prompt=0.75,ip_prefix=0.6,template=0.6,"
        "user_agent=0.25,asn=0.2",
        "Weight of each linking attribute kind (rare, hard-to-share evidence weighs more); "
        "a kind missing here is not used.",
    )
    link_hash_key: str = field(
        default="",
        metadata={
            "doc": "Key of the pseudonyms of addresses and user agents in the linking stages, their "
            "internal topics and cluster alerts (keyed BLAKE2b; empty: unkeyed xxh3, which anyone "
            "can recompute and which small value spaces such as IPv4 let anyone reverse). Set it to "
            "a long random secret, the same on every worker and in replay (secret: never printed).",
            "secret": True,
        },
    )
    young_account_days: float = _knob(
        14.0, "Accounts younger than this (creation or first-seen age) count as young."
    )
    cluster_min_accounts: int = _knob(5, "Accounts a cluster needs before it can be alerted.")
    cluster_min_score: float = _knob(
        0.55, "Cluster score in [0, 1] from which a cluster alert is raised."
    )
    cluster_growth_factor: float = _knob(
        1.5,
        "A cluster alerted before is alerted again (escalation) once its member count has grown "
        "by this factor, even within the cooldown.",
    )
    cluster_alert_max_ids: int = _knob(
        1000, "At most this many account_ids are listed in a cluster alert (account_count is exact)."
    )
    cluster_member_alerts: str = _knob(
        "grouped",
        "How the members of an alerted cluster are reported: `grouped` (one `cluster_member` alert "
        "per cluster and severity listing the members reported at it, in parts of "
        "`cluster_alert_max_ids`) or `each` (one `account` alert per member, as before).",
    )
    mixture_max_share: float = _knob(
        0.25, "Mixture (reseller): a sub-stream at most this share of the account's day traffic."
    )
    mixture_min_requests: float = _knob(
        20.0, "Mixture (reseller): day requests a sub-stream needs before it is judged."
    )
    mixture_min_score: float = _knob(
        0.6, "Mixture (reseller): extraction-shape score in [0, 1] from which it alerts."
    )
    pivot_window_s: float = _knob(
        86400.0, "Model-release pivot: accounts moving to a newly seen model within this time count."
    )
    pivot_min_share: float = _knob(
        0.5, "Model-release pivot: share of an account's volume on the new model that counts as moved."
    )
    pivot_min_requests: float = _knob(
        20.0, "Model-release pivot: requests on the new model before an account is judged."
    )
    # --- cross-account tuning (docs/cross-account.md) ----------------------------------------
    link_evidence_weights: str = _knob(
        "likeness=0.35,young_share=0.25,evenness=0.2,synchrony=0.2",
        "Weights of the member evidence in a shared value's suspicion (before its kind weight): "
        "members' extraction-likeness, share of young accounts, evenness of their volumes, "
        "synchrony of their hours; all four, each in [0, 1], summing to at most 1.",
    )
    link_likeness_gate: float = _knob(
        0.4,
        "Group likeness below which suspicion (and a cluster's score) is scaled down in proportion: "
        "young, even, synchronized accounts that do not look like extraction do not link on "
        "structure alone (higher: stricter).",
    )
    link_likeness_prior: float = _knob(
        0.25,
        "Extraction-likeness assumed before any evidence: a group's and a member's likeness is shrunk "
        "toward it (a few requests show little).",
    )
    link_prior_requests: float = _knob(
        10.0,
        "Weight of link_likeness_prior in requests (a member's own likeness: a third of it); higher: "
        "more requests needed before likeness counts.",
    )
    link_evenness_basis_requests: float = _knob(
        10.0,
        "Mean day requests per member at which evenness counts fully (scaled down below it: with one "
        "request each, every group is even).",
    )
    link_synchrony_basis_hours: float = _knob(
        6.0,
        "Mean active hours per member at which synchrony counts fully (scaled down below it: with one "
        "active hour each, every group is synchronized).",
    )
    link_member_min_likeness: float = _knob(
        0.35,
        "A member of a linked value is linked only when its own likeness (shrunk toward the prior) "
        "reaches this (higher: fewer benign bystanders linked).",
    )
    link_member_min_likeness_wide: float = _knob(
        0.5,
        "link_member_min_likeness for values shared by more than link_specific_value_accounts "
        "accounts (sharing a popular value says little about one account).",
    )
    link_specific_value_accounts: int = _knob(
        50,
        "Accounts up to which a shared value counts as specific (link_member_min_likeness); wider "
        "values need link_member_min_likeness_wide.",
    )
    link_member_min_fit: float = _knob(
        0.5,
        "A member of a linked value is linked only when its fit to the group (mean of its likeness, "
        "youth, volume term and hours like the majority) reaches this (higher: stricter).",
    )
    link_member_max_volume_ratio: float = _knob(
        2.0,
        "A member of a linked value is linked only when its day volume is at most about this many "
        "times the group's median (load-balanced peers carry the same volume); at least 1, at most 4.",
    )
    link_stats_sample: int = _knob(
        512,
        "Member rows over which a value's statistics are computed (a deterministic stride sample; "
        "higher: more exact on big values, slower).",
    )
    link_big_value_members: int = _knob(
        64,
        "Values holding more members than this are re-judged at most every link_big_value_every_s "
        "(their statistics move slowly); smaller values are judged at every boundary.",
    )
    link_big_value_every_s: float = _knob(
        3600.0,
        "Event-time seconds between judgements of a big value (lower: faster reaction, more CPU).",
    )
    cluster_evidence_weights: str = _knob(
        "likeness=0.4,young_share=0.25,evenness=0.2,synchrony=0.15",
        "Weights of the members' evidence in a cluster's score (like link_evidence_weights, over all "
        "members of the cluster).",
    )
    cluster_link_weight: float = _knob(
        0.4,
        "Weight of a cluster's strongest link in its score; the members' evidence weighs 1 minus it.",
    )
    cluster_medium_score: float = _knob(0.65, "A cluster alert is `medium` from this score (`low` below).")
    cluster_high_score: float = _knob(0.75, "A cluster alert is `high` from this score.")
    cluster_critical_score: float = _knob(0.85, "A cluster alert is `critical` from this score.")
    cluster_member_min_likeness: float = _knob(
        0.3,
        "A member of an alerted cluster whose own likeness is below this is alerted one severity "
        "lower than its cluster (it may be a benign account caught in a link).",
    )
    pivot_new_model_after_s: float = _knob(
        3600.0,
        "A model first seen this long after the attribute index saw its first profile counts as a "
        "new release (models present from the start are not).",
    )
    pivot_min_likeness: float = _knob(
        0.5,
        "Model-release pivot: movers whose extraction-likeness is below this are kept as evidence "
        "only (no model_pivot alert).",
    )
    pivot_high_likeness: float = _knob(
        0.7, "Model-release pivot: a mover is `high` (else `medium`) from this likeness..."
    )
    pivot_high_speedup: float = _knob(
        2.0, "...when its day requests also grew at least this many times since its first use of the model."
    )
    mixture_high_score: float = _knob(
        0.8, "Mixture (reseller): an alert is `high` from this score (`medium` below)."
    )
    # --- case view (stream-guard report) ---------------------------------------------------
    report_url_base: str = _knob(
        "",
        "URL under which the case pages of `stream-guard report --out-dir` are served (e.g. "
        "`https://cases.example/stream-guard`): a page is `<base>/<subject>.html`, the index of "
        "`--all` is `<base>/index.html`. The pages link each other and the report prints the URLs "
        "with it; set the same value in the Grafana dashboard's `report_url_base` variable. Empty: "
        "relative links.",
    )
    # --- metrics and logging ------------------------------------------------------------
    metrics_host: str = _knob("0.0.0.0", "Address the /metrics HTTP server binds to.")
    metrics_port: int = _knob(9108, "Port of the /metrics, /healthz and /readyz endpoints.")
    log_level: str = _knob("INFO", "Log level of stream-guard (Faust's own logs: WARNING).")

    @property
    def horizons(self) -> tuple[float, float, float]:
        """The window lengths, shortest first (short, long, day)."""
        return (self.short_window_s, self.long_window_s, self.day_window_s)

    @property
    def link_weights(self) -> dict[str, float]:
        """``link_kind_weights`` parsed: attribute kind -> weight in [0, 1]."""
        return _weight_map(self.link_kind_weights)

    @cached_property
    def link_evidence(self) -> tuple[float, float, float, float]:
        """``link_evidence_weights`` parsed, in :data:`EVIDENCE_TERMS` order (parsed once)."""
        return _evidence_vector("link_evidence_weights", self.link_evidence_weights)

    @cached_property
    def cluster_evidence(self) -> tuple[float, float, float, float]:
        """``cluster_evidence_weights`` parsed, in :data:`EVIDENCE_TERMS` order (parsed once)."""
        return _evidence_vector("cluster_evidence_weights", self.cluster_evidence_weights)

    @property
    def broker_url(self) -> str:
        """The broker list in Faust's URL form (``kafka://h1:p1;h2:p2``)."""
        hosts = self.broker.removeprefix("kafka://").replace(";", ",")
        return "kafka://" + ";".join(h.strip() for h in hosts.split(",") if h.strip())

    @property
    def bootstrap_servers(self) -> str:
        """The broker list in aiokafka's form (``h1:p1,h2:p2``)."""
        return self.broker_url.removeprefix("kafka://").replace(";", ",")

    @property
    def topic_config_map(self) -> dict[str, str]:
        """``topic_configs`` parsed: Kafka topic config name -> value."""
        out: dict[str, str] = {}
        for part in self.topic_configs.split(","):
            if part.strip():
                key, sep, value = part.partition("=")
                if not sep or not key.strip():
                    raise SettingsError(f"topic_configs: expected key=value,..., got {part.strip()!r}")
                out[key.strip()] = value.strip()
        return out

    def redacted(self) -> dict[str, Any]:
        """Every setting by field name, with secrets replaced by ``'***'`` (when set)."""
        return {
            f.name: ("***" if f.metadata.get("secret") and getattr(self, f.name) else getattr(self, f.name))
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``STREAM_GUARD_*`` variables, then apply ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name in env:
                values[f.name] = _parse(name, env[name], type(f.default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    @property
    def per_account_evaluator_names(self) -> tuple[str, ...]:
        """:attr:`per_account_evaluators` as names, in their order."""
        return tuple(n.strip() for n in self.per_account_evaluators.split(",") if n.strip())

    def check(self) -> None:
        """Raise :class:`SettingsError` for values that cannot work together."""
        if self.verdict_joined_severity not in ("low", "medium", "high", "critical"):
            raise SettingsError(f"verdict_joined_severity must be a severity, got {self.verdict_joined_severity!r}")
        if self.verdict_benign_quiet_s < 0:
            raise SettingsError("verdict_benign_quiet_s must be >= 0")
        if self.cluster_member_alerts not in ("grouped", "each"):
            raise SettingsError(f"cluster_member_alerts must be grouped or each, got {self.cluster_member_alerts!r}")
        chosen = self.per_account_evaluator_names
        unknown = [n for n in chosen if n not in PER_ACCOUNT_EVALUATORS]
        if unknown or not chosen:
            raise SettingsError(f"per_account_evaluators: unknown or none: {self.per_account_evaluators!r} "
                                f"(choose from {', '.join(PER_ACCOUNT_EVALUATORS)})")
        if self.eval_interval_s <= 0:
            raise SettingsError("eval_interval_s must be > 0")
        if not self.eval_interval_s <= self.short_window_s <= self.long_window_s <= self.day_window_s:
            raise SettingsError("need eval_interval_s <= short_window_s <= long_window_s <= day_window_s")
        if self.max_accounts < 1 or self.topic_partitions < 1:
            raise SettingsError("max_accounts and topic_partitions must be >= 1")
        try:
            weights = self.link_weights
        except ValueError as exc:
            raise SettingsError(f"link_kind_weights: expected kind=weight,... ({exc})") from exc
        if any(not 0.0 <= w <= 1.0 for w in weights.values()):
            raise SettingsError("link_kind_weights: weights must be in [0, 1]")
        if self.link_interval_s < self.eval_interval_s:
            raise SettingsError("link_interval_s must be >= eval_interval_s")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise SettingsError(f"security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}")
        if self.security_protocol.startswith("SASL_") and self.sasl_mechanism not in SASL_MECHANISMS:
            raise SettingsError(f"sasl_mechanism must be one of {', '.join(SASL_MECHANISMS)}")
        if self.topic_replication_factor < 1:
            raise SettingsError("topic_replication_factor must be >= 1")
        if not 0 < self.heartbeat_interval_s * 3 <= self.session_timeout_s:
            raise SettingsError("need 0 < 3 * heartbeat_interval_s <= session_timeout_s")
        if self.max_event_ahead_s <= 0 or self.max_event_behind_s <= 0:
            raise SettingsError("max_event_ahead_s and max_event_behind_s must be > 0")
        if self.commit_stall_repair_s < 0:
            raise SettingsError("need commit_stall_repair_s >= 0 (0: off)")
        if self.stall_warning_s < 0:
            raise SettingsError("need stall_warning_s >= 0 (0: off)")
        if not 0 < self.broker_probe_interval_s < self.broker_lost_after_s:
            raise SettingsError("need 0 < broker_probe_interval_s < broker_lost_after_s")
        if self.gc_threshold < 0:
            raise SettingsError("gc_threshold must be >= 0 (0: Python's default)")
        if self.producer_max_request_bytes < 4096:
            raise SettingsError("producer_max_request_bytes must be >= 4096")
        self.topic_config_map  # noqa: B018 - parses, raising SettingsError when malformed
        self._check_tuning()

    def _check_tuning(self) -> None:
        """The detection tuning knobs: shares in [0, 1], counts >= 1, divisors > 0, ordered bands."""
        shares = (
            "link_likeness_gate", "link_likeness_prior", "link_member_min_likeness", "link_member_min_likeness_wide",
            "link_member_min_fit", "cluster_link_weight", "cluster_medium_score", "cluster_high_score",
            "cluster_critical_score", "cluster_member_min_likeness", "pivot_min_likeness", "pivot_high_likeness",
            "pattern_medium_score", "pattern_high_score", "mixture_high_score",
        )
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingsError(f"{name} must be in [0, 1]")
        counts = ("link_specific_value_accounts", "link_stats_sample", "link_big_value_members",
                  "near_dup_sketch_every")
        for name in counts:
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be >= 1")
        positive = ("link_likeness_gate", "link_prior_requests", "link_evenness_basis_requests",
                    "link_synchrony_basis_hours", "rule_overshoot_factor")
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be > 0")
        nonnegative = ("link_big_value_every_s", "pivot_new_model_after_s", "near_dup_sketch_all_below",
                       "near_dup_min_basis", "pattern_min_gaps", "pattern_min_observed_hours", "pivot_high_speedup")
        for name in nonnegative:
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be >= 0")
        if self.near_dup_sketch_every > 256:
            raise SettingsError("near_dup_sketch_every must be <= 256 (checkpoints keep the turn in one byte)")
        if not 1.0 <= self.link_member_max_volume_ratio <= 4.0:
            raise SettingsError("link_member_max_volume_ratio must be in [1, 4]")
        if not self.cluster_medium_score <= self.cluster_high_score <= self.cluster_critical_score:
            raise SettingsError("need cluster_medium_score <= cluster_high_score <= cluster_critical_score")
        if self.pattern_medium_score > self.pattern_high_score:
            raise SettingsError("need pattern_medium_score <= pattern_high_score")
        self.link_evidence  # noqa: B018 - parses, raising SettingsError when malformed
        self.cluster_evidence  # noqa: B018 - likewise

    @classmethod
    def unknown_variables(cls, environ: Mapping[str, str] | None = None) -> list[str]:
        """``STREAM_GUARD_*`` variables in the environment that name no setting (typos).

        >>> Settings.unknown_variables({"STREAM_GUARD_BROKER": "x", "STREAM_GUARD_BROKR": "y"})
        ['STREAM_GUARD_BROKR']
        """
        env = os.environ if environ is None else environ
        known = {ENV_PREFIX + f.name.upper() for f in dataclasses.fields(cls)}
        return sorted(n for n in env if n.startswith(ENV_PREFIX) and n not in known and n not in NOT_SETTINGS)

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, meaning) for every knob, for docs and --help."""
        return [
            (ENV_PREFIX + f.name.upper(), repr(f.default), f.metadata["doc"])
            for f in dataclasses.fields(cls)
        ]


def _weight_map(text: str) -> dict[str, float]:
    """``name=weight,...`` parsed (a ``ValueError`` for a weight that is no number)."""
    out: dict[str, float] = {}
    for part in text.split(","):
        if part.strip():
            name, _, weight = part.partition("=")
            out[name.strip()] = float(weight)
    return out


def _evidence_vector(setting: str, text: str) -> tuple[float, float, float, float]:
    """A member-evidence weight vector in :data:`EVIDENCE_TERMS` order, checked.

    >>> _evidence_vector("w", "synchrony=0.1,likeness=0.5,evenness=0.2,young_share=0.2")
    (0.5, 0.2, 0.2, 0.1)
    >>> _evidence_vector("w", "likeness=0.9,young_share=0.5")
    Traceback (most recent call last):
    ...
    stream_guard.settings.SettingsError: w: expected term=weight,... over likeness, young_share, evenness, synchrony
    """
    try:
        weights = _weight_map(text)
    except ValueError as exc:
        raise SettingsError(f"{setting}: expected term=weight,... ({exc})") from exc
    if sorted(weights) != sorted(EVIDENCE_TERMS):
        raise SettingsError(f"{setting}: expected term=weight,... over {', '.join(EVIDENCE_TERMS)}")
    if any(not 0.0 <= w <= 1.0 for w in weights.values()) or sum(weights.values()) > 1.0 + 1e-9:
        raise SettingsError(f"{setting}: weights must be in [0, 1] and sum to at most 1")
    likeness, young, even, sync = (weights[term] for term in EVIDENCE_TERMS)
    return likeness, young, even, sync


def _parse(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected {kind.__name__}, got {raw!r}") from None


#: The settings with every default (for helpers whose callers may not pass settings).
DEFAULTS = Settings()
