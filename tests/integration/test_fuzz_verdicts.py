"""Fuzzing the verdicts topic: 5,000 seeded hostile messages through the real worker on the
real Kafka broker.

Every message must get exactly one outcome (applied, duplicate or dead-lettered), bad ones
must reach the dead-letter topic with their reason and the verdicts topic as source, and
the worker must keep consuming: afterwards a verdict given with `stream-guard label` is
applied and `/readyz` answers 200. The expected outcome of each message is computed in
this process by the worker's own intake (:class:`~stream_guard.stream.verdicts.VerdictIntake`,
fed partition by partition in offset order, as the worker reads them); duplicates are
exact copies of an earlier message (same key, so same partition), so the counts do not
depend on the order partitions are read in.
"""

from __future__ import annotations

import math
import random
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from stream_guard.core.partitioning import partition_for
from stream_guard.core.verdicts import VerdictBook
from stream_guard.metrics import Metrics
from stream_guard.stream.verdicts import VerdictIntake

from harness_common import (
    WorkerProcess,
    clean_env,
    consume_all,
    create_topics,
    metric,
    produce_located,
    sg,
    unique_names,
    wait_for,
)

pytestmark = pytest.mark.timeout(600)

MESSAGES = 5_000
PARTITIONS = 4
SEED = 1307
JUNK: list[Any] = [None, True, 0, -1, 1e308, 2**70, "", "x" * 5000, [], {}, [1, [2, [3]]], {"a": {"b": None}},
                   "\u0000", "\ud800", "2026-13-45T99:99:99Z", "NaN", -0.0]
FIELDS = ("verdict_id", "subject", "subject_kind", "verdict", "at", "expires_at", "reason", "analyst", "via",
          "schema_version")


def good(rnd: random.Random, n: int) -> dict[str, Any]:
    kind = rnd.choice(("account", "account", "account", "cluster"))
    verdict = rnd.choice(("malicious", "benign", "allow"))
    at = rnd.uniform(0, 4e9)
    doc: dict[str, Any] = {"verdict_id": f"fz-{n}", "subject": f"{'acct' if kind == 'account' else 'cluster'}-{n % 97}",
                           "subject_kind": kind, "verdict": verdict,
                           "at": at if rnd.random() < 0.5 else "2026-03-01T00:00:00Z",
                           "reason": rnd.choice(("ok", "évaluation ✓", "r" * 999)), "analyst": "fuzz"}
    if verdict == "allow" or rnd.random() < 0.3:
        doc["expires_at"] = (at if isinstance(doc["at"], float) else 1772323200.0) + rnd.uniform(1, 1e6)
    if rnd.random() < 0.2:
        doc["unknown_field"] = rnd.choice(JUNK)
    return doc


def mutate(rnd: random.Random, doc: dict[str, Any]) -> bytes | None:
    """One hostile form of a good verdict."""
    kind = rnd.randrange(12)
    if kind == 0:
        doc[rnd.choice(FIELDS)] = rnd.choice(JUNK)  # a field of the wrong type or value
    elif kind == 1:
        del doc[rnd.choice(list(doc))]  # a field missing
    elif kind == 2:
        return _dumps(doc)[: rnd.randrange(1, 40)]  # cut short
    elif kind == 3:
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 64)))  # noise
    elif kind == 4:
        return None  # a tombstone
    elif kind == 5:
        return b"[" * 5000 + b"]" * 5000  # nested deeply
    elif kind == 6:
        return _dumps(doc) + b" " * 70_000  # oversized
    elif kind == 7:
        return rnd.choice((b"[]", b"1", b'"verdict"', b"null", b"{}", b"NaN", b"Infinity"))
    elif kind == 8:
        doc["expires_at"] = doc["at"] if isinstance(doc["at"], float) else 0.0  # ends before it starts
    elif kind == 9:
        doc["at"] = rnd.choice((math.inf, -5, 4e12, "yesterday", "2026-03-01"))
    elif kind == 10:
        raw = _dumps(doc)
        return raw.replace(b'"fuzz"', b'"\xff\xfe"')  # not UTF-8 inside a string
    else:
        doc["verdict"] = "allow"
        doc.pop("expires_at", None)  # an allow without expiry
    return _dumps(doc)


def _dumps(doc: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):  # e.g. a lone surrogate: what a broken producer sends
        return b'{"at": NaN}'


