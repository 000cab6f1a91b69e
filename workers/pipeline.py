"""The batch pipeline: store raw ▶ parse ▶ dedupe ▶ apply ▶ outbox, then publish.

A batch is processed in one database transaction; each record runs in its own savepoint, so a
bad record is dead-lettered alone and its siblings commit. Passing faults (database or Redis
unavailable) raise ``RetryableError`` for the whole batch, which is safe to run again: raw
payloads are unique on ``ingest_id`` and records on their dedupe key.
"""

from __future__ import annotations

import fcntl
import logging
import os
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import redis
from sqlalchemy import make_url, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from common import metrics
from common.config import Config
from common.db import insert_ignoring_conflicts
from common.envelope import Envelope
from common.errors import PermanentError, RetryableError
from common.models import DeadLetter, DedupeKey, RawPayload
from common.settings import Settings
from workers.apply import APPLY, Emitter, outbound_messages_locked
from workers.keywords import Ruleset
from workers.outbox import OutboxItem, OutboxRelay, write_outbox
from workers.providers import adapter_for
from workers.records import Record, RejectedRecord, StatusReport

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
    # The fast path's records: (envelope, record, its events, or None for a duplicate)
    outcomes: list[tuple[Envelope, Record, list[OutboxItem] | None]] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, int]:
        """The counts, for the task's result and its log line."""
        return {"payloads": self.payloads, "skipped": self.skipped, "records": self.records,
                "applied": self.applied, "duplicates": self.duplicates, "dead_lettered": self.dead_lettered,
                "events": len(self.events)}


def _count_applied(provider: str, record: Record, outbox_items: list[OutboxItem]) -> None:
    metrics.record_outcome(provider, record, "applied")
    metrics.events_emitted(item.type for item in outbox_items)


def raw_states(session: Session, envelopes: Sequence[Envelope]) -> dict[str, str]:
    """ingest_id -> state of the stored raw payloads (a list of rows: dict() would take a bare
    Result for a mapping, since it has keys())."""
    query = select(RawPayload.ingest_id, RawPayload.state).where(
        RawPayload.ingest_id.in_([envelope.ingest_id for envelope in envelopes])
    )
    return {ingest_id: state for ingest_id, state in session.execute(query).all()}


class SqliteWriterLock:
    """Worker processes sharing one SQLite file take turns on an ``flock`` before writing.

    SQLite has one writer; a process that finds the write lock taken sleeps in SQLite's busy
    handler (1, 2, 5 ... up to 100 ms a step) and wakes late, while the holder often takes the
    lock again first, so two workers drained less than one (bench/workers). Waiting on a file
    lock instead wakes the other process as soon as the lock is released. Other writers (the
    CLI, the admin API) still meet SQLite's own busy timeout, as before.
    """

    def __init__(self, database_url: str):
        database = make_url(database_url).database if database_url.startswith("sqlite") else None
        self.path = f"{database}-smspipe-writer.lock" if database and database != ":memory:" else None
        self._file: tuple[int, Any] | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        if self._file is None or self._file[0] != os.getpid():  # one descriptor per process
            self._file = (os.getpid(), open(self.path, "a+b"))
        descriptor = self._file[1].fileno()
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)


