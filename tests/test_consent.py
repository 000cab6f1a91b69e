"""Consent per (end user, our number) through the real Pipeline (CONTRACT §5): keyword matches
(ours and the provider's) and Interact opt-in/opt-out events change it; an opt-out beats anything
until a later opt-in; ``consent.changed`` only when the state changes."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from common.config import parse_config
from common.envelope import Envelope
from common.events import CONSENT_CHANGED, KEYWORD_MATCHED
from common.models import Consent, ConsentChange, OutboxEvent, RawPayload
from common.batch_publisher import CeleryPublisher
from tests.conftest import wait_for
from workers.consent import OPTED_IN, OPTED_OUT, TRANSITIONS
from workers.pipeline import Pipeline

CONTACT = "+447838970000"
OUR_NUMBER = "+447860000000"
BASE_TIME = datetime(2026, 4, 7, 8, 0, tzinfo=timezone.utc)
CONFIG = {
    "rules": [
        {"name": "newsletter", "keywords": ["JOIN"], "action": "opt_in", "lists": ["newsletter"]},
        {"name": "leave-newsletter", "keywords": ["LEAVE"], "action": "opt_out", "lists": ["newsletter"],
         "match": "exact"},
    ]
}


def _time(second: int) -> str:
    return (BASE_TIME + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")


def inbound(text: str, second: int, rules: list[dict[str, Any]] | None = None) -> bytes:
    """An Interact inbound SMS from the contact (as in the provider's documentation)."""
    data: dict[str, Any] = {"status": "inbound", "channel": "sms", "message": text,
                            "phone_number": CONTACT, "inbound_number": OUR_NUMBER}
    if rules:
        data["rules"] = rules
    return json.dumps({"specversion": "1.0", "type": "com.interact.messages.sms.status",
                       "id": f"evt_{uuid.uuid4().hex}", "time": _time(second), "data": data}).encode()


def interact_consent(kind: str, second: int) -> bytes:
    """An Interact opt-out/opt-in event for the contact on our number."""
    return json.dumps({"specversion": "1.0", "type": f"com.interact.messages.sms.opt.{kind}",
                       "id": f"evt_{uuid.uuid4().hex}", "time": _time(second),
                       "data": {"phone_number": CONTACT, "inbound_number": OUR_NUMBER, "keyword": kind.upper()}}
                      ).encode()


STOP_RULE = [{"rule": "Stop everything", "trigger_keyword": "STOP", "target_lists": []}]

# (label, config, webhooks in arrival order, expected consent.changed (previous, state, keyword, origin),
#  expected final state and lists, expected history (action, applied))
CASES = [
    ("STOP opts out", {}, [inbound(" stop. ", 0)],
     [(None, "opted_out", "STOP", "smspipe")], ("opted_out", []), [("opt_out", True)]),
    ("STOP please changes nothing", {}, [inbound("STOP please", 0)], [], None, []),
    ("HELP changes nothing", {}, [inbound("help", 0)], [], None, []),
    ("STOP then a later START", {}, [inbound("STOP", 0), inbound("START", 5)],
     [(None, "opted_out", "STOP", "smspipe"), ("opted_out", "opted_in", "START", "smspipe")],
     ("opted_in", []), [("opt_out", True), ("opt_in", True)]),
    ("a late START older than the STOP is ignored", {}, [inbound("STOP", 5), inbound("START", 0)],
     [(None, "opted_out", "STOP", "smspipe")], ("opted_out", []), [("opt_out", True), ("opt_in", False)]),
    ("a late STOP older than the START is superseded", {}, [inbound("START", 5), inbound("STOP", 0)],
     [(None, "opted_in", "START", "smspipe")], ("opted_in", []), [("opt_in", True), ("opt_out", False)]),
    ("STOP and START at the same instant: opted out (START first)", {}, [inbound("START", 3), inbound("STOP", 3)],
     [(None, "opted_in", "START", "smspipe"), ("opted_in", "opted_out", "STOP", "smspipe")],
     ("opted_out", []), [("opt_in", True), ("opt_out", True)]),
    ("STOP and START at the same instant: opted out (STOP first)", {}, [inbound("STOP", 3), inbound("START", 3)],
     [(None, "opted_out", "STOP", "smspipe")], ("opted_out", []), [("opt_out", True), ("opt_in", False)]),
    ("STOP twice: one change", {}, [inbound("STOP", 0), inbound("QUIT", 1)],
     [(None, "opted_out", "STOP", "smspipe")], ("opted_out", []), [("opt_out", True), ("opt_out", False)]),
    ("a confirmed opt-out moves its time: an opt-in between loses", {},
     [inbound("STOP", 0), inbound("STOP", 10), inbound("START", 5)],
     [(None, "opted_out", "STOP", "smspipe")], ("opted_out", []),
     [("opt_out", True), ("opt_out", False), ("opt_in", False)]),
    ("Interact opt-out event", {}, [interact_consent("out", 0)],
     [(None, "opted_out", "OUT", "provider")], ("opted_out", []), [("opt_out", True)]),
    ("Interact opt-out, then a later opt-in event", {}, [interact_consent("out", 0), interact_consent("in", 9)],
     [(None, "opted_out", "OUT", "provider"), ("opted_out", "opted_in", "IN", "provider")],
     ("opted_in", []), [("opt_out", True), ("opt_in", True)]),
    ("the provider's STOP rule (message text not a keyword of ours)", {},
     [inbound("stop sending please", 0, STOP_RULE)],
     [(None, "opted_out", "STOP", "provider")], ("opted_out", []), [("opt_out", True)]),
    ("configured opt-in with a list, then opt-out of that list", CONFIG,
     [inbound("Join now", 0), inbound("leave", 4)],
     [(None, "opted_in", "JOIN", "smspipe"), ("opted_in", "opted_out", "LEAVE", "smspipe")],
     ("opted_out", []), [("opt_in", True), ("opt_out", True)]),
    ("opt-in to a list after a STOP", CONFIG, [inbound("STOP", 0), inbound("JOIN", 4)],
     [(None, "opted_out", "STOP", "smspipe"), ("opted_out", "opted_in", "JOIN", "smspipe")],
     ("opted_in", ["newsletter"]), [("opt_out", True), ("opt_in", True)]),
]


@pytest.mark.parametrize(("label", "config", "webhooks", "changes", "final", "history"), CASES,
                         ids=[case[0] for case in CASES])
def test_consent(settings, sessions, redis_client, label, config, webhooks, changes, final, history):
    # given
    pipeline = Pipeline(settings, sessions, redis_client, parse_config(config))

    # when
    events = []
    for body in webhooks:
        result = pipeline.process([Envelope.wrap("webex-interact", body)])
        events += [json.loads(item.payload) for item in result.events]

    # then
    consent_events = [event for event in events if event["type"] == CONSENT_CHANGED]
    assert [(e["data"]["previous_state"], e["data"]["state"], e["data"]["keyword"], e["data"]["origin"])
            for e in consent_events] == changes
    assert all(e["subject"] == CONTACT and e["data"]["contact"] == CONTACT
               and e["data"]["our_number"] == OUR_NUMBER for e in consent_events)
    with sessions() as session:
        consent = session.scalars(select(Consent)).one_or_none()
        assert (None if consent is None else (consent.state, consent.lists)) == final
        rows = session.scalars(select(ConsentChange).order_by(ConsentChange.id)).all()
        assert [(row.action, row.applied) for row in rows] == history


def test_keyword_and_consent_events_in_full(settings, sessions, redis_client):
    # given
    pipeline = Pipeline(settings, sessions, redis_client, parse_config(CONFIG))
    body = inbound("JOIN!", 0)
    event_id = json.loads(body)["id"]

    # when
    result = pipeline.process([Envelope.wrap("webex-interact", body)])
    replayed = pipeline.process([Envelope.wrap("webex-interact", body)])  # the provider retries

    # then
    events = {event["type"]: event for event in (json.loads(item.payload) for item in result.events)}
    assert events[KEYWORD_MATCHED]["data"] == {
        "provider": "webex-interact", "rule": "newsletter", "keyword": "JOIN", "action": "opt_in",
        "lists": ["newsletter"], "origin": "smspipe", "provider_message_id": event_id,
        "from": CONTACT, "to": OUR_NUMBER,
    }
    assert events[KEYWORD_MATCHED]["subject"] == CONTACT
    assert events[CONSENT_CHANGED]["data"] == {
        "provider": "webex-interact", "contact": CONTACT, "our_number": OUR_NUMBER, "state": "opted_in",
        "previous_state": None, "lists": ["newsletter"], "keyword": "JOIN", "rule": "newsletter",
        "origin": "smspipe", "provider_message_id": event_id,
    }
    assert events[CONSENT_CHANGED]["time"] == "2026-04-07T08:00:00Z"
    assert (replayed.duplicates, replayed.events) == (1, [])


T0 = BASE_TIME
T1 = BASE_TIME + timedelta(seconds=1)
# (current state, its time, incoming target state, incoming time, takes effect?) — every row of
# workers.consent.TRANSITIONS, at an earlier, equal and later time.
CONSENT_DECISIONS = [
    (None, None, OPTED_IN, T0, True),
    (None, None, OPTED_OUT, T0, True),
    (OPTED_IN, T1, OPTED_OUT, T0, False),  # an opt-out older than the opt-in
    (OPTED_IN, T0, OPTED_OUT, T0, True),  # a tie goes to the opt-out
    (OPTED_IN, T0, OPTED_OUT, T1, True),
    (OPTED_OUT, T1, OPTED_IN, T0, False),
    (OPTED_OUT, T0, OPTED_IN, T0, False),  # a tie goes to the opt-out
    (OPTED_OUT, T0, OPTED_IN, T1, True),
    (OPTED_IN, T1, OPTED_IN, T0, True),  # same state: confirmed (time kept at the latest)
    (OPTED_OUT, T1, OPTED_OUT, T0, True),
]


@pytest.mark.parametrize(("current", "current_at", "target", "at", "effective"), CONSENT_DECISIONS)
def test_consent_transition_table(current, current_at, target, at, effective):
    assert TRANSITIONS[(current, target)](current_at, at) is effective


def test_every_consent_transition_row_has_a_case():
    assert {(row[0], row[2]) for row in CONSENT_DECISIONS} == set(TRANSITIONS)


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
def test_two_workers_racing_on_one_contact_lose_no_update(settings, sessions, start_worker):
    # given two real worker processes, and STOP/START messages from one contact at many times
    start_worker(), start_worker()
    texts = ["STOP", "START", "quit", "Unstop", "stop."]
    messages = [(texts[index % len(texts)], index % 23) for index in range(120)] + [("START", 60)]
    publish = CeleryPublisher(settings)

    # when they arrive in small batches, taken by whichever worker is free
    bodies = [inbound(text, second) for text, second in messages]
    for start in range(0, len(bodies), 4):
        publish([Envelope.wrap("webex-interact", body).to_wire() for body in bodies[start:start + 4]])

    def processed() -> bool:
        with sessions() as session:
            return session.scalar(select(func.count()).where(RawPayload.state == "processed")) == len(bodies)

    wait_for(processed, timeout=120)

    # then every signal is in the history, and the START strictly later than every STOP wins
    with sessions() as session:
        consent = session.scalars(select(Consent)).one()
        rows = session.scalars(select(ConsentChange).order_by(ConsentChange.id)).all()
        outbox = session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == CONSENT_CHANGED).order_by(OutboxEvent.seq)
        ).all()
    assert len(rows) == len(messages)
    assert (consent.state, consent.state_at) == ("opted_in", BASE_TIME + timedelta(seconds=60))

    # and consent.changed was emitted exactly when the state, in the order the database
    # serialized the signals, changed: an opt-out unless an opt-in is strictly later
    expected, state, state_at = [], None, None
    for row in rows:
        target = "opted_in" if row.action == "opt_in" else "opted_out"
        if state is None or target == state or (
            row.occurred_at >= state_at if target == "opted_out" else row.occurred_at > state_at
        ):
            if target != state:
                expected.append((state, target))
            state, state_at = target, max(filter(None, (state_at, row.occurred_at)))
    assert [(json.loads(p)["data"]["previous_state"], json.loads(p)["data"]["state"]) for p in outbox] == expected
    assert [row.applied for row in rows].count(True) == len(expected)
