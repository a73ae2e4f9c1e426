#!/usr/bin/env python3
"""Run a real single-node Apache Kafka 4.x broker (KRaft) on loopback, for tests.

No Docker and no Kafka download site: the broker jars are resolved from Maven
Central with the small Maven project in ``scripts/kafka/pom.xml`` and started
with plain ``java -cp 'libs/*' kafka.Kafka server.properties``. Needs Java 17+
and Maven 3 on PATH (or JAVA_HOME). Standard library only, except that TLS
listeners need the ``cryptography`` package (dev extra) to make their certificates.

By hand::

    scripts/kafka_local.py fetch                          # resolve jars once (cached)
    scripts/kafka_local.py start --data-dir /tmp/k1       # prints 127.0.0.1:PORT last
    scripts/kafka_local.py status --data-dir /tmp/k1
    scripts/kafka_local.py stop --data-dir /tmp/k1        # idempotent
    scripts/kafka_local.py start --data-dir /tmp/k1       # restart: same data, same port
    rm -rf /tmp/k1                                        # throw the broker away

    export KAFKA_BOOTSTRAP=$(scripts/kafka_local.py start --data-dir /tmp/k1 | tail -n1)

    # secured: PLAINTEXT plus SASL_SSL (PLAIN, SCRAM-SHA-256/512) plus SSL with client
    # certificates (mTLS); a CA and certificates are generated in /tmp/k2/tls
    scripts/kafka_local.py start --data-dir /tmp/k2 --sasl-ssl --ssl --user alice:alice-secret
    scripts/kafka_local.py endpoints --data-dir /tmp/k2   # ports, CA, client cert/key (JSON)

Layout of a data dir: ``server.properties``, ``log4j2.properties``,
``kraft-logs/`` (the topic data and the KRaft metadata log), ``logs/server.log``
(the broker log), ``logs/kafka.out`` (the JVM's own stdout/stderr),
``kafka.pid`` (pid and start time of the JVM, written the moment it is spawned:
``stop`` always finds the broker it started, even one still starting), ``bootstrap``
(``127.0.0.1:PORT`` of the first listener), ``listeners.json`` (port per listener),
``controller_port``, and with TLS ``tls/`` (CA, broker key store, client certificate;
keys and passwords readable by the owner only).
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
import datetime
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
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


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of ``pid``; ``None`` if there is no such
    process. The start time is set at fork and survives exec: with the pid it names one
    process for good (a pid reused later has another start time)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _read_pid_file(data_dir: Path) -> tuple[int, int | None] | None:
    """(pid, start time) from ``kafka.pid`` (older files hold the pid only)."""
    try:
        parts = (data_dir / "kafka.pid").read_text().split()
        return int(parts[0]), (int(parts[1]) if len(parts) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None


def _write_pid_file(data_dir: Path, pid: int) -> None:
    stat = _proc_stat(pid)
    tmp = data_dir / "kafka.pid.tmp"
    tmp.write_text(f"{pid} {stat[1]}\n" if stat else f"{pid}\n")
    tmp.replace(data_dir / "kafka.pid")


def _is_our_broker(pid: int, data_dir: Path, start_time: int | None = None) -> bool:
    """True if pid is alive and is the broker of this data dir (not a reused pid).

    A child of this process is judged by its ``Popen`` (alive until reaped); any other pid
    by the start time recorded in the pid file. Only a pid file without a start time falls
    back to the command line, and an empty command line (a process in the middle of
    ``exec``: the kernel shows no arguments until the new image has its stack, which is
    exactly when ``Popen`` returns) counts as "still ours", not as "exited".
    """
    proc = _CHILDREN.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            _CHILDREN.pop(pid, None)
            return False
        return True
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    if start_time is not None:
        return stat[1] == start_time
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if not cmdline:
        return True
    props = str(data_dir / "server.properties").encode()
    args = cmdline.split(b"\0")
    return b"kafka.Kafka" in args and props in args


def _running_pid(data_dir: Path) -> int | None:
    recorded = _read_pid_file(data_dir)
    if recorded and _is_our_broker(recorded[0], data_dir, recorded[1]):
        return recorded[0]
    return None


def api_versions_probe(host: str, port: int, timeout: float = 2.0,
                       ssl_context: ssl.SSLContext | None = None) -> dict[int, tuple[int, int]]:
    """One Kafka ApiVersions (v0) round trip; returns {api_key: (min, max)}.

    With ``ssl_context`` the round trip goes over TLS (an SSL or SASL_SSL listener: Kafka
    answers ApiVersions before any SASL handshake). Raises OSError/ValueError if the broker
    does not answer properly.
    """
    corr = 0x5347  # 'SG'
    client_id = b"kafka_local"
    body = struct.pack(">hhih", 18, 0, corr, len(client_id)) + client_id
    with contextlib.ExitStack() as stack:
        s = stack.enter_context(socket.create_connection((host, port), timeout=timeout))
        if ssl_context is not None:
            s = stack.enter_context(ssl_context.wrap_socket(s, server_hostname=host))
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

#: Client listeners a broker can have, in the order the primary (``bootstrap``) is chosen.
LISTENERS = ("PLAINTEXT", "SASL_SSL", "SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
#: The broker's own user on its SASL_SSL listener (inter-broker traffic without PLAINTEXT).
BROKER_USER = "kafka-local-broker"
TLS_DIR = "tls"


def _jaas_quote(value: str) -> str:
    if any(c in value for c in '"\\;\n'):
        raise KafkaLocalError("SASL user names and passwords must not contain quotes, "
                              "backslashes, semicolons or newlines")
    return f'"{value}"'


def _check_scram_value(value: str) -> str:
    # the --add-scram / --add-config syntax is key=value,key=value inside [...]
    if not value or any(c in value for c in ',[]="\\\n '):
        raise KafkaLocalError("SCRAM user names and passwords must be non-empty and contain "
                              "none of , [ ] = \" \\ or spaces")
    return value


def _server_properties(data_dir: Path, ports: Mapping[str, int], cport: int,
                       users: Mapping[str, str] | None = None, tls: dict | None = None) -> str:
    logs = data_dir / "kraft-logs"
    listeners = ",".join(f"{name}://{HOST}:{port}" for name, port in ports.items())
    protocol_map = ",".join(["CONTROLLER:PLAINTEXT"] + [f"{n}:{n}" for n in ports])
    inter = next(n for n in LISTENERS if n in ports)
    text = f"""\
