"""``python -m stream_guard`` is the ``stream-guard`` command."""

from stream_guard.cli import main

raise SystemExit(main())
