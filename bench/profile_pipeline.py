"""cProfile of the batch pipeline in-process (no Celery): ``python -m bench.profile_pipeline
[sqlite|postgresql] [COUNT]``. The evidence behind BENCHMARKS.md's notes on the workers: prints
webhooks/s without the profiler, then the top functions by cumulative time with it, and writes
the listing to bench/results/profile-pipeline-<database>.txt.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time

import redis

from bench._common import RESULTS, database, redis_server, scratch_dir
from bench.payloads import envelopes_wire, webhook_bodies
from common.db import make_engine, make_session_factory
from common.envelope import Envelope
from common.settings import Settings
from workers.pipeline import Pipeline

BATCH = 100


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    envelopes = [Envelope.from_wire(wire) for wire in envelopes_wire(webhook_bodies(count))]
    half = count // 2 // BATCH * BATCH
    with scratch_dir("profile") as directory, redis_server(directory) as server, database(kind, directory) as url:
        pipeline = Pipeline(Settings(redis_url=server.url, database_url=url),
                            make_session_factory(make_engine(url)), redis.Redis.from_url(server.url))
        started = time.perf_counter()
        for start in range(0, half, BATCH):
            pipeline.process(envelopes[start:start + BATCH])
        rate = half / (time.perf_counter() - started)
        profiler = cProfile.Profile()
        profiler.enable()
        for start in range(half, count, BATCH):
            pipeline.process(envelopes[start:start + BATCH])
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    listing = f"{kind}: {rate:.0f} webhooks/s without the profiler ({half} webhooks, batches of {BATCH})\n" + out.getvalue()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"profile-pipeline-{kind}.txt").write_text(listing)
    print(listing)


if __name__ == "__main__":
    main()
