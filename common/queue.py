"""Celery configuration shared by the ingest (which only publishes) and the workers.

At-least-once: tasks are acknowledged after they finish (``acks_late``), a task whose worker dies
is redelivered (``task_reject_on_worker_lost``: a pool process killed mid-task is requeued at
once), and the Redis visibility timeout (``SMSPIPE_VISIBILITY_TIMEOUT_SECONDS``) is far longer
than the slowest batch. A whole worker killed at once leaves its task unacknowledged in Redis;
the other workers hand it out again once the visibility timeout has passed (they look every
tenth of it, at most every 10 s). JSON only, never pickle.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from common.settings import Settings


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.redis_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": settings.queue_name,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout_seconds,
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_seconds // 10)),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        },
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }


def make_celery(settings: Settings, name: str = "smspipe") -> Celery:
    app = Celery(name)
    app.conf.update(celery_config(settings))
    return app
