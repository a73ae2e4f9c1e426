"""The bench toolkit: broker, worker processes and metrics polling, for every benchmark in
``bench/`` and for the integration tests (``tests/conftest.py`` puts ``bench/`` on the path).

* **Processes.** Children (``python -m stream_guard ...``, workers, the benchmark's own
  helper scripts) run in their own process group and are tracked, so ``terminate_all()`` in
  a ``finally`` stops every one of them (and only them). Children get a clean environment
  (:func:`clean_env`): every ``STREAM_GUARD_*`` variable of the caller is dropped, so results
  use the documented defaults plus only what the benchmark or test sets itself.
* **Broker.** A real Apache Kafka started with ``scripts/kafka_local.py`` (:func:`kafka_local`,
  :func:`broker`) or an existing one; topics are created, produced to, read back and deleted
  with aiokafka (:func:`create_topics`, :func:`produce`, :func:`consume_all`, ...).
* **Workers.** :class:`WorkerProcess` is a real ``stream-guard worker`` with its own metrics
  port and data dir; :meth:`WorkerProcess.metrics` parses ``/metrics`` into
  ``{(name, labels): value}``, read with :func:`metric` / :func:`metric_sum`.
* **Machine.** CPU seconds and RSS of a process, the machine's busy time, waiting until the
  shared machine is quiet, and machine/version/git info for result files.

Only the standard library is imported at module level (aiokafka, prometheus_client and
stream_guard are imported where used), so the reference cases ``ceiling.py`` and
``bare_faust.py`` can use it without loading stream_guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
KAFKA_LOCAL = REPO / "scripts" / "kafka_local.py"
PY = sys.executable

_T0 = time.monotonic()
_SCRIPT = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c") else "bench"


def log(msg: str) -> None:
    """Progress on stderr (stdout is for tables), with the script's name and its seconds since start."""
    print(f"[{_SCRIPT} {time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def clean_env(extra: dict[str, str] | None = None, code_dir: Path = REPO) -> dict[str, str]:
    """The caller's environment without STREAM_GUARD_* settings, ``code_dir`` first on
    PYTHONPATH (the stream_guard the children import), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_GUARD_")}
    env["PYTHONPATH"] = str(code_dir) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def sg(*args: str) -> list[str]:
    """Command line of ``stream-guard ARGS`` (this interpreter, this checkout)."""
    return [PY, "-m", "stream_guard", *args]


# --------------------------------------------------------------------------- processes

_LIVE: dict[int, subprocess.Popen[bytes]] = {}


def _address_space_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
          memory_limit_bytes: int | None = None, stderr_pipe: bool = False) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group, output appended to ``log_path``; tracked.

    ``cwd`` defaults to the repo (``python -m stream_guard`` imports the package from the
    current directory first: pass the code dir to run another checkout). ``memory_limit_bytes``:
    an address-space limit (RLIMIT_AS), so that a runaway allocation fails inside the child
    instead of exhausting the shared machine. ``stderr_pipe``: the child's stderr is a pipe
    (``proc.stderr``) for the caller to read; only its stdout goes to the log.
    """
    with log_path.open("ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE if stderr_pipe else subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                env=env if env is not None else clean_env(), start_new_session=True,
                                cwd=cwd or REPO,
                                preexec_fn=_address_space_limit(memory_limit_bytes) if memory_limit_bytes else None)
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


def terminate_all(timeout: float = 15.0) -> None:
    """Stop every child still running (for ``finally`` blocks)."""
    for proc in list(_LIVE.values()):
        try:
            terminate(proc, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - best effort in cleanup
            log(f"could not stop pid {proc.pid}: {exc!r}")


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # runs the finally blocks: children and broker stopped


def main_entry(main: Callable[[], int]) -> None:
    """Run a benchmark's ``main()`` as a script: SIGTERM and Ctrl-C run its ``finally`` blocks,
    every tracked child is stopped, and the exit status is ``main``'s (130 after Ctrl-C)."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    finally:
        terminate_all()
    raise SystemExit(code)


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


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something true (returned); TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_steady(read: Callable[[], Any], steady_s: float, timeout: float, interval: float = 1.0,
                what: str = "a steady value") -> Any:
    """Poll ``read`` until its value has not changed for ``steady_s``; returns that value.
    TimeoutError when it still changes after ``timeout``."""
    deadline = time.monotonic() + timeout
    value = read()
    since = time.monotonic()
    while time.monotonic() - since < steady_s:
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
        now_value = read()
        if now_value != value:
            value, since = now_value, time.monotonic()
    return value


# --------------------------------------------------------------------------- machine

def cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process (all its threads), from /proc; None without a pid."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def rss_bytes(pid: int, peak: bool = False) -> int | None:
    """Resident set size of a process (VmRSS in /proc/PID/status; ``peak``: its high-water mark VmHWM)."""
    field = "VmHWM:" if peak else "VmRSS:"
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_busy_s() -> float | None:
    """CPU-seconds all cores spent busy since boot (Linux /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait
    except (OSError, ValueError, IndexError):
        return None


def load_report(seconds: float, own_cpu: float, m0: float | None, m1: float | None,
                b0: float | None, b1: float | None) -> dict[str, float | None]:
    """Machine and broker CPU over a timed span, in cores, and what others used meanwhile
    (``m0``/``m1``: :func:`machine_busy_s`, ``b0``/``b1``: the broker's :func:`cpu_seconds`)."""
    machine = (m1 - m0) / seconds if m0 is not None and m1 is not None and seconds > 0 else None
    broker = (b1 - b0) / seconds if b0 is not None and b1 is not None and seconds > 0 else None
    other = machine - own_cpu / seconds - (broker or 0.0) if machine is not None and seconds > 0 else None
    return {"machine_busy_cores": machine, "broker_cpu_share": broker, "other_load_cores": other}


def wait_quiet(max_wait: float, threshold: float, exclude_pid: int | None) -> dict[str, Any]:
    """Wait (up to ``max_wait`` s) until other processes use < ``threshold`` cores.

    The machine may be shared: other work on it skews a run. Measured over 1-s windows,
    minus the CPU of ``exclude_pid`` (our broker, idle between cases).
    """
    t0 = time.monotonic()
    busy = None
    while True:
        m0, b0 = machine_busy_s(), cpu_seconds(exclude_pid) if exclude_pid else 0.0
        time.sleep(1.0)
        m1, b1 = machine_busy_s(), cpu_seconds(exclude_pid) if exclude_pid else 0.0
        if m0 is None or m1 is None:
            return {"waited_s": 0.0, "other_load_cores": None}
        busy = (m1 - m0) - ((b1 or 0.0) - (b0 or 0.0))
        waited = time.monotonic() - t0
        if busy < threshold or waited >= max_wait:
            if busy >= threshold:
                log(f"machine still busy ({busy:.2f} cores used by others) after {waited:.0f}s: going on")
            elif waited > 1.5:
                log(f"machine quiet after {waited:.0f}s")
            return {"waited_s": round(waited, 1), "other_load_cores_before": round(busy, 2)}
        if waited < 1.5:
            log(f"machine busy ({busy:.2f} cores used by others): waiting up to {max_wait:.0f}s for quiet")


# --------------------------------------------------------------------------- broker

_KL: Any = None


def kafka_local() -> Any:
    """The ``scripts/kafka_local.py`` module (start/stop/status/endpoints), loaded once."""
    global _KL
    if _KL is None:
        spec = importlib.util.spec_from_file_location("kafka_local", KAFKA_LOCAL)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _KL = module
    return _KL


@contextlib.contextmanager
def broker(bootstrap: str | None, data_dir: Path, timeout: float = 120.0) -> Iterator[str]:
    """An existing broker (``bootstrap``) or a fresh real Kafka in ``data_dir``, stopped after."""
    if bootstrap:
        yield bootstrap
        return
    kl = kafka_local()
    log(f"starting a real Kafka broker in {data_dir}")
    t0 = time.monotonic()
    try:
        address = kl.start(data_dir, timeout=timeout)
        log(f"broker up at {address} (pid {broker_pid(data_dir)}) in {time.monotonic() - t0:.1f}s")
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
        "STREAM_GUARD_VERDICTS_TOPIC": f"{tag}.verdicts",
    }


async def _admin(bootstrap: str, call: Callable[[Any], Any]) -> Any:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await call(admin)
    finally:
        await admin.close()


def create_topics(bootstrap: str, names: list[str], partitions: int = 4) -> None:
    from aiokafka.admin import NewTopic

    new = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
    asyncio.run(asyncio.wait_for(_admin(bootstrap, lambda admin: admin.create_topics(new)), 60))


def delete_topics(bootstrap: str, prefix: str) -> int:
    """Delete every topic whose name starts with ``prefix``; returns how many."""

    async def call(admin: Any) -> int:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
        return len(names)

    return int(asyncio.run(asyncio.wait_for(_admin(bootstrap, call), 60)))


Message = tuple[bytes | None, bytes | None] | tuple[int, bytes | None, bytes | None]


async def _produce(bootstrap: str, topic: str, messages: Sequence[Message], max_request_size: int,
                   **options: Any) -> list[Any]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=max_request_size, **options)
    await producer.start()
    try:
        futures = []
        for m in messages:
            if len(m) == 3:
                part, key, value = m
                futures.append(await producer.send(topic, key=key, value=value, partition=part))
            else:
                key, value = m
                futures.append(await producer.send(topic, key=key, value=value))
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, messages: Sequence[Message], timeout: float = 120.0) -> None:
    """Send ``(key, value)`` (the partitioner picks) or ``(partition, key, value)`` messages."""
    asyncio.run(asyncio.wait_for(_produce(bootstrap, topic, messages, 8_000_000, linger_ms=5), timeout))


