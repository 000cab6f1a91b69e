"""Every seed payload through the Flask ingest, real Redis, a real Celery worker and a real
database: the events in the stream, the rows stored, and dedupe on a second delivery."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from common.events import KEYWORD_MATCHED, LINK_CLICKED, MESSAGE_RECEIVED, MESSAGE_STATUS
from common.models import Consent, DeadLetter, DedupeKey, Message, OutboxEvent, RawPayload, StatusReport
from common.providers import PROVIDERS
from ingest.app import create_app
from tests.conftest import read_stream, sample_bodies, wait_for


def post_all_samples(client) -> list[str]:
    ingest_ids = []
    for provider in PROVIDERS:
        for name, body in sample_bodies(provider):
            response = client.post(f"/webhooks/{provider}", data=body, content_type="application/json")
            assert response.status_code == 200, (name, response.get_json())
            assert response.get_json()["status"] == "accepted"
            ingest_ids.append(response.get_json()["id"])
    return ingest_ids


def processed_count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(RawPayload.state == "processed"))


def test_seed_payloads_end_to_end(settings, sessions, redis_client, worker):
    # given
    client = create_app({"SMSPIPE_SETTINGS": settings}).test_client()

    # when
    ingest_ids = post_all_samples(client)
    wait_for(lambda: processed_count(sessions) == len(ingest_ids))
    events = wait_for(lambda: len(read_stream(redis_client)) == 12 and read_stream(redis_client))

    # then: one event per new fact, with deterministic unique ids
    assert len({event["id"] for event in events}) == len(events)
    by_subject = [(event["type"], event.get("subject"), event["source"]) for event in events]
    assert sorted(by_subject) == sorted(
        [
            (MESSAGE_RECEIVED, "+385916242493", "/smspipe/infobip"),
            (MESSAGE_RECEIVED, "1XXXX661353", "/smspipe/webex-connect"),  # masked in the seed
            (MESSAGE_RECEIVED, "+447838970000", "/smspipe/webex-interact"),
            (MESSAGE_STATUS, "9189xxxxxxxx", "/smspipe/webex-connect"),  # 7f3a.. submitted
            (MESSAGE_STATUS, "9189xxxxxxxx", "/smspipe/webex-connect"),  # 7f3a.. delivered
            (MESSAGE_STATUS, "9189xxxxxxxx", "/smspipe/webex-connect"),  # 3bf5.. failed 7101
            (MESSAGE_STATUS, "9189xxxxxxxx", "/smspipe/webex-connect"),  # dba0.. failed 7102
            (MESSAGE_STATUS, "91891xxxxxxxx", "/smspipe/webex-connect"),  # 4daf.. failed 7107
            (MESSAGE_STATUS, "9189xxxxxxxx", "/smspipe/webex-connect"),  # f754.. undelivered
            (LINK_CLICKED, "4475xxxxxxxx", "/smspipe/webex-connect"),
            # the rules the providers applied, kept as provider matches (CONTRACT §5)
            (KEYWORD_MATCHED, "+385916242493", "/smspipe/infobip"),  # keyword QUIZ
            (KEYWORD_MATCHED, "+447838970000", "/smspipe/webex-interact"),  # rule SUBSCRIBE
        ]
    )
    matched = sorted((event["data"] for event in events if event["type"] == KEYWORD_MATCHED),
                     key=lambda data: data["provider"])
    assert matched == [
        {"provider": "infobip", "rule": None, "keyword": "QUIZ", "action": "tag", "lists": [],
         "origin": "provider", "provider_message_id": "817790313235066447",
         "from": "+385916242493", "to": "+385921004026"},
        {"provider": "webex-interact", "rule": "Newsletter Signup", "keyword": "SUBSCRIBE", "action": "tag",
         "lists": ["LST_3BfW95mzxDy5NH4V64FNtYmkMAS", "LST_30e5wMJ4nRsxMYMiUeNGYG7onTy"],
         "origin": "provider", "provider_message_id": "evt_3F1PcvvRVhBBPawkitvn3mxn3O4",
         "from": "+447838970000", "to": "+447860000000"},
    ]
    infobip = next(event for event in events if event["source"] == "/smspipe/infobip"
                   and event["type"] == MESSAGE_RECEIVED)
    assert infobip["time"] == "2016-10-06T09:28:39.220000Z"
    assert infobip["data"] == {
        "provider": "infobip",
        "provider_message_id": "817790313235066447",
        "from": "+385916242493",
        "to": "+385921004026",
        "text": "QUIZ Correct answer is Paris",
        "keyword": "QUIZ",
        "received_at": "2016-10-06T09:28:39.220000Z",
        "segments": 1,
        "price": {"pricePerMessage": 0, "currency": "EUR"},
        "callback_data": "callbackData",
        "correlation_id": None,
        "provider_rules": [{"rule": None, "keyword": "QUIZ", "lists": []}],
        "flags": [],
    }
    statuses = [event["data"] for event in events if event["type"] == MESSAGE_STATUS]
    delivered = next(data for data in statuses if data["status"] == "delivered")
    assert delivered["previous_status"] == "submitted"
    assert delivered["provider_message_id"] == "7f3af32c-8d6a-4173-b1c8-4805135ada71"
    assert delivered["final"] is True

    # and the rows
    with sessions() as session:
        messages = session.scalars(select(Message)).all()
        assert Counter(message.direction for message in messages) == {"inbound": 3, "outbound": 5}  # a click creates no message
        outbound = session.scalars(
            select(Message).where(Message.provider_message_id == "7f3af32c-8d6a-4173-b1c8-4805135ada71")
        ).one()
        assert (outbound.status, outbound.status_final) == ("delivered", True)
        assert session.scalar(select(func.count()).select_from(StatusReport)) == 6  # 7 receipts, one a click
        assert session.scalar(select(func.count()).select_from(DedupeKey)) == 10
        assert session.scalar(select(func.count()).select_from(DeadLetter)) == 0
        assert session.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None))) == 0
        # the Interact rule filed the contact under its lists; no opt-in or opt-out was seen
        consent = session.scalars(select(Consent)).one()
        assert (consent.contact, consent.our_number, consent.state, consent.lists) == (
            "+447838970000", "+447860000000", None,
            ["LST_3BfW95mzxDy5NH4V64FNtYmkMAS", "LST_30e5wMJ4nRsxMYMiUeNGYG7onTy"],
        )
        raw = session.get(RawPayload, ingest_ids[0])  # the first sample posted, stored verbatim
        assert (raw.provider, raw.body) == (PROVIDERS[0], sample_bodies(PROVIDERS[0])[0][1])

    # when the providers retry every webhook
    again = post_all_samples(client)
    wait_for(lambda: processed_count(sessions) == len(ingest_ids) + len(again))

    # then nothing new is emitted or stored
    assert len(read_stream(redis_client)) == 12
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(StatusReport)) == 6  # 7 receipts, one a click
        assert session.scalar(select(func.count()).select_from(Message)) == 8
