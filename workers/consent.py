"""Consent per (end-user number, our number), with history (CONTRACT §5).

States are ``opted_in`` and ``opted_out``; a contact never seen has none. An opt-out beats
anything until a later opt-in, by provider time: a late opt-in older than the current opt-out is
recorded and ignored, and an opt-out and an opt-in at the same instant leave the contact opted
out. Decisions are a transition table keyed by (current state, incoming action), like
``workers.delivery_state``.

Lists: an opt-in or tag match adds its lists to the contact's; an opt-out removes the lists it
names (an opt-out naming none leaves the lists as they are — the state says the contact is out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from common.events import CONSENT_CHANGED
from common.models import Consent, ConsentChange
from workers.rows import locked_row

OPTED_IN = "opted_in"
OPTED_OUT = "opted_out"
# What each action moves the contact to; `tag` only files the contact under lists.
TARGET_STATE = {"opt_in": OPTED_IN, "opt_out": OPTED_OUT}
CONSENT_ACTIONS = ("opt_in", "opt_out", "tag")


@dataclass(frozen=True)
class ConsentUpdate:
    """One opt-in/opt-out/tag, from a keyword match (ours or the provider's) or a provider event."""

    contact: str
    our_number: str | None
    action: str  # opt_in | opt_out | tag
    occurred_at: datetime
    keyword: str | None
    rule: str | None
    lists: tuple[str, ...]
    origin: str  # smspipe | provider
    provider: str
    provider_message_id: str | None
    ingest_id: str


def _always(current_at: datetime | None, incoming_at: datetime) -> bool:
    return True


def _opt_out_not_older(current_at: datetime | None, incoming_at: datetime) -> bool:
    # Opt-out beats opt-in unless the opt-in is strictly later: ties go to the opt-out.
    assert current_at is not None
    return incoming_at >= current_at


def _opt_in_strictly_later(current_at: datetime | None, incoming_at: datetime) -> bool:
    assert current_at is not None
    return incoming_at > current_at


# (current state, target state) -> does the signal take effect? Same-state rows "confirm": the
# state stays and its time moves forward, so an older opposite signal arriving later loses.
TRANSITIONS: dict[tuple[str | None, str], Callable[[datetime | None, datetime], bool]] = {
    (None, OPTED_IN): _always,
    (None, OPTED_OUT): _always,
    (OPTED_IN, OPTED_OUT): _opt_out_not_older,
    (OPTED_OUT, OPTED_IN): _opt_in_strictly_later,
    (OPTED_IN, OPTED_IN): _always,
    (OPTED_OUT, OPTED_OUT): _always,
}


def apply_consent_update(session: Session, signal: ConsentUpdate, emit: Callable[[str, str | None, dict], None]) -> None:
    """Record the signal in the contact's history; change the state (and emit
    ``consent.changed``) when the table says it takes effect and the state differs."""
    consent = locked_row(
        session,
        Consent,
        {"contact": signal.contact, "our_number": signal.our_number or ""},
        {"state": None, "state_at": None, "keyword": None, "lists": [],
         "created_at": signal.occurred_at, "updated_at": signal.occurred_at},
    )
    previous = consent.state
    target = TARGET_STATE.get(signal.action)
    effective = target is None or TRANSITIONS[(previous, target)](consent.state_at, signal.occurred_at)
    changed = target is not None and effective and previous != target
    if effective:
        consent.lists = _lists_after(consent.lists or [], signal)
    if target is not None and effective:
        consent.state = target
        consent.state_at = max(filter(None, (consent.state_at, signal.occurred_at)))
        consent.keyword = signal.keyword if changed else consent.keyword
    session.add(
        ConsentChange(
            consent_id=consent.id,
            action=signal.action,
            state=consent.state,
            applied=changed,
            rule=signal.rule,
            keyword=signal.keyword,
            lists=list(signal.lists),
            origin=signal.origin,
            provider=signal.provider,
            provider_message_id=signal.provider_message_id,
            ingest_id=signal.ingest_id,
            occurred_at=signal.occurred_at,
        )
    )
    if changed:
        emit(
            CONSENT_CHANGED,
            signal.contact,
            {
                "contact": signal.contact,
                "our_number": signal.our_number,
                "state": consent.state,
                "previous_state": previous,
                "lists": list(signal.lists),
                "keyword": signal.keyword,
                "rule": signal.rule,
                "origin": signal.origin,
                "provider_message_id": signal.provider_message_id,
            },
        )


def _lists_after(lists: list[str], signal: ConsentUpdate) -> list[str]:
    if signal.action == "opt_out":
        return [name for name in lists if name not in signal.lists]
    return lists + [name for name in signal.lists if name not in lists]