def produce_located(bootstrap: str, topic: str, messages: Sequence[Message], max_request_size: int = 8_000_000,
                    timeout: float = 300.0) -> list[tuple[int, int]]:
    """Send messages as :func:`produce` does (``None`` value: a tombstone), batched in large
    requests; returns the (partition, offset) each one was written to, in order."""
    metadata = asyncio.run(asyncio.wait_for(
        _produce(bootstrap, topic, messages, max_request_size, linger_ms=20, max_batch_size=1 << 20, acks=1),
        timeout))
    return [(m.partition, m.offset) for m in metadata]


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

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class WorkerProcess:
    """A real ``python -m stream_guard worker`` with its own metrics port and data dir.

    Settings: a clean environment (:func:`clean_env`) plus the broker, metrics port, data dir
    and ``env``. ``code_dir``: the checkout whose stream_guard runs (default this repo).
    ``memory_limit_bytes``: an address-space limit for the worker (see :func:`spawn`).
    """

    def __init__(self, bootstrap: str, env: dict[str, str], data_dir: Path, log_path: Path,
                 memory_limit_bytes: int | None = None, code_dir: Path = REPO) -> None:
        self.port = free_port()
        self.env = clean_env({
            "STREAM_GUARD_BROKER": bootstrap,
            "STREAM_GUARD_METRICS_PORT": str(self.port),
            "STREAM_GUARD_METRICS_HOST": "127.0.0.1",
            "STREAM_GUARD_DATA_DIR": str(data_dir),
            **env,
        }, code_dir)
        self.log_path = log_path
        self.code_dir = code_dir
        self.memory_limit_bytes = memory_limit_bytes
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> WorkerProcess:
        """Start the process without waiting for it to be ready."""
        self.proc = spawn(sg("worker"), self.log_path, self.env, cwd=self.code_dir,
                          memory_limit_bytes=self.memory_limit_bytes)
        return self

    def start(self, ready_timeout: float = 120.0) -> WorkerProcess:
        """Start the process and wait until ``/readyz`` answers 200."""
        proc = self.launch().proc
        assert proc is not None
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}:\n{self.log_tail()}")
            if self.status("/readyz", timeout=2) == 200:
                return self
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"worker not ready in {ready_timeout} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> Samples:
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

    def status(self, path: str, timeout: float = 5.0) -> int | None:
        """HTTP status of ``path`` on the metrics port (``None``: no answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return None

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (SIGKILL after ``timeout``); the exit code (also when it had exited already)."""
        if self.proc is None:
            return None
        return terminate(self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL the worker's process group (a crash) and reap it."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        _LIVE.pop(self.proc.pid, None)

    def log_tail(self, n: int = 60) -> str:
        return tail(self.log_path, n)


def next_poll_s(poll_s: float, poll_max_s: float, first: dict[str, float] | None, last: dict[str, float],
                total: float) -> float:
    """Seconds until the next /metrics sample: ``poll_s`` until the worker has processed its
    first event and when the end is near, at most ``poll_max_s`` in between.

    A scrape is not free for the worker: it measured ~25% fewer one-event messages per
    second when sampled every 0.2 s than every 1 s (the exposition runs beside the event
    loop and contends for the GIL; Prometheus scrapes every 15-30 s). Only the first and the
    last sample set the rate, so the samples in between can be sparse; the next one comes at
    about 80% of the time the observed rate leaves to the end.

    >>> next_poll_s(0.2, 2.0, None, {"t": 1.0, "events": 0.0}, 100.0)
    0.2
    >>> next_poll_s(0.2, 2.0, {"t": 0.0, "events": 1.0}, {"t": 1.0, "events": 11.0}, 100.0)   # 9 s left
    2.0
    >>> next_poll_s(0.2, 2.0, {"t": 0.0, "events": 1.0}, {"t": 9.0, "events": 91.0}, 100.0)   # 0.9 s left
    0.72
    """
    if first is None or last["t"] <= first["t"] or last["events"] <= first["events"]:
        return poll_s
    rate = (last["events"] - first["events"]) / (last["t"] - first["t"])
    left_s = (total - last["events"]) / rate
    return round(min(max(0.8 * left_s, poll_s), poll_max_s), 3)


def metric(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def metric_sum(samples: dict[Any, float], name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def samples_of(samples: dict[Any, float], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of ``name``, by labels."""
    return {labels: v for (n, labels), v in samples.items() if n == name}


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
    """Lines of a file (0 if it cannot be read)."""
    n = 0
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                n += block.count(b"\n")
    except OSError:
        return 0
    return n


def git_info() -> dict[str, Any]:
    """HEAD, whether the measured code (stream_guard/) differs from it, and whether anything does."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30,
                                  check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD") or None,
            "dirty": bool(git("status", "--porcelain", "--", "stream_guard")),
            "tree_dirty": bool(git("status", "--porcelain"))}


VERSIONED = ("stream-guard", "faust-streaming", "mode-streaming", "aiokafka", "orjson", "fastjsonschema",
             "datasketches", "prometheus-client", "river", "matplotlib")


def machine_info(kafka_version: str | None = None) -> dict[str, Any]:
    """Date, CPUs, memory, platform, Python and package versions, the Kafka version (when the
    benchmark started the broker), git state and the load average."""
    from importlib import metadata

    versions = {}
    for pkg in VERSIONED:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    model = mem_total = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": mem_total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "kafka": kafka_version,
        "git": git_info(),
        "loadavg_at_start": loadavg(),
    }


def write_json(path: Path, doc: Any) -> None:
    """Write ``doc`` as indented JSON, atomically (a temp file renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


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
