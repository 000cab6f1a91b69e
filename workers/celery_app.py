"""The Celery application the workers run: ``celery -A workers.celery_app worker``.

Settings and the TOML config (keyword rules, subscribers) are validated here, at import, so a bad
entry stops the worker at start-up with one line naming it instead of failing every batch.
"""

import os
import sys
from datetime import timedelta
from typing import Any

from celery import signals
from kombu import Exchange, Queue

from common.config import load_config
from common.deliveries import TASK_SWEEP_DELIVERIES
from common.errors import ConfigError
from common.queue import make_celery
from common.redis_check import check_redis_settings
from common.settings import Settings, get_settings
from workers.fanout.destinations import delivery_queues

try:
    load_config(get_settings().config_path)
except ConfigError as error:
    print(f"smspipe worker: bad configuration: {error}", file=sys.stderr)
    raise SystemExit(2) from None


def task_queues(settings: Settings) -> list[Queue]:
    """The batch queue, and one queue per delivery destination (subscriber or handler, from the
    config) plus a shared one. A worker started without --queues consumes them all;
    `smspipe worker` takes only the batch queue and `smspipe deliveries worker` all the others,
    so batches never wait behind HTTP calls.

    Each has its own exchange and routing key, as Celery creates a queue it only sends to (a
    bare Queue(name) would be bound with the default queue's routing key in the broker)."""
    return [
        Queue(name, Exchange(name), routing_key=name) for name in (settings.queue_name, *delivery_queues(settings))
    ]


settings = get_settings()
app = make_celery(settings, name="smspipe-workers")
app.conf.include = ["workers.tasks", "workers.fanout.tasks"]
app.conf.task_queues = task_queues(settings)
# kombu's Redis transport, minus the window where a Redis crash loses a task just fetched.
app.conf.broker_transport = "workers.redis_transport:Transport"
app.conf.beat_schedule = {
    "relay-outbox": {"task": "smspipe.relay_outbox", "schedule": timedelta(seconds=15)},
    "sweep-deliveries": {"task": TASK_SWEEP_DELIVERIES, "schedule": timedelta(seconds=10)},
}


@signals.worker_init.connect
def check_redis(**_kwargs: Any) -> None:
    """Warn at start-up when Redis could evict or forget queued webhooks."""
    check_redis_settings(get_settings().redis_url)


def _metrics_role() -> str:
    return f"worker-{get_settings().worker_metrics_port}"


@signals.import_modules.connect
def use_metrics_dir(sender: Any = None, **_kwargs: Any) -> None:
    """In a worker's main process, just before it imports the tasks (and so prometheus_client),
    long before the pool forks. Programs that are not workers (``celery shell``) skip this."""
    from common.metrics_dir import use_multiprocess_dir

    if sender is not None and sender.loader.worker_initialized:
        use_multiprocess_dir(get_settings(), _metrics_role())


@signals.celeryd_init.connect
def remove_stale_metrics(**_kwargs: Any) -> None:
    """Only a worker (not ``celery beat``, which also imports the tasks) clears what a previous
    run of it left, before its pool starts; its own files (``--pool solo``) stay."""
    from common.metrics_dir import metrics_root, remove_stale_files

    remove_stale_files(metrics_root(get_settings()) / _metrics_role(), keep_pid=os.getpid())


@signals.setup_logging.connect
def setup_logging(loglevel: Any = None, **_kwargs: Any) -> None:
    """A receiver here means Celery leaves logging to us: structured and masked, like the ingest."""
    from common.logging import configure_logging

    configure_logging(get_settings().log_format, loglevel or "INFO")


@signals.worker_init.connect
def serve_metrics(**_kwargs: Any) -> None:
    from common.metrics import start_worker_metrics_server

    start_worker_metrics_server(get_settings())
