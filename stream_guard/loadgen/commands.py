"""The ``loadgen`` and ``score`` subcommands of ``stream-guard``.

``register(subparsers)`` adds both to an argparse sub-parser collection; each sets
``func`` to its runner (``run_loadgen`` / ``run_score``, taking the parsed namespace and
returning an exit code). Heavy modules are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stream_guard.core.vocabulary import SEVERITIES
from stream_guard.loadgen.scenarios import (
    BENIGN_KINDS,
    CAMPAIGN_KINDS,
    PRESET_HELP,
    PRESETS,
    knob_fields,
    scenario,
)

__all__ = ["add_loadgen_parser", "add_score_parser", "register", "run_loadgen", "run_score"]

_LOADGEN_DESCRIPTION = """\
Generate request events (per the stream-guard event contract) for a simulated span of
event time, much faster than real time: a benign population calibrated on real traces
(ServeGen per-client traffic, Azure LLM token counts, Arena-Hard prompt lengths) with its
hard cases (SaaS integrators, coding agents, benchmark evaluation runs, batch jobs, many
accounts behind one NAT), mixed with labelled extraction campaigns (blunt, slow templated
chain-of-thought, hydra of thousands of accounts, reseller, pivot to a new model).
Newer designs, each with named variants (--<design>-variant NAME[,NAME...] or all) so
that some can be held out of tuning: campaigns mimicry, adaptive_hydra,
agentic_distiller, hashed_reseller (off unless --campaigns names them; one campaign per
variant, labelled KIND:VARIANT) and extraction-like benign kinds event_cohort,
research_nat, heavy_user (share 0 unless --benign-mix names them); --scenario designs
has them all.
Output goes to a JSONL(.gz) file (for `stream-guard replay`) or to a Kafka topic, in
event-time order; ground truth goes to a separate labels file (for `stream-guard score`),
never into the events. Same seed and options -> byte-identical output."""

_LOADGEN_EPILOG = """\
scenarios (a preset sets defaults; any option below overrides it):
{presets}

benign kinds: {benign}
campaign kinds: {campaigns}

