"""Applying one normalized record to the database, returning the events it produces.

Each function runs inside the record's savepoint, after its dedupe key was claimed, so it runs
at most once per provider record. Tables, not ``if`` chains: ``APPLY`` maps a record type to
its function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from common.envelope import Envelope
from common.events import LINK_CLICKED, MESSAGE_RECEIVED, MESSAGE_STATUS
from common.db import insert_ignoring_conflicts
from common.models import Message, StatusReport as StatusReportRow
from workers.cloudevents import cloud_event, isoformat
from workers.delivery_state import State, decide
from workers.normalize import is_final
from workers.records import ConsentSignal, InboundMessage, LinkClick, Record, StatusReport

LOCKED_MESSAGES = "smspipe.locked_outbound_messages"


class Emitter:
    """Builds a record's events, numbering them per type so their ids are deterministic."""

    def __init__(self, record: Record, envelope: Envelope):
        self.record = record
        self.envelope = envelope
        self.events: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()

    def emit(self, event_type: str, subject: str | None, data: dict[str, Any]) -> None:
        index = self._counts[event_type]
        self._counts[event_type] += 1
        event = cloud_event(
            provider=self.record.provider,
            dedupe_key=self.record.dedupe_key,
            event_type=event_type,
            index=index,
            subject=subject,
            time=self.record.occurred_at,
            data={"provider": self.record.provider, **data},
        )
        # CloudEvents extension attribute: traces an event back to the webhook that carried it.
        event["smspipeingestid"] = self.envelope.ingest_id
        self.events.append(event)


def apply_inbound(session: Session, record: InboundMessage, emitter: Emitter) -> None:
    session.add(
        Message(
            provider=record.provider,
            direction="inbound",
            provider_message_id=record.provider_message_id,
            end_user=record.end_user,
            our_number=record.our_number,
            text=record.text,
            keyword=record.keyword,
            callback_data=record.callback_data,
            correlation_id=record.correlation_id,
            occurred_at=record.occurred_at,
            details={
                "segments": record.segments,
                "price": record.price,
                "flags": list(record.flags),
                "provider_rules": [asdict(rule) for rule in record.provider_rules],
            },
        )
    )
    emitter.emit(
        MESSAGE_RECEIVED,
        record.end_user,
        {
            "provider_message_id": record.provider_message_id,
            "from": record.end_user,
            "to": record.our_number,
            "text": record.text,
            "keyword": record.keyword,
            "received_at": isoformat(record.occurred_at),
            "segments": record.segments,
            "price": record.price,
            "callback_data": record.callback_data,
            "correlation_id": record.correlation_id,
            "provider_rules": [
                {"rule": rule.rule, "keyword": rule.keyword, "lists": list(rule.lists)}
                for rule in record.provider_rules
            ],
            "flags": list(record.flags),
        },
    )


def _outbound_row(record: Record, recipient: str | None) -> dict[str, Any]:
    return {
        "provider": record.provider,
        "direction": "outbound",
        "provider_message_id": record.provider_message_id,
        "end_user": recipient,
        "status_final": False,
        "created_at": record.occurred_at,
        "updated_at": record.occurred_at,
        "details": {},
    }


def lock_outbound_messages(session: Session, records: list[StatusReport]) -> dict[tuple[str, str], Message]:
    """What ``outbound_message_for_update`` does one by one, for a batch's reports at once:
    creates the messages never seen (one statement) and locks them all, in key order, so two
    workers whose batches share messages wait for each other instead of deadlocking."""
    rows = {(record.provider, record.provider_message_id): _outbound_row(record, record.recipient)
            for record in reversed(records)  # the first report of a message names it, as one by one
            if record.provider_message_id is not None}
    if not rows:
        return {}
    keys = sorted(rows)
    session.execute(insert_ignoring_conflicts(session, Message.__table__), [rows[key] for key in keys])
    messages = session.scalars(
        select(Message)
        .where(Message.direction == "outbound", tuple_(Message.provider, Message.provider_message_id).in_(keys))
        .order_by(Message.provider, Message.provider_message_id)
        .with_for_update()
    ).all()
    return {(message.provider, message.provider_message_id): message for message in messages}


