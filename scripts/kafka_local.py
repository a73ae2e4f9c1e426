#!/usr/bin/env python3
"""Run a real single-node Apache Kafka 4.x broker (KRaft) on loopback, for tests.

No Docker and no Kafka download site: the broker jars are resolved from Maven
Central with the small Maven project in ``scripts/kafka/pom.xml`` and started
with plain ``java -cp 'libs/*' kafka.Kafka server.properties``. Needs Java 17+
and Maven 3 on PATH (or JAVA_HOME). Standard library only.

By hand::

    scripts/kafka_local.py fetch                          # resolve jars once (cached)
    scripts/kafka_local.py start --data-dir /tmp/k1       # prints 127.0.0.1:PORT last
    scripts/kafka_local.py status --data-dir /tmp/k1
    scripts/kafka_local.py stop --data-dir /tmp/k1        # idempotent
    scripts/kafka_local.py start --data-dir /tmp/k1       # restart: same data, same port
    rm -rf /tmp/k1                                        # throw the broker away

    export KAFKA_BOOTSTRAP=$(scripts/kafka_local.py start --data-dir /tmp/k1 | tail -n1)

Layout of a data dir: ``server.properties``, ``log4j2.properties``,
``kraft-logs/`` (the topic data and the KRaft metadata log), ``logs/server.log``
(the broker log), ``logs/kafka.out`` (the JVM's own stdout/stderr),
``kafka.pid``, ``bootstrap`` (``127.0.0.1:PORT``) and ``controller_port``.
A data dir that is already formatted is not formatted again, and ``start``
reuses the ports recorded in it, so a broker can be stopped and started again
(e.g. to test a worker's reconnect) under the same address.

From Python (scripts/ is not a package, load the file by path)::

    spec = importlib.util.spec_from_file_location("kafka_local", path)
    kafka_local = importlib.util.module_from_spec(spec); spec.loader.exec_module(kafka_local)
    bootstrap = kafka_local.start(data_dir)          # fetches first if needed
    ...
    kafka_local.stop(data_dir)

Environment:

* ``STREAM_GUARD_KAFKA_CACHE``  base of the jar cache (default
  ``~/.cache/stream-guard``); jars go to ``<base>/kafka-<version>/libs``.
* ``STREAM_GUARD_KAFKA_VERSION`` Kafka version to resolve (default below).
* ``JAVA_HOME`` picks the ``java`` to run; ``STREAM_GUARD_MAVEN_ARGS`` extra
  Maven arguments (e.g. ``-o`` to stay offline, ``-Dmaven.repo.local=...``).
* ``STREAM_GUARD_KAFKA_HEAP`` JVM heap options (default ``-Xms256m -Xmx512m``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

DEFAULT_KAFKA_VERSION = "4.1.2"
KAFKA_VERSION = os.environ.get("STREAM_GUARD_KAFKA_VERSION", DEFAULT_KAFKA_VERSION)
POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
HOST = "127.0.0.1"
NODE_ID = 1
READY_LINE = "Kafka Server started"
MARKER = ".fetched"

# Popen objects of brokers started by this process, so that stop() can reap
# them (otherwise a stopped child lingers as a zombie and looks alive).
_CHILDREN: dict[int, subprocess.Popen] = {}


class KafkaLocalError(RuntimeError):
    """Fetching, starting or stopping the local broker failed."""


def _log(msg: str) -> None:
    # Progress goes to stderr: stdout of `start` ends with the bootstrap address.
    print(f"[kafka_local] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- fetch


def cache_dir(version: str = KAFKA_VERSION) -> Path:
    """Directory holding ``libs/`` for one Kafka version."""
    base = os.environ.get("STREAM_GUARD_KAFKA_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "stream-guard"
    return root / f"kafka-{version}"


def libs_dir(version: str = KAFKA_VERSION) -> Path:
    return cache_dir(version) / "libs"


def _marker_text(version: str) -> str:
    pom_hash = hashlib.sha256(POM.read_bytes()).hexdigest()
    return f"kafka={version}\npom-sha256={pom_hash}\n"


def _is_fetched(version: str) -> bool:
    libs = libs_dir(version)
    marker = libs / MARKER
    try:
        if marker.read_text() != _marker_text(version):
            return False
    except OSError:
        return False
    return (libs / f"kafka_2.13-{version}.jar").is_file()


def fetch(version: str = KAFKA_VERSION, force: bool = False) -> Path:
    """Resolve the broker jars with Maven into the cache; return the libs dir.

    Does nothing when a previous fetch of the same version and pom completed
    (marker file ``libs/.fetched``). Safe to call from several processes at
    once (file lock).
    """
    libs = libs_dir(version)
    if not force and _is_fetched(version):
        _log(f"Kafka {version} jars already in {libs}")
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise KafkaLocalError("`mvn` not found on PATH: Maven 3 is needed to fetch the Kafka jars")
    root = cache_dir(version)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _is_fetched(version):  # another process did it meanwhile
            _log(f"Kafka {version} jars already in {libs}")
            return libs
        tmp = root / "libs.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn, "-B", "-ntp", "-f", str(POM),
            f"-Dkafka.version={version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ]
        cmd[1:1] = os.environ.get("STREAM_GUARD_MAVEN_ARGS", "").split()
        mvn_log = root / "mvn.log"
        _log(f"resolving Kafka {version} from Maven Central (log: {mvn_log}) ...")
        t0 = time.monotonic()
        with open(mvn_log, "w") as out:
            rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, cwd=POM.parent)
        if rc != 0 or not (tmp / f"kafka_2.13-{version}.jar").is_file():
            raise KafkaLocalError(
                f"Maven could not resolve Kafka {version} (exit {rc}); "
                f"last lines of {mvn_log}:\n{_tail(mvn_log, 40)}")
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        (libs / MARKER).write_text(_marker_text(version))
        jars = list(libs.glob("*.jar"))
        size = sum(j.stat().st_size for j in jars) / 1e6
        _log(f"fetched {len(jars)} jars ({size:.0f} MB) into {libs} "
             f"in {time.monotonic() - t0:.1f}s")
    return libs


# --------------------------------------------------------------------------- helpers


def _tail(path: Path, lines: int = 30, since: int = 0) -> str:
    """Last lines of a file, only from byte offset ``since`` on."""
    try:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            if end < since:  # rolled over meanwhile
                since = 0
            f.seek(max(since, end - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return f"(no {path})"
    return "\n".join(data.splitlines()[-lines:]) or "(nothing new)"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise KafkaLocalError("`java` not found (Kafka 4 brokers need Java 17+)")
    return java


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # The JVM binds with SO_REUSEADDR too, so TIME_WAIT leftovers of a
        # previous run of this broker do not count as "taken".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _random_cluster_id() -> str:
    # Same shape as Kafka's Uuid.randomUuid().toString(): 22 chars base64url,
    # never starting with '-' (it would look like a command-line flag).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_bootstrap_port(data_dir: Path) -> int | None:
    try:
        text = (data_dir / "bootstrap").read_text().strip()
        return int(text.rsplit(":", 1)[1])
    except (OSError, ValueError, IndexError):
        return None


def _is_our_broker(pid: int, data_dir: Path) -> bool:
    """True if pid is alive and is the broker of this data dir (not a reused pid)."""
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    props = str(data_dir / "server.properties").encode()
    return b"kafka.Kafka" in cmdline and props in cmdline


def _running_pid(data_dir: Path) -> int | None:
    pid = _read_int(data_dir / "kafka.pid")
    if pid and _is_our_broker(pid, data_dir):
        return pid
    return None


def api_versions_probe(host: str, port: int, timeout: float = 2.0) -> dict[int, tuple[int, int]]:
    """One Kafka ApiVersions (v0) round trip; returns {api_key: (min, max)}.

    Raises OSError/ValueError if the broker does not answer properly.
    """
    corr = 0x5347  # 'SG'
    client_id = b"kafka_local"
    body = struct.pack(">hhih", 18, 0, corr, len(client_id)) + client_id
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(body)) + body)

        def recv_exact(n: int) -> bytes:
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise ValueError("connection closed by broker")
                buf += chunk
            return buf

        (size,) = struct.unpack(">i", recv_exact(4))
        data = recv_exact(size)
    got_corr, error, count = struct.unpack(">ihi", data[:10])
    if got_corr != corr:
        raise ValueError(f"bad correlation id {got_corr}")
    if error not in (0, 35):  # 35 = UNSUPPORTED_VERSION still lists the versions
        raise ValueError(f"ApiVersions error code {error}")
    apis = {}
    for i in range(count):
        key, lo, hi = struct.unpack(">hhh", data[10 + 6 * i: 16 + 6 * i])
        apis[key] = (lo, hi)
    return apis


# --------------------------------------------------------------------------- config


def _server_properties(data_dir: Path, port: int, cport: int) -> str:
    logs = data_dir / "kraft-logs"
    return f"""\
