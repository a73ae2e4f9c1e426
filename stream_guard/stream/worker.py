"""Running the Faust worker: topics, metrics endpoint, then Faust's own worker loop."""

from __future__ import annotations

import asyncio
import logging

import faust

from stream_guard import __version__
from stream_guard.core.signals import native
from stream_guard.gc_tuning import tune_gc
from stream_guard.metrics import Metrics, serve_http
from stream_guard.settings import Settings
from stream_guard.stream.app import build_app
from stream_guard.stream.health import WorkerHealth
from stream_guard.stream.logs import limit_repeated_logs
from stream_guard.stream.topics import ensure_topics

__all__ = ["run_worker"]

log = logging.getLogger("stream_guard")


def run_worker(settings: Settings) -> int:
    """Run one worker until SIGINT/SIGTERM; returns the exit code."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    limit_repeated_logs()
    log.setLevel(settings.log_level.upper())
    partitions = loop.run_until_complete(ensure_topics(settings))
    metrics = Metrics()
    kernel = "compiled" if native() else "python"
    metrics.build_info.info({"version": __version__, "text_kernel": kernel})
    health = WorkerHealth.of(settings)
    app, _runtime = build_app(settings, metrics, partitions, health)
    server = serve_http(metrics, settings.metrics_host, settings.metrics_port, health.not_ready, health.not_alive)
    log.info(
        "worker %s starting: broker=%s input=%s (%d partitions) alerts=%s dlq=%s metrics=:%d",
        settings.app_id, settings.bootstrap_servers, settings.input_topic, partitions,
        settings.alerts_topic, settings.dlq_topic, server.server_address[1],
    )
    if kernel == "python":
        log.warning("the compiled text kernel is not built: text signals run in pure Python (the same signals, "
                    "several times slower); install Rust's cargo and reinstall stream-guard to build it")
    # keep our logging set-up: mode would otherwise reconfigure it and silence stream_guard loggers
    worker = faust.Worker(app, loop=loop, loglevel="WARNING", quiet=True, redirect_stdouts=False,
                          override_logging=False)
    worker.spinner = None  # a terminal spinner writes escape codes into log files
    tune_gc(settings.gc_threshold)  # Faust, River and the app are built: out of the collector's way
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        server.shutdown()
    if health.failure is not None:
        log.critical("worker stopped after an ingest failure (%s): exit code 1", health.failure)
        return code or 1
    return code