@contextmanager
def outbound_messages_locked(session: Session, records: list[StatusReport]) -> Iterator[None]:
    """Within it, ``outbound_message_for_update`` answers from the messages locked up front,
    without a query per report (the locks last until the transaction ends)."""
    session.info[LOCKED_MESSAGES] = lock_outbound_messages(session, records)
    try:
        yield
    finally:
        session.info.pop(LOCKED_MESSAGES, None)


def outbound_message_for_update(session: Session, record: Record, recipient: str | None) -> Message:
    """The outbound message a report is about, locked; created if never seen (CONTRACT §4)."""
    locked = session.info.get(LOCKED_MESSAGES, {}).get((record.provider, record.provider_message_id))
    if locked is not None:
        return locked
    key = (Message.provider == record.provider, Message.direction == "outbound",
           Message.provider_message_id == record.provider_message_id)
    query = select(Message).where(*key).with_for_update()
    message = session.scalars(query).one_or_none()
    if message is None:
        session.execute(insert_ignoring_conflicts(session, Message.__table__).values(**_outbound_row(record, recipient)))
        message = session.scalars(query).one()
    return message


def apply_status(session: Session, record: StatusReport, emitter: Emitter) -> None:
    message = outbound_message_for_update(session, record, record.recipient)
    current = State(message.status, message.status_at) if message.status else None
    incoming = State(record.status, record.occurred_at)
    applied = decide(current, incoming)
    error = record.error
    session.add(
        StatusReportRow(
            message_id=message.id,
            ingest_id=emitter.envelope.ingest_id,
            status=record.status,
            final=is_final(record.status),
            provider_status=record.provider_status,
            error_code=error.code if error else None,
            error_description=error.description if error else None,
            error_permanent=error.permanent if error else None,
            occurred_at=record.occurred_at,
            applied=applied,
        )
    )
    if not applied:
        return
    previous = message.status
    message.status = record.status
    message.status_final = is_final(record.status)
    message.status_at = record.occurred_at
    message.provider_status = record.provider_status
    message.error_code = error.code if error else None
    message.error_description = error.description if error else None
    message.error_permanent = error.permanent if error else None
    message.end_user = message.end_user or record.recipient
    message.callback_data = record.callback_data or message.callback_data
    message.correlation_id = record.correlation_id or message.correlation_id
    if previous == record.status:
        return  # a later timestamp for the same state: history only, no event
    emitter.emit(
        MESSAGE_STATUS,
        record.recipient,
        {
            "provider_message_id": record.provider_message_id,
            "status": record.status,
            "final": is_final(record.status),
            "previous_status": previous,
            "provider_status": record.provider_status,
            "error": asdict(error) if error else None,
            "recipient": record.recipient,
            "occurred_at": isoformat(record.occurred_at),
            "callback_data": record.callback_data,
            "correlation_id": record.correlation_id,
            "flags": list(record.flags),
        },
    )


def apply_click(session: Session, record: LinkClick, emitter: Emitter) -> None:
    emitter.emit(
        LINK_CLICKED,
        record.recipient,
        {
            "provider_message_id": record.provider_message_id,
            "url": record.url,
            "ip": record.ip,
            "user_agent": record.user_agent,
            "occurred_at": isoformat(record.occurred_at),
        },
    )


def apply_consent(session: Session, record: ConsentSignal, emitter: Emitter) -> None:
    # TODO(#6): consent state with history and io.smspipe.consent.changed.v1.
    pass


APPLY: dict[type[Record], Callable[[Session, Any, Emitter], None]] = {
    InboundMessage: apply_inbound,
    StatusReport: apply_status,
    LinkClick: apply_click,
    ConsentSignal: apply_consent,
}