def corpus() -> list[tuple[int, bytes | None, bytes | None]]:
    rnd = random.Random(SEED)
    out: list[tuple[int, bytes | None, bytes | None]] = []
    sent_good: list[tuple[int, bytes | None, bytes | None]] = []
    for n in range(MESSAGES):
        doc = good(rnd, n)
        home = partition_for(doc["subject"], PARTITIONS)
        key: bytes | None = doc["subject"].encode()
        roll = rnd.random()
        if roll < 0.35:
            value: bytes | None = _dumps(doc)
        elif roll < 0.45 and sent_good:
            out.append(rnd.choice(sent_good))  # an exact copy: a duplicate verdict id
            continue
        elif roll < 0.5 and doc["subject_kind"] == "account":
            value = _dumps(doc)
            home = (home + rnd.randrange(1, PARTITIONS)) % PARTITIONS  # keyed to another partition
            key = rnd.choice((None, b"", b"\xff" * 300, b"someone-else"))
        else:
            value = mutate(rnd, doc)
        item = (home, key, value)
        out.append(item)
        if value is not None and roll < 0.35:
            sent_good.append(item)
    return out


def expected(messages: list[tuple[int, bytes | None, bytes | None]]) -> tuple[Counter[str], Counter[str]]:
    """(outcomes, dead-letter reasons) the worker's intake gives, fed per partition in order."""
    metrics = Metrics()
    intake = VerdictIntake(VerdictBook(), metrics, PARTITIONS)
    reasons: Counter[str] = Counter()
    offsets: Counter[int] = Counter()
    for partition, _, value in messages:
        out = intake.handle(partition, offsets[partition], value)
        offsets[partition] += 1
        if out.dead_letter is not None:
            reasons[out.dead_letter.reason.value] += 1
    outcomes = Counter({o: int(metrics.verdicts.labels(o)._value.get()) for o in ("applied", "duplicate",
                                                                                    "dead_lettered")})
    return outcomes, reasons


def test_hostile_verdicts_each_get_one_outcome_and_the_worker_goes_on(kafka_bootstrap: str, tmp_path: Path) -> None:
    messages = corpus()
    want, want_reasons = expected(messages)
    assert want["applied"] > 500 and want["duplicate"] > 200 and want["dead_lettered"] > 2000  # a real mix
    names = unique_names("fuzzverdicts")
    create_topics(kafka_bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    env = {**names, "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS)}
    worker = WorkerProcess(kafka_bootstrap, env, tmp_path / "data", tmp_path / "worker.log").start()
    try:
        located = produce_located(kafka_bootstrap, names["STREAM_GUARD_VERDICTS_TOPIC"], messages)
        # each partition got its messages in corpus order from offset 0: the oracle's order
        seen: Counter[int] = Counter()
        for (partition, offset), (wanted, _, _) in zip(located, messages, strict=True):
            assert (partition, offset) == (wanted, seen[wanted])
            seen[wanted] += 1

        def counted() -> Counter[str]:
            m = worker.metrics()
            return Counter({o: int(metric(m, "stream_guard_verdicts_total", outcome=o))
                            for o in ("applied", "duplicate", "dead_lettered")})

        wait_for(lambda: sum(counted().values()) >= len(messages), timeout=180, interval=1.0,
                 what=f"{len(messages)} verdict messages accounted for")
        got = counted()
        out = subprocess.run(sg("label", "add", "--account", "acct-sentinel", "--verdict", "benign", "--reason",
                                "after the fuzz", "--analyst", "test"),
                             env=clean_env({"STREAM_GUARD_BROKER": kafka_bootstrap, **env}), capture_output=True,
                             timeout=120, check=False)
        assert out.returncode == 0, out.stderr.decode()
        wait_for(lambda: counted()["applied"] == want["applied"] + 1, timeout=30, what="the sentinel verdict")
        assert worker.alive() and worker.status("/readyz") == 200
    finally:
        assert worker.stop() == 0, worker.log_tail()
    assert got == want
    dlq = consume_all(kafka_bootstrap, names["STREAM_GUARD_DLQ_TOPIC"], idle_s=3)
    heads = [dict(r.headers) for r in dlq]
    assert Counter(h["stream-guard-reason"].decode() for h in heads) == want_reasons
    assert {h["stream-guard-source-topic"] for h in heads} == {names["STREAM_GUARD_VERDICTS_TOPIC"].encode()}
