"""Applying one normalized record to the database, returning the events it produces.

Each function runs inside the record's savepoint, after its dedupe key was claimed, so it runs
at most once per provider record. Tables, not ``if`` chains: ``APPLY`` maps a record type to
its function. Every function gets the keyword ``Ruleset`` in force (from the TOML config).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from common import metrics
from common.db import insert_ignoring_conflicts
from common.envelope import Envelope
from common.events import KEYWORD_MATCHED, LINK_CLICKED, MESSAGE_RECEIVED, MESSAGE_STATUS
from common.models import Message, StatusReport as StatusReportRow
from workers.cloudevents import cloud_event, isoformat
from workers.consent import CONSENT_ACTIONS, ConsentUpdate, apply_consent_update
from workers.delivery_state import State, decide
from workers.keywords import ORIGIN_PROVIDER, KeywordMatch, Ruleset
from workers.normalize import is_final
from workers.records import ConsentSignal, InboundMessage, LinkClick, Record, StatusReport
from workers.rows import locked_row

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


def apply_inbound(session: Session, record: InboundMessage, emitter: Emitter, rules: Ruleset) -> None:
    # The provider's matches are kept as they are; ours are added beside them (CONTRACT §5).
    matches = [rules.provider_match(rule) for rule in record.provider_rules] + rules.match(record.text)
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
                "keyword_matches": [asdict(match) for match in matches],
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
            "clean_text": record.clean_text,
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
            "extra": record.extra,
            "flags": list(record.flags),
        },
    )
    for match in matches:
        emitter.emit(
            KEYWORD_MATCHED,
            record.end_user,
            {
                "rule": match.rule,
                "keyword": match.keyword,
                "action": match.action,
                "lists": list(match.lists),
                "origin": match.origin,
                "provider_message_id": record.provider_message_id,
                "from": record.end_user,
                "to": record.our_number,
            },
        )
        if _changes_consent(match.action, match.lists) and record.end_user:
            update = _consent_update(record, emitter, record.end_user, record.our_number, match)
            apply_consent_update(session, update, emitter.emit)


def _changes_consent(action: str, lists: tuple[str, ...]) -> bool:
    # A tag match only touches the contact when it files them under lists; help never does.
    return action in CONSENT_ACTIONS and (action != "tag" or bool(lists))


def _consent_update(record: Record, emitter: Emitter, contact: str, our_number: str | None,
                    match: KeywordMatch) -> ConsentUpdate:
    return ConsentUpdate(
        contact=contact,
        our_number=our_number,
        action=match.action,
        occurred_at=record.occurred_at,
        keyword=match.keyword,
        rule=match.rule,
        lists=match.lists,
        origin=match.origin,
        provider=record.provider,
        provider_message_id=record.provider_message_id,
        ingest_id=emitter.envelope.ingest_id,
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
        # a message loaded earlier in this session must be read again now that it is locked
        .execution_options(populate_existing=True)
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
    values = _outbound_row(record, recipient)
    key = {name: values.pop(name) for name in ("provider", "direction", "provider_message_id")}
    return locked_row(session, Message, key, values)


def apply_status(session: Session, record: StatusReport, emitter: Emitter, rules: Ruleset) -> None:
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
    metrics.status_transition(record.provider, previous, record.status)
    emitter.emit(
        MESSAGE_STATUS,
        record.recipient,
        {
            "provider_message_id": record.provider_message_id,
            "status": record.status,
            "final": is_final(record.status),
            "previous_status": previous,
            "provider_status": record.provider_status,
            "provider_code": record.provider_code,
            "error": asdict(error) if error else None,
            "recipient": record.recipient,
            "occurred_at": isoformat(record.occurred_at),
            "segments": record.segments,
            "price": record.price,
            "callback_data": record.callback_data,
            "correlation_id": record.correlation_id,
            "extra": record.extra,
            "flags": list(record.flags),
        },
    )


def apply_click(session: Session, record: LinkClick, emitter: Emitter, rules: Ruleset) -> None:
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


def apply_consent(session: Session, record: ConsentSignal, emitter: Emitter, rules: Ruleset) -> None:
    """The provider says the contact opted in or out (Interact opt-in/opt-out events)."""
    if not record.contact:
        return  # nobody to record it for; the raw payload keeps it
    signal = KeywordMatch(rule=None, keyword=record.keyword, action=record.action, lists=record.lists,
                          origin=ORIGIN_PROVIDER)
    update = _consent_update(record, emitter, record.contact, record.our_number, signal)
    apply_consent_update(session, update, emitter.emit)


APPLY: dict[type[Record], Callable[[Session, Any, Emitter, Ruleset], None]] = {
    InboundMessage: apply_inbound,
    StatusReport: apply_status,
    LinkClick: apply_click,
    ConsentSignal: apply_consent,
}
