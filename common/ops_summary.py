"""What an operator looks at: one summary read from the database, Redis and the spool, shared by
the ops page (``GET /ops``) and ``smspipe status`` so the two always agree.

Rates come from ``raw_payloads``: every accepted webhook is stored there, keyed by its ingest id,
whose first 12 hex digits are the ingest time in milliseconds — so a time window is a range scan
of the primary key, cheap however large the table grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.config import load_config
from common.errors import ConfigError
from common.metrics import queue_reading, spool_reading
from common.models import DeadLetter, Message, OutboxEvent, RawPayload
from common.phone import mask_number
from common.providers import PROVIDERS
from common.settings import Settings

RATE_WINDOW = timedelta(minutes=5)
RATE_BUCKET = timedelta(seconds=10)
LATEST_EVENTS = 12
LATEST_DEAD_LETTERS = 10
#: Normalized delivery statuses in their display order (CONTRACT §4), non-final first.
STATUS_ORDER = ("submitted", "sent", "delivered", "undelivered", "failed", "expired", "rejected")


def ingest_id_floor(moment: datetime) -> str:
    """The smallest ingest id minted at ``moment`` (see ``common.envelope.new_ingest_id``)."""
    return f"{int(moment.timestamp() * 1000):012x}"


@dataclass
class Summary:
    generated_at: datetime
    rates: dict[str, list[int]]  # provider -> webhooks per bucket, oldest first
    rate_bucket_seconds: int
    queue: dict[str, Any] | None  # None: broker unreachable
    spool: dict[str, int]
    payload_states: dict[str, int]
    statuses: list[tuple[str, int]]
    latest_events: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    dead_letters_waiting: int
    subscribers: list[dict[str, Any]] = field(default_factory=list)

    def per_minute(self, provider: str) -> float:
        """Webhooks a minute over the last minute."""
        per_bucket = self.rates.get(provider, [])
        last_minute = per_bucket[-int(60 / self.rate_bucket_seconds):]
        return float(sum(last_minute))


def webhook_rates(session: Session, now: datetime) -> dict[str, list[int]]:
    """Webhooks per provider per bucket over the window: one counted range scan per bucket."""
    buckets = int(RATE_WINDOW / RATE_BUCKET)
    start = now - RATE_WINDOW
    rates = {provider: [0] * buckets for provider in PROVIDERS}
    for index in range(buckets):
        low = ingest_id_floor(start + index * RATE_BUCKET)
        high = ingest_id_floor(start + (index + 1) * RATE_BUCKET)
        counts = session.execute(
            select(RawPayload.provider, func.count())
            .where(RawPayload.ingest_id >= low, RawPayload.ingest_id < high)
            .group_by(RawPayload.provider)
        ).all()
        for provider, count in counts:
            if provider in rates:
                rates[provider][index] = count
    return rates


def _event_row(row: OutboxEvent) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "type": row.type.removeprefix("io.smspipe.").removesuffix(".v1"),
        "subject": mask_number(row.subject),
        "ingest_id": row.ingest_id,
        "created_at": row.created_at,
        "published": row.published_at is not None,
    }


def _dead_letter_row(row: DeadLetter) -> dict[str, Any]:
    return {
        "id": row.id,
        "ingest_id": row.ingest_id,
        "provider": row.provider,
        "reason": row.reason,
        "attempts": row.attempts,
        "created_at": row.created_at,
        "replayed_at": row.replayed_at,
    }


def _subscribers(settings: Settings) -> list[dict[str, Any]]:
    try:
        config = load_config(settings.config_path)
    except ConfigError as error:
        return [{"name": "config", "url": "", "types": [], "problem": str(error)}]
    return [
        {"name": subscriber.name, "url": subscriber.url, "types": list(subscriber.types), "problem": None}
        for subscriber in config.subscribers
    ]


def build_summary(settings: Settings, session: Session, client: redis.Redis,
                  now: datetime | None = None) -> Summary:
    now = now or datetime.now(timezone.utc)
    try:
        queue: dict[str, Any] | None = queue_reading(client, settings.queue_name)
    except redis.RedisError:
        queue = None
    statuses = dict(
        session.execute(
            select(Message.status, func.count()).where(Message.status.is_not(None)).group_by(Message.status)
        ).all()
    )
    ordered = [(status, statuses.pop(status)) for status in STATUS_ORDER if status in statuses]
    ordered += sorted(statuses.items())  # a status this list does not know yet, still shown
    return Summary(
        generated_at=now,
        rates=webhook_rates(session, now),
        rate_bucket_seconds=int(RATE_BUCKET.total_seconds()),
        queue=queue,
        spool=spool_reading(settings.spool_dir),
        payload_states=dict(
            session.execute(select(RawPayload.state, func.count()).group_by(RawPayload.state)).all()
        ),
        statuses=ordered,
        latest_events=[
            _event_row(row)
            for row in session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq.desc()).limit(LATEST_EVENTS))
        ],
        dead_letters=[
            _dead_letter_row(row)
            for row in session.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(LATEST_DEAD_LETTERS))
        ],
        dead_letters_waiting=session.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
        ) or 0,
        subscribers=_subscribers(settings),
    )
