"""The batch pipeline's fast path (all records of a batch in one savepoint, dedupe keys claimed
in one statement) must keep the per-record guarantees: a record that fails is dead-lettered
alone while its siblings commit, and a key repeated inside one batch is applied once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from common.envelope import Envelope
from common.models import DeadLetter, Message, RawPayload
from tests.conftest import read_stream, sample_bodies
from workers import pipeline as pipeline_module
from workers.pipeline import Pipeline
from workers.records import InboundMessage


def connect_incoming(tid: str) -> Envelope:
    body = json.loads(dict(sample_bodies("webex-connect"))["08_incoming.json"])
    body["tid"] = tid
    return Envelope.wrap("webex-connect", json.dumps(body).encode())


def test_a_failing_record_is_dead_lettered_alone_and_its_batch_siblings_commit(settings, sessions, redis_client,
                                                                             monkeypatch):
    # given: the apply step fails for one record of a three-webhook batch
    apply_inbound = pipeline_module.APPLY[InboundMessage]

    def failing_for_bad(session, record, emitter, rules):
        if record.provider_message_id == "tid-bad":
            raise ValueError("cannot apply this record")
        apply_inbound(session, record, emitter, rules)

    monkeypatch.setitem(pipeline_module.APPLY, InboundMessage, failing_for_bad)
    batch = [connect_incoming("tid-1"), connect_incoming("tid-bad"), connect_incoming("tid-2")]

    # when
    result = Pipeline(settings, sessions, redis_client).process(batch)

    # then
    assert (result.applied, result.dead_lettered) == (2, 1)
    with sessions() as session:
        assert sorted(session.scalars(select(Message.provider_message_id))) == ["tid-1", "tid-2"]
        letter = session.scalars(select(DeadLetter)).one()
        assert (letter.ingest_id, letter.record_index) == (batch[1].ingest_id, 0)
        assert "cannot apply this record" in letter.reason
        assert set(session.scalars(select(RawPayload.state))) == {"processed"}
    assert sorted(event["data"]["provider_message_id"] for event in read_stream(redis_client)) == ["tid-1", "tid-2"]


@pytest.mark.parametrize("redis_remembers", [True, False], ids=["redis-fast-path", "database-only"])
def test_a_record_repeated_in_one_batch_and_in_the_next_is_applied_once(settings, sessions, redis_client,
                                                                       redis_remembers):
    # given
    pipeline = Pipeline(settings, sessions, redis_client)
    pipeline.process([connect_incoming("tid-1"), connect_incoming("tid-1"), connect_incoming("tid-2")])
    if not redis_remembers:
        redis_client.delete(*redis_client.keys("smspipe:dedupe:*"))  # the database's unique key must catch it

    # when
    result = pipeline.process([connect_incoming("tid-1"), connect_incoming("tid-3")])

    # then
    assert (result.applied, result.duplicates) == (1, 1)
    with sessions() as session:
        assert sorted(session.scalars(select(Message.provider_message_id))) == ["tid-1", "tid-2", "tid-3"]
    events = read_stream(redis_client)
    assert sorted(event["data"]["provider_message_id"] for event in events) == ["tid-1", "tid-2", "tid-3"]


def test_a_payload_that_does_not_parse_is_dead_lettered_whole_beside_a_good_one(settings, sessions, redis_client):
    # given
    bad = Envelope.wrap("webex-connect", b'{"tid": "unterminated')
    batch = [bad, connect_incoming("tid-1")]

    # when
    result = Pipeline(settings, sessions, redis_client).process(batch)

    # then
    assert (result.applied, result.dead_lettered) == (1, 1)
    with sessions() as session:
        letter = session.scalars(select(DeadLetter)).one()
        assert (letter.ingest_id, letter.record_index, letter.body) == (bad.ingest_id, None, bad.body)
        states = dict(session.execute(select(RawPayload.ingest_id, RawPayload.state)).all())
        assert states == {bad.ingest_id: "dead_lettered", batch[1].ingest_id: "processed"}


def test_two_reports_about_one_message_in_one_batch_apply_in_order(settings, sessions, redis_client):
    # given: the seed receipts "submitted" then "delivered" of message 7f3a..., in one batch
    bodies = dict(sample_bodies("webex-connect"))
    batch = [Envelope.wrap("webex-connect", bodies[name])
             for name in ("01_receipt_submitted_7501.json", "07_receipt_delivered_7500.json")]

    # when
    result = Pipeline(settings, sessions, redis_client).process(batch)

    # then
    assert result.applied == 2
    with sessions() as session:
        message = session.scalars(select(Message)).one()
        assert (message.provider_message_id, message.status) == ("7f3af32c-8d6a-4173-b1c8-4805135ada71", "delivered")
    transitions = [(event["data"]["previous_status"], event["data"]["status"]) for event in read_stream(redis_client)]
    assert transitions == [(None, "submitted"), ("submitted", "delivered")]