examples:
  stream-guard loadgen --scenario smoke --out /tmp/smoke.jsonl
  stream-guard loadgen --scenario standard --seed 7 --out ev.jsonl.gz --labels ev.labels.json
  stream-guard loadgen --scenario hydra --hydra-accounts 30000 --out hydra.jsonl.gz
  stream-guard loadgen --scenario designs --seed 2 --out designs.jsonl.gz
  stream-guard loadgen --scenario standard --campaigns mimicry,adaptive_hydra \\
      --mimicry-variant casual,grinder --adaptive-hydra-variant churn --out held_out.jsonl.gz
  stream-guard loadgen --scenario standard --bootstrap 127.0.0.1:9092 --topic llm.requests \\
      --batch 100 --rate 50000
  stream-guard loadgen --input ev.jsonl.gz --bootstrap 127.0.0.1:9092 --batch 100   # resend a file
  stream-guard loadgen --scenario smoke --prompts ../shared/data/prompts --privacy 0.5 --out s.jsonl"""

_SCORE_DESCRIPTION = """\
Score alerts against a labels file written by `stream-guard loadgen`. Per campaign:
detected or not, time to detect (event time from the campaign's start to the first alert
naming one of its accounts, by `account_ids` or `subject`), account-level recall (also
at each severity: recall@medium), alerts per attack account-day. For benign traffic:
accounts flagged, false-positive rate (flagged / benign accounts that sent events), per
benign kind, and per kind (and variant) at each severity. Prints a table; --json writes
the full report, --plot a PNG timeline (needs matplotlib)."""


def _labels_default(args: argparse.Namespace, name: str, seed: int) -> Path:
    if args.labels:
        return Path(args.labels)
    if args.out and args.out != "-":
        out = Path(args.out)
        stem = out.name
        for suffix in (".gz", ".jsonl", ".json", ".ndjson"):
            stem = stem.removesuffix(suffix)
        return out.with_name(f"{stem}.labels.json")
    return Path(f"{name}-seed{seed}.labels.json")


def add_loadgen_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``loadgen`` to ``sub`` (an argparse sub-parsers object)."""
    presets = "\n".join(f"  {n:<9} {PRESET_HELP.get(n, '')}" for n in PRESETS)
    p: argparse.ArgumentParser = sub.add_parser(
        "loadgen",
        help="generate labelled load: benign population + extraction campaigns",
        description=_LOADGEN_DESCRIPTION,
        epilog=_LOADGEN_EPILOG.format(
            presets=presets, benign=", ".join(BENIGN_KINDS), campaigns=", ".join(CAMPAIGN_KINDS)
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--scenario",
        default="standard",
        choices=sorted(PRESETS),
        help="named preset of the knobs below (default: standard)",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--out", metavar="FILE", help="write events to FILE (.jsonl, or .jsonl.gz compressed); '-' = stdout"
    )
    out.add_argument(
        "--bootstrap",
        "--broker",
        dest="bootstrap",
        metavar="HOST:PORT",
        help="produce events to this Kafka instead of a file",
    )
    out.add_argument("--topic", default="llm.requests", help="Kafka topic (default: llm.requests)")
    out.add_argument(
        "--labels",
        metavar="FILE",
        help="ground-truth labels file (default: next to --out as NAME.labels.json, "
        "else SCENARIO-seedN.labels.json)",
    )
    out.add_argument(
        "--rate",
        type=float,
        default=0.0,
        metavar="EV_PER_S",
        help="target events/s when producing (0 = as fast as possible, the default); applies to files too",
    )
    out.add_argument(
        "--batch",
        type=int,
        default=1,
        metavar="N",
        help="Kafka: send JSON arrays of up to N events per message, grouped by the "
        "partition of their account key (default 1 = one event per message)",
    )
    out.add_argument(
        "--partitions",
        type=int,
        default=0,
        metavar="N",
        help="Kafka: create the topic with N partitions if it does not exist (default 0 = do not create)",
    )
    out.add_argument(
        "--linger-ms", type=int, default=20, metavar="MS", help="Kafka producer linger (default 20 ms)"
    )
    out.add_argument(
        "--max-message-bytes",
        type=int,
        default=900_000,
        metavar="N",
        help="Kafka: split batches to stay under this size (default 900000; broker default limit is ~1 MB)",
    )
    out.add_argument(
        "--input",
        metavar="FILE",
        help="Kafka: resend an events file written earlier instead of generating "
        "(no labels written); the fastest way to load a broker",
    )
    out.add_argument(
        "--ts-format",
        choices=("iso", "epoch"),
        default="iso",
        help="event time as RFC 3339 with offset (iso, default) or Unix epoch seconds",
    )
    out.add_argument(
        "--omit-fields",
        default="",
        metavar="F1,F2",
        help="optional fields to drop from every event, e.g. ip,asn,prompt "
        "(to test a detector against a poorer gateway log)",
    )
    out.add_argument(
        "--limit", type=int, default=0, metavar="N", help="stop after N events (default 0 = no limit)"
    )
    out.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="generate in N processes: identical output, faster when N cores are free (default 1)",
    )
    out.add_argument(
        "--prompts",
        metavar="DIR",
        help="prompt corpora: *.jsonl / *.jsonl.gz under DIR (Arena-Hard `prompt` -> chat; "
        "GSM8K `question`, HumanEval `prompt`, MBPP `text` -> benchmark tasks); default: "
        "the built-in generator",
    )
    out.add_argument(
        "--calibration",
        metavar="FILE",
        help="calibration JSON (default: the shipped one, from scripts/derive_calibration.py)",
    )
    out.add_argument(
        "--describe",
        action="store_true",
        help="print the resolved knobs and account counts, generate nothing",
    )
    out.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    out.add_argument(
        "--progress-every",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between progress lines (default 5)",
    )

    groups = {
        "run": p.add_argument_group("run knobs"),
        "benign": p.add_argument_group("benign population knobs"),
        "campaigns": p.add_argument_group(
            "campaign knobs (start options: a fraction of the span, e.g. 0.25, or an offset, e.g. 12h)"
        ),
    }
    for f in knob_fields():
        flag = "--" + f.name.replace("_", "-")
        group = groups[f.metadata["group"]]
        help_text = f"{f.metadata['help']} (standard: {f.default})".replace("%", "%%")  # argparse formats help
        if f.name == "privacy":
            group.add_argument(
                flag,
                type=float,
                nargs="?",
                const=1.0,
                default=None,
                metavar="SHARE",
                help=help_text + "; --privacy alone = 1.0, every account",
            )
            continue
        kind = type(f.default)
        metavar = {int: "N", float: "X"}.get(kind, f.name.split("_")[-1].upper())
        group.add_argument(
            flag,
            dest=f.name,
            type=kind if kind in (int, float) else str,
            default=None,
            metavar=metavar,
            help=help_text,
        )
    p.set_defaults(func=run_loadgen)
    return p


