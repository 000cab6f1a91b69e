"""Publishing a batch of raw envelopes as ONE Celery task, by name (no worker import): used by
the ingest (behind its spool fallback) and by ``smspipe dead-letters replay``.

The message is Celery's task protocol 2 exactly as ``send_task`` writes it through kombu's
Redis transport (one JSON document LPUSHed onto the queue's list, body base64-encoded), built
here and written with ONE ``LPUSH`` on a connection kept per process. ``send_task`` itself cost
about 1 ms of CPU per call in the ingest (a ``saferepr`` of the whole batch for ``argsrepr``,
a new Redis client object per publish, kombu's routing); under load that was most of what the
ingest spent beyond Flask itself (see BENCHMARKS.md). The worker side is plain Celery.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from typing import Any

import redis

from common.envelope import TASK_PROCESS_BATCH
from common.settings import Settings

# The protocol-2 body is [args, kwargs, embed].
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def task_message(batch: list[dict[str, Any]], queue: str, origin: str) -> bytes:
    """One Celery task message carrying ``batch`` as the task's only argument."""
    task_id = str(uuid.uuid4())
    body = json.dumps([[batch], {}, _EMBED], separators=(",", ":")).encode()
    message = {
        "body": base64.b64encode(body).decode("ascii"),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py", "task": TASK_PROCESS_BATCH, "id": task_id, "shadow": None, "eta": None,
            "expires": None, "group": None, "group_index": None, "retries": 0, "timelimit": [None, None],
            "root_id": task_id, "parent_id": None, "argsrepr": f"[<{len(batch)} envelopes>]", "kwargsrepr": "{}",
            "origin": origin, "ignore_result": None, "replaced_task_nesting": 0, "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": task_id, "reply_to": "", "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
            "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(message, separators=(",", ":")).encode()


class CeleryPublisher:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._client: tuple[int, redis.Redis, str] | None = None

    def _redis(self) -> tuple[redis.Redis, str]:
        # One client per process: gunicorn forks after the app may have been created.
        if self._client is None or self._client[0] != os.getpid():
            client = redis.Redis.from_url(self.settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
            self._client = (os.getpid(), client, f"gen{os.getpid()}@{socket.gethostname()}")
        return self._client[1], self._client[2]

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        # No retry here: fail fast so the request can fall back (spool) or answer 503.
        client, origin = self._redis()
        queue = self.settings.queue_name
        client.lpush(queue, task_message(batch, queue, origin))
