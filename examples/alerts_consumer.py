#!/usr/bin/env python3
"""Example consumer of stream-guard's alerts topic: a template for your own pipeline.

It reads alerts (contract: ``stream_guard/contracts/alert.schema.json``) from Kafka,
prints them as a readable table and, optionally, POSTs the severe ones to a webhook
(a chat channel, a ticketing system, a SOAR playbook).

    # the docker-compose stack exposes Kafka on localhost:29092
    python examples/alerts_consumer.py --bootstrap localhost:29092 --from-beginning
    python examples/alerts_consumer.py --webhook https://hooks.example.invalid/T0/B0 \\
        --min-severity high --group alerts-to-chat

What it shows about consuming alerts correctly:

* **De-duplication on ``alert_id``.** The id is deterministic for (subject, detectors,
  window, severity), so an alert re-emitted after a worker restart has the same id.
  This example remembers the last 10,000 ids; a production consumer keeps them in its
  own store (or lets the downstream system de-duplicate on the id).
* **At-least-once with a consumer group.** With ``--group`` the offset is committed only
  after an alert has been printed and delivered, so a crash re-delivers instead of
  losing it (and the id makes the repeat harmless). Without ``--group`` nothing is
  committed: handy for looking, not for a pipeline.
* **An escalation is a new alert.** The same subject may come back with a higher
  severity while the earlier alert is still active; treat it as an update of the case.
* **Never crash on one bad record.** A record that is not a JSON object is reported on
  stderr and skipped; a webhook that fails after retries is reported and skipped.

Webhook payload (JSON): ``{"text": "<one-line summary>", "alert": {...the alert...}}``;
``text`` makes it readable in chat tools that accept incoming webhooks.

Needs only ``aiokafka`` (installed with stream-guard) and the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer

SEVERITIES = ("low", "medium", "high", "critical")
COLUMNS = (  # (header, width)
    ("RAISED (UTC)", 20),
    ("SEVERITY", 8),
    ("SCORE", 5),
    ("KIND", 7),
    ("SUBJECT", 24),
    ("ACCTS", 5),
    ("DETECTORS", 16),
    ("EVIDENCE", 0),  # last column: not padded
)


def _cell(value: str, width: int) -> str:
    if not width:
        return value
    if len(value) > width:
        value = value[: width - 1] + "~"
    return value.ljust(width)


def header() -> str:
    """The table's header line."""
    return "  ".join(_cell(name, width) for name, width in COLUMNS).rstrip()


def row(alert: dict[str, Any]) -> str:
    """One alert as a table row: when, how bad, who, which detector, and why.

    >>> row({"raised_at": "2026-03-01T12:00:00.000Z", "severity": "high", "score": 0.8123,
    ...      "kind": "account", "subject": "acct-1", "account_count": 1,
    ...      "detectors": ["volume_rule"], "reasons": [{"signal": "cot_share", "value": 0.97,
    ...      "threshold": 0.3, "detail": "..."}]}).split()
    ['2026-03-01T12:00:00Z', 'high', '0.81', 'account', 'acct-1', '1', 'volume_rule', 'cot_share=0.97(>=0.3)']
    """
    raised = str(alert.get("raised_at", "?")).replace(".000Z", "Z")
    reasons = ", ".join(
        f"{r.get('signal')}={_num(r.get('value'))}(>={_num(r.get('threshold'))})"
        for r in alert.get("reasons", [])[:4]
    )
    cells = (
        raised,
        str(alert.get("severity", "?")),
        f"{float(alert.get('score', 0.0)):.2f}",
        str(alert.get("kind", "?")),
        str(alert.get("subject", "?")),
        str(alert.get("account_count", len(alert.get("account_ids", [])))),
        "+".join(alert.get("detectors", [])),
        reasons,
    )
    return "  ".join(_cell(c, width) for c, (_, width) in zip(cells, COLUMNS)).rstrip()


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary(alert: dict[str, Any]) -> str:
    """A one-line text for chat tools."""
    reasons = "; ".join(str(r.get("detail") or r.get("signal")) for r in alert.get("reasons", [])[:3])
    return (
        f"[stream-guard] {alert.get('severity', '?').upper()} {alert.get('kind', '?')} alert on "
        f"{alert.get('subject', '?')} (score {float(alert.get('score', 0.0)):.2f}, "
        f"{'+'.join(alert.get('detectors', []))}): {reasons}"
    )


