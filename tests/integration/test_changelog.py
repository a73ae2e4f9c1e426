"""stream_guard.stream.changelog against the real Kafka broker: the latest record of each key
in the partitions asked for, deletions left out, other partitions not read."""

from __future__ import annotations

import asyncio

from stream_guard.settings import Settings
from stream_guard.stream.changelog import read_latest

from harness_common import create_topics, produce, unique_names


def _read(bootstrap: str, topic: str, partitions: list[int], **kw: float) -> dict[bytes, bytes]:
    s = Settings(broker=bootstrap)
    return asyncio.run(asyncio.wait_for(read_latest(s, topic, partitions, **kw), 120))


def test_read_latest_gives_the_newest_value_per_key_of_the_partitions_asked_for(kafka_bootstrap: str) -> None:
    topic = unique_names("changelog")["STREAM_GUARD_INPUT_TOPIC"]
    create_topics(kafka_bootstrap, [topic], 3)
    produce(kafka_bootstrap, topic, [
        (0, b"a", b"1"), (0, b"b", b"1"), (0, b"a", b"2"),  # a rewritten
        (1, b"c", b"1"), (1, b"d", b"1"), (1, b"d", None),  # d deleted
        (2, b"e", b"1"),                                    # a partition not asked for
    ])
    assert _read(kafka_bootstrap, topic, [0, 1]) == {b"a": b"2", b"b": b"1", b"c": b"1"}
    assert _read(kafka_bootstrap, topic, [2]) == {b"e": b"1"}
    assert _read(kafka_bootstrap, topic, []) == {}


def test_read_latest_of_an_empty_partition_is_empty_and_quick(kafka_bootstrap: str) -> None:
    topic = unique_names("changelog-empty")["STREAM_GUARD_INPUT_TOPIC"]
    create_topics(kafka_bootstrap, [topic], 2)
    produce(kafka_bootstrap, topic, [(1, b"x", b"1")])
    # an empty partition has nothing to wait for: no idle timeout even when it is short
    assert _read(kafka_bootstrap, topic, [0], idle_timeout_s=5.0) == {}
    assert _read(kafka_bootstrap, topic, [0, 1], idle_timeout_s=5.0) == {b"x": b"1"}