# Written by scripts/kafka_local.py -- single-node KRaft broker+controller for tests.
process.roles=broker,controller
node.id={NODE_ID}
controller.quorum.voters={NODE_ID}@{HOST}:{cport}
listeners=PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{cport}
advertised.listeners=PLAINTEXT://{HOST}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={logs}
metadata.log.dir={logs}

num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true

offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=60000
"""


def _log4j2_properties(data_dir: Path) -> str:
    logs = data_dir / "logs"
    return f"""\
# Written by scripts/kafka_local.py: everything to logs/server.log, nothing to stdout.
status = warn
name = stream-guard-kafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = {logs}/server.log
appender.file.filePattern = {logs}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
"""


def _format_storage(data_dir: Path, java: str, classpath: str) -> None:
    cid = _random_cluster_id()
    cmd = [java, "-Xmx256m", f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
           "-cp", classpath, "kafka.tools.StorageTool", "format",
           "-t", cid, "-c", str(data_dir / "server.properties")]
    _log(f"formatting storage (cluster id {cid}) ...")
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if res.returncode != 0:
        raise KafkaLocalError(f"StorageTool format failed (exit {res.returncode}):\n"
                              f"{res.stdout}\n{res.stderr}")
    (data_dir / "cluster.id").write_text(cid + "\n")


# --------------------------------------------------------------------------- start/stop


def _pdeathsig_preexec():
    """A preexec_fn that makes the child get SIGTERM when its parent dies."""
    import ctypes
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # look up before fork
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(data_dir: str | os.PathLike, port: int | None = None, timeout: float = 120,
          version: str = KAFKA_VERSION, die_with_parent: bool = False) -> str:
    """Start (or restart) the broker of ``data_dir``; return ``"127.0.0.1:PORT"``.

    Fetches the jars first if needed. Reuses the ports recorded in ``data_dir``
    unless ``port`` is given; formats the storage only once. Returns as soon as
    the broker logged "Kafka Server started" and answers an ApiVersions
    request. If the broker of ``data_dir`` already runs, returns its address.
    ``die_with_parent`` makes the broker get SIGTERM when the calling process
    dies (for test fixtures; not for the detached CLI use).
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pid = _running_pid(data_dir)
    if pid:
        bport = _read_bootstrap_port(data_dir)
        if bport and (port is None or port == bport):
            _wait_ready(data_dir, pid, bport, None, timeout)
            _log(f"broker already running (pid {pid})")
            return f"{HOST}:{bport}"
        raise KafkaLocalError(f"a broker (pid {pid}) already runs on {data_dir} "
                              f"with another port; stop it first")

    libs = fetch(version)
    java = _java()

    # Ports: explicit > recorded in the data dir > fresh free ones.
    port = port or _read_bootstrap_port(data_dir)
    cport = _read_int(data_dir / "controller_port")
    if port is None or cport is None or cport == port:
        fresh = [p for p in _free_ports(3) if p != port]
        port = port or fresh[0]
        cport = cport if cport and cport != port else fresh[-1]
    for p, what in ((port, "broker"), (cport, "controller")):
        if not _port_free(p):
            raise KafkaLocalError(f"{what} port {HOST}:{p} is taken by another process")

    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    (data_dir / "server.properties").write_text(_server_properties(data_dir, port, cport))
    (data_dir / "log4j2.properties").write_text(_log4j2_properties(data_dir))
    (data_dir / "controller_port").write_text(f"{cport}\n")
    classpath = str(libs / "*")

    if (data_dir / "kraft-logs" / "meta.properties").is_file():
        _log("storage already formatted, reusing it")
    else:
        _format_storage(data_dir, java, classpath)

    server_log = logs / "server.log"
    offset = server_log.stat().st_size if server_log.exists() else 0
    heap = os.environ.get("STREAM_GUARD_KAFKA_HEAP", "-Xms256m -Xmx512m").split()
    cmd = [java, *heap, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
           "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
           # Kafka logs its own shutdown; log4j must not close itself first.
           "-Dlog4j2.shutdownHookEnabled=false",
           f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
           f"-Dkafka.logs.dir={logs}",
           "-cp", classpath, "kafka.Kafka", str(data_dir / "server.properties")]
    _log(f"starting Kafka {version} on {HOST}:{port} (controller {cport}), logs in {logs}")
    t0 = time.monotonic()
    with open(logs / "kafka.out", "ab") as out:
        proc = subprocess.Popen(cmd, cwd=data_dir, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_pdeathsig_preexec() if die_with_parent else None)
    _CHILDREN[proc.pid] = proc
    (data_dir / "kafka.pid").write_text(f"{proc.pid}\n")
    (data_dir / "bootstrap").write_text(f"{HOST}:{port}\n")
    try:
        _wait_ready(data_dir, proc.pid, port, offset, timeout)
    except BaseException:
        stop(data_dir)
        raise
    _log(f"broker ready in {time.monotonic() - t0:.1f}s (pid {proc.pid})")
    return f"{HOST}:{port}"


