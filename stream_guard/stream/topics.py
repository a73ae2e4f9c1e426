"""Creating stream-guard's topics before the worker starts (aiokafka admin client)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from stream_guard.settings import Settings

__all__ = ["ensure_topics", "profiles_topic", "verdicts_topic"]

log = logging.getLogger(__name__)


def profiles_topic(settings: Settings) -> str:
    """Internal topic of account profiles re-keyed by attribute value (cross-account stage 1)."""
    return f"{settings.app_id}-link-profiles"


def verdicts_topic(settings: Settings) -> str:
    """Internal topic of attribute-value verdicts, one partition (cross-account stage 2)."""
    return f"{settings.app_id}-link-verdicts"


async def ensure_topics(settings: Settings, timeout_s: float = 60.0) -> int:
    """Create the input, alerts and dead-letter topics (and the cross-account internal topics)
    if missing.

    Returns the input topic's partition count (the state table is co-partitioned with
    it). Retries until the broker answers or ``timeout_s`` passes.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000)
        try:
            await admin.start()
            wanted = {t: settings.topic_partitions for t in (settings.input_topic, settings.alerts_topic, settings.dlq_topic)}
            if settings.cross_account:
                wanted[profiles_topic(settings)] = settings.topic_partitions
                wanted[verdicts_topic(settings)] = 1
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(t, num_partitions=n, replication_factor=1) for t, n in wanted.items() if t not in existing
            ]
            if missing:
                try:
                    await admin.create_topics(missing)
                    log.info("created topics %s", [t.name for t in missing])
                except TopicAlreadyExistsError:
                    pass
            for _ in range(50):
                meta = await admin.describe_topics([settings.input_topic])
                partitions = meta[0].get("partitions") or []
                if partitions:
                    return len(partitions)
                await asyncio.sleep(0.2)
            raise RuntimeError(f"topic {settings.input_topic} has no partitions")
        except (KafkaError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"Kafka at {settings.bootstrap_servers} not reachable: {exc!r}") from exc
            log.warning("waiting for Kafka at %s: %r", settings.bootstrap_servers, exc)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()
