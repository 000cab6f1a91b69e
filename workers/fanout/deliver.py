"""Deliveries: created when the outbox publishes, attempted one id at a time by a Celery task.

Isolation (docs/consuming-events.md has the whole story):
- every destination has its own Celery queue, and a delivery worker consumes its queues in
  turn (kombu's Redis transport rotates them), so a destination with many retries due gets its
  share of the worker, not all of it;
- every destination has at most ``SMSPIPE_DELIVERY_LANES`` attempts running at once, counted
  in Redis, so a subscriber that hangs until its timeout holds at most that many worker slots.
  Its other due deliveries wait in the database, not in the queue, and each finished attempt
  enqueues the destination's next due delivery;
- a destination whose last attempt failed in a retryable way is down to one lane until an
  attempt succeeds, so a failing subscriber's retries take little of the worker.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import redis
from celery import Celery
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from common.db import insert_ignoring_conflicts
from common.deliveries import destination_queue, enqueue_deliveries
from common.models import Delivery, DeliveryAttempt, OutboxEvent
from common.settings import Settings
from workers.fanout.attempts import PARKED, RETRY, AttemptResult, Decision, decide
from workers.fanout.destinations import Destination, load_destinations

logger = logging.getLogger(__name__)

# Retries due sooner than this are enqueued with a countdown; later ones are left to the sweep,
# because the Redis transport redelivers a countdown task held longer than its visibility timeout.
MAX_COUNTDOWN_SECONDS = 300.0
# The sweep only picks deliveries overdue by this much: on time, a countdown or a finished
# attempt has already enqueued them.
SWEEP_GRACE_SECONDS = 30.0
# A message on its way marks its delivery for this long past its countdown; if the message is
# lost, the mark expires and the sweep sends another.
QUEUED_MARKER_SECONDS = 120.0
# A failing destination keeps a single lane this long after its last retryable failure.
FAILING_MARK_SECONDS = 300
# A task that arrives at most this much before its delivery is due is sent again for then.
EARLY_SECONDS = 5.0

# KEYS: the destination's lane set, its "failing" mark; ARGV: now, lease expiry, token, lanes.
# Leases of crashed workers expire, so a lane is never lost for good.
ACQUIRE_LANE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local lanes = tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[2]) == 1 then lanes = 1 end
if redis.call('ZCARD', KEYS[1]) >= lanes then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) - tonumber(ARGV[1])) + 1)
return 1
"""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Fanout:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        redis_client: redis.Redis,
        celery: Celery | None = None,
        destinations: dict[tuple[str, str], Destination] | None = None,
    ):
        self.settings = settings
        self.sessions = sessions
        self.redis = redis_client
        self._celery = celery
        self.destinations = load_destinations(settings) if destinations is None else destinations
        self._acquire_lane = redis_client.register_script(ACQUIRE_LANE)

    @property
    def celery(self) -> Celery:
        if self._celery is None:
            from common.queue import make_celery

            self._celery = make_celery(self.settings, name="smspipe-fanout")
        return self._celery

    # --- from the outbox -------------------------------------------------------------------

    def create_deliveries(self, session: Session, events: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """One pending delivery per (destination, event) it wants; returns the destinations
        that got any. ``events`` are (event_id, type) in outbox order. Safe to repeat."""
        now = utcnow()
        rows = [
            {
                "destination_kind": destination.kind,
                "destination": destination.name,
                "event_id": event_id,
                "event_type": event_type,
                "state": "pending",
                "attempts": 0,
                "replays": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event_id, event_type in events
            for destination in self.destinations.values()
            if destination.wants(event_type)
        ]
        if rows:
            session.execute(insert_ignoring_conflicts(session, Delivery.__table__), rows)
        return {(row["destination_kind"], row["destination"]) for row in rows}

    def start(self, keys: set[tuple[str, str]], event_ids: Sequence[str]) -> None:
        """Enqueue the new deliveries of each destination that has a free lane; finished
        attempts enqueue the rest. A broker failure here only delays them until the sweep."""
        try:
            for kind, name in sorted(keys):
                self.enqueue_due(kind, name, utcnow(), event_ids)
        except Exception:  # broker or database down: nothing is lost, the sweep will enqueue them
            logger.warning("could not enqueue deliveries; the sweep will", exc_info=True)

    def enqueue_due(
        self, kind: str, name: str, due_by: datetime, event_ids: Sequence[str] | None = None, limit: int | None = None
    ) -> list[int]:
        """Enqueue the destination's oldest due deliveries (of ``event_ids``, if given), as many
        as it has free lanes: a destination whose lanes are busy gets no message at all, so
        its backlog stays in the database instead of crowding the worker."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcount(self._lane_key(kind, name), time.time(), "+inf")
            pipe.exists(self._failing_key(kind, name))
            running, failing = pipe.execute()
        free = (1 if failing else self.settings.delivery_lanes) - running
        free = free if limit is None else min(free, limit)
        if free <= 0:
            return []
        query = (
            select(Delivery.id)
            .where(
                Delivery.state == "pending",
                Delivery.destination_kind == kind,
                Delivery.destination == name,
                Delivery.next_attempt_at <= due_by,
            )
            .order_by(Delivery.id)
            .limit(free)
        )
        if event_ids is not None:
            query = query.where(Delivery.event_id.in_(list(event_ids)))
        with self.sessions() as session:
            ids = list(session.scalars(query))
        return self._enqueue(kind, name, ids)

    def _enqueue(self, kind: str, name: str, ids: Sequence[int], countdown: float | None = None) -> list[int]:
        """Send a message for each delivery that has none on the way (a Redis marker, removed
        when the task starts, says so): a busy destination costs no duplicate messages."""
        ttl = int((countdown or 0) + QUEUED_MARKER_SECONDS)
        with self.redis.pipeline(transaction=False) as pipe:
            for delivery_id in ids:
                pipe.set(self._queued_key(delivery_id), 1, nx=True, ex=ttl)
            marked = pipe.execute()
        ids = [delivery_id for delivery_id, fresh in zip(ids, marked) if fresh]
        enqueue_deliveries(self.celery, self.queue_for(kind, name), ids, countdown=countdown)
        return ids

    def _queued_key(self, delivery_id: int) -> str:
        return f"smspipe:delivery-queued:{delivery_id}"

    def queue_for(self, kind: str, name: str) -> str:
        """The destination's own queue; a destination no longer configured has none (its
        deliveries go to the shared queue, where they are parked)."""
        if (kind, name) in self.destinations:
            return destination_queue(self.settings, kind, name)
        return self.settings.delivery_queue_name

    # --- the task's body -------------------------------------------------------------------

    def deliver(self, delivery_id: int) -> dict[str, Any]:
        """One attempt of one delivery, if it is due and its destination has a free lane."""
        self.redis.delete(self._queued_key(delivery_id))
        with self.sessions() as session:
            # The payload comes along: one read before the attempt.
            found = session.execute(
                select(Delivery, OutboxEvent.payload)
                .outerjoin(OutboxEvent, OutboxEvent.event_id == Delivery.event_id)
                .where(Delivery.id == delivery_id)
            ).first()
        if found is None:
            return {"delivery": delivery_id, "outcome": "missing"}
        delivery, payload = found
        if delivery.state != "pending" or delivery.next_attempt_at is None:
            return {"delivery": delivery_id, "outcome": "not_due"}
        early = (delivery.next_attempt_at - utcnow()).total_seconds()
        if early > 0:
            if early < EARLY_SECONDS:  # a countdown that fired early (clocks differ): come back
                self._enqueue(delivery.destination_kind, delivery.destination, [delivery_id], countdown=early)
            return {"delivery": delivery_id, "outcome": "not_due"}
        destination = self.destinations.get((delivery.destination_kind, delivery.destination))
        if destination is None:
            self._park_unknown(delivery)
            return {"delivery": delivery_id, "outcome": PARKED}
        token = self._take_lane(destination)
        if token is None:
            return {"delivery": delivery_id, "outcome": "deferred"}  # a finishing attempt takes it
        try:
            return self._attempt(delivery, destination, payload)
        finally:
            self.redis.zrem(self._lane_key(destination.kind, destination.name), token)
            # The lane just freed goes to the next due delivery (one: the others have theirs).
            self.enqueue_due(destination.kind, destination.name, utcnow(), limit=1)

    def _attempt(self, delivery: Delivery, destination: Destination, payload: str | None) -> dict[str, Any]:
        if not self._claim(delivery.id, destination.lease_seconds):
            return {"delivery": delivery.id, "outcome": "not_due"}  # another worker has it
        started_at = utcnow()
        clock = time.perf_counter()
        if payload is None:
            result = AttemptResult.failed("event no longer in the outbox", retryable=False)
        else:
            result = destination.attempt(delivery.event_id, payload)
        duration_ms = (time.perf_counter() - clock) * 1000
        decision = decide(result, delivery.attempts + 1, destination.retry_schedule)
        self._record(delivery.id, started_at, duration_ms, result, decision)
        self._mark_health(destination, result)
        if decision.outcome == RETRY and decision.delay is not None and decision.delay <= MAX_COUNTDOWN_SECONDS:
            self._enqueue(destination.kind, destination.name, [delivery.id], countdown=decision.delay)
        log = logger.warning if decision.outcome == PARKED else logger.info
        log("delivery attempt", extra={"delivery": delivery.id, "destination": destination.name,
                                       "event_id": delivery.event_id, "outcome": decision.outcome,
                                       "status_code": result.status_code, "error": result.error})
        return {"delivery": delivery.id, "outcome": decision.outcome, "status_code": result.status_code,
                "error": result.error, "delay": decision.delay}

    def _claim(self, delivery_id: int, lease_seconds: float) -> bool:
        """Move the due time past the attempt: a duplicate task finds it not due."""
        now = utcnow()
        with self.sessions() as session, session.begin():
            claimed = session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.state == "pending", Delivery.next_attempt_at <= now)
                .values(next_attempt_at=now + timedelta(seconds=lease_seconds))
            )
        return claimed.rowcount == 1

    def _record(self, delivery_id: int, started_at: datetime, duration_ms: float, result: AttemptResult,
                decision: Decision) -> None:
        now = utcnow()
        next_attempt_at = now + timedelta(seconds=decision.delay) if decision.outcome == RETRY else None
        with self.sessions() as session, session.begin():
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery_id, started_at=started_at, duration_ms=duration_ms,
                    status_code=result.status_code, error=result.error, response_body=result.response_body,
                    outcome=decision.outcome,
                )
            )
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    attempts=Delivery.attempts + 1,
                    state="pending" if decision.outcome == RETRY else decision.outcome,
                    next_attempt_at=next_attempt_at,
                    last_status_code=result.status_code,
                    last_error=result.error,
                    finished_at=None if decision.outcome == RETRY else now,
                )
            )

    def _park_unknown(self, delivery: Delivery) -> None:
        error = f"{delivery.destination_kind} {delivery.destination!r} is no longer configured"
        with self.sessions() as session, session.begin():
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery.id, Delivery.state == "pending")
                .values(state=PARKED, last_error=error, next_attempt_at=None, finished_at=utcnow())
            )
        logger.warning("delivery parked", extra={"delivery": delivery.id, "error": error})

    # --- lanes -----------------------------------------------------------------------------

    def _failing_key(self, kind: str, name: str) -> str:
        return f"smspipe:lanes-failing:{kind}:{name}"

    def _mark_health(self, destination: Destination, result: AttemptResult) -> None:
        """A destination failing in a way a retry may cure (timeouts, 5xx...) is down to one lane
        until it succeeds again: its retries then cost the worker little, whatever its
        schedule. A refusal of one event (4xx) says nothing about the destination."""
        key = self._failing_key(destination.kind, destination.name)
        if result.ok:
            self.redis.delete(key)
        elif result.retryable:
            self.redis.set(key, 1, ex=FAILING_MARK_SECONDS)

    def _lane_key(self, kind: str, name: str) -> str:
        return f"smspipe:lanes:{kind}:{name}"

    def _take_lane(self, destination: Destination) -> str | None:
        token = uuid.uuid4().hex
        now = time.time()
        taken = self._acquire_lane(
            keys=[self._lane_key(destination.kind, destination.name),
                  self._failing_key(destination.kind, destination.name)],
            args=[now, now + destination.lease_seconds, token, self.settings.delivery_lanes],
        )
        return token if taken else None

    # --- the sweep -------------------------------------------------------------------------

    def sweep(self) -> int:
        """Enqueue overdue deliveries: lost messages, retries too far off for a countdown, and
        deliveries whose worker died. At most ``lanes`` per destination, oldest first."""
        due_by = utcnow() - timedelta(seconds=SWEEP_GRACE_SECONDS)
        with self.sessions() as session:
            keys = session.execute(
                select(Delivery.destination_kind, Delivery.destination)
                .where(Delivery.state == "pending", Delivery.next_attempt_at <= due_by)
                .distinct()
            ).all()
        return sum(len(self.enqueue_due(kind, name, due_by)) for kind, name in keys)
