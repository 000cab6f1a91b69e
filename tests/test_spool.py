"""The disk spool: a 200 while Redis is down is still durable, and drains in order once Redis
is back; /readyz tells which of the two can take webhooks."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest
import redis

from common.errors import EnqueueFailed
from common.redis_server import RedisServer, free_port
from common.settings import Settings
from ingest.app import create_app
from ingest.spool import CLAIM_MARK, Spool
from tests.conftest import sample_bodies, wait_for
from tests.test_ingest import queued_envelopes

INFOBIP = sample_bodies("infobip")[0][1]


def test_spooled_batches_drain_in_order_and_are_gone(tmp_path):
    # given
    spool = Spool(tmp_path / "spool")
    for n in range(5):
        spool.append([{"n": n}])
    published: list[list[dict]] = []

    # when
    drained = spool.drain(published.append)

    # then
    assert drained == 5
    assert published == [[{"n": n}] for n in range(5)]
    assert spool.pending() == []


def test_a_failed_drain_keeps_every_batch_for_the_next_round(tmp_path):
    spool = Spool(tmp_path)
    spool.append([{"n": 1}])
    spool.append([{"n": 2}])

    def refuse(batch):
        raise ConnectionError("still down")

    assert spool.drain(refuse) == 0
    published: list[list[dict]] = []
    assert spool.drain(published.append) == 2
    assert published == [[{"n": 1}], [{"n": 2}]]


def test_claim_of_a_dead_process_is_taken_back(tmp_path):
    # given a batch claimed by a process that died before publishing it
    spool = Spool(tmp_path)
    path = spool.append([{"n": 1}])
    dead = multiprocessing.get_context("fork").Process(target=lambda: None)
    dead.start()
    dead.join()
    os.rename(path, path.with_name(f"{path.name}{CLAIM_MARK}{dead.pid}"))
    # and one claimed by a live process (this one pretends to be another)
    live = spool.append([{"n": 2}])
    os.rename(live, live.with_name(f"{live.name}{CLAIM_MARK}1"))

    # when
    published: list[list[dict]] = []
    spool.drain(published.append)

    # then the dead one's batch is published; the live one's claim is left alone
    assert published == [[{"n": 1}]]
    assert [path.name.endswith(f"{CLAIM_MARK}1") for path in spool.pending()] == [True]


def _append_many(directory: str, worker: int) -> None:
    spool = Spool(directory)
    for n in range(50):
        spool.append([{"worker": worker, "n": n}])


def test_concurrent_processes_never_share_or_tear_a_file(tmp_path):
    # given four processes spooling at once, as gunicorn workers do
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_append_many, args=(str(tmp_path), worker)) for worker in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(30)

    # when
    published: list[list[dict]] = []
    Spool(tmp_path).drain(published.append)

    # then every batch arrives once, whole, and each process's batches in its order
    items = [item for batch in published for item in batch]
    assert len(items) == 200
    for worker in range(4):
        assert [item["n"] for item in items if item["worker"] == worker] == list(range(50))


def test_unwritable_spool_raises_enqueue_failed(tmp_path):
    (tmp_path / "file").write_bytes(b"")

    with pytest.raises(EnqueueFailed, match="spool not writable"):
        Spool(tmp_path / "file").append([{"n": 1}])


def test_redis_down_spools_then_drains_into_redis_in_order(tmp_path):
    # given a real Redis that goes away
    server = RedisServer(tmp_path / "redis").start()
    settings = Settings(redis_url=server.url, spool_dir=str(tmp_path / "spool"), enqueue_timeout_seconds=15)
    client = create_app({"SMSPIPE_SETTINGS": settings}).test_client()
    try:
        assert client.get("/readyz").get_json() == {"status": "ready", "broker": "ok"}
        server.stop()

        # when webhooks arrive while it is down
        ids = []
        for n in range(5):
            response = client.post("/webhooks/infobip", data=INFOBIP.replace(b"Paris", b"Paris %d" % n))
            assert response.status_code == 200
            ids.append(response.get_json()["id"])

        # then they are on disk, and readiness says degraded
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.get_json()["status"] == "degraded"
        assert ready.get_json()["spooled_batches"] == 5

        # when Redis is back (same port, its AOF)
        server.start()
        redis_client = redis.Redis.from_url(server.url)

        # then the drainer thread moves them into the queue, oldest first, and the spool empties
        envelopes = wait_for(lambda: len(queued_envelopes(redis_client)) == 5 and queued_envelopes(redis_client), 20)
        assert [envelope.ingest_id for envelope in envelopes[::-1]] == ids  # LPUSH: newest first
        assert [envelope.body for envelope in envelopes[::-1]] == [INFOBIP.replace(b"Paris", b"Paris %d" % n) for n in range(5)]
        wait_for(lambda: os.listdir(settings.spool_dir) == [], 5)
        assert client.get("/readyz").get_json() == {"status": "ready", "broker": "ok"}
        redis_client.close()
    finally:
        server.stop()


def test_readyz_is_503_when_neither_broker_nor_spool_can_take_webhooks(tmp_path):
    (tmp_path / "spool").write_bytes(b"a file, not a directory")
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", spool_dir=str(tmp_path / "spool"))
    client = create_app({"SMSPIPE_SETTINGS": settings}).test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["error"].startswith("broker unavailable")
    assert "spool directory unusable" in response.get_json()["error"]


def test_spool_file_is_the_batch_as_json(tmp_path):
    path = Spool(tmp_path).append([{"ingest_id": "a", "body_b64": "/w=="}])

    assert json.loads(path.read_bytes()) == [{"ingest_id": "a", "body_b64": "/w=="}]
    assert path.suffix == ".batch"
