"""The Celery application the workers run: ``celery -A workers.celery_app worker``.

Settings and the TOML config (keyword rules, subscribers) are validated here, at import, so a bad
entry stops the worker at start-up with one line naming it instead of failing every batch.
"""

import sys
from datetime import timedelta

from common.config import load_config
from common.errors import ConfigError
from common.queue import make_celery
from common.settings import get_settings

try:
    load_config(get_settings().config_path)
except ConfigError as error:
    print(f"smspipe worker: bad configuration: {error}", file=sys.stderr)
    raise SystemExit(2) from None

app = make_celery(get_settings(), name="smspipe-workers")
app.conf.include = ["workers.tasks"]
app.conf.beat_schedule = {
    "relay-outbox": {"task": "smspipe.relay_outbox", "schedule": timedelta(seconds=15)},
}