# Written by scripts/kafka_local.py -- single-node KRaft broker+controller for tests.
process.roles=broker,controller
node.id={NODE_ID}
controller.quorum.voters={NODE_ID}@{HOST}:{cport}
listeners={listeners},CONTROLLER://{HOST}:{cport}
advertised.listeners={listeners}
controller.listener.names=CONTROLLER
inter.broker.listener.name={inter}
listener.security.protocol.map={protocol_map}
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
    if tls is not None:
        # one key store for every TLS listener; the SSL listener requires client certificates
        text += f"""
ssl.keystore.type=PKCS12
ssl.keystore.location={tls['keystore']}
ssl.keystore.password={tls['keystore_password']}
ssl.key.password={tls['keystore_password']}
ssl.truststore.type=PEM
ssl.truststore.location={tls['ca']}
ssl.endpoint.identification.algorithm=https
"""
        if "SSL" in ports:
            text += "listener.name.ssl.ssl.client.auth=required\n"
    if "SASL_SSL" in ports:
        if tls is None:
            raise KafkaLocalError("the SASL_SSL listener needs TLS material (make_tls)")
        plain_users = {BROKER_USER: tls["broker_password"], **(users or {})}
        user_opts = " ".join(f"user_{n}={_jaas_quote(pw)}" for n, pw in plain_users.items())
        text += f"""
sasl.enabled.mechanisms={','.join(SASL_MECHANISMS)}
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.sasl.enabled.mechanisms={','.join(SASL_MECHANISMS)}
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
username="{BROKER_USER}" password={_jaas_quote(tls['broker_password'])} {user_opts};
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
"""
    return text


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


def _last_lines(text: str, n: int) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _scram_args(users: Mapping[str, str]) -> list[str]:
    out = []
    for name, password in users.items():
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            out += ["--add-scram",
                    f"{mech}=[name={_check_scram_value(name)},password={_check_scram_value(password)}]"]
    return out


