"""``GET /metrics`` (Prometheus text, every gunicorn worker summed) and the webhook counters.

Webhook answers are counted around the route, by ``before_request``/``after_request`` hooks, so
every answer is counted — 200, 401, 413, 404 for an unknown provider, 503 — without the route
itself knowing about metrics.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from flask import Blueprint, Flask, Response, current_app, g, request

from common import metrics
from common.settings import Settings

blueprint = Blueprint("metrics", __name__)

WEBHOOK_PREFIX = "/webhooks/"


@blueprint.get("/metrics")
def scrape() -> Response:
    settings: Settings = current_app.config["SMSPIPE_SETTINGS"]
    collector = metrics.PipelineCollector(settings, redis_client())
    body, content_type = metrics.render(collector)
    return Response(body, content_type=content_type)


def redis_client() -> redis.Redis:
    """The app's Redis client for readings (metrics, ops page): short timeouts, so a broker
    that is down makes a reading fail fast instead of hanging the scrape."""
    client = current_app.extensions.get("smspipe.readings_redis")
    if client is None:
        settings: Settings = current_app.config["SMSPIPE_SETTINGS"]
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
        current_app.extensions["smspipe.readings_redis"] = client
    return client


def _start_timer() -> None:
    if request.path.startswith(WEBHOOK_PREFIX):
        g.smspipe_webhook_started = time.perf_counter()


def _count_answer(response: Response) -> Response:
    started = g.pop("smspipe_webhook_started", None)
    if started is not None:
        provider = request.path[len(WEBHOOK_PREFIX):].split("/", 1)[0]
        metrics.webhook_answered(provider, response.status_code, time.perf_counter() - started)
    return response


def install(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_count_answer)
    app.register_blueprint(blueprint)


def answer_totals() -> dict[str, Any]:
    """Webhook answers so far, by provider and code, summed over the ingest's processes."""
    totals: dict[str, dict[str, float]] = {}
    for labels, value in metrics.counter_values("smspipe_webhooks_received").items():
        by_label = dict(labels)
        totals.setdefault(by_label["provider"], {})[by_label["code"]] = value
    return totals
