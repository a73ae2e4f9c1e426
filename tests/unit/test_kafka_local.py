"""scripts/kafka_local.py without a JVM: process identity (the "exited during startup" race),
broker configuration with secure listeners, generated TLS material."""

from __future__ import annotations

import os
import signal
import ssl
import stat
import subprocess
import time
from pathlib import Path
from types import ModuleType

import pytest


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "30"], start_new_session=True)


def test_a_process_is_ours_from_the_moment_it_is_spawned(kafka_local: ModuleType, tmp_path: Path) -> None:
    # Right after Popen returns the child may still be inside exec, with an empty
    # /proc/PID/cmdline: a command-line check then called a starting broker "exited" (and
    # the clean-up deleted its pid file, so `stop` could not find it). The pid file now
    # holds pid + start time, which hold from fork on.
    for _ in range(100):
        proc = _sleeper()
        try:
            kafka_local._write_pid_file(tmp_path, proc.pid)
            pid, start_time = kafka_local._read_pid_file(tmp_path)
            assert pid == proc.pid and start_time is not None
            assert kafka_local._is_our_broker(pid, tmp_path, start_time)
            assert kafka_local._running_pid(tmp_path) == pid
        finally:
            proc.kill()
            proc.wait()
        assert not kafka_local._is_our_broker(pid, tmp_path, start_time)  # reaped: gone


def test_a_reused_pid_is_not_ours(kafka_local: ModuleType, tmp_path: Path) -> None:
    proc = _sleeper()
    try:
        _, start_time = kafka_local._proc_stat(proc.pid)
        (tmp_path / "kafka.pid").write_text(f"{proc.pid} {start_time + 1}\n")  # another process's start time
        assert kafka_local._running_pid(tmp_path) is None
        assert kafka_local.stop(tmp_path) is False  # nothing of ours to stop ...
        assert proc.poll() is None  # ... and the stranger is left alone
        assert not (tmp_path / "kafka.pid").exists()
    finally:
        proc.kill()
        proc.wait()


def test_stop_stops_the_recorded_process_group(kafka_local: ModuleType, tmp_path: Path) -> None:
    proc = _sleeper()
    kafka_local._write_pid_file(tmp_path, proc.pid)
    reaped = False
    try:
        t0 = time.monotonic()
        # not a child registered in _CHILDREN: found by pid + start time only (as from another process)
        assert kafka_local.stop(tmp_path, timeout=10) is True
        assert proc.wait(5) == -signal.SIGTERM
        reaped = True
        assert time.monotonic() - t0 < 10
        assert not (tmp_path / "kafka.pid").exists()
    finally:
        if not reaped:
            proc.kill()
            proc.wait()


def test_legacy_pid_file_without_start_time_uses_the_command_line(kafka_local: ModuleType, tmp_path: Path) -> None:
    proc = _sleeper()
    try:
        (tmp_path / "kafka.pid").write_text(f"{proc.pid}\n")
        assert kafka_local._running_pid(tmp_path) is None  # `sleep 30` is not this dir's broker
    finally:
        proc.kill()
        proc.wait()


def test_server_properties_with_secure_listeners(kafka_local: ModuleType, tmp_path: Path) -> None:
    tls = {"keystore": "/k/broker.p12", "keystore_password": "kspw", "ca": "/k/ca.pem", "broker_password": "bpw"}
    ports = {"SASL_SSL": 9093, "SSL": 9094}
    text = kafka_local._server_properties(tmp_path, ports, 9095, {"alice": "alice-pw"}, tls)
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert props["listeners"] == "SASL_SSL://127.0.0.1:9093,SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert props["inter.broker.listener.name"] == "SASL_SSL"  # no PLAINTEXT listener
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL"
    assert props["listener.name.ssl.ssl.client.auth"] == "required"
    assert props["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    jaas = props["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert 'user_alice="alice-pw"' in jaas and f'user_{kafka_local.BROKER_USER}="bpw"' in jaas
    plain = kafka_local._server_properties(tmp_path, {"PLAINTEXT": 9092}, 9095)
    assert "ssl." not in plain and "sasl." not in plain


@pytest.mark.parametrize("bad", ["a,b", "pw]", "x=y", 'q"', "", "two words"])
def test_scram_values_that_would_break_the_tool_syntax_are_refused(kafka_local: ModuleType, bad: str) -> None:
    with pytest.raises(kafka_local.KafkaLocalError):
        kafka_local._scram_args({"user": bad})


def test_scram_arguments_for_both_mechanisms(kafka_local: ModuleType) -> None:
    assert kafka_local._scram_args({"u": "pw1"}) == [
        "--add-scram", "SCRAM-SHA-256=[name=u,password=pw1]", "--add-scram", "SCRAM-SHA-512=[name=u,password=pw1]",
    ]


def test_make_tls_material(kafka_local: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from cryptography import x509

    info = kafka_local.make_tls(tmp_path / "tls")
    assert kafka_local.make_tls(tmp_path / "tls") == info  # made once, then reused
    for key in ("ca_key", "keystore", "client_key", "client_key_encrypted"):
        assert stat.S_IMODE(os.stat(info[key]).st_mode) == 0o600, key
    client = x509.load_pem_x509_certificate(Path(info["client_cert"]).read_bytes())
    assert "stream-guard-client" in client.subject.rfc4514_string()
    # the client files load as a TLS client identity, the encrypted key only with its password
    ctx = ssl.create_default_context(cafile=info["ca"])
    ctx.load_cert_chain(info["client_cert"], info["client_key"])
    ctx.load_cert_chain(info["client_cert"], info["client_key_encrypted"], info["client_key_password"])
    with pytest.raises(ssl.SSLError):
        ctx.load_cert_chain(info["client_cert"], info["client_key_encrypted"], "wrong")
