"""The outbox relay: events committed but never published (a crash between commit and
publish) reach the stream and every subscriber exactly once per id, in outbox order."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from common.models import Delivery, OutboxEvent
from tests.conftest import read_stream
from tests.fanout_fixtures import SECRET, commit_events, make_event, with_subscribers
from workers.outbox import OutboxItem, OutboxRelay

NOW = timedelta(0)


def relay_for(settings, sessions, redis_client, tmp_path):
    settings = with_subscribers(settings, tmp_path, [
        {"name": "crm", "url": "http://127.0.0.1:9/hooks", "secret": SECRET},
        {"name": "statuses-only", "url": "http://127.0.0.1:9/other", "secret": SECRET,
         "types": ["io.smspipe.message.status.v1"]},
    ])
    return OutboxRelay(settings, sessions, redis_client)


def deliveries(sessions):
    with sessions() as session:
        return session.execute(
            select(Delivery.destination, Delivery.event_id).order_by(Delivery.id)
        ).all()


def test_crash_between_commit_and_publish_loses_nothing(settings, sessions, redis_client, tmp_path):
    # given: three events committed, and the process "crashed" before publishing them
    relay = relay_for(settings, sessions, redis_client, tmp_path)
    events = [make_event(index) for index in range(3)]
    commit_events(sessions, events)
    assert read_stream(redis_client) == []

    # when: the relay runs, twice (as the periodic task would)
    first = relay.relay_pending(older_than=NOW)
    second = relay.relay_pending(older_than=NOW)

    # then: each id once in the stream, in outbox order; one delivery per wanting subscriber
    assert (first, second) == (3, 0)
    assert read_stream(redis_client) == events
    assert deliveries(sessions) == [("crm", event["id"]) for event in events]
    with sessions() as session:
        assert session.scalar(select(OutboxEvent.published_at).where(OutboxEvent.published_at.is_(None))) is None


def test_crash_after_stream_before_marking_adds_nothing_twice(settings, sessions, redis_client, tmp_path):
    # given: the events reached the stream, but the process died before marking them published
    relay = relay_for(settings, sessions, redis_client, tmp_path)
    events = [make_event(index) for index in range(3)]
    items = commit_events(sessions, events)
    relay._add_to_stream(items[:2])

    # when
    relayed = relay.relay_pending(older_than=NOW)

    # then: the relay publishes all three, the stream still holds each id once
    assert relayed == 3
    assert [event["id"] for event in read_stream(redis_client)] == [event["id"] for event in events]
    assert deliveries(sessions) == [("crm", event["id"]) for event in events]


def test_publish_then_relay_is_once_per_destination(settings, sessions, redis_client, tmp_path):
    # given: a normal publish right after the commit
    relay = relay_for(settings, sessions, redis_client, tmp_path)
    events = [make_event(index) for index in range(2)]
    relay.publish(commit_events(sessions, events))

    # when: the same events are published again (a redelivered batch) and the relay runs
    relay.publish(committed_items(sessions))
    relay.relay_pending(older_than=NOW)

    # then
    assert read_stream(redis_client) == events
    assert deliveries(sessions) == [("crm", event["id"]) for event in events]


def committed_items(sessions):
    with sessions() as session:
        rows = session.execute(select(OutboxEvent.event_id, OutboxEvent.type, OutboxEvent.payload)).all()
    return [OutboxItem(*row) for row in rows]
