"""The raw ceiling of ``bench/workers``: a plain loop with no Celery and no per-record savepoint.

``python -m bench.ceiling REDIS_URL DATABASE_URL LIST_KEY BATCH`` pops envelopes from a Redis
list BATCH at a time (the same wire envelopes the Celery messages carry), decodes and parses
them with the real provider adapters, and writes the same kinds of rows in ONE transaction per
batch with executemany: raw payloads, dedupe keys (``ON CONFLICT DO NOTHING RETURNING``),
inbound messages, one outbox event per new record; then XADDs the events in one pipeline.
It does less than the pipeline (no delivery-state machine, no status history, no CloudEvent
building), so the ceiling is, if anything, too high. Prints one JSON line with its timings.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import redis

from common.db import insert_ignoring_conflicts, make_engine
from common.envelope import Envelope
from common.models import DedupeKey, Message, OutboxEvent, RawPayload
from workers.providers import adapter_for
from workers.records import InboundMessage, Record

STREAM = "smspipe:events"


def drain(redis_url: str, database_url: str, key: str, batch_size: int) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    engine = make_engine(database_url)
    dialect_insert = insert_ignoring_conflicts(engine, DedupeKey.__table__)
    payloads = events = 0
    started = None
    while True:
        popped = client.lpop(key, batch_size)
        if not popped:
            break
        started = started or time.time()
        envelopes = [Envelope.from_wire(json.loads(item)) for item in popped]
        now = datetime.now(timezone.utc)
        raw_rows, records = [], []
        for envelope in envelopes:
            items = adapter_for(envelope.provider).parse(envelope)
            kept = [(envelope, item) for item in items if isinstance(item, Record)]
            records.extend(kept)
            raw_rows.append({"ingest_id": envelope.ingest_id, "provider": envelope.provider,
                             "received_at": envelope.received_at, "stored_at": now, "processed_at": now,
                             "remote_addr": envelope.remote_addr, "content_type": envelope.content_type,
                             "headers": envelope.headers, "body": envelope.body, "state": "processed",
                             "records": len(items)})
        with engine.begin() as connection:
            connection.execute(insert_ignoring_conflicts(engine, RawPayload.__table__), raw_rows)
            unique = {record.dedupe_key: (envelope, record) for envelope, record in reversed(records)}
            claimed = set()
            if unique:
                claimed = set(connection.execute(
                    dialect_insert.returning(DedupeKey.key),
                    [{"key": key_, "ingest_id": envelope.ingest_id, "created_at": now}
                     for key_, (envelope, _) in unique.items()],
                ).scalars())
            new = [(envelope, record) for key_, (envelope, record) in unique.items() if key_ in claimed]
            inbound = [{"provider": r.provider, "direction": "inbound", "provider_message_id": r.provider_message_id,
                        "end_user": r.end_user, "our_number": r.our_number, "text": r.text, "keyword": r.keyword,
                        "occurred_at": r.occurred_at, "created_at": now, "updated_at": now, "status_final": False,
                        "details": {}}
                       for _, r in new if isinstance(r, InboundMessage)]
            if inbound:
                connection.execute(insert_ignoring_conflicts(engine, Message.__table__), inbound)
            outbox = [{"event_id": hashlib.sha1(record.dedupe_key.encode()).hexdigest(), "type": type(record).__name__,
                       "subject": None, "ingest_id": envelope.ingest_id, "created_at": now, "published_at": now,
                       "payload": json.dumps(asdict(record), default=str)}
                      for envelope, record in new]
            if outbox:
                connection.execute(insert_ignoring_conflicts(engine, OutboxEvent.__table__), outbox)
        with client.pipeline(transaction=False) as pipe:
            for row in outbox:
                pipe.xadd(STREAM, {"id": row["event_id"], "type": row["type"], "event": row["payload"]})
            pipe.execute()
        payloads += len(envelopes)
        events += len(outbox)
    return {"payloads": payloads, "events": events, "started": started, "finished": time.time()}


if __name__ == "__main__":
    print(json.dumps(drain(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))), flush=True)
