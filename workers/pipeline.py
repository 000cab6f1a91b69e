"""The batch pipeline: store raw ▶ parse ▶ dedupe ▶ apply ▶ outbox, then publish.

A batch is processed in one database transaction; each record runs in its own savepoint, so a
bad record is dead-lettered alone and its siblings commit. Passing faults (database or Redis
unavailable) raise ``RetryableError`` for the whole batch, which is safe to run again: raw
payloads are unique on ``ingest_id`` and records on their dedupe key.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import redis
from sqlalchemy import select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from common import metrics
from common.config import Config
from common.db import insert_ignoring_conflicts
from common.envelope import Envelope
from common.errors import PermanentError, RetryableError
from common.models import DeadLetter, DedupeKey, RawPayload
from common.settings import Settings
from workers.apply import APPLY, Emitter
from workers.keywords import Ruleset
from workers.outbox import OutboxItem, OutboxRelay, write_outbox
from workers.providers import adapter_for
from workers.records import Record, RejectedRecord

logger = logging.getLogger(__name__)

# Faults that pass: the batch is retried with backoff rather than dead-lettered.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
)
DEDUPE_PREFIX = "smspipe:dedupe:"


@dataclass
class BatchResult:
    payloads: int = 0
    skipped: int = 0  # already processed (a redelivered batch)
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    applied_keys: list[str] = field(default_factory=list)
    events: list[OutboxItem] = field(default_factory=list)


def raw_states(session: Session, envelopes: Sequence[Envelope]) -> dict[str, str]:
    """ingest_id -> state of the stored raw payloads (a list of rows: dict() would take a bare
    Result for a mapping, since it has keys())."""
    query = select(RawPayload.ingest_id, RawPayload.state).where(
        RawPayload.ingest_id.in_([envelope.ingest_id for envelope in envelopes])
    )
    return {ingest_id: state for ingest_id, state in session.execute(query).all()}


class Pipeline:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis,
                 config: Config | None = None):
        """``config`` is the loaded TOML file (``common.config.load_config``); none means the
        built-in keywords only."""
        self.settings = settings
        self.config = config or Config()
        self.rules = Ruleset.from_config(self.config)
        self.sessions = sessions
        self.redis = redis_client
        self.outbox = OutboxRelay(settings, sessions, redis_client)

    def process(self, envelopes: Sequence[Envelope]) -> BatchResult:
        try:
            self.store_raw(envelopes)
            result = self._process_stored(envelopes)
        except TRANSIENT_ERRORS as error:
            raise RetryableError(f"{type(error).__name__}: {error}") from error
        self._remember_keys(result.applied_keys)
        self.outbox.publish(result.events)
        return result

    def store_raw(self, envelopes: Sequence[Envelope]) -> None:
        """Every payload is stored verbatim, once, before anything parses it."""
        rows = [
            {
                "ingest_id": envelope.ingest_id,
                "provider": envelope.provider,
                "received_at": envelope.received_at,
                "stored_at": datetime.now(timezone.utc),
                "remote_addr": envelope.remote_addr,
                "content_type": envelope.content_type,
                "headers": envelope.headers,
                "body": envelope.body,
                "state": "pending",
                "records": 0,
            }
            for envelope in envelopes
        ]
        with self.sessions() as session, session.begin():
            session.execute(insert_ignoring_conflicts(session, RawPayload.__table__), rows)

    def _process_stored(self, envelopes: Sequence[Envelope]) -> BatchResult:
        result = BatchResult(payloads=len(envelopes))
        with self.sessions() as session, session.begin():
            states = raw_states(session, envelopes)
            for envelope in envelopes:
                if states.get(envelope.ingest_id) != "pending":
                    result.skipped += 1
                    continue
                states[envelope.ingest_id] = "done"  # the same ingest id twice in one batch
                self._process_envelope(session, envelope, result)
        return result

    def _process_envelope(self, session: Session, envelope: Envelope, result: BatchResult) -> None:
        try:
            items = adapter_for(envelope.provider).parse(envelope)
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:  # PermanentError, or a parser bug: park it with its traceback
            if not isinstance(error, PermanentError):
                logger.exception("parser failed", extra={"provider": envelope.provider,
                                                         "ingest_id": envelope.ingest_id})
            self.dead_letter(session, envelope, error, reason=f"{type(error).__name__}: {error}")
            self._mark(session, envelope, "dead_lettered", 0)
            result.dead_lettered += 1
            return
        records = [item for item in items if isinstance(item, Record)]
        seen = self._seen_recently([record.dedupe_key for record in records])
        for item in items:
            result.records += 1
            if isinstance(item, RejectedRecord):
                self.dead_letter(session, envelope, None, reason=item.reason, error_type=item.error_type,
                                 record_index=item.index)
                metrics.record_outcome(envelope.provider, item, "rejected")
                result.dead_lettered += 1
            elif item.dedupe_key in seen:
                self._duplicate(item, envelope, result)
            else:
                self._apply_record(session, envelope, items.index(item), item, result)
        self._mark(session, envelope, "processed", len(items))

    def _apply_record(self, session: Session, envelope: Envelope, index: int, record: Record,
                      result: BatchResult) -> None:
        emitter = Emitter(record, envelope)
        try:
            with session.begin_nested():
                if not self._claim(session, record.dedupe_key, envelope.ingest_id):
                    self._duplicate(record, envelope, result)
                    return
                APPLY[type(record)](session, record, emitter, self.rules)
                outbox_items = write_outbox(session, envelope.ingest_id, emitter.events)
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:
            # The savepoint is rolled back: this record alone goes to the dead-letter store.
            logger.exception("record failed", extra={"provider": envelope.provider, "ingest_id": envelope.ingest_id})
            self.dead_letter(session, envelope, error, reason=f"{type(error).__name__}: {error}", record_index=index)
            result.dead_lettered += 1
            return
        result.applied += 1
        result.applied_keys.append(record.dedupe_key)
        result.events.extend(outbox_items)
        metrics.record_outcome(envelope.provider, record, "applied")
        metrics.events_emitted(item.type for item in outbox_items)

    def _duplicate(self, record: Record, envelope: Envelope, result: BatchResult) -> None:
        result.duplicates += 1
        metrics.record_outcome(envelope.provider, record, "duplicate")
        logger.info("duplicate record", extra={"provider": record.provider, "dedupe_key": record.dedupe_key,
                                               "ingest_id": envelope.ingest_id})

    def _claim(self, session: Session, key: str, ingest_id: str) -> bool:
        """The truth for dedupe: the first insert of a key wins, every later one is a duplicate."""
        inserted = session.execute(
            insert_ignoring_conflicts(session, DedupeKey.__table__)
            .values(key=key, ingest_id=ingest_id, created_at=datetime.now(timezone.utc))
            .returning(DedupeKey.key)  # rowcount is not reliable for ON CONFLICT on every driver
        )
        return inserted.first() is not None

    def _seen_recently(self, keys: list[str]) -> set[str]:
        """The fast path: keys are written to Redis only after their transaction committed, so a
        hit is certainly a duplicate; a miss (or Redis unavailable) falls through to the database."""
        if not keys:
            return set()
        try:
            flags = self.redis.mget([DEDUPE_PREFIX + key for key in keys])
        except redis.RedisError:
            logger.warning("dedupe fast path unavailable", exc_info=True)
            return set()
        return {key for key, flag in zip(keys, flags) if flag is not None}

    def _remember_keys(self, keys: list[str]) -> None:
        if not keys:
            return
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(DEDUPE_PREFIX + key, 1, ex=self.settings.dedupe_ttl_seconds)
                pipe.execute()
        except redis.RedisError:
            logger.warning("could not remember dedupe keys; the database stays the truth", exc_info=True)

    def _mark(self, session: Session, envelope: Envelope, state: str, records: int) -> None:
        session.execute(
            update(RawPayload)
            .where(RawPayload.ingest_id == envelope.ingest_id)
            .values(state=state, records=records, processed_at=datetime.now(timezone.utc))
        )

    def dead_letter(
        self,
        session: Session,
        envelope: Envelope,
        error: BaseException | None,
        *,
        reason: str,
        error_type: str | None = None,
        record_index: int | None = None,
        attempts: int = 1,
    ) -> None:
        logger.warning(
            "dead letter",
            extra={"provider": envelope.provider, "ingest_id": envelope.ingest_id, "reason": reason,
                   "record_index": record_index},
        )
        metrics.dead_lettered(envelope.provider, record_index, error_type or type(error).__name__)
        session.add(
            DeadLetter(
                ingest_id=envelope.ingest_id,
                provider=envelope.provider,
                record_index=record_index,
                reason=reason,
                error_type=error_type or type(error).__name__,
                traceback="".join(traceback.format_exception(error)) if error is not None else None,
                attempts=attempts,
                body=envelope.body,
            )
        )

    def settle_one_by_one(self, envelopes: Sequence[Envelope], error: BaseException, attempts: int) -> int:
        """The last attempt of a failing batch: each payload alone, so a poison payload is parked
        without taking its batch-mates with it. Returns how many payloads were dead-lettered.
        A passing fault (``RetryableError``) still propagates: the task retries later."""
        if len(envelopes) == 1:
            self.dead_letter_batch(envelopes, error, attempts)
            return 1
        dead = 0
        for envelope in envelopes:
            try:
                self.process([envelope])
            except RetryableError:
                raise
            except Exception as own_error:  # this payload is the poison
                logger.exception("payload failed on its own", extra={"provider": envelope.provider,
                                                                    "ingest_id": envelope.ingest_id})
                self.dead_letter_batch([envelope], own_error, attempts)
                dead += 1
        return dead

    def dead_letter_batch(self, envelopes: Sequence[Envelope], error: BaseException, attempts: int) -> None:
        """After the last attempt: every payload of the batch not yet processed is parked.

        If the raw payloads themselves cannot be stored (the poison may be in the envelope), the
        dead letters are written anyway: they carry the body, and a replay rebuilds the raw row."""
        try:
            self.store_raw(envelopes)
        except TRANSIENT_ERRORS:
            raise
        except Exception:
            logger.exception("raw payloads not storable; dead-lettering the batch without them")
        with self.sessions() as session, session.begin():
            states = raw_states(session, envelopes)
            for envelope in envelopes:
                if states.get(envelope.ingest_id, "pending") != "pending":
                    continue
                self.dead_letter(session, envelope, error, reason=f"gave up after {attempts} attempts: {error}",
                                 attempts=attempts)
                self._mark(session, envelope, "dead_lettered", 0)
