"""The worker's cross-account stages without Kafka: packing, re-keying by attribute value,
the attribute stage's frontier and the cluster stage, chained by hand as the topics would."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest
from stream_guard.core.linking import AccountProfile
from stream_guard.core.linking.attributes import opaque
from stream_guard.metrics import Metrics
from stream_guard.settings import Settings
from stream_guard.stream import linking
from stream_guard.stream.linking import (
    MAX_MESSAGE_BYTES,
    AttributeStage,
    ClusterStage,
    ProfileOutbox,
    pack,
    split_by_value,
    unpack,
    value_partition,
)
from stream_guard.stream.runtime import WorkerRuntime

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
    # what one worker's outbox sends: each profile split by value partition
    outbox = ProfileOutbox(m, "w", 4)
    outbox.deliver(hydra_profiles(T + 900), T + 900)
    for p, msg in outbox.take():
        attributes.handle(p, msg, now=0.0)
    verdict_messages = attributes.tick(now=0.0)
    assert verdict_messages  # every partition evaluated boundary T + 900
    for msg in verdict_messages:
        clusters.handle(msg, now=0.0)
    alerts = clusters.tick(now=0.0)
    assert [(a["kind"], a["detectors"]) for a in alerts] == [("cluster", ["cluster"]), ("cluster", ["cluster_member"])]
    assert alerts[1]["account_count"] == 8  # the members, in one alert
    assert clusters.tick(now=1.0) == []  # the same boundary is judged once
    assert m.clusters._value.get() == 1


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


def test_split_by_value_keeps_every_value_once() -> None:
    prof = hydra_profiles(T + 900, 1)[0]
    parts = split_by_value(prof, 4)
    assert sorted(v for part in parts.values() for v in part.values) == sorted(prof.values)
    assert all(value_partition(k, v, 4) == p for p, part in parts.items() for k, v, _ in part.values)
    assert all(replace(part, values=[]) == replace(prof, values=[]) for part in parts.values())


def test_outbox_messages_are_the_split_profiles_on_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    # the outbox writes each partition's part without a profile object per part, and caches
    # each value's partition (reset when full): the messages must be what split_by_value's
    # parts give, in the same order, whatever the cache holds
    monkeypatch.setattr(linking, "OWNER_CACHE", 5)
    profiles = [*hydra_profiles(T + 900, 12),
                AccountProfile("solo", T + 900, 3, [("ip", f"10.1.{i}.1", 1) for i in range(9)] + [("model", "m", 3)],
                               3.0, 0.2, -1.0, 0b1)]
    expected = [[] for _ in range(4)]  # type: list[list[bytes]]
    for prof in profiles:
        for p, part in split_by_value(prof, 4).items():
            expected[p].append(orjson.dumps(part.to_wire()))
    outbox = ProfileOutbox(Metrics(), "w", 4)
    for k in range(3):  # the cache fills, is reset at the next delivery, fills again
        outbox.deliver(profiles, T + 900 * (k + 1))
        got = [[] for _ in range(4)]  # type: list[list[bytes]]
        for p, msg in outbox.take():
            got[p] += [orjson.dumps(item) for item in unpack(msg)[2]]
        assert got == expected
        assert len(outbox._owner) > linking.OWNER_CACHE  # (filled past the cap within a delivery)
    again = [AccountProfile.from_wire(orjson.loads(m)) for part in expected for m in part]
    assert sorted(v for a in again for v in a.values) == sorted(v for prof in profiles for v in prof.values)


def test_runtime_outbox_carries_profiles_and_heartbeats() -> None:
    m = Metrics()
    outbox = ProfileOutbox(m, "w", 4)
    rt = WorkerRuntime(S, m, outbox)
    for i in range(3):
        ev = {"event_id": f"e{i}", "ts": T + 10 + i, "account_id": "a", "model": "m", "input_tokens": 1,
              "output_tokens": 2, "ip": "10.0.0.1", "payment_fingerprint": "pm_1"}
        rt.handle(0, i, orjson.dumps(ev))
    assert outbox.take() == []  # no tick yet: no watermark
    later = {"event_id": "later", "ts": T + 1000, "account_id": "b", "model": "m", "input_tokens": 1,
             "output_tokens": 2}
    rt.handle(1, 0, orjson.dumps(later))  # event time moves past the end of a's interval
    rt.tick(now=1e12)  # all partitions idle: the watermark passes the newest event
    messages = outbox.take()
    assert sorted(p for p, _ in messages) == [0, 1, 2, 3]  # a message (or heartbeat) per partition
    values = [tuple(v[:2]) for _, msg in messages for item in unpack(msg)[2] for v in item[3]]
    assert sorted(values) == [("ip", opaque("10.0.0.1")), ("ip_prefix", opaque("10.0.0.0/24")), ("model", "m"),
                              ("payment", "pm_1")]


def test_runtime_outbox_uses_the_configured_hash_key() -> None:
    def profile_values(settings: Settings) -> list[tuple[str, str]]:
        outbox = ProfileOutbox(Metrics(), "w", 4)
        rt = WorkerRuntime(settings, Metrics(), outbox)
        ev = {"event_id": "e", "ts": T + 10, "account_id": "a", "model": "m", "input_tokens": 1,
              "output_tokens": 2, "ip": "10.0.0.1", "user_agent": "sdk/1"}
        rt.handle(0, 0, orjson.dumps(ev))
        rt.handle(1, 0, orjson.dumps({**ev, "event_id": "l", "ts": T + 1000, "account_id": "b"}))
        rt.tick(now=1e12)
        return sorted(tuple(v[:2]) for _, msg in outbox.take() for item in unpack(msg)[2]
                      for v in item[3])

    keyed = profile_values(replace(S, link_hash_key="k"))
    assert keyed == sorted([("ip", opaque("10.0.0.1", b"k")), ("ip_prefix", opaque("10.0.0.0/24", b"k")),
                            ("model", "m"), ("user_agent", opaque("sdk/1", b"k"))])
    assert set(keyed).isdisjoint(set(profile_values(S)) - {("model", "m")})


class _Topics:
    """The two internal topics as lists of messages (offset = index), and the stages
    consuming them, as the worker wires them (one source)."""

    def __init__(self, partitions: int = 4) -> None:
        self.profiles: list[list[bytes]] = [[] for _ in range(partitions)]
        self.verdicts: list[bytes] = []
        self.m = Metrics()
        self.attributes, self.clusters = AttributeStage(S, self.m, "w"), ClusterStage(S, self.m)
        self.read = [0] * partitions  # what the stages consumed ("committed" offsets)
        self.verdicts_read = 0

    def interval(self, at: float, accounts: int) -> list[dict[str, object]]:
        outbox = ProfileOutbox(self.m, "w", len(self.profiles))
        outbox.deliver(hydra_profiles(at, accounts), at)
        for p, msg in outbox.take():
            self.profiles[p].append(msg)
        return self.consume()

    def consume(self) -> list[dict[str, object]]:
        for p, messages in enumerate(self.profiles):
            for offset in range(self.read[p], len(messages)):
                self.attributes.handle(p, messages[offset], 0.0, offset)
            self.read[p] = len(messages)
        self.verdicts += self.attributes.tick(now=0.0)
        for offset in range(self.verdicts_read, len(self.verdicts)):
            self.clusters.handle(self.verdicts[offset], 0.0, offset)
        self.verdicts_read = len(self.verdicts)
        return self.clusters.tick(now=0.0)

    def checkpoint(self, table: dict[bytes, bytes | None], clusters: dict[bytes, bytes | None]) -> None:
        table.update((k, v) for _, k, v in self.attributes.checkpoint(range(len(self.profiles))))
        clusters.update(self.clusters.checkpoint())

    def crash_and_restore(self, table: dict[bytes, bytes | None], clusters: dict[bytes, bytes | None],
                          *, reread: bool = True) -> int:
        """New stages from the checkpoints; re-read what they do not hold (as catch_up does)."""
        self.attributes, self.clusters = AttributeStage(S, self.m, "w"), ClusterStage(S, self.m)
        items = [(k, v) for k, v in table.items() if v is not None]
        n = 0
        for p, messages in enumerate(self.profiles):
            restored = self.attributes.restore(p, [(k, v) for k, v in items if k.startswith(f"{p}@".encode())], 0.0)
            assert restored.resume_at is not None and not restored.stale
            for offset in range(restored.resume_at, len(messages) if reread else 0):
                self.attributes.handle(p, messages[offset], 0.0, offset)
                n += 1
            self.attributes.resume_at.pop(p)
            if not reread:  # as if the stretch was never there
                self.attributes.last_offset[p] = len(messages) - 1
        restored = self.clusters.restore([(k, v) for k, v in clusters.items() if v is not None], 0.0)
        assert restored.resume_at is not None
        for offset in range(restored.resume_at, len(self.verdicts) if reread else 0):
            self.clusters.handle(self.verdicts[offset], 0.0, offset)
            n += 1
        if not reread:
            self.clusters.last_offset = len(self.verdicts) - 1
        self.clusters.resume_at.clear()  # caught up (as catch_up does)
        return n


SIZES = [8, 8, 10, 10, 10, 16, 16, 16]  # the cluster grows x2 (cluster_growth_factor 1.5): alerted again


def _run(crash: str | None, checkpoints: tuple[int, ...] = (1,)) -> tuple[_Topics, list[tuple[str, str]]]:
    """The stages over SIZES' intervals; with ``crash``, checkpointed after the second
    interval and crashed after the fourth (``"restore"``: restored and re-read as the
    worker does; ``"no-reread"``: restored, the re-read skipped; ``"no-restore"``: new
    stages from nothing)."""
    topics = _Topics()
    table: dict[bytes, bytes | None] = {}
    clusters: dict[bytes, bytes | None] = {}
    alerts: list[tuple[str, str]] = []
    for k, n in enumerate(SIZES):
        alerts += [(a["alert_id"], "+".join(a["detectors"])) for a in topics.interval(T + 900 * (k + 1), n)]
        if crash and k in checkpoints:
            topics.checkpoint(table, clusters)
        if crash == "restore" and k == 3:
            assert topics.crash_and_restore(table, clusters) > 0
        elif crash == "no-reread" and k == 3:
            topics.crash_and_restore(table, clusters, reread=False)
        elif crash == "no-restore" and k == 3:
            topics.attributes, topics.clusters = AttributeStage(S, topics.m, "w"), ClusterStage(S, topics.m)
        if crash and k == 3:
            alerts += [(a["alert_id"], "+".join(a["detectors"])) for a in topics.consume()]
    return topics, alerts


def test_cross_account_stages_after_a_crash_equal_an_uninterrupted_run() -> None:
    """Checkpoint after the cluster's first alert, go on for two intervals (that the
    checkpoint misses), crash, restore, re-read: the same alerts (by id), the same cluster
    id and cooldown, the same state."""
    plain, plain_alerts = _run(None)
    crashed, crashed_alerts = _run("restore")
    assert [detectors for _, detectors in plain_alerts].count("cluster") == 2  # first seen, then grown
    assert set(crashed_alerts) == set(plain_alerts)  # re-read stretches re-send theirs: same ids
    assert crashed.clusters.book.export() == plain.clusters.book.export()
    for p in range(4):
        assert crashed.attributes.indexes[p].export() == plain.attributes.indexes[p].export()
    (cid,) = {c.cluster_id for c in plain.clusters.book.clusters}
    assert {c.cluster_id for c in crashed.clusters.book.clusters} == {cid}


def test_a_restore_from_whole_passes_and_passes_of_changes_equals_an_uninterrupted_run() -> None:
    """Checkpoint passes after the first and the third interval: the first writes the whole
    attribute indexes and the cluster book, the next only their changes; crash an interval
    later, restore (the whole one plus the changes), re-read: the same alerts and state."""
    plain, plain_alerts = _run(None)
    crashed, crashed_alerts = _run("restore", checkpoints=(0, 2))
    assert set(crashed_alerts) == set(plain_alerts)
    assert crashed.clusters.book.export() == plain.clusters.book.export()
    for p in range(4):
        assert crashed.attributes.indexes[p].export() == plain.attributes.indexes[p].export()
    chains = [crashed.attributes.checkpoints[p].chain for p in range(4) if p in crashed.attributes.checkpoints]
    assert any(len(chain) > 1 for chain in chains), "passes of changes should have been written"
    assert len(crashed.clusters.checkpoints.chain) > 1, "the cluster book's too"


def test_a_pass_cut_short_is_followed_by_a_whole_one() -> None:
    topics = _Topics()
    topics.interval(T + 900, 8)
    list(topics.attributes.checkpoint(range(4)))  # whole indexes
    topics.interval(T + 1800, 10)
    cut = topics.attributes.checkpoint(range(4))
    first, _, _ = next(cut)  # the worker stopped sending this pass after its first record
    cut.close()
    topics.interval(T + 2700, 12)
    markers = {p: orjson.loads(v) for p, k, v in topics.attributes.checkpoint(range(4))
               if k.endswith(b"@marker") and v is not None}
    assert len(markers[first]["chain"]) == 1  # its changes were taken but maybe not written: whole again
    assert any(len(m["chain"]) == 2 for p, m in markers.items() if p != first)  # the others: changes


def test_a_cluster_pass_cut_short_is_followed_by_a_whole_one() -> None:
    topics = _Topics()
    table: dict[bytes, bytes | None] = {}
    for k, at in enumerate((T + 900, T + 1800, T + 2700)):
        topics.interval(at, 8 + 2 * k)
        if k == 1:
            cut = topics.clusters.checkpoint()
            next(cut)  # the worker stopped sending this pass after its first record
            cut.close()
            continue
        table.update(topics.clusters.checkpoint())
        marker = orjson.loads(table[b"clusters@marker"] or b"")
        assert len(marker["chain"]) == 1, "the first pass, and the one after a cut: the whole book"
    topics.interval(T + 3600, 14)
    table.update(topics.clusters.checkpoint())
    assert len(orjson.loads(table[b"clusters@marker"] or b"")["chain"]) == 2  # then changes again


def test_controls_without_the_re_read_or_the_restore_the_outcome_differs() -> None:
    plain, plain_alerts = _run(None)
    skipped, _ = _run("no-reread")
    assert skipped.clusters.book.export() != plain.clusters.book.export()
    _, fresh_alerts = _run("no-restore")  # cooldowns lost: the cluster is alerted anew
    assert set(fresh_alerts) != set(plain_alerts)


def test_without_a_checkpoint_the_restore_keeps_what_was_handled() -> None:
    stage = AttributeStage(S, Metrics(), "w")
    stage.handle(0, pack("w", T + 900, [orjson.dumps(hydra_profiles(T + 900, 1)[0].to_wire())])[0], 0.0, offset=5)
    restored = stage.restore(0, [], 0.0)
    assert restored.resume_at is None and 0 in stage.indexes and stage.last_offset[0] == 5
    stage.handle(0, b"ignored: offset 5 is in already", 0.0, offset=5)
    assert not list(stage.checkpoint([1])) and [k for _, k, _ in stage.checkpoint([0])][-1] == b"0@attributes@marker"


def test_a_delivery_cut_into_several_messages_is_judged_only_once_all_arrived() -> None:
    """Only the last message of a delivery carries its boundary: a tick between the
    messages must not judge the boundary without the profiles still on their way."""
    m = Metrics()
    outbox = ProfileOutbox(m, "w", 1)
    fat = [AccountProfile(f"h{i}", T + 900, 2, [("payment", "pm_shared", 2), ("client", "fp_tool", 2)]
                          + [("ip", f"h:{i:04d}{j:060d}", 1) for j in range(12)], 26.0, 0.9, 2.0, 0xFFFFFF)
           for i in range(800)]
    outbox.deliver(fat, T + 900)
    messages = [msg for _, msg in outbox.take()]
    assert len(messages) >= 2
    assert [unpack(x)[1] for x in messages] == [0.0] * (len(messages) - 1) + [T + 900]
    attributes = AttributeStage(S, m, "w")
    attributes.handle(0, messages[0], now=0.0)
    early = attributes.tick(now=0.0)  # the frontier is not at T + 900 yet: nothing judged
    assert [unpack(x)[1] for x in early] == [0.0] and [v for x in early for v in unpack(x)[2]] == []
    for msg in messages[1:]:
        attributes.handle(0, msg, now=0.0)
    verdicts = [v for x in attributes.tick(now=0.0) for v in unpack(x)[2]]
    linked = {(v["kind"], v["value"]): v["accounts"] for v in verdicts if v.get("kind") == "payment"}
    assert linked == {("payment", "pm_shared"): 800}  # every profile of the delivery counted
    outbox.deliver([], T + 1800)  # the next delivery's earlier messages carry T + 900
    assert unpack(outbox.take()[0][1])[1] == T + 1800


def test_heartbeats_that_move_nothing_leave_the_stages_unchanged() -> None:
    """A checkpoint pass re-serializes a whole index or cluster book: heartbeats that move
    no boundary and carry nothing must not cause one (every few seconds per source)."""
    m = Metrics()
    attributes, clusters = AttributeStage(S, m, "w"), ClusterStage(S, m)
    attributes.handle(0, pack("w", T, [])[0], now=0.0, offset=0)
    clusters.handle(pack("w/0", T, [])[0], now=0.0, offset=0)
    assert attributes.changed == {0} and clusters.changed  # a new source: its boundary is news
    attributes.changed.clear()
    clusters.changed = False
    attributes.handle(0, pack("w", T, [])[0], now=5.0, offset=1)
    clusters.handle(pack("w/0", T, [])[0], now=5.0, offset=1)
    assert attributes.changed == set() and not clusters.changed
    attributes.handle(0, pack("w", T + 900, [])[0], now=10.0, offset=2)  # the boundary moved
    clusters.handle(pack("w/0", T + 900, [])[0], now=10.0, offset=2)
    assert attributes.changed == {0} and clusters.changed
