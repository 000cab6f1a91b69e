"""The Celery application the workers run: ``celery -A workers.celery_app worker``."""

from datetime import timedelta

from kombu import Exchange, Queue

from common.deliveries import TASK_SWEEP_DELIVERIES
from common.queue import make_celery
from common.settings import Settings, get_settings
from workers.fanout.destinations import delivery_queues


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
app.conf.beat_schedule = {
    "relay-outbox": {"task": "smspipe.relay_outbox", "schedule": timedelta(seconds=15)},
    "sweep-deliveries": {"task": TASK_SWEEP_DELIVERIES, "schedule": timedelta(seconds=10)},
}
