"""Shared plumbing of the load-test-harness benchmarks (``detection.py``, ``harness_throughput.py``).

Child processes (``python -m stream_guard ...``, workers) run in their own process group
and are tracked, so ``terminate_all()`` in a ``finally`` stops every one of them (and only
them). A broker is a real Apache Kafka started with ``scripts/kafka_local.py`` in a temp
dir (or an existing one given with ``--bootstrap``). Children get a clean environment:
every ``STREAM_GUARD_*`` variable of the caller is dropped, so results use the documented
defaults plus only what the benchmark sets itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
KAFKA_LOCAL = REPO / "scripts" / "kafka_local.py"
PY = sys.executable

_T0 = time.monotonic()


def log(msg: str) -> None:
    """Progress on stderr (stdout is for tables)."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without STREAM_GUARD_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_GUARD_")}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def sg(*args: str) -> list[str]:
    """Command line of ``stream-guard ARGS`` (this interpreter, this checkout)."""
    return [PY, "-m", "stream_guard", *args]


# --------------------------------------------------------------------------- processes

_LIVE: dict[int, subprocess.Popen[bytes]] = {}


def spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group, output appended to ``log_path``; tracked."""
    with log_path.open("ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env if env is not None else clean_env(), start_new_session=True,
                                cwd=REPO)
    _LIVE[proc.pid] = proc
    return proc


def terminate(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int | None:
    """SIGTERM the child's process group, SIGKILL after ``timeout``; returns its exit code."""
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        return proc.returncode
    finally:
        _LIVE.pop(proc.pid, None)


def terminate_all() -> None:
    """Stop every child still running (for ``finally`` blocks)."""
    for proc in list(_LIVE.values()):
        try:
            terminate(proc, timeout=15.0)
        except Exception as exc:  # noqa: BLE001 - best effort in cleanup
            log(f"could not stop pid {proc.pid}: {exc!r}")


def run(cmd: list[str], log_path: Path, timeout: float, env: dict[str, str] | None = None) -> float:
    """Run ``cmd`` to completion (bounded by ``timeout``); returns its wall time in seconds.

    Raises RuntimeError (with the log's tail) on a non-zero exit or a timeout.
    """
    t0 = time.monotonic()
    proc = spawn(cmd, log_path, env)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        terminate(proc, 10.0)
        raise RuntimeError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}\n{tail(log_path)}") from None
    _LIVE.pop(proc.pid, None)
    if rc != 0:
        raise RuntimeError(f"exit {rc}: {' '.join(cmd)}\n{tail(log_path)}")
    return time.monotonic() - t0


def tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a process (VmRSS in /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# --------------------------------------------------------------------------- broker

def _kafka_local() -> Any:
    spec = importlib.util.spec_from_file_location("kafka_local", KAFKA_LOCAL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_KL: Any = None


def kafka_local() -> Any:
    """The ``scripts/kafka_local.py`` module (start/stop/status), loaded once, as tests/conftest.py does."""
    global _KL
    if _KL is None:
        _KL = _kafka_local()
    return _KL


@contextlib.contextmanager
def broker(bootstrap: str | None, data_dir: Path) -> Iterator[str]:
    """An existing broker (``bootstrap``) or a fresh real Kafka in ``data_dir``, stopped after."""
    if bootstrap:
        yield bootstrap
        return
    kl = _kafka_local()
    log(f"starting a real Kafka broker in {data_dir}")
    t0 = time.monotonic()
    try:
        address = kl.start(data_dir)
        log(f"broker up at {address} in {time.monotonic() - t0:.1f}s")
        yield address
    finally:
        log("stopping the broker")
        try:
            kl.stop(data_dir)
        except Exception as exc:  # noqa: BLE001 - cleanup
            log(f"broker stop failed: {exc!r}")


def broker_pid(data_dir: Path) -> int | None:
    """The broker's pid from ``kafka.pid`` (``PID [START_TIME]``)."""
    try:
        return int((data_dir / "kafka.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def unique_names(prefix: str) -> dict[str, str]:
    """Settings env for a fresh app id and fresh topics."""
    tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return {
        "STREAM_GUARD_APP_ID": tag,
        "STREAM_GUARD_INPUT_TOPIC": f"{tag}.requests",
        "STREAM_GUARD_ALERTS_TOPIC": f"{tag}.alerts",
        "STREAM_GUARD_DLQ_TOPIC": f"{tag}.requests.dlq",
    }


async def _create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    finally:
        await admin.close()


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    asyncio.run(asyncio.wait_for(_create_topics(bootstrap, names, partitions), 60))


async def _consume(bootstrap: str, topic: str, idle_s: float, timeout: float) -> list[Any]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    records: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = loop.time()
        while loop.time() < deadline and loop.time() - last < idle_s:
            batch = await consumer.getmany(timeout_ms=300, max_records=5000)
            for recs in batch.values():
                records += recs
                last = loop.time()
    finally:
        await consumer.stop()
    return records


def consume_all(bootstrap: str, topic: str, idle_s: float = 4.0, timeout: float = 120.0) -> list[Any]:
    """Every record of ``topic`` from the beginning, until nothing new came for ``idle_s``."""
    return asyncio.run(_consume(bootstrap, topic, idle_s, timeout))


# --------------------------------------------------------------------------- worker

class Worker:
    """A real ``python -m stream_guard worker`` with its own metrics port and data dir."""

    def __init__(self, bootstrap: str, env: dict[str, str], data_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.env = clean_env({
            "STREAM_GUARD_BROKER": bootstrap,
            "STREAM_GUARD_METRICS_PORT": str(self.port),
            "STREAM_GUARD_METRICS_HOST": "127.0.0.1",
            "STREAM_GUARD_DATA_DIR": str(data_dir),
            **env,
        })
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 120.0) -> Worker:
        self.proc = spawn(sg("worker"), self.log_path, self.env)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{tail(self.log_path)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"worker not ready in {ready_timeout} s:\n{tail(self.log_path)}")

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Current samples as {(name, sorted labels): value}."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.proc.pid) if self.proc else None

    def status(self, path: str, timeout: float = 3.0) -> int | None:
        """HTTP status of ``path`` on the metrics port (``None``: no answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return None

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc is None:
            return None
        return terminate(self.proc, timeout)


def metric(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def metric_sum(samples: dict[Any, float], name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def events_accounted(samples: dict[Any, float]) -> float:
    """Events the worker has dealt with, whatever the outcome."""
    return metric_sum(samples, "stream_guard_events_total")


# --------------------------------------------------------------------------- files & machine

def last_event_ts(path: Path) -> float:
    """Event time (epoch s) of the last line of an event-time ordered loadgen JSONL file."""
    from stream_guard.loadgen.timeutil import parse_iso

    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 65536))
        line = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    ts = json.loads(line)["ts"]
    return float(ts) if isinstance(ts, int | float) else parse_iso(ts)


def count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            n += block.count(b"\n")
    return n


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30,
                              check=False).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "stream_guard"))}


def machine_info() -> dict[str, Any]:
    from importlib import metadata

    versions = {}
    for pkg in ("stream-guard", "faust-streaming", "aiokafka", "orjson", "river", "matplotlib"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "git": git_info(),
        "loadavg_at_start": loadavg(),
    }


def write_json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def md_table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    sep = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def duration(s: float | None) -> str:
    """Readable event-time duration (as the scorer prints them)."""
    if s is None:
        return "-"
    s = max(s, 0.0)
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s // 60:.0f}m {s % 60:02.0f}s"
    if s < 86400:
        return f"{s // 3600:.0f}h {(s % 3600) // 60:02.0f}m"
    return f"{s // 86400:.0f}d {(s % 86400) // 3600:02.0f}h"
