"""Celery configuration shared by the ingest (which only publishes) and the workers.

At-least-once: tasks are acknowledged after they finish (``acks_late``), a task whose worker dies
is redelivered (``task_reject_on_worker_lost``), and the Redis visibility timeout is far longer
than the slowest batch. JSON only, never pickle.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from common.settings import Settings

VISIBILITY_TIMEOUT_SECONDS = 3600


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
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
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
