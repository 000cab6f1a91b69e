"""The fault suite: thousands of webhooks through real processes while something breaks.

Each scenario starts its own Redis, PostgreSQL database (behind a cuttable proxy), ingest
(gunicorn) and Celery workers, sends its webhooks, breaks things while they flow, and then
counts: every webhook answered 200 is processed exactly once in effect, and every expected event
id is in the Redis Stream. Figures are printed as a table row (``pytest -s``) and kept in
docs/reliability.md. Bounded: each scenario well under a minute on a 2-core machine.

A failing HTTP subscriber is a scenario too: it answers 500 for a while, and every event still
reaches it, each exactly once with a 2xx.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis

from common.db import make_engine, make_session_factory, upgrade
from common.redis_server import RedisServer
from common.settings import Settings
from tests.conftest import WorkerProcess, _postgres_database, read_stream, settings_env, wait_for
from tests.fanout_fixtures import SECRET, with_subscribers
from tests.http_subscriber import RecordingSubscriber
from tests.faults.harness import Ingest, TcpProxy, Tally, chaos, pool_children, send_webhooks, settle, tally

WEBHOOKS = int(os.environ.get("SMSPIPE_FAULT_WEBHOOKS", "1500"))
VISIBILITY_TIMEOUT = 10  # a whole worker killed: its task is handed out again after this


@dataclass
class Stage:
    settings: Settings
    redis: RedisServer
    proxy: TcpProxy
    tmp_path: Path
    sessions: object
    redis_client: redis.Redis
    ingest: Ingest | None = None
    workers: list[WorkerProcess] | None = None
    subscriber: RecordingSubscriber | None = None

    def env(self) -> dict[str, str]:
        env = settings_env(self.settings)
        env["SMSPIPE_VISIBILITY_TIMEOUT_SECONDS"] = str(VISIBILITY_TIMEOUT)
        env["SMSPIPE_LOG_FORMAT"] = "console"
        env["SMSPIPE_WORKER_METRICS_PORT"] = "0"  # several workers on one machine
        return env

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.env(), self.tmp_path / f"worker-{len(self.workers)}.log", concurrency=2)
        self.workers.append(worker)
        worker.wait_ready(60)
        return worker

    def live_workers(self) -> list[WorkerProcess]:
        return [worker for worker in self.workers if worker.process.poll() is None]


@pytest.fixture
def stage(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stage]:
    appendfsync = getattr(request, "param", "everysec")
    server = RedisServer(tmp_path / "redis", appendfsync=appendfsync).start()
    for database_url in _postgres_database():
        upgrade(database_url)
        target = urlparse(database_url)
        proxy = TcpProxy((target.hostname, target.port or 5432)).restore()
        proxied = database_url.replace(f"{target.hostname}:{target.port or 5432}", f"127.0.0.1:{proxy.port}", 1)
        settings = Settings(redis_url=server.url, database_url=proxied, spool_dir=str(tmp_path / "spool"),
                            max_attempts=8)
        scripted = request.node.get_closest_marker("subscriber")
        subscriber = RecordingSubscriber(scripted.kwargs["statuses"]) if scripted else None
        if subscriber is not None:
            settings = with_subscribers(settings, tmp_path, [{
                "name": "flaky", "url": subscriber.url, "secret": SECRET,
                "retry_schedule": [0.5, 1, 2, 4, 8, 8, 8, 8],
            }])
        engine = make_engine(database_url)  # the test's own reads bypass the proxy
        client = redis.Redis.from_url(server.url)
        stage = Stage(settings, server, proxy, tmp_path, make_session_factory(engine), client, workers=[])
        stage.subscriber = subscriber
        try:
            stage.ingest = Ingest(stage.env(), tmp_path / "ingest.log")
            stage.start_worker()
            stage.start_worker()
            yield stage
        finally:
            if stage.ingest is not None:
                stage.ingest.stop()
            for worker in stage.workers:
                worker.stop()
            proxy.cut()
            if subscriber is not None:
                subscriber.stop()
            client.close()
            engine.dispose()
            server.stop()


def run(stage: Stage, scenario: str, fault, every: float, count: int = WEBHOOKS) -> Tally:
    """Send the webhooks while ``fault`` strikes every ``every`` seconds; settle; count."""
    stop = threading.Event()
    thread = chaos(stop, every, fault)
    try:
        load = send_webhooks(stage.ingest.url, count, scenario)
        time.sleep(every)  # one more strike while the backlog is being processed
    finally:
        stop.set()
        thread.join(30)
    settle(load, stage.sessions, stage.redis_client, stage.settings, timeout=120)
    result = tally(scenario, load, stage.sessions, stage.redis_client, stage.tmp_path)
    print("\n" + result.row())
    return result


def assert_nothing_lost_nothing_doubled(result: Tally) -> None:
    assert result.answered_200 == result.sent
    assert result.lost == 0
    assert result.duplicate_effects == 0
    assert result.events_missing_from_stream == 0


def test_workers_killed_with_sigkill(stage: Stage):
    kills = {"pool": 0, "node": 0}

    def kill_a_worker() -> None:
        live = stage.live_workers()
        if kills["pool"] % 4 == 3 and len(live) > 1:
            victim = random.choice(live)  # the whole node: its task waits for the visibility timeout
            victim.kill()
            kills["node"] += 1
            stage.start_worker()
        else:
            children = [pid for worker in live for pid in pool_children(worker.process.pid)]
            if children:
                os.kill(random.choice(children), signal.SIGKILL)  # mid-task: requeued at once
        kills["pool"] += 1

    result = run(stage, "sigkill", kill_a_worker, every=1.0)

    assert kills["pool"] >= 3
    assert result.evidence["tasks whose pool process was killed"] >= 1  # struck mid-task
    assert_nothing_lost_nothing_doubled(result)


def test_redis_restarted(stage: Stage):
    restarts = []

    def restart_redis() -> None:
        stage.redis.stop()  # SIGTERM: Redis fsyncs its AOF on the way down
        stage.redis.start()
        restarts.append(time.monotonic())

    result = run(stage, "redisrestart", restart_redis, every=2.0)

    assert len(restarts) >= 1
    assert result.evidence["worker reconnects to Redis"] >= 1
    assert_nothing_lost_nothing_doubled(result)


@pytest.mark.parametrize("stage", ["always"], indirect=True)
@pytest.mark.xfail(
    strict=False,
    reason="known gap, about 1 run in 19 loses one webhook: kombu's Redis transport takes a task with "
    "BRPOP and records it as unacked in a second command, so a Redis SIGKILL after the BRPOP is on disk "
    "but before its reply reaches the worker loses that task (celery/kombu#305). A graceful restart "
    "(test_redis_restarted) loses nothing. Fix: a transport that takes tasks with BLMOVE into a "
    "processing list.",
)
def test_redis_crashed_with_appendfsync_always(stage: Stage):
    crashes = []

    def crash_redis() -> None:
        os.kill(stage.redis.process.pid, signal.SIGKILL)
        stage.redis.process.wait()
        stage.redis.start()
        crashes.append(time.monotonic())

    result = run(stage, "rediscrash", crash_redis, every=2.0)

    assert len(crashes) >= 1
    assert result.evidence["worker reconnects to Redis"] >= 1
    assert_nothing_lost_nothing_doubled(result)


def test_redis_down_for_a_while_spools(stage: Stage):
    # given Redis down before the webhooks arrive, and back 5 s later
    stage.redis.stop()
    back = threading.Timer(5.0, stage.redis.start)
    back.start()

    # when
    try:
        load = send_webhooks(stage.ingest.url, WEBHOOKS, "redisdown")
    finally:
        back.join(30)
    settle(load, stage.sessions, stage.redis_client, stage.settings, timeout=120)
    result = tally("redisdown", load, stage.sessions, stage.redis_client, stage.tmp_path)
    print("\n" + result.row())

    # then everything was answered 200 (from the spool while Redis was down) and nothing lost
    assert result.evidence["batches spooled"] >= 1
    assert_nothing_lost_nothing_doubled(result)
    assert os.listdir(stage.settings.spool_dir) == []


def test_database_unavailable_for_a_while(stage: Stage):
    outages = []

    def cut_database() -> None:
        if outages:
            return  # one outage of 4 s is enough
        stage.proxy.cut()
        outages.append(time.monotonic())
        threading.Timer(4.0, stage.proxy.restore).start()

    result = run(stage, "dbdown", cut_database, every=1.5)

    assert len(outages) == 1
    assert result.evidence["batch attempts failed (retried)"] >= 1
    assert_nothing_lost_nothing_doubled(result)


FAILED_ANSWERS = 300


@pytest.mark.subscriber(statuses=[500] * FAILED_ANSWERS + [200])
def test_a_subscriber_failing_for_a_while(stage: Stage):
    # given a subscriber whose first 300 answers are 500, while webhooks keep arriving
    result = run(stage, "subscriber", lambda: None, every=2.0, count=WEBHOOKS // 2)
    assert_nothing_lost_nothing_doubled(result)
    stream_ids = {event["id"] for event in read_stream(stage.redis_client)}

    # then every event of the stream reaches it with a 2xx, exactly once, after the failures
    def delivered() -> list[str]:
        return [request.headers["webhook-id"] for request in stage.subscriber.received()[FAILED_ANSWERS:]]

    wait_for(lambda: set(delivered()) >= stream_ids, timeout=180, interval=1.0)
    succeeded = delivered()
    print(f"\n| subscriber answering 500 to its first {FAILED_ANSWERS} requests | events {len(stream_ids)} | "
          f"delivered {len(set(succeeded))} | delivered twice {len(succeeded) - len(set(succeeded))} | "
          f"requests {len(stage.subscriber.received())} |")
    assert len(stage.subscriber.received()) > FAILED_ANSWERS  # the failures really happened
    assert sorted(succeeded) == sorted(set(succeeded))  # no event delivered twice
    assert set(succeeded) == stream_ids
