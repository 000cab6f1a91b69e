"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, current_app, jsonify

from common.settings import Settings

blueprint = Blueprint("health", __name__)


@blueprint.get("/livez")
def livez() -> Any:
    return jsonify(status="alive")


@blueprint.get("/readyz")
def readyz() -> Any:
    settings: Settings = current_app.config["SMSPIPE_SETTINGS"]
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return jsonify(error=f"broker unavailable: {exc}"), 503
    finally:
        client.close()
    return jsonify(status="ready", broker="ok")
