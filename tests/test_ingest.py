"""The ingest's answers: accepted payloads are enqueued verbatim; every error is JSON."""

from __future__ import annotations

import base64
import json
import threading

import pytest
import redis

from common.envelope import TASK_PROCESS_BATCH, Envelope
from common.errors import EnqueueFailed
from common.settings import Settings
from ingest.app import create_app
from ingest.group_commit import GroupCommitter
from tests.conftest import sample_bodies

INFOBIP = sample_bodies("infobip")[0][1]


@pytest.fixture
def published() -> list[list[dict]]:
    return []


@pytest.fixture
def client(published, tmp_path):
    settings = Settings(max_body_bytes=2048, spool_dir=str(tmp_path / "spool"))
    app = create_app({"SMSPIPE_SETTINGS": settings}, publish=published.append)
    return app.test_client()


def queued_envelopes(redis_client: redis.Redis, queue: str = "smspipe") -> list[Envelope]:
    """Decode the Celery messages waiting in Redis, as a worker would receive them."""
    envelopes = []
    for message in redis_client.lrange(queue, 0, -1):
        message = json.loads(message)
        assert message["headers"]["task"] == TASK_PROCESS_BATCH
        body = json.loads(base64.b64decode(message["body"]))
        args = body[0]
        envelopes += [Envelope.from_wire(wire) for wire in args[0]]
    return envelopes


def test_accepted_webhook_is_enqueued_verbatim_through_real_redis(redis_url, redis_client, tmp_path):
    # given invalid UTF-8 in the body, which must survive the trip unchanged
    body = INFOBIP.replace(b"Paris", b"Par\xffis")
    app = create_app({"SMSPIPE_SETTINGS": Settings(redis_url=redis_url, spool_dir=str(tmp_path))})

    # when
    response = app.test_client().post(
        "/webhooks/infobip", data=body, content_type="application/json", environ_base={"REMOTE_ADDR": "127.0.0.9"}
    )

    # then
    assert response.status_code == 200
    answer = response.get_json()
    assert answer == {"status": "accepted", "id": answer["id"]}
    [envelope] = queued_envelopes(redis_client)
    assert envelope.ingest_id == answer["id"]
    assert envelope.provider == "infobip"
    assert envelope.body == body
    assert envelope.remote_addr == "127.0.0.9"
    assert envelope.content_type == "application/json"
    assert envelope.received_at.tzinfo is not None


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/webhooks/infobip", b"", 400, "empty body"),
        ("POST", "/webhooks/twilio", INFOBIP, 404, "unknown provider"),
        ("GET", "/webhooks/infobip", None, 405, "method not allowed"),
        ("PUT", "/webhooks/infobip", INFOBIP, 405, "method not allowed"),
        ("POST", "/webhooks/infobip", b"x" * 2049, 413, "body too large"),
        ("GET", "/nowhere", None, 404, "not found"),
    ],
)
def test_error_answers_are_json_and_enqueue_nothing(client, published, method, path, body, status, error):
    response = client.open(path, method=method, data=body, content_type="application/json")

    assert response.status_code == status
    assert response.get_json() == {"error": error}
    assert published == []


def test_body_at_the_limit_is_accepted(client, published):
    response = client.post("/webhooks/infobip", data=b"y" * 2048)

    assert response.status_code == 200
    assert [envelope["ingest_id"] for batch in published for envelope in batch] == [response.get_json()["id"]]


def test_invalid_json_is_still_accepted_for_the_dead_letter_store(client, published):
    response = client.post("/webhooks/webex-connect", data=b"{not json", content_type="text/plain")

    assert response.status_code == 200
    [[envelope]] = published
    assert Envelope.from_wire(envelope).body == b"{not json"


def test_broker_and_spool_down_answers_503_json(tmp_path):
    # given a Redis URL nobody listens on, and a spool "directory" that is a file
    from common.redis_server import free_port

    (tmp_path / "spool").write_bytes(b"not a directory")
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", spool_dir=str(tmp_path / "spool"))
    client = create_app({"SMSPIPE_SETTINGS": settings}).test_client()

    response = client.post("/webhooks/infobip", data=INFOBIP)

    assert response.status_code == 503
    assert set(response.get_json()) == {"error"}


def test_health(redis_url, tmp_path):
    up = create_app({"SMSPIPE_SETTINGS": Settings(redis_url=redis_url, spool_dir=str(tmp_path))}).test_client()
    assert up.get("/livez").status_code == 200
    assert up.get("/readyz").get_json() == {"status": "ready", "broker": "ok"}


def test_group_commit_batches_concurrent_requests():
    # given a publish that is slow, so requests pile up behind it
    batches: list[list[dict]] = []
    release = threading.Event()

    def publish(batch):
        release.wait(5)
        batches.append(batch)

    committer = GroupCommitter(publish, max_size=50, max_wait=0.0, timeout=10)
    threads = [threading.Thread(target=committer.submit, args=({"n": n},)) for n in range(40)]

    # when 40 requests arrive while the first publish is in flight
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)

    # then all 40 are published, in far fewer batches than requests
    assert sorted(item["n"] for batch in batches for item in batch) == list(range(40))
    assert len(batches) < 40
    assert max(len(batch) for batch in batches) > 1


def test_group_commit_reports_publish_failure_to_every_waiter():
    def publish(batch):
        raise ConnectionError("redis is down")

    committer = GroupCommitter(publish, max_size=10, max_wait=0.0, timeout=5)

    with pytest.raises(EnqueueFailed, match="redis is down"):
        committer.submit({"n": 1})