def _format_storage(data_dir: Path, java: str, classpath: str,
                    scram_users: Mapping[str, str] | None = None) -> None:
    cid = _random_cluster_id()
    cmd = [java, "-Xmx256m", f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
           "-cp", classpath, "kafka.tools.StorageTool", "format",
           "-t", cid, "-c", str(data_dir / "server.properties"), *_scram_args(scram_users or {})]
    _log(f"formatting storage (cluster id {cid}"
         + (f", SCRAM users {sorted(scram_users)}" if scram_users else "") + ") ...")
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if res.returncode != 0:
        # the command line holds passwords: show only the tool's own output
        raise KafkaLocalError(f"StorageTool format failed (exit {res.returncode}):\n"
                              f"{res.stdout}\n{res.stderr}")
    (data_dir / "cluster.id").write_text(cid + "\n")


# --------------------------------------------------------------------------- TLS


def make_tls(tls_dir: str | os.PathLike, hosts: tuple[str, ...] = ("localhost", HOST)) -> dict:
    """A throw-away CA, a broker certificate for ``hosts`` and a client certificate, made
    once per directory (kept on later calls, so clients keep trusting a restarted broker).

    Needs the ``cryptography`` package (dev extra). Returns the paths (``ca``, ``ca_key``,
    ``keystore`` (PKCS#12, broker), ``client_cert``, ``client_key`` (unencrypted PEM),
    ``client_key_encrypted`` (PEM, password ``client_key_password``)) and passwords.
    Keys are readable by the owner only.
    """
    tls_dir = Path(tls_dir)
    info_path = tls_dir / "tls.json"
    if info_path.is_file():
        return json.loads(info_path.read_text())
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import pkcs12
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:
        raise KafkaLocalError("TLS listeners need the `cryptography` package "
                              "(pip install cryptography, or the dev extra)") from exc
    import ipaddress

    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kafka_local test"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(subject: str, key, issuer_name, issuer_key, *, ca: bool, sans=(), usages=()):
        b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer_name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(start).not_valid_after(end)
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if ca:
            b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                              content_commitment=False, key_encipherment=False,
                                              data_encipherment=False, key_agreement=False,
                                              encipher_only=False, decipher_only=False), critical=True)
        else:
            b = b.add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                              key_cert_sign=False, crl_sign=False, content_commitment=False,
                                              data_encipherment=False, key_agreement=True,
                                              encipher_only=False, decipher_only=False), critical=True)
            b = b.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                critical=False)
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def write(path: Path, data: bytes, private: bool = False) -> str:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return str(path)

    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = cert("kafka_local test CA", ca_key, name("kafka_local test CA"), ca_key, ca=True)
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = cert(hosts[0], server_key, ca_cert.subject, ca_key, ca=False, sans=sans,
                       usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH))
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = cert("stream-guard-client", client_key, ca_cert.subject, ca_key, ca=False,
                       usages=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    keystore_password = secrets.token_urlsafe(18)
    client_key_password = secrets.token_urlsafe(18)
    keystore = pkcs12.serialize_key_and_certificates(
        b"broker", server_key, server_cert, [ca_cert],
        serialization.BestAvailableEncryption(keystore_password.encode()))
    info = {
        "ca": write(tls_dir / "ca.pem", ca_cert.public_bytes(pem)),
        "ca_key": write(tls_dir / "ca-key.pem", ca_key.private_bytes(pem, pkcs8, serialization.NoEncryption()), True),
        "keystore": write(tls_dir / "broker.p12", keystore, True),
        "keystore_password": keystore_password,
        "client_cert": write(tls_dir / "client.pem", client_cert.public_bytes(pem)),
        "client_key": write(tls_dir / "client-key.pem",
                            client_key.private_bytes(pem, pkcs8, serialization.NoEncryption()), True),
        "client_key_encrypted": write(tls_dir / "client-key-encrypted.pem", client_key.private_bytes(
            pem, pkcs8, serialization.BestAvailableEncryption(client_key_password.encode())), True),
        "client_key_password": client_key_password,
        "broker_password": secrets.token_urlsafe(18),
        "hosts": list(hosts),
    }
    write(info_path, json.dumps(info, indent=2).encode(), True)
    return info


def _tls_probe_context(tls: dict) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=tls["ca"])
    ctx.load_cert_chain(tls["client_cert"], tls["client_key"])
    return ctx


