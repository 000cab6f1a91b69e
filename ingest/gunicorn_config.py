"""gunicorn settings for the ingest (``--config python:ingest.gunicorn_config``).

The master prepares the Prometheus multiprocess directory and the structured logging before it
forks its workers (which inherit both), and drops a dead worker's live files.
"""

from __future__ import annotations

import logging

from common.metrics_dir import prepare_multiprocess_dir
from common.settings import get_settings


def on_starting(server: object) -> None:
    from common.logging import configure_logging

    settings = get_settings()
    prepare_multiprocess_dir(settings, "ingest")
    configure_logging(settings.log_format)
    # gunicorn's own lines ("Booting worker ...") through the same structured handler.
    error_log = logging.getLogger("gunicorn.error")
    error_log.handlers.clear()
    error_log.propagate = True
    if getattr(server, "cfg").accesslog == "-":  # SMSPIPE_ACCESS_LOG: query strings may hold numbers
        access_log = logging.getLogger("gunicorn.access")
        access_log.handlers.clear()
        access_log.propagate = True


def child_exit(server: object, worker: object) -> None:
    # Not through common.metrics: importing it here would give the master sample files of its own.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
