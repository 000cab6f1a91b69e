"""Bad input, end to end through the ingest and the batch pipeline (real Redis, SQLite and
PostgreSQL): every case gets the documented answer, nothing crashes, what is accepted is stored
byte for byte and either processed or dead-lettered with its reason — never lost, never run.

The table of cases and answers is copied in docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import replace

import pytest
from sqlalchemy import func, select, text

from common.envelope import Envelope
from common.events import CONSENT_CHANGED, MESSAGE_RECEIVED
from common.models import DeadLetter, Message, OutboxEvent, RawPayload
from common.settings import ProviderAuth
from ingest.app import create_app
from tests.conftest import sample_bodies
from workers.pipeline import Pipeline

LIMIT = 8192
INFOBIP = sample_bodies("infobip")[0][1]
CONNECT = sample_bodies("webex-connect")[-1][1]
INTERACT = sample_bodies("webex-interact")[0][1]


def infobip_text(message_text: str, message_id: str = "bad-input-1") -> bytes:
    document = json.loads(INFOBIP)
    document["results"][0].update(text=message_text, cleanText=message_text, keyword=None, messageId=message_id)
    return json.dumps(document, ensure_ascii=False).encode()


def connect_with(**fields) -> bytes:
    document = json.loads(CONNECT)
    document.update(fields)
    return json.dumps(document).encode()


def padded_to(size: int) -> bytes:
    """A valid Webex Connect incoming message of exactly ``size`` bytes."""
    base = connect_with(message="")
    return connect_with(message="x" * (size - len(base)))


INJECTIONS = [
    "'; DROP TABLE messages; --",
    "Robert\"); DELETE FROM raw_payloads WHERE (\"1\"=\"1",
    "{{7*7}} ${7*7} #{7*7} ${jndi:ldap://127.0.0.1/a}",
    "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "line one\n2026-01-01T00:00:00Z INFO forged log line\r\nand \x1b[31mred\x1b[0m",
    "$(touch /tmp/smspipe-pwned) `id` | cat /etc/passwd",
    "%s%s%s%n %x {0} {} \\u0000",
]

# (label, provider, body, content type, expected answer, expected outcome)
# outcome: "processed" (a message was created), "dead_lettered" (the payload or its record is in
# the dead-letter store), None (refused at the door: nothing enqueued).
CASES = [
    ("truncated JSON", "infobip", INFOBIP[: len(INFOBIP) // 2], "application/json", 200, "dead_lettered"),
    ("not JSON at all", "webex-connect", b"{not json", "application/json", 200, "dead_lettered"),
    ("JSON but a bare string", "infobip", b'"results"', "application/json", 200, "dead_lettered"),
    ("JSON null", "webex-interact", b"null", "application/json", 200, "dead_lettered"),
    ("results is a string", "infobip", b'{"results": "oops"}', "application/json", 200, "dead_lettered"),
    ("messageId is an object", "infobip",
     INFOBIP.replace(b'"817790313235066447"', b'{"$gt": ""}'), "application/json", 200, "dead_lettered"),
    ("text is a number (read as its text)", "webex-connect", connect_with(message=12345), "application/json", 200,
     "processed"),
    ("huge integer count (3,000 digits)", "infobip",
     INFOBIP.replace(b'"smsCount": 1', b'"smsCount": 1' + b"0" * 3000), "application/json", 200, "processed"),
    ("huge integer (5,000 digits, past Python's int parsing limit)", "infobip",
     INFOBIP.replace(b'"smsCount": 1', b'"smsCount": 1' + b"0" * 5000), "application/json", 200, "dead_lettered"),
    ("huge float count (1e400: a count that is not one reads as absent)", "infobip",
     INFOBIP.replace(b'"smsCount": 1', b'"smsCount": 1e400'), "application/json", 200, "processed"),
    ("huge message id (a 3,000-digit number)", "webex-connect", connect_with(tid=int("9" * 3000)),
     "application/json", 200, "dead_lettered"),
    ("deeply nested JSON (100,000 levels)", "webex-connect", b"[" * 100_000 + b"]" * 100_000,
     "application/json", 413, None),  # over the 8 KiB limit of this table
    ("deeply nested JSON (2,000 levels, under the limit)", "webex-connect", b"[" * 2000 + b"]" * 2000,
     "application/json", 200, "dead_lettered"),
    ("body exactly at the limit", "webex-connect", padded_to(LIMIT), "application/json", 200, "processed"),
    ("body one byte over the limit", "webex-connect", padded_to(LIMIT + 1), "application/json", 413, None),
    ("invalid UTF-8 in the text", "infobip", INFOBIP.replace(b"Paris", b"Par\xff\xfeis"), "application/json", 200,
     "dead_lettered"),
    ("UTF-16 body", "webex-connect", CONNECT.decode().encode("utf-16"), "application/json", 200, "dead_lettered"),
    ("UTF-8 with a byte-order mark", "webex-connect", b"\xef\xbb\xbf" + CONNECT, "application/json", 200, "processed"),
    ("content type text/plain", "webex-connect", connect_with(tid="ct-plain"), "text/plain", 200, "processed"),
    ("content type form-urlencoded", "webex-connect", connect_with(tid="ct-form"),
     "application/x-www-form-urlencoded", 200, "processed"),
    ("content type multipart without boundary", "webex-connect", connect_with(tid="ct-multi"),
     "multipart/form-data", 200, "processed"),
    ("no content type", "webex-connect", connect_with(tid="ct-none"), None, 200, "processed"),
    ("content type of 300 characters", "webex-connect", connect_with(tid="ct-long"),
     "application/json; x=" + "y" * 280, 200, "processed"),
    ("empty body", "infobip", b"", "application/json", 400, None),
    ("unknown provider", "twilio", INFOBIP, "application/json", 404, None),
    ("provider name with a path trick", "..%2Finfobip", INFOBIP, "application/json", 404, None),
]


@pytest.fixture
def ingest(settings):
    published: list[list[dict]] = []
    app = create_app({"SMSPIPE_SETTINGS": replace(settings, max_body_bytes=LIMIT)}, publish=published.append)
    return app.test_client(), published


@pytest.fixture
def pipeline(settings, sessions, redis_client) -> Pipeline:
    return Pipeline(settings, sessions, redis_client)


def process(published: list[list[dict]], pipeline: Pipeline) -> list[Envelope]:
    envelopes = [Envelope.from_wire(wire) for batch in published for wire in batch]
    for envelope in envelopes:  # one at a time, as separate batches would be
        pipeline.process([envelope])
    return envelopes


@pytest.mark.parametrize(("label", "provider", "body", "content_type", "status", "outcome"), CASES,
                         ids=[case[0] for case in CASES])
def test_bad_input(ingest, pipeline, sessions, label, provider, body, content_type, status, outcome):
    client, published = ingest
    headers = {"Content-Type": content_type} if content_type else {}

    # when
    response = client.post(f"/webhooks/{provider}", data=body, headers=headers)

    # then the answer
    assert response.status_code == status, response.data
    if outcome is None:
        assert set(response.get_json()) == {"error"}
        assert published == []
        return
    # and the stored outcome
    [envelope] = process(published, pipeline)
    assert envelope.ingest_id == response.get_json()["id"]
    with sessions() as session:
        raw = session.get(RawPayload, envelope.ingest_id)
        assert raw.body == body  # byte for byte
        letters = session.scalars(select(DeadLetter).where(DeadLetter.ingest_id == envelope.ingest_id)).all()
        messages = session.scalar(select(func.count()).select_from(Message))
    if outcome == "processed":
        assert (raw.state, letters, messages) == ("processed", [], 1)
    else:
        assert [letter.body for letter in letters] == [body]
        assert letters[0].reason and letters[0].error_type
        assert messages == 0


@pytest.mark.parametrize("injection", INJECTIONS)
def test_injection_strings_are_stored_verbatim_and_never_run(ingest, pipeline, sessions, redis_client, caplog,
                                                              injection):
    # given
    client, published = ingest
    caplog.set_level(logging.DEBUG)

    # when
    response = client.post("/webhooks/infobip", data=infobip_text(injection), content_type="application/json")
    process(published, pipeline)

    # then the text is stored and emitted exactly as sent, and every table is still there
    assert response.status_code == 200
    with sessions() as session:
        [message] = session.scalars(select(Message)).all()
        assert message.text == injection
        [event] = [json.loads(payload) for payload in session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == MESSAGE_RECEIVED))]
        assert event["data"]["text"] == injection
        for table in ("messages", "raw_payloads", "dead_letters", "outbox_events"):
            session.execute(text(f"SELECT count(*) FROM {table}"))
    # and no log line carries the text's line breaks or escape codes (one record is one line)
    for record in caplog.records:
        assert "forged log line" not in record.getMessage()
        assert "\x1b[" not in record.getMessage()


@pytest.mark.parametrize(
    ("label", "message_text", "opted_out"),
    [
        ("plain STOP", "STOP", True),
        ("full-width ＳＴＯＰ (NFKC makes it STOP)", "ＳＴＯＰ", True),
        ("Cyrillic homoglyphs ЅТОР", "ЅТОР", False),
        ("Greek omicron in STΟP", "STΟP", False),
        ("zero-width space in ST\u200bOP", "ST\u200bOP", False),
    ],
)
def test_homoglyph_keywords(ingest, pipeline, sessions, label, message_text, opted_out):
    client, published = ingest

    response = client.post("/webhooks/infobip", data=infobip_text(message_text), content_type="application/json")
    process(published, pipeline)

    assert response.status_code == 200
    with sessions() as session:
        assert session.scalar(select(Message.text)) == message_text
        consent = session.scalar(select(func.count()).where(OutboxEvent.type == CONSENT_CHANGED))
    assert consent == (1 if opted_out else 0)


def test_forged_and_replayed_signatures(settings, pipeline, sessions):
    # given Webex Connect with an HMAC secret
    published: list[list[dict]] = []
    auth = {"webex-connect": ProviderAuth(hmac_secrets=("s3cret",))}
    client = create_app({"SMSPIPE_SETTINGS": replace(settings, provider_auth=auth)}, publish=published.append).test_client()
    signed = "sha256=" + hmac.new(b"s3cret", CONNECT, hashlib.sha256).hexdigest()
    forged = "sha256=" + hmac.new(b"guess", CONNECT, hashlib.sha256).hexdigest()
    other_body = connect_with(tid="someone-else")

    # when: forged, a valid signature on another body, then the same signed request twice
    answers = [
        client.post("/webhooks/webex-connect", data=CONNECT, headers={"X-Hub-Signature": forged}).status_code,
        client.post("/webhooks/webex-connect", data=other_body, headers={"X-Hub-Signature": signed}).status_code,
        client.post("/webhooks/webex-connect", data=CONNECT, headers={"X-Hub-Signature": signed}).status_code,
        client.post("/webhooks/webex-connect", data=CONNECT, headers={"X-Hub-Signature": signed}).status_code,
    ]
    process(published, pipeline)

    # then the forgeries are refused, and the replayed request has no second effect
    assert answers == [401, 401, 200, 200]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RawPayload)) == 2
        assert session.scalar(select(func.count()).select_from(Message)) == 1
        assert session.scalar(select(func.count()).where(OutboxEvent.type == MESSAGE_RECEIVED)) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method(ingest, method):
    client, published = ingest

    response = client.open("/webhooks/infobip", method=method, data=INFOBIP)

    assert (response.status_code, response.get_json()) == (405, {"error": "method not allowed"})
    assert published == []
