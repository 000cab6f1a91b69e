"""Database models (SQLAlchemy 2.x). The schema itself is managed by Alembic (common/migrations).

Unique constraints are the truth for dedupe: ``raw_payloads.ingest_id`` (a redelivered batch is
stored once), ``dedupe_keys.key`` (a provider record is applied once), ``outbox_events.event_id``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# BigInteger autoincrement does not work on SQLite; Integer there, BIGINT on PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC on the way out, on every backend (SQLite stores naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class RawPayload(Base):
    """Every acknowledged webhook, verbatim, stored before it is parsed."""

    __tablename__ = "raw_payloads"

    ingest_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(255))
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    # pending -> processed | dead_lettered
    state: Mapped[str] = mapped_column(String(16), default="pending")
    records: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DedupeKey(Base):
    """One row per provider record applied; the unique key makes a duplicate a no-op."""

    __tablename__ = "dedupe_keys"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    ingest_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Message(Base):
    """One SMS as the provider identifies it, with its current delivery state."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("provider", "direction", "provider_message_id", name="uq_messages_provider_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(16))  # inbound | outbound
    provider_message_id: Mapped[str] = mapped_column(String(255))
    end_user: Mapped[str | None] = mapped_column(String(64))
    our_number: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    keyword: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(32))
    status_final: Mapped[bool] = mapped_column(Boolean, default=False)
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    provider_status: Mapped[str | None] = mapped_column(String(255))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_description: Mapped[str | None] = mapped_column(Text)
    error_permanent: Mapped[bool | None] = mapped_column(Boolean)
    callback_data: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[str | None] = mapped_column(String(255))
    occurred_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StatusReport(Base):
    """Every delivery report received for a message, in arrival order: the message's history."""

    __tablename__ = "status_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    ingest_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    final: Mapped[bool] = mapped_column(Boolean)
    provider_status: Mapped[str | None] = mapped_column(String(255))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_description: Mapped[str | None] = mapped_column(Text)
    error_permanent: Mapped[bool | None] = mapped_column(Boolean)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    applied: Mapped[bool] = mapped_column(Boolean)  # did it change the current state?


class OutboxEvent(Base):
    """Normalized CloudEvents, written in the same transaction as the state they describe."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "seq"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str | None] = mapped_column(String(64))
    ingest_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the CloudEvent, serialized once
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DeadLetter(Base):
    """A payload (or one record of it) that could not be processed, with why, for replay."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ingest_id: Mapped[str] = mapped_column(String(64), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    record_index: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    error_type: Mapped[str] = mapped_column(String(128))
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Consent(Base):
    """One end user's consent on one of our numbers (CONTRACT §5); ``state`` is None until an
    opt-in or opt-out is seen. ``state_at`` is the provider time of the latest signal that set or
    confirmed the state, so a late, older signal cannot undo a newer one."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("contact", "our_number", name="uq_consents_contact_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact: Mapped[str] = mapped_column(String(64))
    our_number: Mapped[str] = mapped_column(String(64))  # "" when the provider did not say
    state: Mapped[str | None] = mapped_column(String(16))  # opted_in | opted_out
    state_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    keyword: Mapped[str | None] = mapped_column(String(255))
    lists: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class ConsentChange(Base):
    """Every consent signal received for a contact, in arrival order: the consent history."""

    __tablename__ = "consent_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # opt_in | opt_out | tag
    state: Mapped[str | None] = mapped_column(String(16))  # the state after this signal
    applied: Mapped[bool] = mapped_column(Boolean)  # did it change the state?
    rule: Mapped[str | None] = mapped_column(String(255))
    keyword: Mapped[str | None] = mapped_column(String(255))
    lists: Mapped[list[str]] = mapped_column(JSON, default=list)
    origin: Mapped[str] = mapped_column(String(16))  # smspipe | provider
    provider: Mapped[str] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    ingest_id: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
