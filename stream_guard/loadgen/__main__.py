"""``python -m stream_guard.loadgen {loadgen,score} ...``: the two commands on their own.

The same subcommands are part of ``stream-guard``; this entry works without the rest of
the CLI (and without Faust).
"""

from __future__ import annotations

import argparse

from stream_guard.loadgen.commands import register


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m stream_guard.loadgen", description="stream-guard load generator and scorer"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


raise SystemExit(main())
