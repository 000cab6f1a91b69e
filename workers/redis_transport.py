"""kombu's Redis transport, closing the window where a Redis crash loses a fetched task.

kombu takes a message off the queue (``BRPOP``) and only then records it as unacknowledged
(``ZADD`` + ``HSET``, a second command). If Redis dies between the two, the message is in
neither place: kombu drops it, and the webhooks in it are gone although they were answered 200.
The fault suite saw exactly that (tests/faults, Redis SIGKILLed while workers fetch).

Here, when that second command fails on a connection error, the message is kept in this process
and pushed back to the head of its queue as soon as a channel of this process reaches Redis
again. If the write did happen after all (the reply was lost), the task runs twice, which the
pipeline absorbs (raw payloads are unique on ingest id). What remains: a crash after Redis
persisted the ``BRPOP`` but before its reply left the server (microseconds) — see
docs/reliability.md.

Used by the workers only (``broker_transport`` in workers/celery_app.py); the ingest only
publishes.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)

# Messages fetched whose "unacked" record could not be written: (payload, exchange, routing key).
# Per process, not per channel: the consumer replaces its connection after a connection error.
_orphans: list[tuple[dict[str, Any], str, str]] = []
_orphans_lock = threading.Lock()


class QoS(kombu_redis.QoS):
    def append(self, message: Any, delivery_tag: Any) -> None:
        try:
            super().append(message, delivery_tag)
        except self.channel.connection_errors:
            delivery = message.delivery_info
            with _orphans_lock:
                _orphans.append((message._raw, delivery["exchange"], delivery["routing_key"]))
            logger.warning("Redis lost after a task was fetched; it will be requeued on reconnect")
            raise


class Channel(kombu_redis.Channel):
    QoS = QoS

    def _brpop_start(self, timeout: Any = None) -> Any:
        if _orphans:
            self._requeue_orphans()
        return super()._brpop_start(timeout)

    def _requeue_orphans(self) -> None:
        with _orphans_lock:
            pending = list(_orphans)
            if not pending:
                return
            with self.client.pipeline() as pipe:
                for payload, exchange, routing_key in pending:
                    self._do_restore_message(payload, exchange, routing_key, pipe, leftmost=False)
                pipe.execute()  # a connection error here keeps them for the next attempt
            del _orphans[: len(pending)]
        logger.warning("requeued %d task(s) fetched just before Redis was lost", len(pending))


class Transport(kombu_redis.Transport):
    Channel = Channel
