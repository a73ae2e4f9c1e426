"""The live check: a real Prometheus scraping a real `stream-guard worker` that processes
events on the real Kafka broker; every dashboard query and every recording rule must
return data through Prometheus' HTTP API.

Runs the `prometheus` binary of Debian's `prometheus` package on a free loopback port
(scrape and rule evaluation every second, rules loaded from deploy/prometheus/rules/),
and the worker as a subprocess on the session's Kafka broker (`kafka_bootstrap`). The
traffic: benign accounts, one blunt extraction account sending "think step by step"
prompts (so alerts are raised), and a few invalid messages (so dead letters exist).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import (
    RULES_FILE,
    SCRAPE_JOB,
    dashboard_queries,
    load_dashboard,
    recording_rules,
    rules,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PARTITIONS = 2
EXTRACTOR = "acct-live-extractor"
QUERY_DEADLINE_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None,
               log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}\n{tail(log)}")
        try:
            value = predicate()
        except (urllib.error.URLError, OSError, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail(log)}")


def tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the process group started for ``proc``, SIGKILL after 20 s."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


# --- traffic ------------------------------------------------------------------------------
def traffic(now: float) -> tuple[list[tuple[bytes, bytes]], int]:
    """Kafka (key, value) messages and the number of input events they hold."""
    rnd = random.Random(6)
    events: list[dict[str, Any]] = []
    start = now - 300.0
    for i in range(300):  # one request per second for five minutes, all asking for CoT
        a, b = rnd.randint(2, 999), rnd.randint(2, 999)
        events.append({
            "event_id": f"{EXTRACTOR}-{i}", "ts": round(start + i + rnd.uniform(0, 0.5), 3),
            "account_id": EXTRACTOR, "model": "model-a",
            "input_tokens": rnd.randint(60, 200), "output_tokens": rnd.randint(700, 1000), "max_tokens": 1000,
            "prompt": f"Problem {a}: a train leaves at {b} km/h. Think step by step and show your full reasoning.",
            "status": 200, "stop_reason": "end_turn", "turn_index": 0,
        })
    for n in range(20):  # benign accounts, a few requests each
        account = f"acct-live-benign-{n:02d}"
        for j in range(8):
            events.append({
                "event_id": f"{account}-{j}", "ts": round(start + rnd.uniform(0, 300), 3),
                "account_id": account, "model": "model-a",
                "input_tokens": rnd.randint(20, 400), "output_tokens": rnd.randint(50, 900),
                "prompt": f"Can you suggest a name for my project number {rnd.randint(1, 99)}?",
                "status": 200, "stop_reason": "end_turn", "turn_index": rnd.choice([0, 1]),
            })
    events.sort(key=lambda e: e["ts"])
    messages = [(e["account_id"].encode(), json.dumps(e).encode()) for e in events if e["account_id"] != EXTRACTOR]
    extractor = [e for e in events if e["account_id"] == EXTRACTOR]
    messages += [(EXTRACTOR.encode(), json.dumps(extractor[i:i + 10]).encode()) for i in range(0, len(extractor), 10)]
    messages.sort(key=lambda m: json.loads(m[1])[0]["ts"] if m[1].startswith(b"[") else json.loads(m[1])["ts"])
    invalid = [
        (b"acct-live-bad-1", b'{"event_id": "bad-1", "ts": '),  # invalid JSON
        (b"acct-live-bad-2", json.dumps({"event_id": "bad-2", "ts": 1, "account_id": "acct-live-bad-2",
                                         "model": "m", "input_tokens": 3}).encode()),  # no output_tokens
        (b"acct-live-bad-3", b"not json at all"),
    ]
    return messages + invalid, len(events) + len(invalid)


async def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], chunks: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        size = -(-len(messages) // chunks)
        for i in range(0, len(messages), size):  # spread over a few scrapes: counters rise over time
            futures = [await producer.send(topic, key=k, value=v) for k, v in messages[i:i + size]]
            await asyncio.gather(*futures)
            await asyncio.sleep(1.0)
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], chunks: int = 5) -> None:
    asyncio.run(asyncio.wait_for(_produce(bootstrap, topic, messages, chunks), 60))


# --- worker metrics read directly -----------------------------------------------------------
def scrape(port: int) -> dict[str, float]:
    """{sample name with labels: value} of the worker's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def total(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k.startswith(name + "{"))


