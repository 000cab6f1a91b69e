"""The dead-letter store: a poison payload is parked with its traceback after
SMSPIPE_MAX_ATTEMPTS without its batch-mates; ``smspipe dead-letters`` and the admin API list,
show and replay, and a replay is processed once, however often it is repeated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

import workers.tasks
from common.envelope import Envelope
from common.models import DeadLetter, Message, RawPayload
from ingest.app import create_app
from tests.conftest import ROOT, read_stream, sample_bodies, settings_env, wait_for
from workers.pipeline import Pipeline

INCOMING = sample_bodies("webex-connect")[-1][1]


def incoming(tid: str) -> bytes:
    return INCOMING.replace(b"105eddec-dd53-433d-9d6f-37f10ac76a06", tid.encode())


def envelope(tid: str) -> Envelope:
    return Envelope.wrap("webex-connect", incoming(tid), content_type="application/json")


@pytest.fixture
def pipeline(settings, sessions, redis_client, monkeypatch) -> Pipeline:
    pipeline = Pipeline(settings, sessions, redis_client)
    monkeypatch.setattr(workers.tasks, "_pipeline", (os.getpid(), pipeline))
    return pipeline


def test_poison_payload_is_dead_lettered_with_traceback_after_max_attempts_alone(pipeline, sessions):
    # given a batch whose second envelope can never be stored (a naive received_at)
    good = envelope("good-1").to_wire()
    poison = {**envelope("poison-1").to_wire(), "received_at": "2026-01-01T00:00:00"}
    batch = [good, poison]

    # when Celery runs it (eagerly: each retry runs at once, up to max_attempts = 3)
    result = workers.tasks.process_batch.apply(args=[batch])

    # then after the last attempt the poison alone is parked; its batch-mate is processed
    assert (result.state, result.result) == ("SUCCESS", {"dead_lettered": 1})
    with sessions() as session:
        [letter] = session.scalars(select(DeadLetter)).all()
        assert (letter.ingest_id, letter.attempts) == (poison["ingest_id"], 3)
        assert letter.body == incoming("poison-1")
        assert "naive datetime given to a UTC column" in letter.traceback
        assert "Traceback (most recent call last)" in letter.traceback
        assert session.get(RawPayload, good["ingest_id"]).state == "processed"
        assert session.scalar(select(Message.provider_message_id)) == "good-1"


def dead_letter_after_database_outage(pipeline: Pipeline, tid: str) -> Envelope:
    """What process_batch does after the last attempt when the database was down each time."""
    parked = envelope(tid)
    pipeline.dead_letter_batch([parked], OperationalError("INSERT", {}, Exception("connection refused")), attempts=3)
    return parked


def smspipe(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "common.cli", *args], env=settings_env(settings), cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    )


def test_cli_lists_shows_and_replays_exactly_once(settings, sessions, redis_client, pipeline, worker):
    # given a payload parked after a database outage
    parked = dead_letter_after_database_outage(pipeline, "outage-1")
    with sessions() as session:
        letter_id = session.scalar(select(DeadLetter.id))

    # when listed and shown
    listed = smspipe(settings, "dead-letters", "list")
    shown = smspipe(settings, "dead-letters", "show", str(letter_id))

    # then
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert line.split("\t")[:4][0] == str(letter_id)
    assert line.split("\t")[3] == parked.ingest_id
    document = json.loads(shown.stdout)
    assert (document["ingest_id"], document["attempts"], document["replayed_at"]) == (parked.ingest_id, 3, None)
    assert document["body"] == incoming("outage-1").decode()
    assert "connection refused" in document["reason"]

    # when replayed, twice
    first = smspipe(settings, "dead-letters", "replay", str(letter_id))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"replayed {parked.ingest_id}", "1 payload(s) re-enqueued"]
    wait_for(lambda: len(read_stream(redis_client)) == 1, 30)
    second = smspipe(settings, "dead-letters", "replay", str(letter_id))
    assert second.returncode == 0, second.stderr

    # then it is processed and emitted once
    def processed_twice() -> bool:
        with sessions() as session:
            return session.get(RawPayload, parked.ingest_id).state == "processed"

    wait_for(processed_twice, 30)
    events = read_stream(redis_client)
    assert [event["data"]["provider_message_id"] for event in events] == ["outage-1"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1
        assert session.get(DeadLetter, letter_id).replayed_at is not None
        assert session.scalar(select(func.count()).select_from(DeadLetter)) == 1


def test_cli_replay_all_and_errors(settings, sessions, redis_client, pipeline, worker):
    for tid in ("outage-a", "outage-b"):
        dead_letter_after_database_outage(pipeline, tid)

    assert smspipe(settings, "dead-letters", "replay").returncode == 2  # neither ids nor --all
    missing = smspipe(settings, "dead-letters", "show", "999")
    assert (missing.returncode, missing.stderr.strip()) == (1, "Error: no dead letter with id 999")
    replayed = smspipe(settings, "dead-letters", "replay", "--all")

    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines()[-1] == "2 payload(s) re-enqueued"
    events = wait_for(lambda: len(read_stream(redis_client)) == 2 and read_stream(redis_client), 30)
    assert sorted(event["data"]["provider_message_id"] for event in events) == ["outage-a", "outage-b"]
    assert smspipe(settings, "dead-letters", "list", "--pending").stdout == ""


def test_admin_api_lists_shows_and_replays(settings, sessions, redis_client, pipeline, worker):
    # given a body that is not UTF-8 (dead-lettered by the parser), and one parked by an outage
    bad = Envelope.wrap("infobip", b'{"results": [\xff]}')
    pipeline.process([bad])
    parked = dead_letter_after_database_outage(pipeline, "outage-api")
    client = create_app({"SMSPIPE_SETTINGS": replace(settings, admin_token="s3cret")}).test_client()
    auth = {"Authorization": "Bearer s3cret"}

    # when
    listed = client.get("/api/v1/dead-letters", headers=auth)
    unauthorised = client.get("/api/v1/dead-letters")

    # then
    assert unauthorised.status_code == 401
    letters = {letter["ingest_id"]: letter for letter in listed.get_json()["dead_letters"]}
    assert set(letters) == {bad.ingest_id, parked.ingest_id}
    assert letters[bad.ingest_id]["body"] is None  # not UTF-8: given byte for byte in base64
    assert letters[bad.ingest_id]["body_b64"] == "eyJyZXN1bHRzIjogW/9dfQ=="
    assert letters[bad.ingest_id]["error_type"] == "MalformedPayload"
    shown = client.get(f"/api/v1/dead-letters/{letters[parked.ingest_id]['id']}", headers=auth).get_json()
    assert "OperationalError" in shown["traceback"]
    assert client.get("/api/v1/dead-letters/999", headers=auth).status_code == 404

    # when the parked one is replayed
    replayed = client.post(f"/api/v1/dead-letters/{letters[parked.ingest_id]['id']}/replay", headers=auth)

    # then
    assert replayed.status_code == 202
    letter_id = letters[parked.ingest_id]["id"]
    assert replayed.get_json() == {"status": "replayed", "id": letter_id, "ingest_id": parked.ingest_id,
                                   "ingest_ids": [parked.ingest_id]}
    events = wait_for(lambda: read_stream(redis_client), 30)
    assert [event["data"]["provider_message_id"] for event in events] == ["outage-api"]


def test_replay_of_a_record_level_dead_letter_reapplies_nothing_twice(settings, sessions, redis_client, pipeline):
    # given an Infobip delivery with two results, the second one violating the schema
    body = json.dumps({"results": [
        {"messageId": "ok-1", "from": "385916242493", "to": "385921004026", "text": "hi",
         "receivedAt": "2016-10-06T09:28:39.220+0000"},
        {"messageId": {"not": "a string"}, "from": "385916242493", "text": "x"},
    ]}).encode()
    first = Envelope.wrap("infobip", body)
    pipeline.process([first])
    with sessions() as session:
        letter = session.scalars(select(DeadLetter)).one()
        assert letter.record_index == 1
        assert session.get(RawPayload, first.ingest_id).state == "processed"
    published: list[list[dict]] = []

    # when the dead letter is replayed and its batch processed again
    from common.dead_letters import replay

    with sessions() as session:
        assert replay(session, [letter.id], published.append) == [first.ingest_id]
    result = pipeline.process([Envelope.from_wire(wire) for wire in published[0]])

    # then the sibling that was applied is a duplicate, the broken record is parked again
    assert (result.skipped, result.applied, result.duplicates, result.dead_lettered) == (0, 0, 1, 1)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1
        assert session.scalar(select(func.count()).where(DeadLetter.replayed_at.is_(None))) == 1


def test_replay_that_cannot_be_enqueued_changes_nothing(settings, sessions, pipeline):
    parked = dead_letter_after_database_outage(pipeline, "outage-x")
    from common.dead_letters import replay

    def refuse(batch):
        raise ConnectionError("redis is down")

    with sessions() as session:
        letter_id = session.scalar(select(DeadLetter.id))
        with pytest.raises(ConnectionError):
            replay(session, [letter_id], refuse)
    with sessions() as session:
        assert session.get(RawPayload, parked.ingest_id).state == "dead_lettered"
        assert session.get(DeadLetter, letter_id).replayed_at is None