def _wait_ready(data_dir: Path, pid: int, port: int, log_offset: int | None,
                timeout: float) -> None:
    """Wait for the ready log line (after log_offset; None = skip) and an ApiVersions answer."""
    server_log = data_dir / "logs" / "server.log"
    out_log = data_dir / "logs" / "kafka.out"
    out_offset = out_log.stat().st_size if out_log.exists() else 0
    deadline = time.monotonic() + timeout
    logged = log_offset is None
    since = log_offset or 0
    last_err: Exception | None = None
    while True:
        if not _is_our_broker(pid, data_dir):
            raise KafkaLocalError(
                f"Kafka broker (pid {pid}) exited during startup.\n"
                f"--- tail of {server_log}:\n{_tail(server_log, since=since)}\n"
                f"--- tail of {out_log}:\n{_tail(out_log, 20, since=out_offset)}")
        if not logged:
            try:
                with open(server_log, "rb") as f:
                    if f.seek(0, os.SEEK_END) < log_offset:
                        log_offset = since = 0  # rolled over
                    f.seek(log_offset)
                    logged = READY_LINE.encode() in f.read()
            except OSError:
                pass
        if logged:
            try:
                api_versions_probe(HOST, port)
                return
            except (OSError, ValueError) as e:
                last_err = e
        if time.monotonic() > deadline:
            what = ("no ApiVersions answer: %s" % last_err) if logged else \
                f"no '{READY_LINE}' in the log"
            raise KafkaLocalError(
                f"Kafka broker not ready on {HOST}:{port} after {timeout:.1f}s ({what}).\n"
                f"--- tail of {server_log}:\n{_tail(server_log, since=since)}")
        time.sleep(0.2)


