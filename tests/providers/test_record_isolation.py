"""A record that fails validation is dead-lettered alone; its siblings in the same Infobip
`results[]` go through — through the real pipeline, a real database and a real Redis."""

from __future__ import annotations

import json

from sqlalchemy import select

from common.envelope import Envelope
from common.events import MESSAGE_STATUS
from common.models import DeadLetter, RawPayload
from tests.conftest import read_stream
from tests.providers.cases import FIXTURES
from workers.pipeline import Pipeline


def test_invalid_report_is_dead_lettered_alone_and_its_siblings_emit(settings, sessions, redis_client):
    # given: Infobip's documented two-report webhook with a third, broken report between them
    payload = json.loads((FIXTURES / "infobip" / "report_webhook_two_results.json").read_bytes())
    broken = dict(payload["results"][0], messageId=None, to="41793026000")
    payload["results"].insert(1, broken)
    body = json.dumps(payload).encode()
    envelope = Envelope.wrap("infobip", body, content_type="application/json")

    # when
    result = Pipeline(settings, sessions, redis_client).process([envelope])

    # then: one dead letter, for record 1 only, with its reason and the payload to replay
    assert (result.records, result.applied, result.dead_lettered) == (3, 2, 1)
    with sessions() as session:
        dead = session.scalars(select(DeadLetter)).all()
        assert [(row.ingest_id, row.provider, row.record_index, row.error_type, row.reason, row.body)
                for row in dead] == [
            (envelope.ingest_id, "infobip", 1, "SchemaViolation",
             'schema violation: {"messageId": ["Field may not be null."]}', body),
        ]
        raw = session.get(RawPayload, envelope.ingest_id)
        assert (raw.state, raw.records) == ("processed", 3)

    # and the siblings' status events are in the stream
    events = read_stream(redis_client)
    assert [(event["type"], event["data"]["provider_message_id"], event["data"]["status"], event["subject"])
            for event in events] == [
        (MESSAGE_STATUS, "MESSAGE-ID-123-xyz", "delivered", "+41793026727"),
        (MESSAGE_STATUS, "12db39c3-7822-4e72-a3ec-c87442c0ffc5", "delivered", "+41793026834"),
    ]
