"""The ingest's Flask application factory: ``gunicorn 'ingest.app:create_app()'``."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from common.redis_check import check_redis_settings
from common.settings import Settings, get_settings
from common.batch_publisher import CeleryPublisher
from ingest.enqueue import SpoolingPublisher
from ingest.group_commit import GroupCommitter, Publish
from ingest.spool import Spool, SpoolDrainer


def create_app(test_config: dict[str, Any] | None = None, *, publish: Publish | None = None) -> Flask:
    """``publish`` replaces the Celery publisher (fast unit tests); ``test_config`` may carry
    ``SMSPIPE_SETTINGS``, a ``Settings`` to use instead of the environment."""
    app = Flask(__name__)
    if test_config:
        app.config.update(test_config)
    settings: Settings = app.config.get("SMSPIPE_SETTINGS") or get_settings()
    app.config["SMSPIPE_SETTINGS"] = settings
    # Werkzeug answers 413 before reading an oversized body, chunked ones included.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    if publish is None:
        check_redis_settings(settings.redis_url)
    broker = publish or CeleryPublisher(settings)
    spool = Spool(settings.spool_dir)
    app.extensions["smspipe.spool"] = spool
    app.extensions["smspipe.publisher"] = SpoolingPublisher(broker, spool)
    app.extensions["smspipe.spool_drainer"] = drainer = SpoolDrainer(spool, broker)
    drainer.ensure_running()  # again on each webhook: gunicorn --preload forks after this
    app.extensions["smspipe.committer"] = GroupCommitter(
        app.extensions["smspipe.publisher"],
        max_size=settings.batch_max_size,
        max_wait=settings.batch_max_wait_ms / 1000,
        timeout=settings.enqueue_timeout_seconds,
    )

    from ingest import admin, admin_dead_letters, admin_deliveries, admin_messages, health, metrics, ops, webhooks  # noqa: F401 (routes register on import)

    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(admin.blueprint)
    metrics.install(app)
    ops.install(app)
    app.register_error_handler(HTTPException, _json_error)
    return app


def _json_error(error: HTTPException) -> Any:
    """Every error is JSON: ``{"error": "..."}`` with the status code."""
    messages = {
        404: "not found",
        405: "method not allowed",
        413: "body too large",
    }
    response = jsonify(error=messages.get(error.code or 500, (error.name or "error").lower()))
    response.status_code = error.code or 500
    if error.code == 405 and error.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return response
