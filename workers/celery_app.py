"""The Celery application the workers run: ``celery -A workers.celery_app worker``."""

from datetime import timedelta

from common.queue import make_celery
from common.settings import get_settings

app = make_celery(get_settings(), name="smspipe-workers")
app.conf.include = ["workers.tasks"]
app.conf.beat_schedule = {
    "relay-outbox": {"task": "smspipe.relay_outbox", "schedule": timedelta(seconds=15)},
}
