"""The outbox: events are written in the same transaction as the state they describe, then
published to every destination: the Redis Stream, and one delivery row per HTTP subscriber and
handler that wants the event (``workers/fanout``). An event is marked published only once both
are done, so a crash between commit and publish loses nothing: the relay publishes whatever is
still unpublished, oldest first. Both steps are idempotent: the stream remembers the ids it
holds (a Redis key per event id for ``SMSPIPE_STREAM_DEDUPE_TTL_SECONDS``) and deliveries are
unique per (destination, event id), so a relayed event reaches each destination once by id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

import redis
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from common.models import OutboxEvent
from common.settings import Settings
from workers.cloudevents import dumps
from workers.fanout.deliver import Fanout

logger = logging.getLogger(__name__)

# KEYS: the stream, the event id's marker; ARGV: maxlen, marker TTL, id, type, event.
# XADD only if this event id is not already in the stream.
XADD_ONCE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
local entry = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'id', ARGV[3], 'type', ARGV[4], 'event', ARGV[5])
redis.call('SET', KEYS[2], entry, 'EX', ARGV[2])
return entry
"""


class OutboxItem(NamedTuple):
    event_id: str
    type: str
    payload: str


def write_outbox(session: Session, ingest_id: str, events: list[dict[str, Any]]) -> list[OutboxItem]:
    items = []
    for event in events:
        item = OutboxItem(event["id"], event["type"], dumps(event))
        session.add(
            OutboxEvent(
                event_id=item.event_id,
                type=item.type,
                subject=event.get("subject"),
                ingest_id=ingest_id,
                payload=item.payload,
            )
        )
        items.append(item)
    return items


class OutboxRelay:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        redis_client: redis.Redis,
        fanout: Fanout | None = None,
    ):
        self.settings = settings
        self.sessions = sessions
        self.redis = redis_client
        self.fanout = fanout if fanout is not None else Fanout(settings, sessions, redis_client)
        self._xadd_once = redis_client.register_script(XADD_ONCE)

    def publish(self, items: Sequence[OutboxItem]) -> int:
        """XADD the items in order, create their deliveries and mark them published in one
        transaction, then enqueue the deliveries. Failures are left to the relay."""
        if not items:
            return 0
        try:
            self._add_to_stream(items)
        except redis.RedisError:
            logger.warning("stream publish failed; the outbox relay will retry", exc_info=True)
            return 0
        try:
            with self.sessions() as session, session.begin():
                destinations = self.fanout.create_deliveries(session, [(item.event_id, item.type) for item in items])
                session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.event_id.in_([item.event_id for item in items]))
                    .values(published_at=datetime.now(timezone.utc))
                )
        except SQLAlchemyError:
            logger.warning("recording deliveries failed; the outbox relay will retry", exc_info=True)
            return 0
        self.fanout.start(destinations, [item.event_id for item in items])
        return len(items)

    def _add_to_stream(self, items: Sequence[OutboxItem]) -> None:
        stream = self.settings.stream_name
        with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                self._xadd_once(
                    keys=[stream, f"{stream}:published:{item.event_id}"],
                    args=[self.settings.stream_maxlen, self.settings.stream_dedupe_ttl_seconds,
                          item.event_id, item.type, item.payload],
                    client=pipe,
                )
            pipe.execute()

    def relay_pending(self, older_than: timedelta = timedelta(seconds=30), limit: int = 1000) -> int:
        """Publish events a crashed or failed publish left behind, oldest first."""
        cutoff = datetime.now(timezone.utc) - older_than
        with self.sessions() as session:
            rows = session.execute(
                select(OutboxEvent.event_id, OutboxEvent.type, OutboxEvent.payload)
                .where(OutboxEvent.published_at.is_(None), OutboxEvent.created_at <= cutoff)
                .order_by(OutboxEvent.seq)
                .limit(limit)
            ).all()
        return self.publish([OutboxItem(*row) for row in rows])