def stop(data_dir: str | os.PathLike, timeout: float = 30) -> bool:
    """Stop the broker of ``data_dir``: SIGTERM its process group, SIGKILL after
    ``timeout`` s. Idempotent; returns True if a broker was running."""
    data_dir = Path(data_dir).resolve()
    pid = _running_pid(data_dir)
    if pid is None:
        with contextlib.suppress(OSError):
            (data_dir / "kafka.pid").unlink()
        return False
    _log(f"stopping broker pid {pid} ...")
    t0 = time.monotonic()
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_our_broker(pid, data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _is_our_broker(pid, data_dir):
        _log(f"broker did not stop in {timeout:.0f}s, sending SIGKILL")
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _is_our_broker(pid, data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    with contextlib.suppress(OSError):
        (data_dir / "kafka.pid").unlink()
    _log(f"stopped in {time.monotonic() - t0:.1f}s")
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        if os.getpgid(pid) == pid:  # started with its own session / process group
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def status(data_dir: str | os.PathLike) -> dict:
    """State of the broker of ``data_dir``: running, pid, bootstrap, responding."""
    data_dir = Path(data_dir).resolve()
    pid = _running_pid(data_dir)
    port = _read_bootstrap_port(data_dir)
    info = {"running": pid is not None, "pid": pid,
            "bootstrap": f"{HOST}:{port}" if port else None, "responding": False,
            "formatted": (data_dir / "kraft-logs" / "meta.properties").is_file()}
    if pid and port:
        with contextlib.suppress(OSError, ValueError):
            info["responding"] = bool(api_versions_probe(HOST, port))
    return info


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kafka_local.py",
        description=f"Run a single-node Apache Kafka {KAFKA_VERSION} broker (KRaft, "
                    f"loopback only) from jars resolved on Maven Central.",
        epilog="example: B=$(scripts/kafka_local.py start --data-dir /tmp/k1 | tail -n1); "
               "...; scripts/kafka_local.py stop --data-dir /tmp/k1. "
               f"Jar cache: {libs_dir()} (env STREAM_GUARD_KAFKA_CACHE).")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("fetch", help="resolve the broker jars into the cache (once)")
    p.add_argument("--force", action="store_true", help="fetch again even if cached")

    p = sub.add_parser("start", help="start the broker (fetch, format once, wait until ready); "
                                     "prints the bootstrap address as the last line")
    p.add_argument("--data-dir", required=True, type=Path,
                   help="directory for config, data, logs, pid (created if missing)")
    p.add_argument("--port", type=int, default=None,
                   help="broker port on 127.0.0.1 (default: the one recorded in the "
                        "data dir, else a free one)")
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds to wait for the broker to be ready (default 120)")

    p = sub.add_parser("stop", help="stop the broker (SIGTERM, SIGKILL after 30 s); idempotent")
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--timeout", type=float, default=30,
                   help="seconds to wait after SIGTERM before SIGKILL (default 30)")

    p = sub.add_parser("status", help="show whether the broker runs and answers "
                                      "(exit 0 running, 3 not running)")
    p.add_argument("--data-dir", required=True, type=Path)

    args = parser.parse_args(argv)
    try:
        if args.cmd == "fetch":
            print(fetch(force=args.force))
        elif args.cmd == "start":
            print(start(args.data_dir, port=args.port, timeout=args.timeout))
        elif args.cmd == "stop":
            if not stop(args.data_dir, timeout=args.timeout):
                print("not running")
        elif args.cmd == "status":
            info = status(args.data_dir)
            for k, v in info.items():
                print(f"{k}: {v}")
            return 0 if info["running"] else 3
    except KafkaLocalError as e:
        print(f"kafka_local: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
