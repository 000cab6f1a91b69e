"""Liveness and readiness.

``/readyz``: 200 when the broker answers; 200 with ``"degraded"`` when only the disk spool can
take webhooks (they are still acknowledged durably); 503 with the reason when neither can.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, current_app, jsonify

from common.settings import Settings
from ingest.spool import Spool

blueprint = Blueprint("health", __name__)


@blueprint.get("/livez")
def livez() -> Any:
    return jsonify(status="alive")


def broker_problem(url: str) -> str | None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"broker unavailable: {exc}"
    finally:
        client.close()
    return None


@blueprint.get("/readyz")
def readyz() -> Any:
    settings: Settings = current_app.config["SMSPIPE_SETTINGS"]
    spool: Spool = current_app.extensions["smspipe.spool"]
    current_app.extensions["smspipe.spool_drainer"].ensure_running()
    spooled = len(spool.pending())
    broker = broker_problem(settings.redis_url)
    if broker is None:
        if spooled:
            return jsonify(status="ready", broker="ok", spooled_batches=spooled)
        return jsonify(status="ready", broker="ok")
    spool_problem = spool.writable()
    if spool_problem is None:
        return jsonify(status="degraded", broker=broker, spool="writable", spooled_batches=spooled)
    return jsonify(error=f"{broker}; {spool_problem}"), 503
