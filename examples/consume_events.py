"""A downstream service reading smspipe's events as a member of a Redis consumer group.

Needs only ``redis`` (pip install redis). Run several copies with different ``--consumer``
names and the same ``--group``: each event goes to one of them. Events are acknowledged (XACK)
only after ``handle`` returns, so a copy that crashes loses nothing: its unacknowledged events
are read again when it restarts under the same name, or claimed by another copy once they have
been idle for ``--claim-idle`` seconds. Delivery is at least once: ``handle`` must be
idempotent, for example by remembering event ids (the CloudEvent ``id`` is stable).

    python examples/consume_events.py --redis-url redis://127.0.0.1:6379/0 --group crm --consumer crm-1
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import os
from typing import Any

import redis

STREAM = "smspipe:events"


def handle(event: dict[str, Any]) -> None:
    """Your code. Raise to leave the event pending (it is retried after --claim-idle)."""
    print(f"{event['time']} {event['type']} {event['id']} subject={event.get('subject')}", flush=True)


def ensure_group(client: redis.Redis, group: str, from_start: bool) -> None:
    try:
        # MKSTREAM: the group can exist before smspipe publishes anything.
        client.xgroup_create(STREAM, group, id="0" if from_start else "$", mkstream=True)
    except redis.ResponseError as error:
        if not str(error).startswith("BUSYGROUP"):  # the group exists already: fine
            raise


def process(client: redis.Redis, group: str, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
    for entry_id, fields in entries:
        if fields:  # an entry trimmed away by MAXLEN comes back empty: nothing to handle
            try:
                handle(json.loads(fields[b"event"]))
            except Exception as error:  # leave it pending; another attempt will come
                print(f"failed {entry_id.decode()}: {error!r}", flush=True)
                continue
        client.xack(STREAM, group, entry_id)


def run(client: redis.Redis, group: str, consumer: str, from_start: bool, claim_idle: float) -> None:
    stopping = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    ensure_group(client, group, from_start)

    # 1. What this consumer read before a crash and never acknowledged.
    cursor = "0"
    while not stopping:
        answer = client.xreadgroup(group, consumer, {STREAM: cursor}, count=100)
        entries = answer[0][1] if answer else []
        if not entries:
            break
        process(client, group, entries)
        cursor = entries[-1][0]

    # 2. New events; now and then, events other consumers left pending too long.
    reads = 0
    while not stopping:
        if reads % 30 == 0:
            _, claimed, *_ = client.xautoclaim(STREAM, group, consumer, min_idle_time=int(claim_idle * 1000), count=100)
            process(client, group, claimed)
        reads += 1
        answer = client.xreadgroup(group, consumer, {STREAM: ">"}, count=100, block=1000)
        if answer:
            process(client, group, answer[0][1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default=os.environ.get("SMSPIPE_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--group", required=True)
    parser.add_argument("--consumer", default=f"{socket.gethostname()}-{os.getpid()}")
    parser.add_argument("--from-start", action="store_true", help="a new group reads the stream from its start")
    parser.add_argument("--claim-idle", type=float, default=60.0, help="claim others' pending events after this")
    args = parser.parse_args()
    run(redis.Redis.from_url(args.redis_url), args.group, args.consumer, args.from_start, args.claim_idle)


if __name__ == "__main__":
    main()
