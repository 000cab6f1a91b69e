"""Delivery latency of a healthy HTTP subscriber alone, beside one answering 500, and beside
one hanging past its timeout, in one run (docs/consuming-events.md quotes the figures).

Real parts: a private redis-server, SQLite, a Celery worker (threads pool) on the delivery
queue, subscribers on 127.0.0.1. The script plays the pipeline: it commits events to the
outbox and publishes them at a steady rate; latency is publish -> the healthy subscriber's
receipt. Not a test: it prints, it asserts nothing.

    .venv/bin/python bench/fanout_isolation.py [--events 300] [--rounds 3] [--rate 50] [--database-url URL] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.db import make_engine, make_session_factory, upgrade  # noqa: E402
from common.redis_server import RedisServer  # noqa: E402
from common.settings import Settings  # noqa: E402
from tests.conftest import WorkerProcess, settings_env  # noqa: E402
from tests.fanout_fixtures import SECRET, commit_events, make_event, subscriber_toml  # noqa: E402
from tests.http_subscriber import RecordingSubscriber  # noqa: E402
from workers.outbox import OutboxRelay  # noqa: E402

WARM_UP_EVENTS = 10
SCENARIOS = [
    ("alone", None),
    ("beside a subscriber answering 500", {"statuses": [500]}),
    ("beside a subscriber hanging past its 2 s timeout", {"statuses": [200], "hang_seconds": 60}),
]


RUN = uuid.uuid4().hex[:8]  # event ids unique per run, so a reused database takes them


def bench_event(index: int) -> dict:
    return {**make_event(index), "id": f"bench-{RUN}-{index}"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[round(fraction * (len(ordered) - 1))]


def run_scenario(base: Settings, work: Path, failing: dict | None, events: int, rate: float,
                 first_index: int) -> tuple[list[float], int]:
    """One segment: a fresh worker and subscribers; returns the healthy subscriber's latencies
    (ms) and how many requests the failing one received."""
    healthy = RecordingSubscriber([200])
    subscribers = [{"name": "healthy", "url": healthy.url, "secret": SECRET}]
    broken = None
    if failing is not None:
        broken = RecordingSubscriber(**failing)
        subscribers.append({"name": "failing", "url": broken.url, "secret": SECRET, "timeout_seconds": 2,
                            "retry_schedule": [0.5, 1, 2, 4]})
    config = work / f"{first_index}.toml"
    config.write_text(subscriber_toml(subscribers))
    settings = replace(base, config_path=str(config))
    worker = WorkerProcess(settings_env(settings), work / f"worker-{first_index}.log", concurrency=8, pool="threads")
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    import redis

    relay = OutboxRelay(settings, sessions, redis.Redis.from_url(settings.redis_url))
    try:
        worker.wait_ready()
        # Warm-up, not measured: connection pools, imports, the first queue declarations.
        warm_up = [bench_event(first_index + events + offset) for offset in range(WARM_UP_EVENTS)]
        relay.publish(commit_events(sessions, warm_up, ingest_id=f"warm-up-{first_index}"))
        deadline = time.monotonic() + 30
        while len(healthy.received()) < WARM_UP_EVENTS and time.monotonic() < deadline:
            time.sleep(0.05)
        published_at: dict[str, float] = {}
        started = time.monotonic()
        for offset in range(events):
            event = bench_event(first_index + offset)
            published_at[event["id"]] = time.time()
            relay.publish(commit_events(sessions, [event], ingest_id=f"bench-{first_index}"))
            pause = started + (offset + 1) / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        deadline = time.monotonic() + 60
        while len(healthy.received()) < events + WARM_UP_EVENTS and time.monotonic() < deadline:
            time.sleep(0.05)
        received = [request for request in healthy.received() if request.headers["webhook-id"] in published_at]
        latencies = [(request.received_at - published_at[request.headers["webhook-id"]]) * 1000
                     for request in received]
        return latencies, len(broken.received()) if broken else 0
    finally:
        worker.stop()
        engine.dispose()
        healthy.stop()
        if broken:
            broken.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300, help="per scenario, over all rounds")
    parser.add_argument("--rate", type=float, default=50.0, help="events published per second")
    parser.add_argument("--lanes", type=int, default=4, help="SMSPIPE_DELIVERY_LANES")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file (a PostgreSQL URL works)")
    parser.add_argument("--rounds", type=int, default=3, help="turns each scenario takes")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 events, one round")
    args = parser.parse_args()
    events, rounds = (20, 1) if args.quick else (args.events, args.rounds)
    with tempfile.TemporaryDirectory(prefix="smspipe-bench-") as directory:
        work = Path(directory)
        server = RedisServer(work / "redis").start()
        database_url = args.database_url or f"sqlite:///{work / 'bench.db'}"
        upgrade(database_url)
        base = Settings(redis_url=server.url, database_url=database_url, spool_dir=str(work / "spool"),
                        delivery_lanes=args.lanes)
        # Scenarios take turns, round after round, so the shared machine's drift during the
        # run falls on all of them alike; each scenario's latencies are pooled over the rounds.
        latencies: dict[str, list[float]] = {label: [] for label, _ in SCENARIOS}
        failing_requests: dict[str, int] = {label: 0 for label, _ in SCENARIOS}
        try:
            for round_index in range(rounds):
                for index, (label, failing) in enumerate(SCENARIOS):
                    first_index = (round_index * len(SCENARIOS) + index) * 100_000
                    found, requests = run_scenario(base, work, failing, events // rounds, args.rate, first_index)
                    latencies[label] += found
                    failing_requests[label] += requests
        finally:
            server.stop()
    print(f"healthy subscriber: {events} events per scenario at {args.rate:g}/s in {rounds} rounds, "
          f"worker threads x8, {args.lanes} lanes, {database_url.split(':')[0]}")
    print(f"{'scenario':<50} {'got':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p95 ratio':>9} {'failing reqs':>12}")
    baseline = percentile(latencies[SCENARIOS[0][0]], 0.95)
    for label, _ in SCENARIOS:
        found = latencies[label]
        p95 = percentile(found, 0.95)
        print(f"{label:<50} {len(found):>5} {statistics.median(found):>8.1f} {p95:>8.1f} {max(found):>8.1f} "
              f"{p95 / baseline:>9.2f} {failing_requests[label]:>12}")


if __name__ == "__main__":
    main()