# --------------------------------------------------------------------------- start/stop


def _pdeathsig_preexec():
    """A preexec_fn that makes the child get SIGTERM when its parent dies."""
    import ctypes
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # look up before fork
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def endpoints(data_dir: str | os.PathLike) -> dict:
    """Addresses of the client listeners of ``data_dir``'s broker (``PLAINTEXT``,
    ``SASL_SSL``, ``SSL`` as configured by its last start) and, with TLS, ``tls``: the CA,
    client certificate and key files (see :func:`make_tls`)."""
    data_dir = Path(data_dir).resolve()
    ports = _read_json(data_dir / "listeners.json")
    out: dict = {name: f"{HOST}:{port}" for name, port in ports.items() if name in LISTENERS}
    if not out:  # a data dir of an older version of this script
        port = _read_bootstrap_port(data_dir)
        if port:
            out["PLAINTEXT"] = f"{HOST}:{port}"
    tls_info = data_dir / TLS_DIR / "tls.json"
    if tls_info.is_file():
        out["tls"] = json.loads(tls_info.read_text())
    return out


def start(data_dir: str | os.PathLike, port: int | None = None, timeout: float = 120,
          version: str = KAFKA_VERSION, die_with_parent: bool = False, *,
          sasl_ssl: bool = False, ssl_listener: bool = False, plaintext: bool = True,
          users: Mapping[str, str] | None = None, scram_users: Mapping[str, str] | None = None) -> str:
    """Start (or restart) the broker of ``data_dir``; return ``"127.0.0.1:PORT"``.

    Fetches the jars first if needed. Reuses the ports recorded in ``data_dir``
    unless ``port`` is given; formats the storage only once. Returns as soon as
    the broker logged "Kafka Server started" and answers an ApiVersions
    request. If the broker of ``data_dir`` already runs, returns its address.
    ``die_with_parent`` makes the broker get SIGTERM when the calling process
    dies (for test fixtures; not for the detached CLI use).

    Listeners: ``plaintext`` (default on), ``sasl_ssl`` (SASL over TLS with the mechanisms
    PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512) and ``ssl_listener`` (TLS with a client
    certificate required: mTLS); each has its own port (see :func:`endpoints`). The
    returned address is the first of PLAINTEXT, SASL_SSL, SSL that is on; ``port`` is
    that listener's. TLS material (a CA made for this data dir, the broker's key store, a
    client certificate) is generated under ``<data_dir>/tls`` on first use. ``users``
    (name -> password) may log in with PLAIN and with both SCRAM mechanisms,
    ``scram_users`` with the SCRAM mechanisms only (their passwords are then nowhere in the
    data dir: the broker keeps salted SCRAM credentials only). SCRAM credentials are
    written when the storage is formatted (``kafka-storage format --add-scram``), and
    added through the admin API (``kafka-configs``) for users new to an already
    formatted data dir, which needs the PLAINTEXT listener.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    wanted = [n for n, on in (("PLAINTEXT", plaintext), ("SASL_SSL", sasl_ssl), ("SSL", ssl_listener)) if on]
    if not wanted:
        raise KafkaLocalError("a broker needs at least one client listener")
    users = dict(users or {})
    scram = {**(scram_users or {}), **users}
    for n, pw in scram.items():
        _check_scram_value(n), _check_scram_value(pw), _jaas_quote(n), _jaas_quote(pw)
    if scram and not sasl_ssl:
        raise KafkaLocalError("users need the SASL_SSL listener (sasl_ssl=True)")
    pid = _running_pid(data_dir)
    if pid:
        recorded = _read_json(data_dir / "listeners.json") or {"PLAINTEXT": _read_bootstrap_port(data_dir)}
        bport = recorded.get(wanted[0])
        if bport and sorted(recorded) == sorted(wanted) and (port is None or port == bport):
            _wait_ready(data_dir, pid, bport, None, timeout, wanted[0])
            _log(f"broker already running (pid {pid})")
            return f"{HOST}:{bport}"
        raise KafkaLocalError(f"a broker (pid {pid}) already runs on {data_dir} "
                              f"with other listeners or ports; stop it first")

    libs = fetch(version)
    java = _java()

    # Ports: explicit (primary listener) > recorded in the data dir > fresh free ones.
    # (ports.json remembers the port of every listener ever used, also of ones now off)
    recorded = {**_read_json(data_dir / "listeners.json"), **_read_json(data_dir / "ports.json")}
    if not recorded and _read_bootstrap_port(data_dir):
        recorded = {"PLAINTEXT": _read_bootstrap_port(data_dir)}
    ports: dict[str, int] = {}
    cport = _read_int(data_dir / "controller_port")
    fresh = iter(_free_ports(len(wanted) + 2))
    for i, name in enumerate(wanted):
        chosen = (port if i == 0 else None) or recorded.get(name)
        while not chosen or chosen in ports.values() or chosen == cport:
            chosen = next(fresh)
        ports[name] = chosen
    while cport is None or cport in ports.values():
        cport = next(fresh)
    for what, p in (*ports.items(), ("controller", cport)):
        if not _port_free(p):
            raise KafkaLocalError(f"{what} port {HOST}:{p} is taken by another process")

    tls = make_tls(data_dir / TLS_DIR) if (sasl_ssl or ssl_listener) else None
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    props = data_dir / "server.properties"
    props.write_text(_server_properties(data_dir, ports, cport, users, tls))
    if tls is not None or users:
        os.chmod(props, 0o600)  # key store and PLAIN passwords
    (data_dir / "log4j2.properties").write_text(_log4j2_properties(data_dir))
    (data_dir / "controller_port").write_text(f"{cport}\n")
    (data_dir / "listeners.json").write_text(json.dumps(ports) + "\n")
    (data_dir / "ports.json").write_text(json.dumps({**recorded, **ports}) + "\n")
    classpath = str(libs / "*")

    scram_file = data_dir / "scram_users.json"
    scram_known = _read_json(scram_file)

    def fingerprint(name: str, password: str) -> str:
        return hashlib.sha256(f"{name}\0{password}".encode()).hexdigest()

    if (data_dir / "kraft-logs" / "meta.properties").is_file():
        _log("storage already formatted, reusing it")
        scram_later = {n: pw for n, pw in scram.items() if scram_known.get(n) != fingerprint(n, pw)}
        if scram_later and "PLAINTEXT" not in ports:
            raise KafkaLocalError(f"SCRAM users {sorted(scram_later)} are new to this formatted data dir: "
                                  "adding them needs the PLAINTEXT listener (or a fresh data dir)")
    else:
        _format_storage(data_dir, java, classpath, scram)
        scram_file.write_text(json.dumps({n: fingerprint(n, pw) for n, pw in scram.items()}) + "\n")
        scram_later = {}

    server_log = logs / "server.log"
    offset = server_log.stat().st_size if server_log.exists() else 0
    heap = os.environ.get("STREAM_GUARD_KAFKA_HEAP", "-Xms256m -Xmx512m").split()
    cmd = [java, *heap, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
           "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
           # Kafka logs its own shutdown; log4j must not close itself first.
           "-Dlog4j2.shutdownHookEnabled=false",
           f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
           f"-Dkafka.logs.dir={logs}",
           "-cp", classpath, "kafka.Kafka", str(props)]
    shown = ", ".join(f"{n} {HOST}:{p}" for n, p in ports.items())
    _log(f"starting Kafka {version}: {shown} (controller {cport}), logs in {logs}")
    t0 = time.monotonic()
    with open(logs / "kafka.out", "ab") as out:
        proc = subprocess.Popen(cmd, cwd=data_dir, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_pdeathsig_preexec() if die_with_parent else None)
    # Record the process at once (pid + start time), before anything can fail, so that
    # `stop` finds it whatever happens to this process from here on.
    _CHILDREN[proc.pid] = proc
    _write_pid_file(data_dir, proc.pid)
    primary = wanted[0]
    (data_dir / "bootstrap").write_text(f"{HOST}:{ports[primary]}\n")
    try:
        _wait_ready(data_dir, proc.pid, ports[primary], offset, timeout, primary)
        if scram_later:
            add_scram_users(data_dir, scram_later)
            scram_known.update({n: fingerprint(n, pw) for n, pw in scram_later.items()})
            scram_file.write_text(json.dumps(scram_known) + "\n")
    except BaseException:
        stop(data_dir)
        raise
    _log(f"broker ready in {time.monotonic() - t0:.1f}s (pid {proc.pid})")
    return f"{HOST}:{ports[primary]}"


def add_scram_users(data_dir: str | os.PathLike, users: Mapping[str, str]) -> None:
    """Create or update SCRAM-SHA-256/512 credentials of a running broker through its
    PLAINTEXT listener (Kafka's ``kafka-configs --alter --add-config``)."""
    data_dir = Path(data_dir).resolve()
    plain = endpoints(data_dir).get("PLAINTEXT")
    if not plain:
        raise KafkaLocalError("adding SCRAM users to a running broker needs its PLAINTEXT listener")
    java, classpath = _java(), str(libs_dir() / "*")
    for name, password in users.items():
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):  # one per request (KRaft refuses two)
            config = f"{mech}=[iterations=4096,password={_check_scram_value(password)}]"
            cmd = [java, "-Xmx256m", f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
                   "-cp", classpath, "kafka.admin.ConfigCommand", "--bootstrap-server", plain,
                   "--alter", "--add-config", config, "--entity-type", "users",
                   "--entity-name", _check_scram_value(name)]
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
            if res.returncode != 0:
                output = (res.stdout + res.stderr).replace(password, "***")  # it echoes its arguments
                raise KafkaLocalError(f"kafka-configs could not add SCRAM user {name} ({mech}, exit "
                                      f"{res.returncode}):\n{_last_lines(output, 15)}")
    _log(f"SCRAM users {sorted(users)} added")


