"""The Celery application the workers run: ``celery -A workers.celery_app worker``."""

from datetime import timedelta

from kombu import Queue

from common.deliveries import TASK_SWEEP_DELIVERIES
from common.queue import make_celery
from common.settings import get_settings
from workers.fanout.destinations import delivery_queues

settings = get_settings()
app = make_celery(settings, name="smspipe-workers")
app.conf.include = ["workers.tasks", "workers.fanout.tasks"]
# The batch queue, and one queue per delivery destination (subscriber or handler, from the
# config) plus a shared one. A worker started without --queues consumes them all;
# `smspipe worker` takes only the batch queue and `smspipe deliveries worker` all the others,
# so batches never wait behind HTTP calls.
app.conf.task_queues = [Queue(name) for name in (settings.queue_name, *delivery_queues(settings))]
app.conf.beat_schedule = {
    "relay-outbox": {"task": "smspipe.relay_outbox", "schedule": timedelta(seconds=15)},
    "sweep-deliveries": {"task": TASK_SWEEP_DELIVERIES, "schedule": timedelta(seconds=10)},
}
