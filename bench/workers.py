"""Worker drain throughput beside its ceiling and the naive worker: ``python -m bench.workers``.

For each database (SQLite, and PostgreSQL when ``SMSPIPE_TEST_POSTGRES_URL`` names a server),
the same N webhooks (mixed providers, ~10% duplicates, Infobip deliveries of 1-5 results) are
queued, then drained end to end (rows in the database, events in the Redis Stream) by:

  ceiling x1, x2   plain loop processes (bench/ceiling.py): pop a batch, parse, executemany;
  smspipe x1, x2   the real Celery worker as ``smspipe worker`` runs it, with 1 and 2 processes,
                   fed the Celery batch messages the ingest publishes;
  naive x1         one Celery task per webhook, one pipeline run (transaction) each.

Every contender is timed the same way, from the database and the stream: from the first raw
payload stored to the last payload processed or event published. Peak RSS is sampled per process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, select

from bench._common import Child, child_env, database, descendants, load_average, postgres_admin_url, python, \
    ratio, redis_server, rss_mb, scratch_dir, summary, wait_for, write_result
from bench.naive_worker import QUEUE as NAIVE_QUEUE, TASK as NAIVE_TASK
from bench.payloads import envelopes_wire, webhook_bodies
from common.cli import worker_command
from common.db import make_engine, make_session_factory
from common.queue import make_celery
from common.models import Message, OutboxEvent, RawPayload
from common.settings import Settings
from common.batch_publisher import CeleryPublisher

NAME = "workers"
CEILING_KEY = "bench:ceiling"
STREAM = "smspipe:events"


class RssSampler:
    """Peak resident memory of a process tree, sampled every ``interval`` seconds."""

    def __init__(self, root_pids: list[int], interval: float = 0.2):
        self.root_pids = root_pids
        self.interval = interval
        self.peaks: dict[int, float] = {}
        self.samples: list[tuple[float, dict[int, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> dict[int, float]:
        pids = [pid for root in self.root_pids for pid in [root, *descendants(root)]]
        now = {pid: rss_mb(pid) for pid in pids}
        for pid, value in now.items():
            self.peaks[pid] = max(self.peaks.get(pid, 0.0), value)
        return now

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((round(time.monotonic() - started, 2), self.sample()))
            self._stop.wait(self.interval)


def drained_figures(database_url: str, client: redis.Redis, payloads: int) -> dict[str, Any]:
    """Counts, and the drain window read from the rows and the stream (same for every contender)."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            first = session.scalar(select(RawPayload.stored_at).order_by(RawPayload.stored_at).limit(1))
            last = session.scalar(select(RawPayload.processed_at).order_by(RawPayload.processed_at.desc()).limit(1))
            outbox = session.scalar(select(func.count()).select_from(OutboxEvent))
            messages = session.scalar(select(func.count()).select_from(Message))
    finally:
        engine.dispose()
    end = last.timestamp()
    newest = client.xrevrange(STREAM, count=1)
    if newest:
        end = max(end, int(newest[0][0].split(b"-")[0]) / 1000)
    seconds = max(end - first.timestamp(), 1e-6)
    events = client.xlen(STREAM)
    return {
        "payloads": payloads,
        "events": events,
        "outbox_rows": outbox,
        "message_rows": messages,
        "seconds": round(seconds, 3),
        "payloads_per_second": round(payloads / seconds, 1),
        "events_per_second": round(events / seconds, 1),
    }


def processed(database_url: str, expected: int) -> bool:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            done = connection.scalar(select(func.count()).select_from(RawPayload).where(RawPayload.state != "pending"))
    finally:
        engine.dispose()
    return done >= expected


def stream_settled(client: redis.Redis) -> int:
    """Waits until the stream stops growing (events are published right after each commit)."""
    previous = -1
    while True:
        length = client.xlen(STREAM)
        if length == previous:
            return length
        previous = length
        time.sleep(0.3)


def drain_timeout(count: int) -> float:
    return 120 + count / 20  # generous: a stuck drain fails rather than hangs


