"""The topics a stream-guard deployment needs, and creating them (aiokafka admin client).

Every topic the worker reads or writes is listed by :func:`needed_topics`: the input,
alerts and dead-letter topics, the cross-account internal topics, the checkpoint topics of
the ``account-state`` and ``cluster-state`` states (compacted) and Faust's leader-election topic. The worker creates
the missing ones at start (:func:`ensure_topics`); ``stream-guard topics create`` does the
same ahead of time, for clusters where the brokers do not auto-create topics and
deployments where an operator (not the application) owns the topics. All of them get
``topic_replication_factor`` and ``topic_configs``, and every admin connection uses the
Kafka security settings (:func:`~stream_guard.stream.kafka_config.aiokafka_security`).

>>> from stream_guard.settings import Settings
>>> s = Settings(app_id="sg", topic_partitions=6, topic_replication_factor=3,
...              topic_configs="min.insync.replicas=2")
>>> for t in needed_topics(s):
...     print(t.name, t.partitions, t.replication_factor, t.configs)
llm.requests 6 3 {'min.insync.replicas': '2'}
llm.alerts 6 3 {'min.insync.replicas': '2'}
llm.requests.dlq 6 3 {'min.insync.replicas': '2'}
llm.verdicts 6 3 {'min.insync.replicas': '2', 'retention.ms': '-1'}
sg-link-profiles 6 3 {'min.insync.replicas': '2'}
sg-link-verdicts 1 3 {'min.insync.replicas': '2'}
sg-cluster-state-changelog 1 3 {'min.insync.replicas': '2', 'cleanup.policy': 'compact'}
sg-account-state-changelog 6 3 {'min.insync.replicas': '2', 'cleanup.policy': 'compact'}
sg-__assignor-__leader 1 3 {'min.insync.replicas': '2'}
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code

from stream_guard.settings import Settings
from stream_guard.stream.kafka_config import aiokafka_security

__all__ = [
    "CLUSTER_TABLE",
    "STATE_TABLE",
    "TopicSpec",
    "TopicState",
    "changelog_topic",
    "create_topics",
    "describe_topics",
    "ensure_topics",
    "leader_topic",
    "link_verdicts_topic",
    "needed_topics",
    "profiles_topic",
]

log = logging.getLogger(__name__)

#: The per-partition state (accounts, attribute indexes) checkpointed by the worker.
STATE_TABLE = "account-state"
#: The cross-account cluster stage's state (one partition).
CLUSTER_TABLE = "cluster-state"
_TOPIC_ALREADY_EXISTS = 36


def profiles_topic(settings: Settings) -> str:
    """Internal topic of account profiles re-keyed by attribute value (cross-account stage 1)."""
    return f"{settings.app_id}-link-profiles"


def link_verdicts_topic(settings: Settings) -> str:
    """Internal topic of attribute-value verdicts, one partition (cross-account stage 2)."""
    return f"{settings.app_id}-link-verdicts"


def changelog_topic(settings: Settings, table: str = STATE_TABLE) -> str:
    """The compacted checkpoint topic of a state (``<app_id>-<table>-changelog``: the name
    Faust gave its tables' changelogs, which held the checkpoints until 2026-12-07)."""
    return f"{settings.app_id}-{table}-changelog"


def leader_topic(settings: Settings) -> str:
    """Faust's leader-election topic (``<app_id>-__assignor-__leader``, one partition)."""
    return f"{settings.app_id}-__assignor-__leader"


@dataclass(frozen=True)
class TopicSpec:
    """One topic a deployment needs."""

    name: str
    role: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)

    def new_topic(self) -> NewTopic:
        return NewTopic(self.name, num_partitions=self.partitions,
                        replication_factor=self.replication_factor, topic_configs=dict(self.configs))


@dataclass(frozen=True)
class TopicState:
    """What the cluster has of one needed topic (``partitions`` 0: missing)."""

    spec: TopicSpec
    partitions: int
    replication_factor: int
    action: str = ""  # create_topics: "created" or "exists"

    @property
    def exists(self) -> bool:
        return self.partitions > 0

    def problems(self) -> list[str]:
        """Differences from the spec that matter (fewer partitions or replicas)."""
        if not self.exists:
            return ["missing"]
        out = []
        if self.partitions != self.spec.partitions:
            out.append(f"partitions {self.partitions} != {self.spec.partitions}")
        if self.replication_factor < self.spec.replication_factor:
            out.append(f"replication {self.replication_factor} < {self.spec.replication_factor}")
        return out


def needed_topics(settings: Settings, input_partitions: int | None = None) -> list[TopicSpec]:
    """Every topic the worker uses, with the partitions and configs it should have.

    ``input_partitions`` is the input topic's actual partition count when it already
    exists: the state changelog and the link-profiles topic are co-partitioned with it.
    """
    n = input_partitions or settings.topic_partitions
    rf = settings.topic_replication_factor
    extra = settings.topic_config_map
    specs = [
        TopicSpec(settings.input_topic, "input (request events)", settings.topic_partitions, rf, dict(extra)),
        TopicSpec(settings.alerts_topic, "alerts", settings.topic_partitions, rf, dict(extra)),
        TopicSpec(settings.dlq_topic, "dead letters", settings.topic_partitions, rf, dict(extra)),
        # co-partitioned with the input (an account's verdicts reach the worker holding it);
        # kept forever: every worker rebuilds its verdicts from this log (docs/feedback.md)
        TopicSpec(settings.verdicts_topic, "analyst verdicts", n, rf, {**extra, "retention.ms": "-1"}),
    ]
    if settings.cross_account:
        specs += [
            TopicSpec(profiles_topic(settings), "cross-account profiles (internal)", n, rf, dict(extra)),
            TopicSpec(link_verdicts_topic(settings), "cross-account verdicts (internal)", 1, rf, dict(extra)),
            TopicSpec(changelog_topic(settings, CLUSTER_TABLE),
                      f"checkpoints of {CLUSTER_TABLE} (compacted)",
                      1, rf, {**extra, "cleanup.policy": "compact"}),
        ]
    specs += [
        TopicSpec(changelog_topic(settings), f"checkpoints of {STATE_TABLE} (compacted)", n, rf,
                  {**extra, "cleanup.policy": "compact"}),
        TopicSpec(leader_topic(settings), "leader election (Faust)", 1, rf, dict(extra)),
    ]
    return specs