def _wait_ready(data_dir: Path, pid: int, port: int, log_offset: int | None,
                timeout: float, listener: str = "PLAINTEXT") -> None:
    """Wait for the ready log line (after log_offset; None = skip) and an ApiVersions answer."""
    server_log = data_dir / "logs" / "server.log"
    out_log = data_dir / "logs" / "kafka.out"
    out_offset = out_log.stat().st_size if out_log.exists() else 0
    deadline = time.monotonic() + timeout
    logged = log_offset is None
    since = log_offset or 0
    last_err: Exception | None = None
    recorded = _read_pid_file(data_dir)
    start_time = recorded[1] if recorded and recorded[0] == pid else None
    probe_ctx = None
    if listener != "PLAINTEXT":
        probe_ctx = _tls_probe_context(make_tls(data_dir / TLS_DIR))
    while True:
        if not _is_our_broker(pid, data_dir, start_time):
            raise KafkaLocalError(
                f"Kafka broker (pid {pid}) exited during startup.\n"
                f"--- tail of {server_log}:\n{_tail(server_log, since=since)}\n"
                f"--- tail of {out_log}:\n{_tail(out_log, 20, since=out_offset)}")
        if not logged and log_offset is not None:
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
                api_versions_probe(HOST, port, ssl_context=probe_ctx)
                return
            except (OSError, ValueError) as e:
                last_err = e
        if time.monotonic() > deadline:
            what = (f"no ApiVersions answer: {last_err}") if logged else \
                f"no '{READY_LINE}' in the log"
            raise KafkaLocalError(
                f"Kafka broker not ready on {HOST}:{port} after {timeout:.1f}s ({what}).\n"
                f"--- tail of {server_log}:\n{_tail(server_log, since=since)}")
        time.sleep(0.2)


