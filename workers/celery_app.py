"""The Celery application the workers run: ``celery -A workers.celery_app worker``."""

from datetime import timedelta

from kombu import Queue

from common.deliveries import TASK_DELIVER, TASK_SWEEP_DELIVERIES
from common.queue import make_celery
from common.settings import get_settings

settings = get_settings()
app = make_celery(settings, name="smspipe-workers")
app.conf.include = ["workers.tasks", "workers.fanout.tasks"]
# A worker started without --queues consumes both; `smspipe worker` and
# `smspipe deliveries worker` each consume one, so batches never wait behind HTTP calls.
app.conf.task_queues = (Queue(settings.queue_name), Queue(settings.delivery_queue_name))
app.conf.task_routes = {TASK_DELIVER: {"queue": settings.delivery_queue_name}}
app.conf.beat_schedule = {
    "relay-outbox": {"task": "smspipe.relay_outbox", "schedule": timedelta(seconds=15)},
    "sweep-deliveries": {"task": TASK_SWEEP_DELIVERIES, "schedule": timedelta(seconds=10)},
}
