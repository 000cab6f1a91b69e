"""Read views of stored state as JSON-ready dicts, shared by the admin API (ingest) and the CLI.

``message_view``: a message, its current delivery state and its history of reports.
``contact_view``: a contact's consent on each of our numbers, with lists and history.
Times are ISO 8601 UTC with a ``Z``, as in the events.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.models import Consent, ConsentChange, Message, StatusReport


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _error(code: str | None, description: str | None, permanent: bool | None) -> dict[str, Any] | None:
    if code is None and description is None and permanent is None:
        return None
    return {"code": code, "description": description, "permanent": permanent}


def message_view(session: Session, provider: str, provider_message_id: str) -> dict[str, Any] | None:
    """None when no such message was ever seen. Where one id names both an inbound and an
    outbound message (providers keep separate id spaces), the outbound one is shown."""
    messages = session.scalars(
        select(Message).where(Message.provider == provider, Message.provider_message_id == provider_message_id)
    ).all()
    if not messages:
        return None
    message = sorted(messages, key=lambda row: row.direction != "outbound")[0]
    reports = session.scalars(
        select(StatusReport).where(StatusReport.message_id == message.id).order_by(StatusReport.id)
    ).all()
    return {
        "message": {
            "provider": message.provider,
            "direction": message.direction,
            "provider_message_id": message.provider_message_id,
            "end_user": message.end_user,
            "our_number": message.our_number,
            "text": message.text,
            "keyword": message.keyword,
            "callback_data": message.callback_data,
            "correlation_id": message.correlation_id,
            "occurred_at": _time(message.occurred_at),
            "created_at": _time(message.created_at),
            "updated_at": _time(message.updated_at),
            "details": message.details or {},
        },
        "state": None
        if message.status is None
        else {
            "status": message.status,
            "final": message.status_final,
            "status_at": _time(message.status_at),
            "provider_status": message.provider_status,
            "error": _error(message.error_code, message.error_description, message.error_permanent),
        },
        "history": [
            {
                "status": report.status,
                "final": report.final,
                "provider_status": report.provider_status,
                "error": _error(report.error_code, report.error_description, report.error_permanent),
                "occurred_at": _time(report.occurred_at),
                "received_at": _time(report.received_at),
                "applied": report.applied,
                "ingest_id": report.ingest_id,
            }
            for report in reports
        ],
    }


def contact_view(session: Session, contact: str) -> dict[str, Any]:
    """Every (contact, our number) pair seen; ``consents`` is empty for a contact never seen."""
    consents = session.scalars(select(Consent).where(Consent.contact == contact).order_by(Consent.our_number)).all()
    changes: dict[int, list[ConsentChange]] = {consent.id: [] for consent in consents}
    if consents:
        for change in session.scalars(
            select(ConsentChange).where(ConsentChange.consent_id.in_(changes)).order_by(ConsentChange.id)
        ):
            changes[change.consent_id].append(change)
    return {
        "contact": contact,
        "consents": [
            {
                "our_number": consent.our_number or None,
                "state": consent.state,
                "state_at": _time(consent.state_at),
                "keyword": consent.keyword,
                "lists": list(consent.lists or []),
                "history": [
                    {
                        "action": change.action,
                        "state": change.state,
                        "applied": change.applied,
                        "rule": change.rule,
                        "keyword": change.keyword,
                        "lists": list(change.lists or []),
                        "origin": change.origin,
                        "provider": change.provider,
                        "provider_message_id": change.provider_message_id,
                        "occurred_at": _time(change.occurred_at),
                        "received_at": _time(change.received_at),
                    }
                    for change in changes[consent.id]
                ],
            }
            for consent in consents
        ],
    }