def stop(data_dir: str | os.PathLike, timeout: float = 30) -> bool:
    """Stop the broker of ``data_dir``: SIGTERM its process group, SIGKILL after
    ``timeout`` s. Idempotent; returns True if a broker was running.

    The broker is the process recorded in ``kafka.pid`` (pid and start time, written the
    moment it was spawned), so it is found even while it is still starting. The pid file
    is removed only once that process is gone.
    """
    data_dir = Path(data_dir).resolve()
    recorded = _read_pid_file(data_dir)
    pid = _running_pid(data_dir)
    if pid is None:
        with contextlib.suppress(OSError):
            (data_dir / "kafka.pid").unlink()
        return False
    start_time = recorded[1] if recorded else None
    _log(f"stopping broker pid {pid} ...")
    t0 = time.monotonic()
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_our_broker(pid, data_dir, start_time) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _is_our_broker(pid, data_dir, start_time):
        _log(f"broker did not stop in {timeout:.0f}s, sending SIGKILL")
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _is_our_broker(pid, data_dir, start_time) and time.monotonic() < deadline:
            time.sleep(0.1)
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    if _is_our_broker(pid, data_dir, start_time):
        raise KafkaLocalError(f"broker pid {pid} is still running after SIGKILL")
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
    """State of the broker of ``data_dir``: running, pid, bootstrap, responding, listeners."""
    data_dir = Path(data_dir).resolve()
    pid = _running_pid(data_dir)
    port = _read_bootstrap_port(data_dir)
    eps = endpoints(data_dir)
    info = {"running": pid is not None, "pid": pid,
            "bootstrap": f"{HOST}:{port}" if port else None, "responding": False,
            "formatted": (data_dir / "kraft-logs" / "meta.properties").is_file(),
            "listeners": {k: v for k, v in eps.items() if k in LISTENERS}}
    if pid and port:
        ctx = None
        if "PLAINTEXT" not in eps and "tls" in eps:
            ctx = _tls_probe_context(eps["tls"])
        with contextlib.suppress(OSError, ValueError):
            info["responding"] = bool(api_versions_probe(HOST, port, ssl_context=ctx))
    return info