class Pipeline:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis,
                 config: Config | None = None):
        """``config`` is the loaded TOML file (``common.config.load_config``); none means the
        built-in keywords only."""
        self.settings = settings
        self.rules = Ruleset.from_config(config or Config())
        self.sessions = sessions
        self.redis = redis_client
        self.outbox = OutboxRelay(settings, sessions, redis_client)
        self.writing = SqliteWriterLock(settings.database_url)

    def process(self, envelopes: Sequence[Envelope]) -> BatchResult:
        try:
            self.store_raw(envelopes)
            result = self._process_stored(envelopes)
        except TRANSIENT_ERRORS as error:
            raise RetryableError(f"{type(error).__name__}: {error}") from error
        self._remember_keys(result.applied_keys)
        with self.writing():
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
        with self.writing(), self.sessions() as session, session.begin():
            session.execute(insert_ignoring_conflicts(session, RawPayload.__table__), rows)

    def _process_stored(self, envelopes: Sequence[Envelope]) -> BatchResult:
        result = BatchResult(payloads=len(envelopes))
        # Parsed, and the fast dedupe checked, before the transaction opens: on SQLite the write
        # lock is then held only while writing, so two worker processes overlap their parsing.
        parsed = [(envelope, *self._parse(envelope)) for envelope in envelopes]
        seen = self._seen_recently([item.dedupe_key for _, items, _ in parsed for item in items or ()
                                    if isinstance(item, Record)])
        with self.writing(), self.sessions() as session, session.begin():
            states = raw_states(session, envelopes)
            ready: list[tuple[Envelope, list[Record | RejectedRecord]]] = []
            marks: list[dict[str, Any]] = []
            for envelope, items, error in parsed:
                if states.get(envelope.ingest_id) != "pending":
                    result.skipped += 1
                    continue
                states[envelope.ingest_id] = "done"  # the same ingest id twice in one batch
                if items is None:
                    self.dead_letter(session, envelope, error, reason=f"{type(error).__name__}: {error}")
                    result.dead_lettered += 1
                    marks.append(self._state(envelope, "dead_lettered", 0))
                    continue
                ready.append((envelope, items))
                marks.append(self._state(envelope, "processed", len(items)))
            self._apply_parsed(session, ready, seen, result)
            if marks:  # one executemany UPDATE by primary key for the whole batch
                session.execute(update(RawPayload), marks)
        return result

    def _parse(self, envelope: Envelope) -> tuple[list[Record | RejectedRecord] | None, Exception | None]:
        """The envelope's records, or the permanent error that dead-letters it as a whole."""
        try:
            return adapter_for(envelope.provider).parse(envelope), None
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:  # PermanentError, or a parser bug: park it with its traceback
            if not isinstance(error, PermanentError):
                logger.exception("parser failed", extra={"provider": envelope.provider,
                                                         "ingest_id": envelope.ingest_id})
            return None, error

    def _apply_parsed(self, session: Session, parsed: list[tuple[Envelope, list[Record | RejectedRecord]]],
                      seen: set[str], result: BatchResult) -> None:
        """Rejected records are parked, recent duplicates (``seen``: one Redis MGET) counted, the rest applied.

        Fast path: every record of the batch in ONE savepoint, dedupe keys claimed with one
        multi-row insert. If any record fails, that savepoint is rolled back and the batch is
        applied again record by record, each in its own savepoint, so the bad record is
        dead-lettered alone exactly as before; the fast path only saves round trips.
        """
        pending: list[tuple[Envelope, int, Record]] = []
        for envelope, items in parsed:
            for index, item in enumerate(items):
                result.records += 1
                if isinstance(item, RejectedRecord):
                    self.dead_letter(session, envelope, None, reason=item.reason, error_type=item.error_type,
                                     record_index=item.index)
                    metrics.record_outcome(envelope.provider, item, "rejected")
                    result.dead_lettered += 1
                elif item.dedupe_key in seen:
                    self._duplicate(item, envelope, result)
                else:
                    pending.append((envelope, index, item))
        if not pending:
            return
        together = BatchResult()
        try:
            with session.begin_nested():
                self._apply_together(session, pending, together)
        except TRANSIENT_ERRORS:
            raise
        except Exception:
            logger.warning("a record of the batch failed; applying the batch record by record", exc_info=True)
            for envelope, index, record in pending:
                self._apply_record(session, envelope, index, record, result)
            return
        # Counted and logged only now: until here the fast path's savepoint could still roll back.
        for envelope, record, outbox_items in together.outcomes:
            if outbox_items is None:
                self._duplicate(record, envelope, result)
            else:
                _count_applied(envelope.provider, record, outbox_items)
        result.applied += together.applied
        result.applied_keys.extend(together.applied_keys)
        result.events.extend(together.events)

    def _apply_together(self, session: Session, pending: list[tuple[Envelope, int, Record]],
                        result: BatchResult) -> None:
        first: dict[str, tuple[Envelope, Record]] = {}
        repeated: list[tuple[Envelope, Record]] = []
        for envelope, _, record in pending:  # in batch order: the first occurrence of a key wins
            if record.dedupe_key in first:
                repeated.append((envelope, record))
            else:
                first[record.dedupe_key] = (envelope, record)
        claimed = self._claim_many(session, [(key, envelope.ingest_id) for key, (envelope, _) in first.items()])
        # No autoflush: the rows the records add are flushed together when the savepoint is
        # released (one executemany per table) instead of before every query of the next record.
        # Queries still see earlier records' changes: through the identity map for ORM objects,
        # directly for the Core inserts that run at once.
        reports = [record for key, (_, record) in first.items() if key in claimed and isinstance(record, StatusReport)]
        with outbound_messages_locked(session, reports), session.no_autoflush:
            for key, (envelope, record) in first.items():
                if key not in claimed:
                    result.duplicates += 1
                    result.outcomes.append((envelope, record, None))
                    continue
                emitter = Emitter(record, envelope)
                APPLY[type(record)](session, record, emitter, self.rules)
                outbox_items = write_outbox(session, envelope.ingest_id, emitter.events)
                result.events.extend(outbox_items)
                result.applied += 1
                result.applied_keys.append(key)
                result.outcomes.append((envelope, record, outbox_items))
        for envelope, record in repeated:
            result.duplicates += 1
            result.outcomes.append((envelope, record, None))

    def _claim_many(self, session: Session, keys: list[tuple[str, str]]) -> set[str]:
        """The keys of ``keys`` this call inserted first, in one statement (RETURNING: rowcount is
        not reliable for ON CONFLICT on every driver)."""
        now = datetime.now(timezone.utc)
        inserted = session.execute(
            insert_ignoring_conflicts(session, DedupeKey.__table__).returning(DedupeKey.key),
            # In key order, so two workers claiming overlapping keys cannot deadlock.
            [{"key": key, "ingest_id": ingest_id, "created_at": now} for key, ingest_id in sorted(keys)],
        )
        return set(inserted.scalars())

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
        _count_applied(envelope.provider, record, outbox_items)

    def _duplicate(self, record: Record, envelope: Envelope, result: BatchResult) -> None:
        result.duplicates += 1
        metrics.record_outcome(envelope.provider, record, "duplicate")
        logger.info("duplicate record", extra={"provider": record.provider, "dedupe_key": record.dedupe_key,
                                               "ingest_id": envelope.ingest_id})

    def _claim(self, session: Session, key: str, ingest_id: str) -> bool:
        """The truth for dedupe: the first insert of a key wins, every later one is a duplicate."""
        return key in self._claim_many(session, [(key, ingest_id)])

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

    @staticmethod
    def _state(envelope: Envelope, state: str, records: int) -> dict[str, Any]:
        return {"ingest_id": envelope.ingest_id, "state": state, "records": records,
                "processed_at": datetime.now(timezone.utc)}

    def _mark(self, session: Session, envelope: Envelope, state: str, records: int) -> None:
        session.execute(
            update(RawPayload)
            .where(RawPayload.ingest_id == envelope.ingest_id)
            .values(**{key: value for key, value in self._state(envelope, state, records).items()
                       if key != "ingest_id"})
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
