"""The Celery application the workers run: ``celery -A workers.celery_app worker``."""

from datetime import timedelta
from typing import Any

from celery import signals

from common.queue import make_celery
from common.settings import get_settings

app = make_celery(get_settings(), name="smspipe-workers")
app.conf.include = ["workers.tasks"]
app.conf.beat_schedule = {
    "relay-outbox": {"task": "smspipe.relay_outbox", "schedule": timedelta(seconds=15)},
}


@signals.import_modules.connect
def prepare_metrics(sender: Any = None, **_kwargs: Any) -> None:
    """In a worker's main process, just before it imports the tasks (and so prometheus_client)
    and long before the pool forks: a fresh multiprocess directory for this worker. Other
    programs (``celery shell``, ``inspect``) import modules too; they must not wipe it."""
    from common.metrics_dir import prepare_multiprocess_dir

    if sender is not None and sender.loader.worker_initialized:
        settings = get_settings()
        prepare_multiprocess_dir(settings, f"worker-{settings.worker_metrics_port}")


@signals.setup_logging.connect
def setup_logging(loglevel: Any = None, **_kwargs: Any) -> None:
    """A receiver here means Celery leaves logging to us: structured and masked, like the ingest."""
    from common.logging import configure_logging

    configure_logging(get_settings().log_format, loglevel or "INFO")


@signals.worker_init.connect
def serve_metrics(**_kwargs: Any) -> None:
    from common.metrics import start_worker_metrics_server

    start_worker_metrics_server(get_settings())

