"""HTTP subscribers and handlers, one attempt at a time (the Celery task's body, called
directly), against real HTTP servers on 127.0.0.1. Signatures are checked with the
``standardwebhooks`` package, as a subscriber would."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update
from standardwebhooks import Webhook

from common.cli import main
from common.deliveries import HANDLER
from common.errors import ConfigError, PermanentError
from common.models import Delivery, DeliveryAttempt
from common.settings import get_settings
from ingest.app import create_app
from tests.conftest import settings_env
from tests.fanout_fixtures import SECRET, commit_events, make_event, with_subscribers
from tests.http_subscriber import servers  # noqa: F401 (a fixture)
from workers.fanout import handlers
from workers.fanout.deliver import Fanout
from workers.outbox import OutboxRelay

ADMIN_TOKEN = "admin-secret"


def publish(settings, sessions, redis_client, events) -> Fanout:
    relay = OutboxRelay(settings, sessions, redis_client)
    relay.publish(commit_events(sessions, events))
    return relay.fanout


def run_due(fanout: Fanout, sessions, rounds: int = 10) -> None:
    """What the delivery worker does, in this process: attempt every due delivery, again and
    again until none is due (the retry schedules here are zeros)."""
    for _ in range(rounds):
        with sessions() as session:
            due = session.scalars(
                select(Delivery.id).where(Delivery.state == "pending").order_by(Delivery.id)
            ).all()
        if not due:
            return
        for delivery_id in due:
            fanout.deliver(delivery_id)


def delivery_rows(sessions):
    with sessions() as session:
        return session.execute(
            select(Delivery.destination, Delivery.state, Delivery.attempts, Delivery.last_status_code)
            .order_by(Delivery.id)
        ).all()


def attempt_outcomes(sessions):
    with sessions() as session:
        return session.execute(
            select(DeliveryAttempt.status_code, DeliveryAttempt.outcome).order_by(DeliveryAttempt.id)
        ).all()


# (label, answers in order, retry schedule, final state, attempts, attempt outcomes)
CASES = [
    ("200 at once", [200], [0, 0], "succeeded", 1, [(200, "succeeded")]),
    ("204 at once", [204], [0, 0], "succeeded", 1, [(204, "succeeded")]),
    ("500, 503 then 200", [500, 503, 200], [0, 0, 0], "succeeded", 3,
     [(500, "retry"), (503, "retry"), (200, "succeeded")]),
    ("408 is retried", [408, 200], [0], "succeeded", 2, [(408, "retry"), (200, "succeeded")]),
    ("429 is retried", [429, 200], [0], "succeeded", 2, [(429, "retry"), (200, "succeeded")]),
    ("500 until the schedule ends", [500], [0, 0], "parked", 3, [(500, "retry"), (500, "retry"), (500, "parked")]),
    ("400 is parked at once", [400, 200], [0, 0], "parked", 1, [(400, "parked")]),
    ("404 is parked at once", [404, 200], [0, 0], "parked", 1, [(404, "parked")]),
    ("410 is parked at once", [410, 200], [0, 0], "parked", 1, [(410, "parked")]),
    ("a redirect is not followed", [301, 200], [0, 0], "parked", 1, [(301, "parked")]),
]


@pytest.mark.parametrize(
    "answers, schedule, state, attempts, outcomes", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_subscriber_answers(settings, sessions, redis_client, tmp_path, servers, answers, schedule, state,
                            attempts, outcomes):
    # given
    server = servers(answers)
    settings = with_subscribers(settings, tmp_path, [
        {"name": "crm", "url": server.url, "secret": SECRET, "retry_schedule": schedule},
    ])
    event = make_event(1)
    fanout = publish(settings, sessions, redis_client, [event])

    # when
    run_due(fanout, sessions)

    # then: the final state, every attempt, and every request signed for this event
    assert delivery_rows(sessions) == [("crm", state, attempts, outcomes[-1][0])]
    assert attempt_outcomes(sessions) == outcomes
    received = server.received()
    assert len(received) == attempts
    for request in received:
        assert Webhook(SECRET).verify(request.body, request.headers) == event
        assert request.headers["webhook-id"] == event["id"]
        assert request.headers["content-type"] == "application/cloudevents+json; charset=utf-8"


def test_timeouts_are_retried_then_parked(settings, sessions, redis_client, tmp_path, servers):
    # given: a subscriber that answers long after its 0.3 s timeout
    server = servers([200], hang_seconds=3)
    settings = with_subscribers(settings, tmp_path, [
        {"name": "slow", "url": server.url, "secret": SECRET, "timeout_seconds": 0.3, "retry_schedule": [0]},
    ])
    fanout = publish(settings, sessions, redis_client, [make_event(1)])

    # when
    run_due(fanout, sessions)

    # then
    with sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("parked", 2, "timed out after 0.3s")
    assert attempt_outcomes(sessions) == [(None, "retry"), (None, "parked")]


def test_connection_refused_is_retried_then_parked(settings, sessions, redis_client, tmp_path, servers):
    # given: nothing listens there any more
    server = servers([200])
    url = server.url
    server.stop()
    settings = with_subscribers(settings, tmp_path, [
        {"name": "gone", "url": url, "secret": SECRET, "retry_schedule": [0, 0]},
    ])
    fanout = publish(settings, sessions, redis_client, [make_event(1)])

    # when
    run_due(fanout, sessions)

    # then
    with sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        "parked", 3, "connection failed: ConnectionError")


def test_types_filter_which_subscriber_gets_what(settings, sessions, redis_client, tmp_path, servers):
    # given
    everything, statuses = servers([200]), servers([200])
    settings = with_subscribers(settings, tmp_path, [
        {"name": "everything", "url": everything.url, "secret": SECRET},
        {"name": "statuses", "url": statuses.url, "secret": SECRET, "types": ["io.smspipe.message.status.v1"]},
    ])
    received = make_event(1)
    status = make_event(2, "io.smspipe.message.status.v1")

    # when
    run_due(publish(settings, sessions, redis_client, [received, status]), sessions)

    # then
    assert [json.loads(request.body) for request in everything.received()] == [received, status]
    assert [json.loads(request.body) for request in statuses.received()] == [status]


def test_parked_delivery_is_listed_and_replayed_through_the_admin_api(settings, sessions, redis_client, tmp_path,
                                                                     servers):
    # given: a delivery parked after its schedule, and a subscriber that has recovered since
    server = servers([500, 500, 200])
    settings = with_subscribers(settings, tmp_path, [
        {"name": "crm", "url": server.url, "secret": SECRET, "retry_schedule": [0]},
    ], admin_token=ADMIN_TOKEN)
    event = make_event(1)
    fanout = publish(settings, sessions, redis_client, [event])
    run_due(fanout, sessions)
    client = create_app({"SMSPIPE_SETTINGS": settings}).test_client()
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    parked = client.get("/api/v1/deliveries", headers=auth).get_json()["deliveries"]
    assert [(item["destination"], item["event_id"], item["state"], item["attempts"], item["last_status_code"])
            for item in parked] == [("crm", event["id"], "parked", 2, 500)]
    delivery_id = parked[0]["id"]

    # when
    replay = client.post(f"/api/v1/deliveries/{delivery_id}/replay", headers=auth)
    run_due(fanout, sessions)

    # then
    assert (replay.status_code, replay.get_json()) == (202, {"replayed": [delivery_id]})
    shown = client.get(f"/api/v1/deliveries/{delivery_id}", headers=auth).get_json()
    assert (shown["state"], shown["replays"], [attempt["status_code"] for attempt in shown["attempt_log"]]) == (
        "succeeded", 1, [500, 500, 200])
    assert Webhook(SECRET).verify(server.received()[-1].body, server.received()[-1].headers) == event
    assert client.get("/api/v1/deliveries", headers=auth).get_json() == {"deliveries": []}
    again = client.post(f"/api/v1/deliveries/{delivery_id}/replay", headers=auth)
    assert (again.status_code, again.get_json()) == (409, {"error": "delivery is not parked"})
    assert client.post("/api/v1/deliveries/999/replay", headers=auth).status_code == 404
    assert client.get("/api/v1/deliveries", headers={"Authorization": "Bearer wrong"}).status_code == 403


def test_parked_deliveries_are_listed_and_replayed_through_the_cli(settings, sessions, redis_client, tmp_path,
                                                                  servers, monkeypatch):
    # given
    server = servers([404, 200])
    settings = with_subscribers(settings, tmp_path, [{"name": "crm", "url": server.url, "secret": SECRET}])
    fanout = publish(settings, sessions, redis_client, [make_event(1), make_event(2)])
    run_due(fanout, sessions)
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()

    try:
        # when
        listed = runner.invoke(main, ["deliveries", "list"])
        replayed = runner.invoke(main, ["deliveries", "replay", "--all"])
        run_due(fanout, sessions)
        after = runner.invoke(main, ["deliveries", "list"])
        missing = runner.invoke(main, ["deliveries", "replay", "1"])
    finally:
        get_settings.cache_clear()

    # then: the first request got a 404 and parked its delivery; the replay delivered it
    assert [(item["id"], item["state"], item["last_status_code"]) for item in map(json.loads, listed.output.splitlines())
            ] == [(1, "parked", 404)]
    assert (replayed.exit_code, json.loads(replayed.output)) == (0, {"replayed": [1]})
    assert after.output == ""
    assert delivery_rows(sessions) == [("crm", "succeeded", 1, 200), ("crm", "succeeded", 1, 200)]
    assert (missing.exit_code, missing.output.splitlines()[-1]) == (
        1, "Error: not parked (or no such delivery): 1")


@pytest.fixture
def test_handlers():
    calls: dict[str, list[str]] = {"flaky": [], "counting": [], "refusing": []}

    def flaky(event):
        calls["flaky"].append(event["id"])
        raise RuntimeError("downstream is down")

    def counting(event):
        calls["counting"].append(event["id"])

    def refusing(event):
        calls["refusing"].append(event["id"])
        raise PermanentError("not for me")

    for name, handler in (("flaky", flaky), ("counting", counting), ("refusing", refusing)):
        handlers.register_handler(name, handler)
    yield calls
    for name in calls:
        handlers.unregister_handler(name)


def test_a_failing_handler_is_retried_and_parked_on_its_own(settings, sessions, redis_client, test_handlers):
    # given
    settings = replace(settings, handlers=("flaky", "counting", "refusing"), handler_retry_schedule=(0.0, 0.0))
    events = [make_event(1), make_event(2)]

    # when
    run_due(publish(settings, sessions, redis_client, events), sessions)

    # then
    ids = [event["id"] for event in events]
    assert (test_handlers["counting"], test_handlers["refusing"]) == (ids, ids)
    assert sorted(test_handlers["flaky"]) == sorted(ids * 3)
    with sessions() as session:
        rows = session.execute(
            select(Delivery.destination_kind, Delivery.destination, Delivery.event_id, Delivery.state,
                   Delivery.attempts, Delivery.last_error).order_by(Delivery.destination, Delivery.event_id)
        ).all()
    assert rows == [
        (HANDLER, "counting", ids[0], "succeeded", 1, None),
        (HANDLER, "counting", ids[1], "succeeded", 1, None),
        (HANDLER, "flaky", ids[0], "parked", 3, "RuntimeError: downstream is down"),
        (HANDLER, "flaky", ids[1], "parked", 3, "RuntimeError: downstream is down"),
        (HANDLER, "refusing", ids[0], "parked", 1, "PermanentError: not for me"),
        (HANDLER, "refusing", ids[1], "parked", 1, "PermanentError: not for me"),
    ]


def test_the_shipped_log_handler_runs_from_its_entry_point(settings, sessions, redis_client, caplog):
    # given: the entry point declared in pyproject.toml, found through importlib.metadata
    entry_point = handlers.available_handlers()["log"]
    assert entry_point.__self__.value == "workers.fanout.handlers:log_event"
    settings = replace(settings, handlers=("log",))
    event = make_event(1)

    # when
    with caplog.at_level(logging.INFO, logger="workers.fanout.handlers"):
        run_due(publish(settings, sessions, redis_client, [event]), sessions)

    # then
    assert [(record.getMessage(), record.event_id, record.event_type) for record in caplog.records
            if record.name == "workers.fanout.handlers"] == [("event", event["id"], event["type"])]
    assert delivery_rows(sessions) == [("log", "succeeded", 1, None)]


def test_an_unknown_handler_name_fails_at_start_up(settings, sessions, redis_client):
    settings = replace(settings, handlers=("nope",))
    with pytest.raises(ConfigError, match=r"^SMSPIPE_HANDLERS: no handler named 'nope' is installed"):
        Fanout(settings, sessions, redis_client)


def test_the_sweep_resends_deliveries_whose_messages_were_lost(settings, sessions, redis_client, tmp_path, servers):
    # given: three deliveries recorded 60 s ago whose messages never reached the broker
    server = servers([200])
    settings = with_subscribers(settings, tmp_path, [{"name": "crm", "url": server.url, "secret": SECRET}],
                                delivery_lanes=2)
    fanout = Fanout(settings, sessions, redis_client)
    items = commit_events(sessions, [make_event(index) for index in range(3)])
    with sessions() as session, session.begin():
        fanout.create_deliveries(session, [(item.event_id, item.type) for item in items])
        session.execute(update(Delivery).values(next_attempt_at=datetime.now(timezone.utc) - timedelta(seconds=60)))
    queue = "smspipe.deliveries.subscriber.crm"

    # when
    first = fanout.sweep()
    second = fanout.sweep()

    # then: as many messages as the destination has lanes, once; the rest follow as they finish
    assert (first, second, redis_client.llen(queue)) == (2, 0, 2)


def test_a_handler_gets_only_the_event_types_it_names(settings, sessions, redis_client):
    # given
    seen: list[str] = []

    def statuses_only(event):
        seen.append(event["type"])

    statuses_only.event_types = ("io.smspipe.message.status.v1",)
    handlers.register_handler("statuses-only", statuses_only)
    settings = replace(settings, handlers=("statuses-only",))
    try:
        # when
        run_due(publish(settings, sessions, redis_client,
                        [make_event(1), make_event(2, "io.smspipe.message.status.v1")]), sessions)
    finally:
        handlers.unregister_handler("statuses-only")

    # then
    assert seen == ["io.smspipe.message.status.v1"]
    assert delivery_rows(sessions) == [("statuses-only", "succeeded", 1, None)]


def test_a_failing_subscriber_is_down_to_one_lane_until_it_succeeds(settings, sessions, redis_client, tmp_path,
                                                                     servers):
    # given: a subscriber answering 500 once, then 200, with 3 lanes
    server = servers([500, 200])
    settings = with_subscribers(settings, tmp_path, [
        {"name": "crm", "url": server.url, "secret": SECRET, "retry_schedule": [0]},
    ], delivery_lanes=3)
    fanout = publish(settings, sessions, redis_client, [make_event(1)])
    destination = fanout.destinations[("subscriber", "crm")]
    with sessions() as session:
        delivery_id = session.scalars(select(Delivery.id)).one()

    def lanes_available() -> int:
        tokens = [fanout._take_lane(destination) for _ in range(4)]
        for token in filter(None, tokens):
            redis_client.zrem("smspipe:lanes:subscriber:crm", token)
        return sum(token is not None for token in tokens)

    # when / then
    assert lanes_available() == 3
    assert fanout.deliver(delivery_id)["outcome"] == "retry"
    assert lanes_available() == 1
    assert fanout.deliver(delivery_id)["outcome"] == "succeeded"
    assert lanes_available() == 3
