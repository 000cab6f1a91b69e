"""The outbox: events are written in the same transaction as the state they describe, then
published to the Redis Stream. A crash between commit and publish loses nothing: the relay
publishes whatever is still unpublished (at least once; consumers dedupe by event id).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from common.models import OutboxEvent
from common.settings import Settings
from workers.cloudevents import dumps

logger = logging.getLogger(__name__)


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
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis):
        self.settings = settings
        self.sessions = sessions
        self.redis = redis_client

    def publish(self, items: Sequence[OutboxItem]) -> int:
        """XADD the items in order, then mark them published. Failures are left to the relay."""
        if not items:
            return 0
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for item in items:
                    pipe.xadd(
                        self.settings.stream_name,
                        {"id": item.event_id, "type": item.type, "event": item.payload},
                        maxlen=self.settings.stream_maxlen,
                        approximate=True,
                    )
                pipe.execute()
        except redis.RedisError:
            logger.warning("stream publish failed; the outbox relay will retry", exc_info=True)
            return 0
        with self.sessions() as session, session.begin():
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.event_id.in_([item.event_id for item in items]))
                .values(published_at=datetime.now(timezone.utc))
            )
        return len(items)

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
