"""``POST /webhooks/<provider>``: check provider and size, enqueue the verbatim body, answer.

No JSON parsing and no database here: the body travels as bytes to the workers.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from common.envelope import Envelope
from common.errors import EnqueueFailed
from common.providers import PROVIDERS
from ingest.group_commit import GroupCommitter

blueprint = Blueprint("webhooks", __name__)


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


@blueprint.post("/webhooks/<provider>")
def receive(provider: str) -> tuple[Response, int] | Response:
    if provider not in PROVIDERS:
        return error(404, "unknown provider")
    body = request.get_data(cache=False)  # 413 from Werkzeug past SMSPIPE_MAX_BODY_BYTES
    if not body:
        return error(400, "empty body")
    envelope = Envelope.wrap(
        provider,
        body,
        remote_addr=request.remote_addr,
        content_type=request.content_type,
    )
    committer: GroupCommitter = current_app.extensions["smspipe.committer"]
    try:
        committer.submit(envelope.to_wire())
    except EnqueueFailed:
        current_app.logger.exception("webhook not enqueued", extra={"provider": provider})
        return error(503, "could not enqueue the webhook; retry later")
    return Response(
        b'{"status":"accepted","id":"%s"}' % envelope.ingest_id.encode("ascii"),
        status=200,
        mimetype="application/json",
    )
