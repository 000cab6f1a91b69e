"""Deliveries to HTTP subscribers and entry-point handlers, as operators see them.

Shared by the admin API (``ingest/admin_deliveries.py``), the CLI (``smspipe deliveries``) and
the workers: listing, showing and replaying parked deliveries, and enqueueing the delivery task
by name (so the ingest never imports the workers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from celery import Celery
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.models import Delivery, DeliveryAttempt
from common.settings import Settings

TASK_DELIVER = "smspipe.deliver"
TASK_SWEEP_DELIVERIES = "smspipe.sweep_deliveries"

SUBSCRIBER = "subscriber"
HANDLER = "handler"
DESTINATION_KINDS = (SUBSCRIBER, HANDLER)
STATES = ("pending", "succeeded", "parked")


def delivery_as_dict(delivery: Delivery, attempts: Sequence[DeliveryAttempt] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": delivery.id,
        "destination_kind": delivery.destination_kind,
        "destination": delivery.destination,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "replays": delivery.replays,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "next_attempt_at": _iso(delivery.next_attempt_at),
        "created_at": _iso(delivery.created_at),
        "finished_at": _iso(delivery.finished_at),
    }
    if attempts is not None:
        document["attempt_log"] = [
            {
                "started_at": _iso(attempt.started_at),
                "duration_ms": round(attempt.duration_ms, 1),
                "status_code": attempt.status_code,
                "error": attempt.error,
                "response_body": attempt.response_body,
                "outcome": attempt.outcome,
            }
            for attempt in attempts
        ]
    return document


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def list_deliveries(
    session: Session, state: str = "parked", destination: str | None = None, limit: int = 100
) -> list[Delivery]:
    query = select(Delivery).where(Delivery.state == state).order_by(Delivery.id).limit(limit)
    if destination is not None:
        query = query.where(Delivery.destination == destination)
    return list(session.scalars(query))


def get_delivery(session: Session, delivery_id: int) -> tuple[Delivery, list[DeliveryAttempt]] | None:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    attempts = session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)
    )
    return delivery, list(attempts)


def replay_parked(
    session: Session, delivery_ids: Iterable[int] | None = None, destination: str | None = None
) -> list[tuple[int, str, str]]:
    """Make parked deliveries pending again with a fresh retry schedule; returns their
    (id, destination kind, destination). ``delivery_ids=None`` means every parked delivery
    (of ``destination``, if given)."""
    query = (
        select(Delivery.id, Delivery.destination_kind, Delivery.destination)
        .where(Delivery.state == "parked")
        .order_by(Delivery.id)
    )
    if delivery_ids is not None:
        query = query.where(Delivery.id.in_(list(delivery_ids)))
    if destination is not None:
        query = query.where(Delivery.destination == destination)
    replayed = [(row[0], row[1], row[2]) for row in session.execute(query)]
    ids = [delivery_id for delivery_id, _kind, _name in replayed]
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.state == "parked")
            .values(
                state="pending",
                attempts=0,
                replays=Delivery.replays + 1,
                next_attempt_at=datetime.now(timezone.utc),
                finished_at=None,
            )
        )
    return replayed


def destination_queue(settings: Settings, kind: str, name: str) -> str:
    """Each destination has its own queue, and delivery workers consume them all in turn, so
    one destination's backlog never sits in front of another's deliveries."""
    return f"{settings.delivery_queue_name}.{kind}.{name}"


def enqueue_deliveries(celery: Celery, queue: str, delivery_ids: Iterable[int], countdown: float | None = None) -> None:
    for delivery_id in delivery_ids:
        celery.send_task(TASK_DELIVER, args=[delivery_id], queue=queue, countdown=countdown, retry=False)


def enqueue_replayed(celery: Celery, settings: Settings, replayed: Iterable[tuple[int, str, str]]) -> None:
    for delivery_id, kind, name in replayed:
        enqueue_deliveries(celery, destination_queue(settings, kind, name), [delivery_id])
