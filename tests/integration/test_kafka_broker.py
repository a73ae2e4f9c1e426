"""Smoke test of the real Kafka broker from the ``kafka_bootstrap`` fixture."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

N_MESSAGES = 100
N_PARTITIONS = 4


async def _roundtrip(bootstrap: str) -> None:
    topic = f"sg-smoke-{uuid.uuid4().hex[:8]}"

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), 30)
    try:
        cluster = await asyncio.wait_for(admin.describe_cluster(), 30)
        assert cluster["cluster_id"]
        assert len(cluster["brokers"]) == 1
        await asyncio.wait_for(
            admin.create_topics([NewTopic(topic, N_PARTITIONS, 1)], timeout_ms=20_000), 30)
        for _ in range(50):  # metadata reaches the broker shortly after creation
            described = await asyncio.wait_for(admin.describe_topics([topic]), 30)
            if len(described[0]["partitions"]) == N_PARTITIONS:
                break
            await asyncio.sleep(0.2)
        assert len(described[0]["partitions"]) == N_PARTITIONS
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await asyncio.wait_for(producer.start(), 30)
    try:
        futures = [await producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
                   for i in range(N_MESSAGES)]
        await asyncio.wait_for(producer.flush(), 30)
        metas = await asyncio.wait_for(asyncio.gather(*futures), 30)
    finally:
        await producer.stop()
    assert {m.partition for m in metas} == set(range(N_PARTITIONS))

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"sg-smoke-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), 60)
    received: dict[bytes, bytes] = {}
    try:
        async def drain():
            while len(received) < N_MESSAGES:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for rec in records:
                        received[rec.key] = rec.value
        await asyncio.wait_for(drain(), 60)
        await asyncio.wait_for(consumer.commit(), 30)  # exercises __consumer_offsets
    finally:
        await consumer.stop()
    assert received == {f"k{i}".encode(): f"v{i}".encode() for i in range(N_MESSAGES)}


def test_produce_consume_roundtrip(kafka_bootstrap):
    asyncio.run(asyncio.wait_for(_roundtrip(kafka_bootstrap), 180))


def test_broker_speaks_kafka_4_protocol(kafka_bootstrap, kafka_local):
    host, port = kafka_bootstrap.rsplit(":", 1)
    apis = kafka_local.api_versions_probe(host, int(port))
    # Kafka 4.0 dropped Fetch v0-v3 (KIP-896) and serves the KIP-848
    # ConsumerGroupHeartbeat API (key 68) by default; a 3.x broker fails these.
    assert apis[1][0] >= 4, apis[1]
    assert 68 in apis