def run_celery(kind: str, processes: int, wires: list[dict[str, Any]], batch_size: int, *, database_url: str,
               client: redis.Redis, redis_url: str, directory: Path) -> dict[str, Any]:
    settings = Settings(redis_url=redis_url, database_url=database_url)
    if kind == "smspipe":
        publisher = CeleryPublisher(settings)
        for start in range(0, len(wires), batch_size):
            publisher(wires[start:start + batch_size])
        command = worker_command(processes, beat=False)
    else:
        celery = make_celery(settings, name="bench-naive")
        for wire in wires:
            celery.send_task(NAIVE_TASK, args=[wire], queue=NAIVE_QUEUE, retry=False)
        command = [part.replace("workers.celery_app", "bench.naive_worker") for part in worker_command(processes, False)]
        command[command.index("--queues") + 1] = NAIVE_QUEUE
    env = child_env(SMSPIPE_REDIS_URL=redis_url, SMSPIPE_DATABASE_URL=database_url,
                    SMSPIPE_SPOOL_DIR=str(directory / "spool"))
    worker = Child(command, env, directory / f"worker-{kind}-{processes}-{time.monotonic_ns()}.log")
    try:
        with RssSampler([worker.pid]) as sampler:
            wait_for(lambda: processed(database_url, len(wires)) or (not worker.alive() and "dead"),
                     timeout=drain_timeout(len(wires)), interval=0.25, what=f"{kind} x{processes} to drain")
            if not worker.alive():
                raise RuntimeError(f"worker died:\n{worker.log_text()[-3000:]}")
            stream_settled(client)
        children = [pid for pid in sampler.peaks if pid != worker.pid]
        figures = drained_figures(database_url, client, len(wires))
        figures["peak_rss_mb_per_process"] = sorted(round(sampler.peaks[pid], 1) for pid in children)
        figures["peak_rss_mb_main"] = round(sampler.peaks.get(worker.pid, 0.0), 1)
        figures["batch_retries_logged"] = worker.log_text().count("batch failed, attempt")
        return figures
    finally:
        worker.stop()