def _admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000, **aiokafka_security(settings)
    )


async def _partitions(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, tuple[int, int]]:
    """(partitions, replication factor) of each existing topic in ``names``."""
    existing = set(await admin.list_topics())
    wanted = [t for t in names if t in existing]
    out: dict[str, tuple[int, int]] = {}
    if wanted:
        for meta in await admin.describe_topics(wanted):
            parts = meta.get("partitions") or []
            if meta.get("error_code", 0) == 0 and parts:
                out[meta["topic"]] = (len(parts), min(len(p.get("replicas") or []) for p in parts))
    return out


def _raise_topic_errors(response: Any) -> list[str]:
    """Names the topics created by a CreateTopics response; raises on any error other than
    "already exists" (e.g. a replication factor above the number of brokers)."""
    created, failures = [], []
    for entry in response.topic_errors:
        topic, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else ""
        if code == 0:
            created.append(topic)
        elif code != _TOPIC_ALREADY_EXISTS:
            failures.append(f"{topic}: {for_code(code).__name__} {message or ''}".rstrip())
    if failures:
        raise TopicsError("cannot create topics: " + "; ".join(failures))
    return created


class TopicsError(RuntimeError):
    """The cluster refused to create a topic (not retried)."""


#: how often a topic just created is looked for again in the cluster's metadata
_POLL_S = 0.2


async def _await_partitions(admin: AIOKafkaAdminClient, names: list[str], wait_s: float) -> dict[str, tuple[int, int]]:
    """The partitions of ``names``, looked up until every one has them or ``wait_s`` passed
    (a topic just created, by us or by someone else a moment ago, shows its partitions once
    their leaders are elected: seconds on a loaded or freshly started cluster)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        have = await _partitions(admin, names)
        if all(n in have for n in names) or loop.time() >= deadline:
            return have
        await asyncio.sleep(_POLL_S)


async def _create(admin: AIOKafkaAdminClient, settings: Settings, wait_s: float = 60.0) -> list[TopicState]:
    # the input topic first: the changelog and the link-profiles topic follow its partitions
    first = needed_topics(settings)[0]
    have = await _partitions(admin, [first.name])
    created: set[str] = set()
    if first.name not in have:
        created.update(_raise_topic_errors(await admin.create_topics([first.new_topic()])))
        have = await _await_partitions(admin, [first.name], wait_s)
        if first.name not in have:
            raise RuntimeError(f"topic {first.name} has no partitions after {wait_s:.0f} s")
    specs = needed_topics(settings, input_partitions=have[first.name][0])
    have = await _partitions(admin, [s.name for s in specs])
    missing = [s.new_topic() for s in specs if s.name not in have]
    if missing:
        created.update(_raise_topic_errors(await admin.create_topics(missing)))
        have = await _await_partitions(admin, [s.name for s in specs], wait_s)
    if created:
        log.info("created topics %s", sorted(created))
    return [
        TopicState(s, *have.get(s.name, (0, 0)), action="created" if s.name in created else "exists")
        for s in specs
    ]


async def _with_admin(settings: Settings, timeout_s: float, what: str, job: Any) -> Any:
    """Run ``job(admin)``, retrying until the broker answers or ``timeout_s`` passes."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = _admin(settings)
        try:
            await admin.start()
            return await job(admin)
        except (KafkaError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"Kafka at {settings.bootstrap_servers} not reachable ({what}): {exc!r}") from exc
            log.warning("waiting for Kafka at %s: %r", settings.bootstrap_servers, exc)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()


async def create_topics(settings: Settings, timeout_s: float = 60.0) -> list[TopicState]:
    """Create every missing topic of :func:`needed_topics`; the state of each afterwards."""
    result: list[TopicState] = await _with_admin(settings, timeout_s, "creating topics",
                                                 lambda admin: _create(admin, settings, timeout_s))
    return result


async def describe_topics(settings: Settings, timeout_s: float = 30.0) -> list[TopicState]:
    """What the cluster has of each needed topic (nothing is created)."""

    async def job(admin: AIOKafkaAdminClient) -> list[TopicState]:
        first = needed_topics(settings)[0]
        have = await _partitions(admin, [first.name])
        specs = needed_topics(settings, input_partitions=have.get(first.name, (None,))[0])
        have = await _partitions(admin, [s.name for s in specs])
        return [TopicState(s, *have.get(s.name, (0, 0))) for s in specs]

    result: list[TopicState] = await _with_admin(settings, timeout_s, "listing topics", job)
    return result


async def ensure_topics(settings: Settings, timeout_s: float = 60.0) -> int:
    """Create every topic the worker needs if missing (:func:`create_topics`).

    Returns the input topic's partition count (the state table is co-partitioned with
    it). Retries until the broker answers or ``timeout_s`` passes; a topic the cluster
    refuses to create (:class:`TopicsError`) is not retried.
    """
    states = await create_topics(settings, timeout_s)
    return states[0].partitions