def add_score_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``score`` to ``sub``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "score",
        help="score alerts against loadgen labels (table, JSON, PNG timeline)",
        description=_SCORE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  stream-guard loadgen --scenario smoke --out s.jsonl\n"
        "  stream-guard replay s.jsonl --out alerts.jsonl\n"
        "  stream-guard score --alerts alerts.jsonl --labels s.labels.json --plot timeline.png",
    )
    p.add_argument("--alerts", metavar="FILE", help="alerts: JSON Lines (.gz allowed) or a JSON array file")
    p.add_argument(
        "--alerts-topic",
        metavar="TOPIC",
        help="read alerts from this Kafka topic instead (from the beginning, until idle)",
    )
    p.add_argument(
        "--bootstrap",
        "--broker",
        dest="bootstrap",
        metavar="HOST:PORT",
        default="127.0.0.1:9092",
        help="Kafka for --alerts-topic (default 127.0.0.1:9092)",
    )
    p.add_argument(
        "--idle",
        type=float,
        default=5.0,
        metavar="S",
        help="with --alerts-topic: stop after S seconds without new alerts (default 5)",
    )
    p.add_argument("--labels", required=True, metavar="FILE", help="labels file written by loadgen")
    p.add_argument(
        "--min-severity",
        default="low",
        choices=SEVERITIES,
        help="ignore alerts below this severity (default: low = all)",
    )
    p.add_argument(
        "--json", metavar="FILE", help="write the JSON report to FILE ('-' = stdout, then no table)"
    )
    p.add_argument("--plot", metavar="PNG", help="write a timeline plot (needs matplotlib)")
    p.add_argument("--title", help="plot title")
    p.set_defaults(func=run_score)
    return p


def register(subparsers: Any) -> None:
    """Add the ``loadgen`` and ``score`` subcommands to ``subparsers``."""
    add_loadgen_parser(subparsers)
    add_score_parser(subparsers)


def _err(msg: str) -> int:
    print(f"stream-guard: {msg}", file=sys.stderr)
    return 2


def _resend(args: argparse.Namespace) -> int:
    import orjson

    from stream_guard.loadgen.sinks import KafkaOptions, Progress, open_lines, send_to_kafka

    marker = b'"account_id":"'

    def key_of(line: bytes) -> bytes:
        i = line.find(marker)  # the generator's own compact encoding: no JSON parse needed
        if i >= 0 and not line.startswith(b"["):
            j = line.find(b'"', i + len(marker))
            key = line[i + len(marker) : j]
            if b"\\" not in key:
                return key
        doc = orjson.loads(line)
        first = doc[0] if isinstance(doc, list) and doc else doc
        return str(first.get("account_id", "")).encode() if isinstance(first, dict) else b""

    def items() -> Any:
        for n, line in enumerate(open_lines(args.input), 1):
            if args.limit and n > args.limit:
                return
            yield key_of(line), line, None

    opts = KafkaOptions(
        args.bootstrap,
        args.topic,
        batch=args.batch,
        rate=args.rate,
        linger_ms=args.linger_ms,
        max_message_bytes=args.max_message_bytes,
        create_partitions=args.partitions,
    )
    progress = Progress("loadgen", every_s=args.progress_every, enabled=not args.quiet)
    asyncio.run(send_to_kafka(items(), opts, progress))
    return 0


