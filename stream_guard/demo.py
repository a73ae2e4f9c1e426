"""``stream-guard demo``: broker + worker + traffic on one machine, alerts shown live.

Event time runs ``--speed`` times faster than the wall clock, so a minute of demo covers
an hour of traffic and the default thresholds apply unchanged. The traffic is small and
deliberately plain: benign accounts asking everyday questions at human rates, and one
blunt extraction account sending benchmark-style, step-by-step prompts around the clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson

from stream_guard.embedded import EmbeddedBroker, EmbeddedBrokerError, port_in_use
from stream_guard.settings import Settings
from stream_guard.stream.kafka_config import aiokafka_security

__all__ = ["run_demo"]

EXTRACTOR = "acct-demo-extractor"
BENIGN_TOPICS = ("a recipe", "my resume", "a Python error", "a trip plan", "a poem", "a SQL query",
                 "an email to my landlord", "a workout plan", "a birthday message", "a bug in my CSS")
TASKS = ("Solve: a tank fills at {a} L/min and drains at {b} L/min; when is it full?",
         "Write a function returning the {a}th Fibonacci number, with unit tests.",
         "Q{a}. Which is prime? A) {b} B) {c} C) {a} D) none.")


class DemoTraffic:
    """Benign accounts plus one blunt extractor, as events with accelerated event time."""

    def __init__(self, benign_accounts: int, seed: int = 7) -> None:
        self.rnd = random.Random(seed)
        # per-account mean requests per hour (heavy-tailed, like real API clients)
        self.rates = {f"acct-demo-{i:03d}": min(200.0, self.rnd.lognormvariate(3.2, 0.8))
                      for i in range(benign_accounts)}
        self.rates[EXTRACTOR] = 3 * 3600.0  # three requests per second of event time
        self.next_at: dict[str, float] = {}
        self.seq = 0

    def events_until(self, start: float, until: float) -> dict[str, list[dict[str, Any]]]:
        """All events with event time before ``until``, grouped by account."""
        out: dict[str, list[dict[str, Any]]] = {}
        for account, per_hour in self.rates.items():
            t = self.next_at.get(account, start + self.rnd.expovariate(per_hour / 3600.0))
            while t < until:
                out.setdefault(account, []).append(self._event(account, t))
                t += self.rnd.expovariate(per_hour / 3600.0) if account != EXTRACTOR else self.rnd.uniform(0.3, 0.37)
            self.next_at[account] = t
        return out

    def _event(self, account: str, ts: float) -> dict[str, Any]:
        self.seq += 1
        r = self.rnd
        if account == EXTRACTOR:
            a, b, c = r.randint(2, 999), r.randint(2, 999), r.randint(2, 999)
            prompt = r.choice(TASKS).format(a=a, b=b, c=c) + " Think step by step and show your full reasoning."
            tokens = (r.randint(60, 200), r.randint(700, 1024))
        else:
            prompt = f"Could you help me with {r.choice(BENIGN_TOPICS)}? {r.randint(1, 99)}"
            tokens = (r.randint(20, 600), r.randint(40, 700))
        return {
            "event_id": f"demo-{self.seq}", "ts": round(ts, 3), "account_id": account, "model": "demo-model",
            "input_tokens": tokens[0], "output_tokens": tokens[1], "max_tokens": 1024, "status": 200,
            "stop_reason": "end_turn", "turn_index": 0, "prompt": prompt,
        }


def _num(x: Any) -> str:
    if isinstance(x, (int, float)):
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"
    return str(x)


def _print_alert(alert: dict[str, Any]) -> None:
    reasons = ", ".join(f"{r['signal']}={_num(r['value'])} (>= {_num(r['threshold'])})" for r in alert["reasons"][:5])
    print(f"{alert['raised_at'][:19]:19}  {alert['severity']:8}  {alert['score']:5.2f}  "
          f"{alert['subject'][:24]:24}  {reasons}", flush=True)


def _processed(metrics_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith('stream_guard_events_total{outcome="processed"}'):
                    return int(float(line.split()[-1]))
    except OSError:
        pass
    return -1


async def _run(args: argparse.Namespace, bootstrap: str, names: dict[str, str], worker: subprocess.Popen[bytes]) -> int:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    # inside the event loop, a stop signal ends the loop below, so the clients close cleanly
    loop = asyncio.get_running_loop()
    stopped_by: list[str] = []
    for sig in (*STOP_SIGNALS, signal.SIGINT):
        loop.add_signal_handler(sig, stopped_by.append, signal.Signals(sig).name)
    # with --broker, the demo's own clients connect as the worker does (STREAM_GUARD_SECURITY_*,
    # SASL and SSL settings from the environment); the embedded broker is plaintext
    security = aiokafka_security(Settings.from_env()) if args.broker else {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, **security)
    consumer = AIOKafkaConsumer(names["STREAM_GUARD_ALERTS_TOPIC"], bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=None, **security)
    await producer.start()
    await consumer.start()
    traffic = DemoTraffic(args.benign_accounts)
    wall0 = time.time()
    event0 = wall0 - (args.duration or 3600) * args.speed  # traffic ends around "now"
    sent = alerts = 0
    last_status = wall0
    print(f"{'event time':19}  {'severity':8}  {'score':5}  {'account':24}  reasons", flush=True)
    try:
        event_prev = event0
        while not stopped_by and (not args.duration or time.time() - wall0 < args.duration):
            if worker.poll() is not None:
                print(f"demo: the worker exited ({worker.returncode})", file=sys.stderr)
                return 1
            event_now = event0 + (time.time() - wall0) * args.speed
            for account, evs in traffic.events_until(event_prev, event_now).items():
                await producer.send(names["STREAM_GUARD_INPUT_TOPIC"], key=account.encode(), value=orjson.dumps(evs))
                sent += len(evs)
            event_prev = event_now
            batch = await consumer.getmany(timeout_ms=250)
            for records in batch.values():
                for rec in records:
                    alerts += 1
                    _print_alert(orjson.loads(rec.value))
            if time.time() - last_status >= 10:
                last_status = time.time()
                print(f"-- {time.time() - wall0:5.0f} s: {sent:,} events sent, "
                      f"{_processed(args.metrics_port):,} processed, {alerts} alerts", file=sys.stderr, flush=True)
    finally:
        for sig in (*STOP_SIGNALS, signal.SIGINT):
            loop.remove_signal_handler(sig)  # back to the handlers of run_demo
            signal.signal(sig, _stop_on_signal if sig in STOP_SIGNALS else signal.default_int_handler)
        if stopped_by:
            print(f"demo: stopping ({stopped_by[0].replace('SIGINT', 'Ctrl-C')})", file=sys.stderr)
        await producer.stop()
        await consumer.stop()
    print(f"demo: {sent:,} events sent, {alerts} alerts", file=sys.stderr)
    return 0


class _Stop(KeyboardInterrupt):
    """SIGTERM or SIGHUP: stop exactly as on Ctrl-C."""


def _stop_on_signal(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


#: Signals that stop the demo as Ctrl-C does (its broker and worker are stopped too).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _worker_host() -> str:
    from stream_guard.settings import Settings

    return Settings.from_env().metrics_host


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo (see the module docstring); returns the exit code.

    Everything it starts (the embedded broker, the worker) is stopped on the way out,
    whether the demo ends, fails, or is stopped by Ctrl-C, SIGTERM or SIGHUP.
    """
    previous = {sig: signal.signal(sig, _stop_on_signal) for sig in STOP_SIGNALS}
    previous[signal.SIGINT] = signal.getsignal(signal.SIGINT)
    broker: EmbeddedBroker | None = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        busy = port_in_use(args.metrics_port, _worker_host())
        if busy:
            print(f"demo: port {args.metrics_port} {busy} (the worker's metrics); pass --metrics-port", file=sys.stderr)
            return 2
        workdir = Path(tempfile.mkdtemp(prefix="stream-guard-demo-"))
        if args.broker:
            bootstrap = args.broker
        else:
            broker = EmbeddedBroker(workdir / "broker.log", port=args.broker_port)
            print(f"demo: starting the embedded broker (Tansu) on {broker.bootstrap} ...", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            try:
                broker.start(progress=lambda s: print(f"demo: ... broker still starting ({s:.0f} s)",
                                                      file=sys.stderr, flush=True))
            except EmbeddedBrokerError as exc:
                print(f"demo: {exc}", file=sys.stderr)
                return 2
            bootstrap = broker.bootstrap
            print(f"demo: embedded broker ready on {bootstrap} ({time.monotonic() - t0:.1f} s)",
                  file=sys.stderr, flush=True)
        tag = f"stream-guard-demo-{uuid.uuid4().hex[:6]}"
        names = {"STREAM_GUARD_APP_ID": tag, "STREAM_GUARD_INPUT_TOPIC": f"{tag}.requests",
                 "STREAM_GUARD_ALERTS_TOPIC": f"{tag}.alerts", "STREAM_GUARD_DLQ_TOPIC": f"{tag}.dlq"}
        env = {**os.environ, **names, "STREAM_GUARD_BROKER": bootstrap,
               "STREAM_GUARD_METRICS_PORT": str(args.metrics_port), "STREAM_GUARD_DATA_DIR": str(workdir / "worker")}
        if broker is not None:  # the embedded broker speaks plaintext whatever the environment says
            env["STREAM_GUARD_SECURITY_PROTOCOL"] = "PLAINTEXT"
        log_path = workdir / "worker.log"
        with log_path.open("ab") as log:
            worker = subprocess.Popen([sys.executable, "-m", "stream_guard", "worker"], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        print(f"demo: worker starting (pid {worker.pid}, log {log_path}, metrics "
              f"http://127.0.0.1:{args.metrics_port}/metrics) ...", file=sys.stderr, flush=True)
        if not _wait_ready(args.metrics_port, worker, timeout_s=90):
            print(f"demo: {_why_not_ready(worker, log_path, args.metrics_port)}", file=sys.stderr)
            return 1
        how_long = f"for {args.duration:.0f} s" if args.duration else "until stopped"
        print(f"demo: running {how_long} (Ctrl-C stops), event time x{args.speed:g}", file=sys.stderr)
        return asyncio.run(_run(args, bootstrap, names, worker))
    except KeyboardInterrupt as exc:
        print(f"demo: stopping ({exc.args[0] if isinstance(exc, _Stop) else 'Ctrl-C'})", file=sys.stderr)
        return 0
    finally:
        # no second signal may cut the clean-up short and leave the broker or worker behind
        for sig in (*STOP_SIGNALS, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        try:
            _stop_worker(worker)
            if broker is not None:
                broker.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _stop_worker(worker: subprocess.Popen[bytes] | None) -> None:
    if worker is None or worker.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.wait(30)
    if worker.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)


def _why_not_ready(worker: subprocess.Popen[bytes], log_path: Path, metrics_port: int) -> str:
    """The real cause when the worker did not become ready, as far as its log tells."""
    try:
        tail = log_path.read_bytes()[-16_384:].decode("utf-8", "replace")
    except OSError:
        tail = ""
    if "address already in use" in tail.lower():
        return f"port {metrics_port} is already in use (the worker's metrics); pass --metrics-port"
    state = f"exited ({worker.returncode})" if worker.poll() is not None else "did not become ready within 90 s"
    return f"the worker {state}; see {log_path}"


def _wait_ready(port: int, worker: subprocess.Popen[bytes], timeout_s: float, progress_every_s: float = 5.0) -> bool:
    started = time.monotonic()
    next_progress = started + progress_every_s
    while time.monotonic() - started < timeout_s and worker.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        if time.monotonic() >= next_progress:
            next_progress += progress_every_s
            print(f"demo: ... worker still starting ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        time.sleep(0.3)
    return False
