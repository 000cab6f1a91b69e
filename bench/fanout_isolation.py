"""Delivery latency of a healthy HTTP subscriber alone, beside one answering 500, and beside
one hanging past its timeout, in one run (docs/consuming-events.md quotes the figures).

Real parts: a private redis-server, SQLite, a Celery worker (threads pool) on the delivery
queue, subscribers on 127.0.0.1. The script plays the pipeline: it commits events to the
outbox and publishes them at a steady rate; latency is publish -> the healthy subscriber's
receipt. Not a test: it prints, it asserts nothing.

    .venv/bin/python bench/fanout_isolation.py [--events 200] [--rate 50] [--database-url URL] [--quick]
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
    ("alone, again (the machine's drift during the run)", None),
]


RUN = uuid.uuid4().hex[:8]  # event ids unique per run, so a reused database takes them


def bench_event(index: int) -> dict:
    return {**make_event(index), "id": f"bench-{RUN}-{index}"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[round(fraction * (len(ordered) - 1))]


def run_scenario(base: Settings, work: Path, label: str, failing: dict | None, events: int, rate: float,
                 first_index: int) -> dict[str, float]:
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
        return {
            "label": label,
            "received": len(received),
            "p50": statistics.median(latencies),
            "p95": percentile(latencies, 0.95),
            "max": max(latencies),
            "failing_requests": len(broken.received()) if broken else 0,
        }
    finally:
        worker.stop()
        engine.dispose()
        healthy.stop()
        if broken:
            broken.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0, help="events published per second")
    parser.add_argument("--lanes", type=int, default=4, help="SMSPIPE_DELIVERY_LANES")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file (a PostgreSQL URL works)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 events")
    args = parser.parse_args()
    events = 20 if args.quick else args.events
    with tempfile.TemporaryDirectory(prefix="smspipe-bench-") as directory:
        work = Path(directory)
        server = RedisServer(work / "redis").start()
        database_url = args.database_url or f"sqlite:///{work / 'bench.db'}"
        upgrade(database_url)
        base = Settings(redis_url=server.url, database_url=database_url, spool_dir=str(work / "spool"),
                        delivery_lanes=args.lanes)
        try:
            results = [
                run_scenario(base, work, label, failing, events, args.rate, index * 100_000)
                for index, (label, failing) in enumerate(SCENARIOS)
            ]
        finally:
            server.stop()
    print(f"healthy subscriber, {events} events at {args.rate:g}/s, worker: threads x8, "
          f"{args.lanes} lanes per subscriber, {database_url.split(':')[0]}")
    print(f"{'scenario':<50} {'got':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p95 ratio':>9} {'failing reqs':>12}")
    baseline = results[0]["p95"]
    for result in results:
        print(f"{result['label']:<50} {result['received']:>5} {result['p50']:>8.1f} {result['p95']:>8.1f} "
              f"{result['max']:>8.1f} {result['p95'] / baseline:>9.2f} {result['failing_requests']:>12}")


if __name__ == "__main__":
    main()
