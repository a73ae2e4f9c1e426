"""Running real `stream-guard worker` processes and talking to the real Kafka in tests."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_names(prefix: str) -> dict[str, str]:
    """Settings env for a fresh app id and fresh topics."""
    tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return {
        "STREAM_GUARD_APP_ID": tag,
        "STREAM_GUARD_INPUT_TOPIC": f"{tag}.requests",
        "STREAM_GUARD_ALERTS_TOPIC": f"{tag}.alerts",
        "STREAM_GUARD_DLQ_TOPIC": f"{tag}.requests.dlq",
    }


class WorkerProcess:
    """A `python -m stream_guard worker` subprocess with its own metrics port."""

    def __init__(
        self, bootstrap: str, env: dict[str, str], data_dir: Path, log_path: Path,
        memory_limit_bytes: int | None = None,
    ) -> None:
        """``memory_limit_bytes``: an address-space limit (RLIMIT_AS) for the worker, so that a
        runaway allocation fails inside it instead of exhausting the shared machine."""
        self.port = free_port()
        self.memory_limit_bytes = memory_limit_bytes
        self.env = {
            **os.environ,
            "STREAM_GUARD_BROKER": bootstrap,
            "STREAM_GUARD_METRICS_PORT": str(self.port),
            "STREAM_GUARD_METRICS_HOST": "127.0.0.1",
            "STREAM_GUARD_DATA_DIR": str(data_dir),
            **env,
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 90.0) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream_guard", "worker"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=self._limit_memory if self.memory_limit_bytes else None,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"worker not ready in {ready_timeout} s:\n{self.log_tail()}")

    def _limit_memory(self) -> None:
        limit = int(self.memory_limit_bytes or 0)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self, path: str) -> int | None:
        """HTTP status of ``path`` on the metrics port (``None``: no answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return None

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Current samples as {(name, sorted labels): value}."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def metric(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(predicate: Any, timeout: float, interval: float = 0.5, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


async def _create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    finally:
        await admin.close()


def create_topics(bootstrap: str, names: list[str], partitions: int = 4) -> None:
    asyncio.run(asyncio.wait_for(_create_topics(bootstrap, names, partitions), 60))


async def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8_000_000, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v) for k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    asyncio.run(asyncio.wait_for(_produce(bootstrap, topic, messages), 120))


async def _consume(bootstrap: str, topic: str, idle_s: float, timeout: float) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = loop.time()
        while loop.time() < deadline and loop.time() - last < idle_s:
            batch = await consumer.getmany(timeout_ms=300)
            for recs in batch.values():
                records += recs
                last = loop.time()
    finally:
        await consumer.stop()
    return records


async def _produce_located(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]], max_request_size: int
) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, max_request_size=max_request_size, linger_ms=20,
        max_batch_size=1 << 20, acks=1,
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v) for k, v in records]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metadata]


def produce_located(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]],
    max_request_size: int = 8_000_000, timeout: float = 300.0,
) -> list[tuple[int, int]]:
    """Send ``(key, value)`` records (``None`` value: a tombstone) in order; returns the
    (partition, offset) each one was written to."""
    return asyncio.run(asyncio.wait_for(_produce_located(bootstrap, topic, records, max_request_size), timeout))


def samples_of(samples: dict[Any, float], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of ``name``, by labels."""
    return {labels: v for (n, labels), v in samples.items() if n == name}


def consume_all(bootstrap: str, topic: str, idle_s: float = 3.0, timeout: float = 60.0) -> list[Any]:
    """Every record of ``topic`` (reads until nothing new arrived for ``idle_s``)."""
    return asyncio.run(_consume(bootstrap, topic, idle_s, timeout))
