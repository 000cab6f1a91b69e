"""The dead-letter store, as the CLI and the admin API see it: list, show, replay.

Replaying a dead letter re-enqueues its raw payload, with its original ingest id, as a normal
batch. The raw payload's state is set back to ``pending`` first, because the workers skip a
payload that is not pending (that is what makes a redelivered batch harmless). Replay stays
idempotent: records that were applied before are recognised by their dedupe keys and produce
nothing; only what failed is processed again (and dead-lettered again if it still fails).
Every dead letter of the payload is marked ``replayed_at``, since the whole payload is replayed.

The state change is committed before the publish (a worker that takes the task at once must
see ``pending``); if the publish fails it is undone and the error raised, so the replay can be
retried. If the process dies between the commit and the publish, the payload is left
``pending`` with no task: replaying the same dead letter again re-publishes it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.envelope import Envelope
from common.models import DeadLetter, RawPayload

Publish = Callable[[list[dict[str, Any]]], None]


class DeadLetterNotFound(LookupError):
    pass


def summary(letter: DeadLetter, with_body: bool = True) -> dict[str, Any]:
    """A dead letter as JSON. The body is raw bytes: given as UTF-8 text when it is valid
    UTF-8, and always as base64 (``body_b64``) so invalid UTF-8 is shown byte for byte."""
    document: dict[str, Any] = {
        "id": letter.id,
        "ingest_id": letter.ingest_id,
        "provider": letter.provider,
        "record_index": letter.record_index,
        "reason": letter.reason,
        "error_type": letter.error_type,
        "attempts": letter.attempts,
        "created_at": letter.created_at.isoformat() if letter.created_at else None,
        "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
    }
    if with_body:
        try:
            document["body"] = letter.body.decode("utf-8")
        except UnicodeDecodeError:
            document["body"] = None
        document["body_b64"] = base64.b64encode(letter.body).decode("ascii")
    return document


def list_dead_letters(session: Session, limit: int = 100, include_replayed: bool = True) -> list[DeadLetter]:
    query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if not include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return list(session.scalars(query))


def get_dead_letter(session: Session, letter_id: int) -> DeadLetter:
    letter = session.get(DeadLetter, letter_id)
    if letter is None:
        raise DeadLetterNotFound(f"no dead letter with id {letter_id}")
    return letter


def _envelope(raw: RawPayload) -> Envelope:
    return Envelope(
        ingest_id=raw.ingest_id,
        provider=raw.provider,
        received_at=raw.received_at,
        body=raw.body,
        remote_addr=raw.remote_addr,
        content_type=raw.content_type,
        headers=dict(raw.headers or {}),
    )


def replay(session: Session, letter_ids: list[int], publish: Publish) -> list[str]:
    """Re-enqueue the payloads of these dead letters as one batch; returns their ingest ids."""
    letters = [get_dead_letter(session, letter_id) for letter_id in letter_ids]
    ingest_ids = list(dict.fromkeys(letter.ingest_id for letter in letters))
    if not ingest_ids:
        return []
    raws = {raw.ingest_id: raw for raw in session.scalars(select(RawPayload).where(RawPayload.ingest_id.in_(ingest_ids)))}
    envelopes = []
    for letter in letters:
        if letter.ingest_id in raws:
            continue
        # Stored by every path that dead-letters; rebuilt from the letter if it ever is not.
        raws[letter.ingest_id] = RawPayload(
            ingest_id=letter.ingest_id, provider=letter.provider, received_at=letter.created_at,
            stored_at=datetime.now(timezone.utc), body=letter.body, headers={}, state="pending", records=0,
        )
        session.add(raws[letter.ingest_id])
    previous = {ingest_id: raws[ingest_id].state for ingest_id in ingest_ids}
    for ingest_id in ingest_ids:
        raws[ingest_id].state = "pending"
        envelopes.append(_envelope(raws[ingest_id]))
    replayed_at = datetime.now(timezone.utc)
    session.execute(
        update(DeadLetter)
        .where(DeadLetter.ingest_id.in_(ingest_ids), DeadLetter.replayed_at.is_(None))
        .values(replayed_at=replayed_at)
    )
    # Committed before the publish: a worker that picks the task up at once must see "pending".
    session.commit()
    try:
        publish([envelope.to_wire() for envelope in envelopes])
    except Exception:
        for ingest_id, state in previous.items():
            if state != "pending":
                session.execute(
                    update(RawPayload)
                    .where(RawPayload.ingest_id == ingest_id, RawPayload.state == "pending")
                    .values(state=state)
                )
        session.execute(
            update(DeadLetter)
            .where(DeadLetter.ingest_id.in_(ingest_ids), DeadLetter.replayed_at == replayed_at)
            .values(replayed_at=None)
        )
        session.commit()
        raise
    return ingest_ids


def replay_all(session: Session, publish: Publish, batch_size: int = 100) -> list[str]:
    """Replay every dead letter not replayed yet, oldest first, ``batch_size`` payloads a task."""
    replayed: list[str] = []
    while True:
        letters = list(
            session.scalars(
                select(DeadLetter.id).where(DeadLetter.replayed_at.is_(None)).order_by(DeadLetter.id).limit(batch_size)
            )
        )
        if not letters:
            return replayed
        replayed += replay(session, letters, publish)
