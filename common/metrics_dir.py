"""Where Prometheus multiprocess files live, prepared before ``prometheus_client`` is imported.

``prometheus_client`` picks its value store when it is first imported: with
``PROMETHEUS_MULTIPROC_DIR`` set, every process (gunicorn worker, Celery pool process) writes its
samples to its own memory-mapped file there, and a scrape sums them all. So the parent process
(the gunicorn master, the Celery main process) must wipe the directory and set the variable
before it forks, and before anything imports ``prometheus_client``. This module imports nothing
from it.

The ingest and each worker get a directory of their own under ``SMSPIPE_METRICS_DIR`` (default:
``smspipe-metrics`` beside the spool directory), so neither reports the other's samples twice.
"""

from __future__ import annotations

import os
from pathlib import Path

from common.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_root(settings: Settings) -> Path:
    if settings.metrics_dir:
        return Path(settings.metrics_dir)
    return Path(settings.spool_dir).resolve().parent / "smspipe-metrics"


def use_multiprocess_dir(settings: Settings, role: str) -> Path:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at ``<root>/<role>``, for this process and the
    processes it starts."""
    directory = metrics_root(settings) / role
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def remove_stale_files(directory: Path, keep_pid: int | None = None) -> None:
    """Samples of a previous run would otherwise be summed in; this process's own files stay."""
    for stale in directory.glob("*.db"):
        if keep_pid is None or not stale.stem.endswith(f"_{keep_pid}"):
            stale.unlink(missing_ok=True)


def prepare_multiprocess_dir(settings: Settings, role: str) -> Path:
    """A fresh directory, for a parent that has not imported prometheus_client yet."""
    directory = use_multiprocess_dir(settings, role)
    remove_stale_files(directory)
    return directory


def multiprocess_dir() -> str | None:
    """The directory this process writes to, or None in single-process mode (tests, scripts)."""
    return os.environ.get(MULTIPROC_ENV) or None
