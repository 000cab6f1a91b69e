"""The Celery application the workers run: ``celery -A workers.celery_app worker``."""

from datetime import timedelta

from celery.signals import worker_init

from common.queue import make_celery
from common.redis_check import check_redis_settings
from common.settings import get_settings

app = make_celery(get_settings(), name="smspipe-workers")
app.conf.include = ["workers.tasks"]
# kombu's Redis transport, minus the window where a Redis crash loses a task just fetched.
app.conf.broker_transport = "workers.redis_transport:Transport"
app.conf.beat_schedule = {
    "relay-outbox": {"task": "smspipe.relay_outbox", "schedule": timedelta(seconds=15)},
}


@worker_init.connect
def _check_redis(**_: object) -> None:
    check_redis_settings(get_settings().redis_url)
