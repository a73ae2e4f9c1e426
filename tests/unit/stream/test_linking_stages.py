"""The worker's cross-account stages without Kafka: packing, re-keying by attribute value,
the attribute stage's frontier and the cluster stage, chained by hand as the topics would."""

from __future__ import annotations

import orjson

from stream_guard.core.linking import AccountProfile
from stream_guard.core.linking.attributes import opaque
from stream_guard.metrics import Metrics
from stream_guard.settings import Settings
from stream_guard.stream.linking import MAX_MESSAGE_BYTES, AttributeStage, ClusterStage, pack, unpack
from stream_guard.stream.runtime import WorkerRuntime, value_partition

S = Settings(idle_grace_s=0.0)
T = 20513 * 86400.0  # a multiple of the link interval


def hydra_profiles(at: float, n: int = 8) -> list[AccountProfile]:
    return [AccountProfile(f"h{i}", at, 2, [("payment", f"pm_{i // 4}", 2), ("client", "fp_tool", 2)],
                           26.0, 0.9, 2.0, 0xFFFFFF) for i in range(n)]


def test_pack_splits_large_batches_and_round_trips() -> None:
    items = [orjson.dumps(["x" * 1000, i]) for i in range(2000)]
    messages = pack("w", 900.0, items)
    assert len(messages) > 1 and all(len(m) <= MAX_MESSAGE_BYTES for m in messages)
    got = [item for m in messages for item in unpack(m)[2]]
    assert got == [["x" * 1000, i] for i in range(2000)]
    assert unpack(pack("w", 5.0, [])[0]) == ("w", 5.0, [])


def test_value_partition_is_stable_and_spread() -> None:
    parts = {value_partition("ip", f"10.0.0.{i}", 4) for i in range(64)}
    assert parts == {0, 1, 2, 3}
    assert value_partition("ip", "10.0.0.1", 4) == value_partition("ip", "10.0.0.1", 4)


def test_stages_chained_by_hand_alert_the_cluster() -> None:
    m = Metrics()
    attributes, clusters = AttributeStage(S, m, "w"), ClusterStage(S, m)
    # what link_messages does for one worker: split each profile by value partition
    by_part: dict[int, list[bytes]] = {p: [] for p in range(4)}
    for prof in hydra_profiles(T + 900):
        for p in range(4):
            values = [v for v in prof.values if value_partition(v[0], v[1], 4) == p]
            if values:
                part = AccountProfile(prof.account, prof.at, prof.requests, values, prof.day_requests,
                                      prof.likeness, prof.age_days, prof.hours)
                by_part[p].append(orjson.dumps(part.to_wire()))
    for p, items in by_part.items():
        for msg in pack("w", T + 900, items):
            attributes.handle(p, msg, now=0.0)
    verdict_messages = attributes.tick(now=0.0)
    assert verdict_messages  # every partition evaluated boundary T + 900
    for msg in verdict_messages:
        clusters.handle(msg, now=0.0)
    alerts = clusters.tick(now=0.0)
    kinds = sorted(a["kind"] for a in alerts)
    assert kinds == ["account"] * 8 + ["cluster"]
    assert clusters.tick(now=1.0) == []  # the same boundary is judged once
    assert m.clusters._value.get() == 1  # noqa: SLF001 - prometheus_client has no public getter


def test_a_stage_waits_for_every_active_source() -> None:
    m = Metrics()
    attributes = AttributeStage(S, m, "w")
    profile = orjson.dumps(hydra_profiles(T, 1)[0].to_wire())
    attributes.handle(0, pack("w1", T + 900, [profile])[0], now=0.0)
    attributes.handle(0, pack("w2", T, [])[0], now=0.0)
    out = attributes.tick(now=1.0)
    assert [unpack(x)[1] for x in out] == [T]  # w2 is only complete up to T
    attributes.handle(0, pack("w2", T + 900, [])[0], now=2.0)
    assert [unpack(x)[1] for x in attributes.tick(now=3.0)] == [T + 900]  # a heartbeat: nothing new
    assert attributes.tick(now=4.0) == []  # judged once; the next heartbeat after HEARTBEAT_S


def test_bad_internal_messages_are_skipped() -> None:
    m = Metrics()
    attributes, clusters = AttributeStage(S, m, "w"), ClusterStage(S, m)
    attributes.handle(0, b"not json", now=0.0)
    clusters.handle(b'{"src": "x"}', now=0.0)
    assert attributes.tick(now=0.0) == [] and clusters.tick(now=0.0) == []


def test_runtime_link_messages_carry_profiles_and_heartbeats() -> None:
    rt = WorkerRuntime(S, Metrics())
    for i in range(3):
        ev = {"event_id": f"e{i}", "ts": T + 10 + i, "account_id": "a", "model": "m", "input_tokens": 1,
              "output_tokens": 2, "ip": "10.0.0.1", "payment_fingerprint": "pm_1"}
        rt.handle(0, i, orjson.dumps(ev))
    assert rt.link_messages("w", 4) == []  # no tick yet: no watermark
    later = {"event_id": "later", "ts": T + 1000, "account_id": "b", "model": "m", "input_tokens": 1,
             "output_tokens": 2}
    rt.handle(1, 0, orjson.dumps(later))  # event time moves past the end of a's interval
    rt.tick(now=1e12)  # all partitions idle: the watermark passes the newest event
    messages = rt.link_messages("w", 4)
    assert sorted(p for p, _ in messages) == [0, 1, 2, 3]  # a message (or heartbeat) per partition
    values = [tuple(v[:2]) for _, msg in messages for item in unpack(msg)[2] for v in item[3]]
    assert sorted(values) == [("ip", opaque("10.0.0.1")), ("ip_prefix", opaque("10.0.0.0/24")), ("model", "m"),
                              ("payment", "pm_1")]