def post_webhook(url: str, alert: dict[str, Any], *, attempts: int = 3, timeout: float = 5.0) -> bool:
    """POST the alert as JSON; retries with backoff. True if the receiver answered 2xx."""
    body = json.dumps({"text": summary(alert), "alert": alert}).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "stream-guard-alerts-consumer"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return True
        except (urllib.error.URLError, OSError) as exc:
            print(f"webhook attempt {attempt}/{attempts} failed: {exc}", file=sys.stderr)
        if attempt < attempts:
            time.sleep(0.5 * 2 ** (attempt - 1))
    return False


class Deduplicator:
    """Remembers the last ``size`` alert ids."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self.seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, alert_id: str) -> bool:
        if alert_id in self.seen:
            self.seen.move_to_end(alert_id)
            return False
        self.seen[alert_id] = None
        if len(self.seen) > self.size:
            self.seen.popitem(last=False)
        return True


async def consume(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Consume until --max-messages alerts were read (or forever); returns the exit code."""
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        client_id="stream-guard-alerts-consumer",
    )
    await consumer.start()
    min_rank = SEVERITIES.index(args.min_severity)
    dedup = Deduplicator()
    read = 0
    print(header(), file=out, flush=True)
    try:
        async for record in consumer:
            read += 1
            try:
                alert = json.loads(record.value)
                if not isinstance(alert, dict):
                    raise TypeError("not a JSON object")
            except (ValueError, TypeError) as exc:
                print(f"skipping record {record.partition}/{record.offset}: {exc}", file=sys.stderr)
                alert = None
            if alert is not None and dedup.first_time(str(alert.get("alert_id", f"{record.partition}/{record.offset}"))):
                print(row(alert), file=out, flush=True)
                severity = alert.get("severity")
                if args.webhook and severity in SEVERITIES and SEVERITIES.index(severity) >= min_rank:
                    delivered = await asyncio.to_thread(post_webhook, args.webhook, alert)
                    if not delivered:
                        print(f"webhook: giving up on alert {alert.get('alert_id')}", file=sys.stderr)
            if args.group:
                await consumer.commit()  # after delivery: at-least-once
            if args.max_messages and read >= args.max_messages:
                break
    finally:
        await consumer.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Print stream-guard alerts as a table; optionally POST severe ones to a webhook.",
    )
    parser.add_argument(
        "--bootstrap", default=os.environ.get("STREAM_GUARD_BROKER", "localhost:29092"),
        help="Kafka bootstrap servers HOST:PORT[,...] (default: $STREAM_GUARD_BROKER or localhost:29092)",
    )
    parser.add_argument(
        "--topic", default=os.environ.get("STREAM_GUARD_ALERTS_TOPIC", "llm.alerts"),
        help="alerts topic (default: $STREAM_GUARD_ALERTS_TOPIC or llm.alerts)",
    )
    parser.add_argument("--group", help="consumer group id: commit offsets after delivery (default: none)")
    parser.add_argument("--from-beginning", action="store_true",
                        help="start at the oldest retained alert when there is no committed offset")
    parser.add_argument("--max-messages", type=int, default=0, help="stop after this many records (0 = run forever)")
    parser.add_argument("--webhook", metavar="URL", help="POST alerts at or above --min-severity to this URL")
    parser.add_argument("--min-severity", choices=SEVERITIES, default="high",
                        help="lowest severity sent to the webhook (default: high)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(consume(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
