"""``smspipe events tail --group``: members of one consumer group share the stream, each entry
printed by one member and acknowledged; an entry a member read but never acknowledged (it
died) is printed again when it comes back under the same name."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from common.cli_deliveries import tail_group
from common.stream_group import GroupReader
from tests.conftest import ROOT, read_stream
from tests.fanout_fixtures import commit_events, make_event
from workers.outbox import OutboxRelay

STREAM = "smspipe:events"


@pytest.fixture
def published(settings, sessions, redis_client):
    events = [make_event(index) for index in range(6)]
    OutboxRelay(settings, sessions, redis_client).publish(commit_events(sessions, events))
    assert read_stream(redis_client) == events
    return events


def tail(redis_client, settings, consumer, count=None, from_start=True):
    printed: list[dict] = []
    tail_group(redis_client, settings, "crm", consumer, from_start, count, idle_timeout=0.2,
               echo=lambda line: printed.append(json.loads(line)))
    return printed


def test_members_of_a_group_share_the_stream(settings, redis_client, published):
    # when: two members read in turn, three entries each at most
    first = tail(redis_client, settings, "a", count=3)
    second = tail(redis_client, settings, "b")
    third = tail(redis_client, settings, "a")

    # then: every event printed once, by one member, all acknowledged
    assert first + second == published
    assert third == []
    assert redis_client.xpending(STREAM, "crm")["pending"] == 0


def test_an_unacknowledged_entry_is_printed_again_by_its_member(settings, redis_client, published):
    # given: member "a" read two entries and died before acknowledging them
    reader = GroupReader(redis_client, STREAM, "crm", "a", start_id="0")
    reader.ensure_group()
    assert [json.loads(fields[b"event"]) for _, fields in reader.read(count=2)] == published[:2]

    # when: "a" comes back
    printed = tail(redis_client, settings, "a")

    # then: its two pending entries first, then the rest, each once
    assert printed == published
    assert redis_client.xpending(STREAM, "crm")["pending"] == 0


def test_entries_left_idle_by_a_dead_member_are_claimed_by_another(settings, redis_client, published):
    # given: member "a" read everything and died for good
    reader = GroupReader(redis_client, STREAM, "crm", "a", start_id="0")
    reader.ensure_group()
    assert len(reader.read(count=100)) == 6

    # when: "b" reads with a short claim time
    survivor = GroupReader(redis_client, STREAM, "crm", "b", claim_idle_seconds=0.0)
    claimed = survivor.read(block_ms=100)

    # then
    assert [json.loads(fields[b"event"]) for _, fields in claimed] == published


def test_a_new_group_starts_at_the_end_without_from_start(settings, redis_client, published):
    assert tail(redis_client, settings, "a", from_start=False) == []


def test_the_example_consumer_reads_and_acknowledges(settings, redis_client, published):
    # given
    command = [sys.executable, str(ROOT / "examples" / "consume_events.py"), "--redis-url", settings.redis_url,
               "--group", "example", "--consumer", "one", "--from-start"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        # when
        lines = [process.stdout.readline().split() for _ in published]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)

    # then: one line per event, in stream order, and nothing left pending
    assert [(line[1], line[2]) for line in lines] == [(event["type"], event["id"]) for event in published]
    assert process.returncode == 0
    assert redis_client.xpending(STREAM, "example")["pending"] == 0
