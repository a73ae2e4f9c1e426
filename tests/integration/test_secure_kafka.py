"""Secure Kafka and privacy, end to end on the real Apache Kafka broker.

A broker with a SASL_SSL and an mTLS listener (CA and certificates generated at start,
fixture ``secure_kafka``) runs a real `stream-guard worker` that authenticates with
SCRAM-SHA-512 over TLS with hostname checking on; traffic goes in through the same
listener (the load generator's producer), alerts come out. The run doubles as the privacy
canary test: a unique string is planted in prompt text and user agents, and the SASL
password is another unique string; afterwards the worker's log, its data dir, every topic
on the broker except the input (Faust's changelogs, the internal link-profiles and
link-verdicts topics, the alerts, the DLQ, consumer offsets), the broker's files and the
output of `stream-guard settings` must hold neither (the input topic must: a control that
the canary was really sent and the search works).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from stream_guard.contracts import validate_alert
from stream_guard.loadgen.sinks import KafkaOptions, Progress, send_to_kafka
from stream_guard.settings import Settings
from stream_guard.stream.kafka_config import aiokafka_security, ssl_context
from stream_guard.stream.topics import (
    CLUSTER_TABLE,
    changelog_topic,
    link_verdicts_topic,
    needed_topics,
    profiles_topic,
)
from traffic import EXTRACTOR, extractor_events, hydra_events, to_messages

from harness_common import WorkerProcess, consume_all, metric, unique_names, wait_for

PARTITIONS = 4
HYDRA = 30
SPAN_S = 4 * 3600
PROMPT_CANARY = "zqcanary" + uuid.uuid4().hex  # one word: survives masking only if stored raw
UA_CANARY = "CanaryAgent/" + uuid.uuid4().hex


def _env(secure: dict[str, Any], names: dict[str, str], **extra: str) -> dict[str, str]:
    user, password = next(iter(secure["scram_users"].items()))
    return {
        **names,
        "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS),
        "STREAM_GUARD_SECURITY_PROTOCOL": "SASL_SSL",
        "STREAM_GUARD_SASL_MECHANISM": "SCRAM-SHA-512",
        "STREAM_GUARD_SASL_USERNAME": user,
        "STREAM_GUARD_SASL_PASSWORD": password,
        "STREAM_GUARD_SSL_CAFILE": secure["tls"]["ca"],
        "STREAM_GUARD_SSL_CHECK_HOSTNAME": "true",
        **extra,
    }


def _cli(args: list[str], env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_GUARD_")} | env
    return subprocess.run([sys.executable, "-m", "stream_guard", *args], env=full, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _traffic(start: float) -> list[dict[str, Any]]:
    """A hydra (shared proxy addresses, cards, a client fingerprint) and a blunt extractor,
    at current event times, with the canaries in prompt text and user agents."""
    hydra = hydra_events(HYDRA, start, SPAN_S, every_s=600.0, seed=11)
    extractor = extractor_events(EXTRACTOR, start + SPAN_S / 2, SPAN_S / 2, every_s=2.0, seed=2)
    for ev in hydra + extractor:
        ev["prompt"] = f"{ev['prompt']} ref {PROMPT_CANARY}"
        ev["user_agent"] = UA_CANARY
    return hydra + extractor


def _list_topics(bootstrap: str) -> list[str]:
    async def run() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return sorted(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(asyncio.wait_for(run(), 60))


def _topic_config(bootstrap: str, topic: str, key: str) -> str:
    async def run() -> str:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (resp,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {key: None})])
            entries = resp.to_object()["resources"][0]["config_entries"]
            return str(next(e["config_value"] for e in entries if e["config_names"] == key))
        finally:
            await admin.close()

    return asyncio.run(asyncio.wait_for(run(), 60))


def _files_containing(root: Path, needles: list[bytes], skip: frozenset[Path] | set[Path] = frozenset()) -> list[str]:
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(s in path.parents for s in skip):
            data = path.read_bytes()
            hits += [f"{path}: {n.decode()}" for n in needles if n in data]
    return hits


@pytest.fixture(scope="module")
def run(secure_kafka: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("secure")
    names = unique_names("sec")
    env = _env(secure_kafka, names, STREAM_GUARD_CHECKPOINT_INTERVAL_S="1", STREAM_GUARD_LOG_LEVEL="DEBUG")
    settings = Settings.from_env({**env, "STREAM_GUARD_BROKER": secure_kafka["SASL_SSL"]})
    # the topics first, as an operator would on a cluster without auto-create (through SASL_SSL)
    created = _cli(["topics", "create", "--broker", secure_kafka["SASL_SSL"]], env)
    assert created.returncode == 0, created.stderr
    events = _traffic(time.time() - SPAN_S - 120)
    worker = WorkerProcess(secure_kafka["SASL_SSL"], env, tmp / "data", tmp / "worker.log").start()
    try:
        # the load generator's producer, through SCRAM-SHA-512 over TLS as well
        opts = KafkaOptions(secure_kafka["SASL_SSL"], settings.input_topic, security=aiokafka_security(settings))
        items = [(k, v, None) for k, v in to_messages(events, batch=10)]
        sent = asyncio.run(send_to_kafka(items, opts, Progress("test", enabled=False)))
        assert sent == len(items)
        wait_for(lambda: metric(worker.metrics(), "stream_guard_events_total", outcome="processed") >= len(events),
                 timeout=180, what=f"{len(events)} events processed")
        plain = secure_kafka["PLAINTEXT"]

        def alerts_with_the_cluster() -> list[Any]:
            records = consume_all(plain, settings.alerts_topic, idle_s=3)
            alerts = [orjson.loads(r.value) for r in records]
            named = {acct for a in alerts if a["kind"] == "cluster" for acct in a["account_ids"]}
            hydra = len({acct for acct in named if acct.startswith("acct-hydra-")})
            return alerts if hydra >= 0.9 * HYDRA and any(a["subject"] == EXTRACTOR for a in alerts) else []

        alerts = wait_for(alerts_with_the_cluster, timeout=150, interval=2.0, what="extractor and cluster alerts")
        samples = worker.metrics()
    finally:
        code = worker.stop()
    topics = _list_topics(secure_kafka["PLAINTEXT"])
    records = {t: consume_all(secure_kafka["PLAINTEXT"], t, idle_s=1.5) for t in topics}
    return {"alerts": alerts, "metrics": samples, "exit_code": code, "log": worker.log_tail(80),
            "log_path": worker.log_path, "data_dir": tmp / "data", "settings": settings, "events": events,
            "topics": topics, "records": records, "env": env, "topics_create_output": created.stdout}


def test_worker_runs_end_to_end_over_sasl_ssl_scram(run: dict[str, Any]) -> None:
    assert run["exit_code"] == 0, run["log"]
    m = run["metrics"]
    assert metric(m, "stream_guard_events_total", outcome="processed") == len(run["events"])
    assert metric(m, "stream_guard_events_total", outcome="dead_lettered") == 0
    for alert in run["alerts"]:
        validate_alert(alert)
    extractor = [a for a in run["alerts"] if a["subject"] == EXTRACTOR]
    assert extractor and extractor[0]["kind"] == "account"
    clusters = [a for a in run["alerts"] if a["kind"] == "cluster"]
    named = {acct for a in clusters for acct in a["account_ids"]}
    assert len(named & {f"acct-hydra-{i:03d}" for i in range(HYDRA)}) >= 0.9 * HYDRA
    # linking values that are not opaque travel as short hash ids, still named in the evidence
    shared = [r for a in clusters for r in a["reasons"] if r["signal"].startswith("shared_")]
    assert shared
    hashed = [r for r in shared if r["signal"] in ("shared_ip", "shared_ip_prefix", "shared_user_agent")]
    assert all(" h:" in r["detail"] for r in hashed), hashed
    text = orjson.dumps(run["alerts"]).decode()
    assert "45.77." not in text and "CanaryAgent" not in text


def test_topics_are_exactly_the_needed_ones(run: dict[str, Any]) -> None:
    s: Settings = run["settings"]
    specs = {t.name: t for t in needed_topics(s, PARTITIONS)}
    ours = {t for t in run["topics"] if t.startswith(s.app_id)}
    # nothing beyond what `stream-guard topics create` made: Faust's own names are those
    assert ours == specs.keys(), run["topics_create_output"]
    assert "created" in run["topics_create_output"]
    assert run["records"][changelog_topic(s)], "the worker checkpointed into the changelog"
    assert run["records"][profiles_topic(s)] and run["records"][link_verdicts_topic(s)]


def test_canaries_appear_nowhere(run: dict[str, Any], secure_kafka: dict[str, Any]) -> None:
    s: Settings = run["settings"]
    password = s.sasl_password.encode()
    assert password.startswith(b"canarypw")
    canaries = [PROMPT_CANARY.encode(), UA_CANARY.encode(), password]

    def holds(records: list[Any]) -> list[bytes]:
        found = []
        for r in records:
            blob = (r.key or b"") + (r.value or b"") + b"".join(v for _, v in (r.headers or ()))
            found += [c for c in canaries if c in blob]
        return found + [c for c in canaries for blob in _blob_checkpoints(records) if c in blob]

    # control: the input topic holds the prompt and user-agent canaries (the search works)
    assert set(holds(run["records"][s.input_topic])) == {PROMPT_CANARY.encode(), UA_CANARY.encode()}
    checked = {t: len(r) for t, r in run["records"].items() if t != s.input_topic}
    for must_have in (s.alerts_topic, changelog_topic(s), changelog_topic(s, CLUSTER_TABLE), profiles_topic(s),
                      link_verdicts_topic(s)):
        assert checked.get(must_have), f"nothing read from {must_have}: {checked}"
    # control: the compressed checkpoints are searched as JSON
    assert any(b'"links"' in blob for blob in _blob_checkpoints(run["records"][changelog_topic(s, CLUSTER_TABLE)]))
    leaks = {t: sorted(set(holds(r))) for t, r in run["records"].items() if t != s.input_topic and holds(r)}
    assert not leaks, leaks
    assert not [c for c in canaries if c in orjson.dumps(run["alerts"])]
    # the worker's log (DEBUG level) and data dir
    log = run["log_path"].read_bytes()
    assert b"worker" in log and not [c for c in canaries if c in log]
    assert not _files_containing(run["data_dir"], canaries)
    # the broker's files: topic data except the input topic's partitions, configs, logs, TLS
    broker: Path = secure_kafka["data_dir"]
    input_dirs = set((broker / "kraft-logs").glob(f"{s.input_topic}-*"))
    assert input_dirs
    assert not _files_containing(broker, canaries, skip=input_dirs)
    # and `stream-guard settings` with the password in its environment
    out = _cli(["settings"], run["env"])
    assert out.returncode == 0 and "STREAM_GUARD_SASL_PASSWORD = '***'" in out.stdout
    assert s.sasl_password not in out.stdout + out.stderr


def _blob_checkpoints(records: list[Any]) -> list[bytes]:
    """The JSON of the compressed checkpoints (``<name>@<seq>.<part>``) among ``records``."""
    passes: dict[bytes, dict[int, bytes]] = {}
    for r in records:
        m = re.fullmatch(rb"(.+@\d+)\.(\d+)", r.key or b"")
        if m and r.value:
            passes.setdefault(m[1], {})[int(m[2])] = r.value
    out = []
    for parts in passes.values():
        try:
            out.append(zlib.decompress(b"".join(parts[i] for i in sorted(parts))))
        except zlib.error:
            continue  # a pass whose parts are not all here (compaction): not readable anyway
    return out


def test_topic_configs_of_the_created_topics(run: dict[str, Any], secure_kafka: dict[str, Any]) -> None:
    s: Settings = run["settings"]
    plain = secure_kafka["PLAINTEXT"]
    assert _topic_config(plain, changelog_topic(s), "cleanup.policy") == "compact"
    assert _topic_config(plain, s.input_topic, "cleanup.policy") == "delete"


def test_mtls_client_certificate_with_encrypted_key(secure_kafka: dict[str, Any]) -> None:
    tls = secure_kafka["tls"]
    names = unique_names("mtls")
    env = {**names, "STREAM_GUARD_SECURITY_PROTOCOL": "SSL", "STREAM_GUARD_SSL_CAFILE": tls["ca"],
           "STREAM_GUARD_SSL_CERTFILE": tls["client_cert"], "STREAM_GUARD_SSL_KEYFILE": tls["client_key_encrypted"],
           "STREAM_GUARD_SSL_KEY_PASSWORD": tls["client_key_password"]}
    listed = _cli(["topics", "list", "--broker", secure_kafka["SSL"], "--timeout", "20"], env)
    assert listed.returncode == 3, listed.stderr  # answered: every topic of a fresh app id is missing
    assert "missing" in listed.stdout and names["STREAM_GUARD_INPUT_TOPIC"] in listed.stdout
    assert tls["client_key_password"] not in listed.stdout + listed.stderr
    # the same listener refuses a client without a certificate
    no_cert = {k: v for k, v in env.items() if "CERTFILE" not in k and "KEY" not in k}
    refused = _cli(["topics", "list", "--broker", secure_kafka["SSL"], "--timeout", "3"], no_cert)
    assert refused.returncode == 1 and "not reachable" in refused.stderr


def test_wrong_scram_password_is_refused_and_not_printed(secure_kafka: dict[str, Any]) -> None:
    wrong = "wrongpw" + uuid.uuid4().hex
    env = _env(secure_kafka, unique_names("badpw"), STREAM_GUARD_SASL_PASSWORD=wrong)
    refused = _cli(["topics", "list", "--broker", secure_kafka["SASL_SSL"], "--timeout", "3"], env)
    assert refused.returncode == 1 and "not reachable" in refused.stderr
    assert wrong not in refused.stdout + refused.stderr


def test_broker_hostname_is_checked(secure_kafka: dict[str, Any]) -> None:
    host, port = secure_kafka["SASL_SSL"].rsplit(":", 1)
    checked = Settings(security_protocol="SASL_SSL", ssl_cafile=secure_kafka["tls"]["ca"])
    unchecked = Settings(security_protocol="SASL_SSL", ssl_cafile=secure_kafka["tls"]["ca"], ssl_check_hostname=False)

    def handshake(settings: Settings, server_hostname: str) -> None:
        ctx = ssl_context(settings)
        assert ctx is not None
        with socket.create_connection((host, int(port)), timeout=10) as sock, ctx.wrap_socket(
            sock, server_hostname=server_hostname
        ):
            pass

    handshake(checked, host)  # the certificate names 127.0.0.1 and localhost
    handshake(checked, "localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match=r"match|mismatch"):
        handshake(checked, "broker.invalid")
    handshake(unchecked, "broker.invalid")  # only with checking turned off
    with pytest.raises(ssl.SSLCertVerificationError):  # a CA that did not sign the broker
        handshake(Settings(security_protocol="SASL_SSL"), host)


def test_demo_runs_against_a_secured_broker(secure_kafka: dict[str, Any]) -> None:
    """`demo --broker` connects its own producer and consumer with the worker's security
    settings: through SCRAM-SHA-512 over TLS the extractor's alert reaches the demo's table."""
    env = _env(secure_kafka, {}, STREAM_GUARD_TOPIC_PARTITIONS="1")
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    metrics_port = port.getsockname()[1]
    port.close()
    result = _cli(["demo", "--broker", secure_kafka["SASL_SSL"], "--duration", "60", "--benign-accounts", "5",
                   "--metrics-port", str(metrics_port)], env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "acct-demo-extractor" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    assert env["STREAM_GUARD_SASL_PASSWORD"] not in result.stdout + result.stderr
