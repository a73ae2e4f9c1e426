"""scripts/kafka_local.py with the real JVM: `stop` always finds and stops the broker a `start`
spawned, also when `start` gave up or died while the broker was still starting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka_local.py"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_start_that_times_out_leaves_no_jvm(kafka_local: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(kafka_local.KafkaLocalError, match="not ready"):
        kafka_local.start(tmp_path, timeout=0.3)  # far too short: the JVM is still starting
    assert not (tmp_path / "kafka.pid").exists()
    out = (tmp_path / "logs" / "kafka.out")
    assert out.exists()
    assert kafka_local.status(tmp_path)["running"] is False
    # and the data dir still works
    bootstrap = kafka_local.start(tmp_path, timeout=120)
    try:
        assert kafka_local.status(tmp_path)["responding"]
        assert bootstrap == kafka_local.status(tmp_path)["bootstrap"]
    finally:
        assert kafka_local.stop(tmp_path) is True


def test_stop_finds_a_starting_broker_whose_start_command_was_killed(kafka_local: ModuleType, tmp_path: Path) -> None:
    starter = subprocess.Popen([sys.executable, str(SCRIPT), "start", "--data-dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pid_file = tmp_path / "kafka.pid"
    jvm = None
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pid_file.exists(), "the pid file is written as the JVM is spawned"
        jvm = int(pid_file.read_text().split()[0])
        os.killpg(starter.pid, signal.SIGKILL)  # `start` dies while the JVM is still starting
        starter.wait(10)
        assert _alive(jvm)
        # a fresh process (no Popen of the JVM) stops it
        res = subprocess.run([sys.executable, str(SCRIPT), "stop", "--data-dir", str(tmp_path)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 and "stopping broker pid" in res.stderr, res.stderr
        assert not _alive(jvm)
        assert not pid_file.exists()
    finally:
        if starter.poll() is None:
            os.killpg(starter.pid, signal.SIGKILL)
            starter.wait(10)
        if jvm is not None and _alive(jvm):
            os.killpg(jvm, signal.SIGKILL)