def run_ceiling(processes: int, wires: list[dict[str, Any]], batch_size: int, *, database_url: str,
                client: redis.Redis, redis_url: str, directory: Path) -> dict[str, Any]:
    with client.pipeline(transaction=False) as pipe:
        for wire in wires:
            pipe.rpush(CEILING_KEY, json.dumps(wire))
        pipe.execute()
    command = [python(), "-m", "bench.ceiling", redis_url, database_url, CEILING_KEY, str(batch_size)]
    children = [subprocess.Popen(command, env=child_env(), cwd=Path(__file__).resolve().parent.parent,
                                 stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    try:
        with RssSampler([child.pid for child in children]) as sampler:
            outputs = [child.communicate(timeout=drain_timeout(len(wires)))[0] for child in children]
        for child, output in zip(children, outputs):
            if child.returncode != 0:
                raise RuntimeError(f"ceiling process failed ({child.returncode}): {output}")
        stream_settled(client)
        figures = drained_figures(database_url, client, len(wires))
        figures["peak_rss_mb_per_process"] = sorted(round(value, 1) for value in sampler.peaks.values())
        figures["per_process"] = [json.loads(output.strip().splitlines()[-1]) for output in outputs]
        return figures
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def measure_database(kind: str, args: argparse.Namespace, wires: list[dict[str, Any]], directory: Path,
                     redis_url: str) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    naive_wires = wires[: args.naive_count]
    plan = [("ceiling", count) for count in args.processes] + [("smspipe", count) for count in args.processes] \
        + [("naive", 1)]
    contenders: dict[str, Any] = {}
    for contender, processes in plan:
        client.flushall()
        with database(kind, directory) as url:
            load_before = load_average()
            common = {"database_url": url, "client": client, "redis_url": redis_url, "directory": directory}
            if contender == "ceiling":
                figures = run_ceiling(processes, wires, args.batch_size, **common)
            else:
                figures = run_celery(contender, processes, naive_wires if contender == "naive" else wires,
                                     args.batch_size, **common)
        figures["load_average_before"] = load_before
        name = f"{contender}_x{processes}"
        contenders[name] = figures
        summary(NAME, f"{kind}.{name}.events_per_second", figures["events_per_second"],
                payloads_per_second=figures["payloads_per_second"], events=figures["events"],
                payloads=figures["payloads"], peak_rss_mb=max(figures["peak_rss_mb_per_process"] or [0]),
                load=",".join(map(str, load_before)))
    client.close()
    return {"contenders": contenders, "ratios": worker_ratios(contenders, args.processes)}


def worker_ratios(contenders: dict[str, Any], processes: list[int]) -> dict[str, Any]:
    eps = {name: figures["payloads_per_second"] for name, figures in contenders.items()}
    ratios: dict[str, Any] = {
        # Webhooks per second: every contender drains the same payloads (events differ by design).
        "smspipe_x1_over_ceiling_x1": ratio(eps["smspipe_x1"], eps["ceiling_x1"]),
        "smspipe_x1_over_naive_x1": ratio(eps["smspipe_x1"], eps["naive_x1"]),
    }
    if 2 in processes:
        ratios["smspipe_scaling_1_to_2"] = ratio(eps["smspipe_x2"], eps["smspipe_x1"])
        ratios["ceiling_scaling_1_to_2"] = ratio(eps["ceiling_x2"], eps["ceiling_x1"])
        ratios["smspipe_x2_over_ceiling_x2"] = ratio(eps["smspipe_x2"], eps["ceiling_x2"])
        ratios["scaling_over_ceiling_scaling"] = ratio(ratios["smspipe_scaling_1_to_2"] or 0,
                                                       ratios["ceiling_scaling_1_to_2"] or 0)
    return ratios


def targets(ratios: dict[str, Any]) -> dict[str, bool]:
    met = {
        "smspipe_x1_over_ceiling_x1 >= 0.5": (ratios["smspipe_x1_over_ceiling_x1"] or 0) >= 0.5,
        "smspipe_x1_over_naive_x1 >= 10": (ratios["smspipe_x1_over_naive_x1"] or 0) >= 10,
    }
    if "smspipe_scaling_1_to_2" in ratios:
        met["scaling >= 1.7 or >= 0.9 x ceiling scaling"] = (ratios["smspipe_scaling_1_to_2"] or 0) >= 1.7 or (
            ratios["scaling_over_ceiling_scaling"] or 0) >= 0.9
    return met


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench/workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: few webhooks, SQLite, 1 process")
    parser.add_argument("--count", type=int, default=None, help="queued webhooks per contender")
    parser.add_argument("--naive-count", type=int, default=None, help="webhooks for the (slow) naive worker")
    parser.add_argument("--batch-size", type=int, default=100, help="webhooks per Celery message / ceiling pop")
    parser.add_argument("--databases", default=None, help="comma-separated: sqlite,postgresql")
    args = parser.parse_args(argv)
    args.count = args.count or (300 if args.quick else 20_000)
    args.naive_count = min(args.count, args.naive_count or (60 if args.quick else 2_000))
    args.processes = [1] if args.quick else [1, 2]
    kinds = (args.databases or ("sqlite" if args.quick else "sqlite,postgresql")).split(",")
    if "postgresql" in kinds and not postgres_admin_url():
        print("bench:workers postgresql=skipped reason=SMSPIPE_TEST_POSTGRES_URL is not set", flush=True)
        kinds.remove("postgresql")

    wires = envelopes_wire(webhook_bodies(args.count))
    results: dict[str, Any] = {}
    with scratch_dir(NAME) as directory, redis_server(directory) as server:
        for kind in kinds:
            results[kind] = measure_database(kind, args, wires, directory, server.url)
            results[kind]["targets_met"] = targets(results[kind]["ratios"])
            for key, value in results[kind]["ratios"].items():
                summary(NAME, f"{kind}.{key}", value)
            for key, met in results[kind]["targets_met"].items():
                summary(NAME, f"{kind}.target", "met" if met else "missed", check=key.replace(" ", ""))
    settings = {key: getattr(args, key) for key in ("count", "naive_count", "batch_size", "processes")}
    write_result(NAME, {"settings": settings, "databases": results}, args.quick)
    return results


if __name__ == "__main__":
    main()
