"""Fan-out with a real Celery worker: webhooks in through the ingest reach a signed HTTP
subscriber; and a subscriber that hangs past its timeout does not hold up a healthy one."""

from __future__ import annotations

import json
import statistics
import time

from standardwebhooks import Webhook

from common.providers import PROVIDERS
from ingest.app import create_app
from tests.conftest import read_stream, sample_bodies, wait_for
from tests.fanout_fixtures import SECRET, commit_events, make_event, with_subscribers
from tests.http_subscriber import servers  # noqa: F401 (a fixture)
from workers.outbox import OutboxRelay


def test_webhooks_reach_a_signed_subscriber_through_the_worker(settings, redis_client, tmp_path, servers,
                                                                start_worker):
    # given
    server = servers([200])
    settings = with_subscribers(settings, tmp_path, [{"name": "crm", "url": server.url, "secret": SECRET}])
    start_worker(concurrency=4, pool="threads", config_path=settings.config_path)
    client = create_app({"SMSPIPE_SETTINGS": settings}).test_client()

    # when: every seed payload goes through the ingest
    for provider in PROVIDERS:
        for _name, body in sample_bodies(provider):
            assert client.post(f"/webhooks/{provider}", data=body, content_type="application/json").status_code == 200
    # the seed yields 12 events (see test_end_to_end.py): 3 received, 6 status, 1 click, 2 keyword matches
    stream = wait_for(lambda: len(read_stream(redis_client)) == 12 and read_stream(redis_client))
    received = wait_for(lambda: len(server.received()) == 12 and server.received())

    # then: the subscriber got the stream's events, each signed, each once
    delivered = [Webhook(SECRET).verify(request.body, request.headers) for request in received]
    assert sorted(delivered, key=lambda event: event["id"]) == sorted(stream, key=lambda event: event["id"])
    assert [request.headers["webhook-id"] for request in received] == [event["id"] for event in delivered]


def test_a_hanging_subscriber_does_not_hold_up_a_healthy_one(settings, sessions, redis_client, tmp_path, servers,
                                                             start_worker):
    # given: "broken" answers after 30 s, past its 2 s timeout; 2 lanes per subscriber, 4 threads
    healthy, broken = servers([200]), servers([200], hang_seconds=30)
    settings = with_subscribers(settings, tmp_path, [
        {"name": "healthy", "url": healthy.url, "secret": SECRET},
        {"name": "broken", "url": broken.url, "secret": SECRET, "timeout_seconds": 2, "retry_schedule": [1, 1]},
    ], delivery_lanes=2)
    start_worker(concurrency=4, pool="threads", config_path=settings.config_path, delivery_lanes=2)
    relay = OutboxRelay(settings, sessions, redis_client)
    count = 20

    # when: the pipeline publishes an event every 50 ms
    published_at = {}
    for index in range(count):
        event = make_event(index)
        published_at[event["id"]] = time.time()
        relay.publish(commit_events(sessions, [event]))
        time.sleep(0.05)
    received = wait_for(lambda: len(healthy.received()) == count and healthy.received(), timeout=20)

    # then: the healthy one has every event while the broken one has not even been tried with
    # most of its own (2 lanes x one attempt per 2 s); nothing waited for the broken backlog
    assert sorted(json.loads(request.body)["id"] for request in received) == sorted(published_at)
    assert len(broken.received()) < count
    latencies = sorted(request.received_at - published_at[request.headers["webhook-id"]] for request in received)
    print(f"\nhealthy subscriber beside a hanging one: p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms, broken tried {len(broken.received())}x")


def test_a_batch_goes_to_the_batch_queue_only(settings, redis_client, tmp_path):
    # given: the worker's queues declared (bound) in the broker, as a delivery worker does
    from common.queue import make_celery
    from common.batch_publisher import CeleryPublisher
    from workers.celery_app import task_queues

    settings = with_subscribers(settings, tmp_path, [{"name": "crm", "url": "http://127.0.0.1:9/", "secret": SECRET}])
    queues = task_queues(settings)
    with make_celery(settings).connection_for_write() as connection:
        for queue in queues:
            queue(connection.default_channel).declare()

    # when: the ingest sends a batch
    CeleryPublisher(settings)([])

    # then
    assert {queue.name: redis_client.llen(queue.name) for queue in queues} == {
        "smspipe": 1, "smspipe.deliveries": 0, "smspipe.deliveries.subscriber.crm": 0,
    }
