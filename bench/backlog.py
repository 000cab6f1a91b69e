"""A large backlog drained with memory watched: ``python -m bench.backlog [--quick]``.

Queues COUNT webhooks (default 100,000; the payload mix of bench/workers) as the ingest's Celery
batch messages, then starts ONE smspipe worker process and samples, every second, the resident
memory of the worker's main process and its pool process, with the progress (events in the
stream, messages left in the queue). Writes the curve as numbers (JSON) and as a PNG.

Flat means: after warm-up (the first WARMUP fraction of the drain), the pool process's RSS grows
by less than 20% over its value at the end of warm-up.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import redis

from bench._common import RESULTS, Child, child_env, database, descendants, load_average, redis_server, rss_mb, \
    scratch_dir, summary, write_result
from bench.payloads import envelopes_wire, webhook_bodies
from bench.png import line_chart
from bench.workers import drain_timeout, drained_figures, processed, stream_settled
from common.cli import worker_command
from common.settings import Settings
from common.batch_publisher import CeleryPublisher

NAME = "backlog"


def queue_backlog(settings: Settings, count: int, batch_size: int, chunk: int = 10_000) -> None:
    """Generated and published in chunks so the harness itself stays small."""
    publisher = CeleryPublisher(settings)
    bodies = webhook_bodies(count)
    for start in range(0, count, chunk):
        wires = envelopes_wire(bodies[start:start + chunk])
        for offset in range(0, len(wires), batch_size):
            publisher(wires[offset:offset + batch_size])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench/backlog", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: 2,000 webhooks")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--warmup", type=float, default=0.1, help="fraction of the drain counted as warm-up")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    args = parser.parse_args(argv)
    args.count = args.count or (2_000 if args.quick else 100_000)
    if args.quick:
        args.interval = min(args.interval, 0.25)

    with scratch_dir(NAME) as directory, redis_server(directory) as server, database(args.database, directory) as url:
        client = redis.Redis.from_url(server.url)
        settings = Settings(redis_url=server.url, database_url=url)
        queue_backlog(settings, args.count, args.batch_size)
        queued = client.llen(settings.queue_name)
        load_before = load_average()
        worker = Child(worker_command(1, beat=False),
                       child_env(SMSPIPE_REDIS_URL=server.url, SMSPIPE_DATABASE_URL=url,
                                 SMSPIPE_SPOOL_DIR=str(directory / "spool")),
                       directory / "worker.log")
        curve: list[dict[str, Any]] = []
        started = time.monotonic()
        try:
            deadline = started + drain_timeout(args.count)
            while True:
                pool = descendants(worker.pid)
                curve.append({
                    "t": round(time.monotonic() - started, 2),
                    "main_rss_mb": round(rss_mb(worker.pid), 1),
                    "pool_rss_mb": round(max((rss_mb(pid) for pid in pool), default=0.0), 1),
                    "events": client.xlen("smspipe:events"),
                    "messages_left": client.llen(settings.queue_name),
                })
                if not worker.alive():
                    raise RuntimeError(f"worker died:\n{worker.log_text()[-3000:]}")
                if curve[-1]["messages_left"] == 0 and processed(url, args.count):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("backlog did not drain in time")
                time.sleep(args.interval)
            stream_settled(client)
            figures = drained_figures(url, client, args.count)
        finally:
            worker.stop()
            client.close()

    analysis = flatness(curve, queued, args.warmup)
    png = RESULTS / (f"{NAME}.quick.png" if args.quick else f"{NAME}.png")
    RESULTS.mkdir(parents=True, exist_ok=True)
    line_chart(png, [[(point["t"], point["pool_rss_mb"]) for point in curve if point["pool_rss_mb"]],
                     [(point["t"], point["main_rss_mb"]) for point in curve]])
    summary(NAME, "payloads_per_second", figures["payloads_per_second"], events=figures["events"],
            seconds=figures["seconds"])
    summary(NAME, "pool_rss_growth_after_warmup", analysis["pool_rss_growth_after_warmup"],
            warmup_rss_mb=analysis["pool_rss_mb_at_warmup"], peak_rss_mb=analysis["pool_rss_mb_peak"],
            final_rss_mb=analysis["pool_rss_mb_final"])
    summary(NAME, "target", "met" if analysis["flat"] else "missed", check="pool_rss_growth_after_warmup<0.20")
    result = {
        "settings": {"count": args.count, "batch_size": args.batch_size, "database": args.database,
                     "warmup_fraction": args.warmup, "interval_seconds": args.interval, "worker_processes": 1},
        "load_average_before": load_before,
        "celery_messages_queued": queued,
        "drain": figures,
        "memory": analysis,
        "png": str(png.relative_to(png.parents[2])),
        "curve": curve,
    }
    write_result(NAME, result, args.quick)
    return result


def flatness(curve: list[dict[str, Any]], queued: int, warmup: float) -> dict[str, Any]:
    """RSS of the pool process once the first ``warmup`` fraction of messages was drained."""
    sampled = [point for point in curve if point["pool_rss_mb"]]
    after = [point for point in sampled if point["messages_left"] <= queued * (1 - warmup)] or sampled[-1:]
    at_warmup = after[0]["pool_rss_mb"] if after else 0.0
    peak = max((point["pool_rss_mb"] for point in after), default=0.0)
    growth = round((peak - at_warmup) / at_warmup, 3) if at_warmup else None
    return {
        "pool_rss_mb_at_warmup": at_warmup,
        "pool_rss_mb_peak": peak,
        "pool_rss_mb_final": sampled[-1]["pool_rss_mb"] if sampled else 0.0,
        "pool_rss_growth_after_warmup": growth,
        "flat": growth is not None and growth < 0.20,
        "samples": len(curve),
    }


if __name__ == "__main__":
    main()