# --------------------------------------------------------------------------- CLI


def _user_arg(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name or not password:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")
    return name, password


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
                   help="port of the first listener on 127.0.0.1 (default: the one recorded "
                        "in the data dir, else a free one)")
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds to wait for the broker to be ready (default 120)")
    p.add_argument("--sasl-ssl", action="store_true",
                   help="add a SASL_SSL listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with a CA "
                        "and certificates generated in DATA_DIR/tls")
    p.add_argument("--ssl", dest="ssl_listener", action="store_true",
                   help="add an SSL listener that requires a client certificate (mTLS)")
    p.add_argument("--no-plaintext", dest="plaintext", action="store_false",
                   help="no PLAINTEXT listener (needs --sasl-ssl or --ssl)")
    p.add_argument("--user", dest="users", action="append", type=_user_arg, default=[],
                   metavar="NAME:PASSWORD",
                   help="a SASL user (PLAIN and SCRAM-SHA-256/512), repeatable; needs --sasl-ssl")

    p = sub.add_parser("stop", help="stop the broker (SIGTERM, SIGKILL after 30 s); idempotent")
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--timeout", type=float, default=30,
                   help="seconds to wait after SIGTERM before SIGKILL (default 30)")

    p = sub.add_parser("status", help="show whether the broker runs and answers "
                                      "(exit 0 running, 3 not running)")
    p.add_argument("--data-dir", required=True, type=Path)

    p = sub.add_parser("endpoints", help="print the listeners and TLS files of a data dir as JSON "
                                         "(includes generated passwords: keep it private)")
    p.add_argument("--data-dir", required=True, type=Path)

    args = parser.parse_args(argv)
    try:
        if args.cmd == "fetch":
            print(fetch(force=args.force))
        elif args.cmd == "start":
            print(start(args.data_dir, port=args.port, timeout=args.timeout,
                        sasl_ssl=args.sasl_ssl, ssl_listener=args.ssl_listener,
                        plaintext=args.plaintext, users=dict(args.users)))
        elif args.cmd == "stop":
            if not stop(args.data_dir, timeout=args.timeout):
                print("not running")
        elif args.cmd == "status":
            info = status(args.data_dir)
            for k, v in info.items():
                print(f"{k}: {v}")
            return 0 if info["running"] else 3
        elif args.cmd == "endpoints":
            print(json.dumps(endpoints(args.data_dir), indent=2))
    except KafkaLocalError as e:
        print(f"kafka_local: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
