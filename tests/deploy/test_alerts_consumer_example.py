"""examples/alerts_consumer.py against the real Kafka broker: two contract-valid alerts
produced to a fresh topic, the example run as a subprocess with --max-messages 2, its
table checked, and only the high-severity alert POSTed to a webhook on loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EXAMPLE = REPO / "examples" / "alerts_consumer.py"


def make_alert(subject: str, severity: str, score: float) -> dict[str, Any]:
    from stream_guard.contracts import validate_alert

    alert = {
        "alert_id": uuid.uuid4().hex,
        "schema_version": 1,
        "kind": "account",
        "subject": subject,
        "account_ids": [subject],
        "account_count": 1,
        "severity": severity,
        "score": score,
        "detectors": ["volume_rule"],
        "reasons": [
            {"signal": "short_requests", "value": 240.0, "threshold": 120.0, "detail": "requests in the last 300 s"},
            {"signal": "cot_share", "value": 0.97, "threshold": 0.3,
             "detail": "share of requests asking for step-by-step reasoning"},
        ],
        "window_start": "2026-03-01T11:55:00.000Z",
        "window_end": "2026-03-01T12:00:00.000Z",
        "raised_at": "2026-03-01T12:00:00.000Z",
        "emitted_at": "2026-03-01T12:00:01.000Z",
        "evidence": {"requests": 240, "output_tokens": 200000},
    }
    validate_alert(alert)
    return alert


async def _produce(bootstrap: str, topic: str, alerts: list[dict[str, Any]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for alert in alerts:
            await producer.send_and_wait(topic, key=alert["subject"].encode(), value=json.dumps(alert).encode())
    finally:
        await producer.stop()


class Webhook:
    """An HTTP server on loopback that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, self.headers["Content-Type"], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_prints_a_table_and_forwards_high_alerts(kafka_bootstrap: str) -> None:
    topic = f"alerts-example-{uuid.uuid4().hex[:8]}"
    high = make_alert("acct-extractor-7", "high", 0.83)
    low = make_alert("acct-busy-integrator", "low", 0.41)
    asyncio.run(asyncio.wait_for(_produce(kafka_bootstrap, topic, [high, low]), 60))
    webhook = Webhook()
    try:
        result = subprocess.run(
            [sys.executable, str(EXAMPLE), "--bootstrap", kafka_bootstrap, "--topic", topic,
             "--from-beginning", "--max-messages", "2", "--webhook", webhook.url, "--min-severity", "high"],
            check=False, capture_output=True, text=True, timeout=90,
        )
    finally:
        webhook.close()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["RAISED", "(UTC)", "SEVERITY"]
    rows = {line.split()[4]: line.split() for line in lines[1:]}
    assert set(rows) == {"acct-extractor-7", "acct-busy-integrator"}
    assert rows["acct-extractor-7"][:4] == ["2026-03-01T12:00:00Z", "high", "0.83", "account"]
    assert "cot_share=0.97(>=0.3)" in " ".join(rows["acct-extractor-7"])
    assert rows["acct-busy-integrator"][1] == "low"
    assert len(webhook.received) == 1, "only alerts at or above --min-severity are forwarded"
    path, content_type, payload = webhook.received[0]
    assert (path, content_type) == ("/hook", "application/json")
    assert payload["alert"] == high
    assert payload["text"].startswith("[stream-guard] HIGH account alert on acct-extractor-7")


def test_table_row_and_deduplication() -> None:
    spec = importlib.util.spec_from_file_location("alerts_consumer", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    alert = make_alert("acct-1", "critical", 1.0)
    assert module.row(alert).split()[1:3] == ["critical", "1.00"]
    dedup = module.Deduplicator(size=2)
    assert dedup.first_time("a") and dedup.first_time("b") and not dedup.first_time("a")
    assert dedup.first_time("c")  # evicts "b", the least recently seen
    assert not dedup.first_time("a") and dedup.first_time("b")
    assert Path(module.__file__).read_text().startswith("#!/usr/bin/env python3")
