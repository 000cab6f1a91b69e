"""Celery tasks of the fan-out, on their own queue (``SMSPIPE_DELIVERY_QUEUE``): batch
processing never waits on a subscriber."""

from __future__ import annotations

import os
import threading
from typing import Any

import redis

from common.db import make_engine, make_session_factory
from common.deliveries import TASK_DELIVER, TASK_SWEEP_DELIVERIES
from common.settings import get_settings
from workers.celery_app import app
from workers.fanout.deliver import Fanout

_fanout: tuple[int, Fanout] | None = None
_fanout_lock = threading.Lock()


def get_fanout() -> Fanout:
    """One fan-out (engine, Redis pool, destinations) per process, created after the fork;
    shared by the threads of a ``--pool threads`` worker."""
    global _fanout
    with _fanout_lock:
        if _fanout is None or _fanout[0] != os.getpid():
            settings = get_settings()
            _fanout = (
                os.getpid(),
                Fanout(settings, make_session_factory(make_engine(settings.database_url)),
                       redis.Redis.from_url(settings.redis_url), celery=app),
            )
        return _fanout[1]


@app.task(name=TASK_DELIVER)
def deliver(delivery_id: int) -> dict[str, Any]:
    return get_fanout().deliver(delivery_id)


@app.task(name=TASK_SWEEP_DELIVERIES)
def sweep_deliveries() -> int:
    return get_fanout().sweep()
