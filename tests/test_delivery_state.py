"""Delivery state (CONTRACT §4) through the real Pipeline and a real database: any order and any
duplication of a message's reports ends in the state §4 defines, with exactly the status events
§4 defines; and two real workers racing on one message on PostgreSQL lose no update.

The reference here is written from the contract's words, not from ``workers.delivery_state``: the
current state after some reports have arrived is a closed form over *those reports* (the latest
final by provider time, ties to the later arrival; else the highest-ranked non-final), and an
event is due whenever that closed form's status changes from one arrival to the next.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import func, select

from common.envelope import Envelope
from common.events import MESSAGE_STATUS
from common.models import Message, OutboxEvent, RawPayload, StatusReport
from common.batch_publisher import CeleryPublisher
from tests.conftest import wait_for
from workers.delivery_state import TRANSITIONS, State, decide
from workers.pipeline import Pipeline

BASE_TIME = datetime(2026, 4, 7, 8, 0, tzinfo=timezone.utc)
FINALS = {"delivered", "undelivered", "failed", "expired", "rejected"}
RANK = {"submitted": 1, "sent": 2}

# Infobip statuses (from its documentation) and what §4 says they are.
INFOBIP_STATUSES: dict[str, tuple[dict[str, Any], str]] = {
    "PENDING_ACCEPTED": ({"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED"}, "submitted"),
    "PENDING_ENROUTE": ({"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE"}, "submitted"),
    "DELIVERED_TO_OPERATOR": (
        {"groupId": 3, "groupName": "DELIVERED", "id": 2, "name": "DELIVERED_TO_OPERATOR"}, "sent"),
    "DELIVERED_TO_HANDSET": (
        {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}, "delivered"),
    "UNDELIVERABLE_NOT_DELIVERED": (
        {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED"}, "undelivered"),
    "EXPIRED_EXPIRED": ({"groupId": 4, "groupName": "EXPIRED", "id": 15, "name": "EXPIRED_EXPIRED"}, "expired"),
    "REJECTED_NETWORK": ({"groupId": 5, "groupName": "REJECTED", "id": 6, "name": "REJECTED_NETWORK"}, "rejected"),
}


@dataclass(frozen=True)
class Report:
    provider_status: str
    second: int  # provider time: BASE_TIME + this many seconds

    @property
    def status(self) -> str:
        return INFOBIP_STATUSES[self.provider_status][1]

    @property
    def at(self) -> datetime:
        return BASE_TIME + timedelta(seconds=self.second)

    def body(self, message_id: str) -> bytes:
        result = {
            "bulkId": "bulk-1",
            "messageId": message_id,
            "to": "385916242493",
            "sentAt": "2026-04-07T07:59:59.000+0000",
            "doneAt": self.at.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "smsCount": 1,
            "status": INFOBIP_STATUSES[self.provider_status][0],
            "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False},
        }
        return json.dumps({"results": [result]}).encode()


def state_after(arrived: list[Report]) -> Report | None:
    """§4 as a closed form over the reports that have arrived (first arrivals, in order)."""
    finals = [report for report in arrived if report.status in FINALS]
    if finals:
        latest = max(report.at for report in finals)
        return [report for report in finals if report.at == latest][-1]  # ties: the later arrival
    if arrived:
        return max(arrived, key=lambda report: RANK[report.status])  # first of the highest rank
    return None


def expected_events(arrivals: list[Report]) -> list[tuple[str | None, str, datetime]]:
    """(previous_status, status, occurred_at) of every status event due, in order."""
    seen: list[Report] = []
    events = []
    for report in arrivals:
        if report in seen:
            continue  # a duplicate: no state change, no event
        before = state_after(seen)
        seen.append(report)
        after = state_after(seen)
        if after is not None and (before is None or before.status != after.status):
            events.append((before.status if before else None, after.status, after.at))
    return events


def status_events(payloads: list[str], message_id: str) -> list[tuple[str | None, str, datetime]]:
    events = [json.loads(payload) for payload in payloads]
    return [
        (event["data"]["previous_status"], event["data"]["status"], datetime.fromisoformat(event["data"]["occurred_at"]))
        for event in events
        if event["type"] == MESSAGE_STATUS and event["data"]["provider_message_id"] == message_id
    ]


reports = st.builds(Report, st.sampled_from(sorted(INFOBIP_STATUSES)), st.integers(0, 4))


@st.composite
def arrivals(draw: st.DrawFn) -> list[Report]:
    """A permutation of distinct reports, with some of them delivered again anywhere."""
    distinct = draw(st.lists(reports, min_size=1, max_size=8, unique=True))
    order = draw(st.permutations(distinct))
    repeats = draw(st.lists(st.sampled_from(distinct), max_size=4))
    result = list(order)
    for report in repeats:
        result.insert(draw(st.integers(0, len(result))), report)
    return result


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrived=arrivals())
def test_any_order_of_reports_ends_in_the_defined_state(settings, sessions, redis_client, arrived):
    # given a message never seen before, and its reports in this order
    pipeline = Pipeline(settings, sessions, redis_client)
    message_id = uuid.uuid4().hex

    # when each report arrives as its own webhook
    payloads = []
    for report in arrived:
        result = pipeline.process([Envelope.wrap("infobip", report.body(message_id))])
        payloads += [item.payload for item in result.events]

    # then the current state is what §4 defines, and so are the events
    distinct = list(dict.fromkeys(arrived))
    expected = state_after(distinct)
    assert expected is not None
    with sessions() as session:
        message = session.scalars(select(Message).where(Message.provider_message_id == message_id)).one()
        assert (message.status, message.status_final, message.status_at) == (
            expected.status, expected.status in FINALS, expected.at)
        assert message.provider_status == expected.provider_status
        history = session.scalars(
            select(StatusReport).where(StatusReport.message_id == message.id).order_by(StatusReport.id)
        ).all()
    assert [(row.provider_status, row.occurred_at) for row in history] == [
        (report.provider_status, report.at) for report in distinct]  # every report, once
    assert status_events(payloads, message_id) == expected_events(arrived)


FINAL_SECOND = 100


def racing_reports() -> list[Report]:
    """Many reports for one message: non-finals, finals at tied and distinct times, and one
    final (expired) strictly later than every other, which must be the state in the end."""
    statuses = sorted(INFOBIP_STATUSES)
    # 7 statuses and 29 seconds are coprime: 200 distinct (status, time) pairs, many tied in time.
    spread = [Report(statuses[index % len(statuses)], index % 29) for index in range(200)]
    return spread + [Report("EXPIRED_EXPIRED", FINAL_SECOND)]


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
def test_two_workers_racing_on_one_message_lose_no_update(settings, sessions, start_worker):
    # given two real worker processes on one PostgreSQL database
    first, second = start_worker(), start_worker()
    message_id = uuid.uuid4().hex
    all_reports = racing_reports()
    publish = CeleryPublisher(settings)

    # when the reports arrive in small batches, taken by whichever worker is free
    batches = [all_reports[start:start + 4] for start in range(0, len(all_reports), 4)]
    for batch in batches:
        publish([Envelope.wrap("infobip", report.body(message_id)).to_wire() for report in batch])

    def processed() -> bool:
        with sessions() as session:
            return session.scalar(select(func.count()).where(RawPayload.state == "processed")) == len(all_reports)

    wait_for(processed, timeout=120)

    # then every report is in the history, once
    with sessions() as session:
        message = session.scalars(select(Message).where(Message.provider_message_id == message_id)).one()
        history = session.scalars(
            select(StatusReport).where(StatusReport.message_id == message.id).order_by(StatusReport.id)
        ).all()
        outbox = session.scalars(select(OutboxEvent.payload).order_by(OutboxEvent.seq)).all()
    assert sorted((row.provider_status, row.occurred_at) for row in history) == sorted(
        (report.provider_status, report.at) for report in all_reports)

    # and the state is the latest final, whatever the order the workers took them in
    assert (message.status, message.status_at) == ("expired", BASE_TIME + timedelta(seconds=FINAL_SECOND))

    # and the events are exactly those due for the order the database serialized them in
    serialized = [Report(row.provider_status, int((row.occurred_at - BASE_TIME).total_seconds())) for row in history]
    assert status_events(outbox, message_id) == expected_events(serialized)
    assert [row.applied for row in history] == _applied(serialized)

    # and both workers took part (on SQLite one may wait out the other's write lock and get few)
    if settings.database_url.startswith("postgresql"):
        for worker in (first, second):
            assert b"batch processed" in worker.log_path.read_bytes()


def _applied(arrivals: list[Report]) -> list[bool]:
    """Which reports became the current state when they arrived (same status, later time included)."""
    flags = []
    for index, report in enumerate(arrivals):
        flags.append(state_after(arrivals[: index + 1]) is report)
    return flags


AT = BASE_TIME
LATER = BASE_TIME + timedelta(seconds=1)
# (label, current (status, time) or None, incoming (status, time), does incoming become current?)
# One row or more per TRANSITIONS row; the meta-test below checks none is missing.
DECISIONS = [
    ("unseen, non-final creates", None, ("submitted", AT), True),
    ("unseen, final creates", None, ("delivered", AT), True),
    ("submitted -> sent: higher rank", ("submitted", LATER), ("sent", AT), True),
    ("sent -> submitted: lower rank, even later", ("sent", AT), ("submitted", LATER), False),
    ("sent -> sent: same rank", ("sent", AT), ("sent", LATER), False),
    ("non-final -> final, even earlier", ("sent", LATER), ("failed", AT), True),
    ("final -> non-final, even later", ("delivered", AT), ("sent", LATER), False),
    ("final -> later final", ("delivered", AT), ("failed", LATER), True),
    ("final -> earlier final", ("failed", LATER), ("delivered", AT), False),
    ("final -> final at the same time: the later arrival", ("delivered", AT), ("undelivered", AT), True),
]


def _kind(state) -> str:
    return "none" if state is None else ("final" if state[0] in FINALS else "non_final")


@pytest.mark.parametrize(("label", "current", "incoming", "applies"), DECISIONS, ids=[row[0] for row in DECISIONS])
def test_transition_table(label, current, incoming, applies):
    assert decide(State(*current) if current else None, State(*incoming)) is applies


def test_every_transition_row_has_a_case():
    assert {(_kind(current), _kind(incoming)) for _, current, incoming, _ in DECISIONS} == set(TRANSITIONS)