# --- Prometheus -------------------------------------------------------------------------------
def query(prom_port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, body = http_get(url)
    payload = json.loads(body)
    assert status == 200 and payload["status"] == "success", f"{expr}: {payload}"
    return payload["data"]["result"]


def all_queries() -> list[tuple[str, str]]:
    out = dashboard_queries(load_dashboard())
    for rule in recording_rules():
        labels = rule.get("labels", {})
        out.append((f"recording rule {rule['record']} (expr)", rule["expr"]))
        selector = ", ".join(f'{k}="{v}"' for k, v in labels.items())
        out.append((f"recording rule {rule['record']} (recorded series)", f"{rule['record']}{{{selector}}}"))
    return out


@pytest.fixture
def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail("prometheus not found: install Debian's package (apt-get install -y prometheus)")
    return path


def test_every_dashboard_and_recording_rule_query_returns_data(
    kafka_bootstrap: str, prometheus_binary: str, tmp_path: Path
) -> None:
    tag = f"live-{uuid.uuid4().hex[:8]}"
    topics = {
        "STREAM_GUARD_INPUT_TOPIC": f"{tag}.requests",
        "STREAM_GUARD_ALERTS_TOPIC": f"{tag}.alerts",
        "STREAM_GUARD_DLQ_TOPIC": f"{tag}.requests.dlq",
    }
    worker_port, prom_port = free_port(), free_port()
    worker_log, prom_log = tmp_path / "worker.log", tmp_path / "prometheus.log"
    worker_env = {
        **os.environ,
        **topics,
        "STREAM_GUARD_BROKER": kafka_bootstrap,
        "STREAM_GUARD_APP_ID": tag,
        "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS),
        "STREAM_GUARD_METRICS_HOST": "127.0.0.1",
        "STREAM_GUARD_METRICS_PORT": str(worker_port),
        "STREAM_GUARD_DATA_DIR": str(tmp_path / "worker-data"),
        "STREAM_GUARD_CHECKPOINT_INTERVAL_S": "1",
        # the extractor's five-minute burst of 300 requests counts as volume on its own here
        "STREAM_GUARD_RULE_DAY_REQUESTS": "200",
        "STREAM_GUARD_IDLE_GRACE_S": "5",  # real-time traffic: finalise seconds, not minutes, after a boundary
    }
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_FILE)],
        "scrape_configs": [{"job_name": SCRAPE_JOB, "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))

    worker = prometheus = None
    try:
        with worker_log.open("wb") as log:
            worker = subprocess.Popen([sys.executable, "-m", "stream_guard", "worker"], env=worker_env,
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: http_get(f"http://127.0.0.1:{worker_port}/readyz")[0] == 200, 90,
                   "the worker to be ready", worker, worker_log)
        assert http_get(f"http://127.0.0.1:{worker_port}/healthz")[0] == 200

        with prom_log.open("wb") as log:
            prometheus = subprocess.Popen(
                [prometheus_binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path)
        wait_until(lambda: http_get(f"http://127.0.0.1:{prom_port}/-/ready")[0] == 200, 30,
                   "Prometheus to be ready", prometheus, prom_log)
        # targets appear after service discovery's first update (up to 5 s): wait for the
        # first scrape, so that Prometheus sees the counters rise from zero
        wait_until(lambda: query(prom_port, f'up{{job="{SCRAPE_JOB}"}} == 1'), 30,
                   "the first scrape of the worker", prometheus, prom_log)

        messages, n_events = traffic(time.time())
        produce(kafka_bootstrap, topics["STREAM_GUARD_INPUT_TOPIC"], messages)
        wait_until(lambda: total(scrape(worker_port), "stream_guard_events_total") >= n_events, 60,
                   f"{n_events} events accounted for", worker, worker_log)
        wait_until(lambda: total(scrape(worker_port), "stream_guard_alerts_total") > 0, 60,
                   "an alert on the extraction account", worker, worker_log)

        queries = all_queries()
        empty: list[str] = []
        deadline = time.monotonic() + QUERY_DEADLINE_S
        while True:
            empty = [f"{where}: {expr}" for where, expr in queries if not query(prom_port, expr)]
            if not empty or time.monotonic() > deadline:
                break
            time.sleep(2.0)
        assert not empty, "queries without data:\n" + "\n".join(empty) + f"\n--- worker log\n{tail(worker_log)}"

        # and the data says what happened
        def value(expr: str) -> float:
            return sum(float(r["value"][1]) for r in query(prom_port, expr))

        assert value(f'sum(up{{job="{SCRAPE_JOB}"}})') == 1
        assert value('sum(increase(stream_guard_events_total{outcome="processed"}[1h]))') > 0
        assert value('sum(stream_guard_dead_letters_total{reason="invalid_json"})') == 2
        assert value('sum(stream_guard_dead_letters_total{reason="schema_violation"})') == 1
        # the worker counted the alert; Prometheus sees it from its next scrape on
        wait_until(lambda: value("sum(stream_guard_alerts_total)") > 0, 15, "the alert in Prometheus",
                   prometheus, prom_log)
        assert value("sum(stream_guard_checkpoint_states_total)") > 0
        assert value("sum(stream_guard_assigned_partitions)") == PARTITIONS

        # every rule loaded and evaluated without error; none pending or firing on a healthy worker
        def rules_api() -> list[dict[str, Any]]:
            status, body = http_get(f"http://127.0.0.1:{prom_port}/api/v1/rules")
            assert status == 200
            return [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]

        def evaluated() -> list[dict[str, Any]] | None:
            loaded = rules_api()
            return loaded if loaded and all(r["health"] != "unknown" for r in loaded) else None

        loaded = wait_until(evaluated, 30, "every rule evaluated once", prometheus, prom_log)
        assert len(loaded) == len(rules())
        assert [(r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"] == []
        assert [(r["name"], r["state"]) for r in loaded if r["type"] == "alerting" and r["state"] != "inactive"] == []
    finally:
        stop(prometheus)
        stop(worker)