def run_loadgen(args: argparse.Namespace) -> int:
    """Run ``loadgen`` from parsed arguments; returns the exit code."""
    import time

    import orjson

    from stream_guard.loadgen.calibration import load_calibration
    from stream_guard.loadgen.generator import Generator
    from stream_guard.loadgen.labels import write_labels
    from stream_guard.loadgen.prompts import PromptLibrary, load_corpora
    from stream_guard.loadgen.sinks import FileSink, KafkaOptions, Progress, RateLimit, send_to_kafka

    if args.input:
        if not args.bootstrap:
            return _err("--input resends a file to Kafka: give --bootstrap")
        return _resend(args)
    knobs = {f.name: getattr(args, f.name, None) for f in knob_fields()}
    try:
        sc = scenario(args.scenario, **knobs)
        sc.campaign_list()
        sc.benign_mix_dict()
        omit = tuple(x.strip() for x in args.omit_fields.split(",") if x.strip())
        corpora = load_corpora(args.prompts) if args.prompts else None
        gen = Generator(
            sc,
            prompts=PromptLibrary.builtin(corpora),
            ts_format=args.ts_format,
            omit_fields=omit,
            calibration=load_calibration(args.calibration) if args.calibration else None,
        )
    except (ValueError, FileNotFoundError) as exc:
        return _err(str(exc))
    if args.describe:
        doc = gen.labels_doc()
        summary = {
            "scenario": doc["run"]["knobs"],
            "span": [doc["run"]["start"], doc["run"]["end"]],
            "benign_kinds": {k: v["accounts"] for k, v in doc["benign_kinds"].items()},
            "campaigns": {
                k: {"accounts": v["accounts"], "active_from": v["active_from"]}
                for k, v in doc["campaigns"].items()
            },
            "prompt_corpora": list(corpora.files) if corpora else [],
        }
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if not args.out and not args.bootstrap:
        return _err("loadgen needs --out FILE (or '-') or --bootstrap HOST:PORT")
    labels_path = _labels_default(args, sc.name, sc.seed)
    write_labels(labels_path, gen.labels_doc())  # members known up front; counts follow at the end
    progress = Progress(
        "loadgen", every_s=args.progress_every, enabled=not args.quiet, span_ms=(gen.start_ms, gen.end_ms)
    )
    lines: Iterator[tuple[bytes, bytes]] = gen.lines(max(args.workers, 1))
    if args.limit:
        lines = itertools.islice(lines, args.limit)
    try:
        if args.out:
            pace = RateLimit(args.rate)
            sink = FileSink(args.out) if args.out != "-" else None
            write = sink.write_raw if sink is not None else None
            out = sys.stdout.buffer
            n = 0
            try:
                for _key, line in lines:
                    if write is not None:
                        write(line)
                    else:
                        out.write(line + b"\n")
                    n += 1
                    if not n & 4095:
                        progress.maybe(n, gen.last_ts_ms)
                    if args.rate > 0:
                        wait = pace.delay(n)
                        if wait > 0:
                            time.sleep(wait)
            finally:
                if sink is not None:
                    sink.close()
                else:
                    out.flush()
            rate = progress.done(n, gen.last_ts_ms)
        else:
            opts = KafkaOptions(
                args.bootstrap,
                args.topic,
                batch=args.batch,
                rate=args.rate,
                linger_ms=args.linger_ms,
                max_message_bytes=args.max_message_bytes,
                create_partitions=args.partitions,
            )
            items = ((key, line, gen.last_ts_ms) for key, line in lines)
            n = asyncio.run(send_to_kafka(items, opts, progress))
            rate = n / max(time.monotonic() - progress.t0, 1e-9)
    except KeyboardInterrupt:
        write_labels(labels_path, gen.labels_doc())
        print(
            f"loadgen: interrupted after {gen.emitted:,} events; partial labels in {labels_path}",
            file=sys.stderr,
        )
        return 130
    doc = gen.labels_doc()
    write_labels(labels_path, doc)
    if not args.quiet:
        camps = ", ".join(
            f"{k} {v['accounts']:,} acct/{v['events']:,} ev" for k, v in doc["campaigns"].items()
        )
        print(
            f"loadgen: {doc['run']['events']:,} events ({rate:,.0f}/s), campaigns: {camps or 'none'}; "
            f"labels -> {labels_path}",
            file=sys.stderr,
        )
    return 0


async def _consume_alerts(bootstrap: str, topic: str, idle_s: float) -> list[dict[str, Any]]:
    import orjson
    from aiokafka import AIOKafkaConsumer

    from stream_guard.settings import Settings
    from stream_guard.stream.kafka_config import aiokafka_security

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap.removeprefix("kafka://"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        **aiokafka_security(Settings.from_env()),
    )
    await consumer.start()
    alerts: list[dict[str, Any]] = []
    try:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while loop.time() - last < idle_s:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    last = loop.time()
                    try:
                        doc = orjson.loads(rec.value or b"")
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(doc, dict):
                        alerts.append(doc)
    finally:
        await consumer.stop()
    return alerts


def run_score(args: argparse.Namespace) -> int:
    """Run ``score`` from parsed arguments; returns the exit code."""
    import orjson

    from stream_guard.loadgen.labels import read_labels
    from stream_guard.loadgen.scorer import format_report, read_alerts, score

    if bool(args.alerts) == bool(args.alerts_topic):
        return _err("score needs exactly one of --alerts FILE or --alerts-topic TOPIC")
    try:
        labels = read_labels(args.labels)
        if args.alerts:
            alerts = read_alerts(args.alerts)
        else:
            alerts = asyncio.run(_consume_alerts(args.bootstrap, args.alerts_topic, args.idle))
        report = score(alerts, labels, min_severity=args.min_severity)
    except (OSError, ValueError) as exc:
        return _err(str(exc))
    if args.json == "-":
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(format_report(report))
        if args.json:
            Path(args.json).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    if args.plot:
        from stream_guard.loadgen.plot import plot_timeline

        try:
            plot_timeline(alerts, labels, args.plot, title=args.title)
        except RuntimeError as exc:
            return _err(str(exc))
        print(f"plot -> {args.plot}", file=sys.stderr)
    return 0
