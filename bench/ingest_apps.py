"""The contenders of ``bench/ingest`` beside smspipe's own ingest (``ingest.app:create_app()``),
each a gunicorn app factory run with the same gunicorn settings.

- ``bare()``: answers 200 without reading the body: the ceiling of Flask + gunicorn here.
- ``naive_sqlite()``: what a user would write first: parse the JSON and insert it into SQLite
  inside the request (WAL, synchronous=NORMAL, one commit per request).
- ``send_task_per_request()``: what most Celery users write: one ``send_task`` per request.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid

from flask import Flask, Response, jsonify, request

ACCEPTED = b'{"status":"accepted"}'


def bare() -> Flask:
    app = Flask("bench-bare")

    @app.post("/webhooks/<provider>")
    def receive(provider: str) -> Response:
        return Response(ACCEPTED, status=200, mimetype="application/json")

    return app


def naive_sqlite() -> Flask:
    path = os.environ["BENCH_SQLITE_PATH"]
    local = threading.local()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, provider TEXT, "
                           "received_at TEXT DEFAULT CURRENT_TIMESTAMP, payload TEXT)")

    def connection() -> sqlite3.Connection:
        if getattr(local, "connection", None) is None:
            local.connection = sqlite3.connect(path, timeout=30)
            local.connection.execute("PRAGMA synchronous=NORMAL")
        return local.connection

    app = Flask("bench-naive-sqlite")

    @app.post("/webhooks/<provider>")
    def receive(provider: str) -> tuple[Response, int]:
        payload = request.get_json(force=True, silent=True)
        if payload is None:
            return jsonify(error="bad json"), 400
        ingest_id = uuid.uuid4().hex
        db = connection()
        with db:
            db.execute("INSERT INTO webhooks (id, provider, payload) VALUES (?, ?, ?)",
                       (ingest_id, provider, json.dumps(payload)))
        return jsonify(status="accepted", id=ingest_id), 200

    return app


def send_task_per_request() -> Flask:
    from common.envelope import TASK_PROCESS_BATCH, Envelope
    from common.queue import make_celery
    from common.settings import get_settings

    settings = get_settings()
    celery = make_celery(settings, name="bench-send-task")
    app = Flask("bench-send-task")

    @app.post("/webhooks/<provider>")
    def receive(provider: str) -> tuple[Response, int]:
        envelope = Envelope.wrap(provider, request.get_data(cache=False), remote_addr=request.remote_addr,
                                 content_type=request.content_type)
        celery.send_task(TASK_PROCESS_BATCH, args=[[envelope.to_wire()]], queue=settings.queue_name, retry=False)
        return jsonify(status="accepted", id=envelope.ingest_id), 200

    return app
