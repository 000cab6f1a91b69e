"""``POST /webhooks/<provider>``: check provider, size and auth, enqueue the verbatim body, answer.

No JSON parsing and no database here: the body travels as bytes to the workers. The one
exception is Webex Interact's endpoint verification, recognised by a cheap bytes check first.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, jsonify, request

from common.envelope import Envelope
from common.errors import EnqueueFailed
from common.providers import PROVIDERS
from common.settings import Settings
from ingest.auth import AUTH_FAILURES, Credentials, authenticate
from ingest.group_commit import GroupCommitter
from ingest.spool import SpoolDrainer

blueprint = Blueprint("webhooks", __name__)

VERIFICATION_PROVIDER = "webex-interact"
# A verification request is a tiny JSON object; anything larger is a webhook.
VERIFICATION_MAX_BYTES = 4096


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


def verification_secret(provider: str, body: bytes) -> str | None:
    """Webex Interact verifies an endpoint by POSTing ``{"secret": ...}`` (not a CloudEvent) and
    expecting the secret back. Answering it reveals nothing the caller did not send, so it is
    answered before auth: the handshake may come unsigned."""
    if provider != VERIFICATION_PROVIDER or len(body) > VERIFICATION_MAX_BYTES:
        return None
    if b'"secret"' not in body or b'"specversion"' in body:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict) or "specversion" in document or not isinstance(document.get("secret"), str):
        return None
    return document["secret"]


@blueprint.post("/webhooks/<provider>")
def receive(provider: str) -> tuple[Response, int] | Response:
    if provider not in PROVIDERS:
        return error(404, "unknown provider")
    body = request.get_data(cache=False)  # 413 from Werkzeug past SMSPIPE_MAX_BODY_BYTES
    if not body:
        return error(400, "empty body")
    secret = verification_secret(provider, body)
    if secret is not None:
        response = Response(secret, status=200, mimetype="text/plain")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    settings: Settings = current_app.config["SMSPIPE_SETTINGS"]
    credentials = Credentials(body=body, headers=request.headers, query_token=request.args.get("token"))
    if not authenticate(settings.auth_for(provider), credentials):
        AUTH_FAILURES.count(provider)
        current_app.logger.warning("webhook refused: authentication failed", extra={"provider": provider})
        return error(401, "authentication failed")
    envelope = Envelope.wrap(
        provider,
        body,
        remote_addr=request.remote_addr,
        # Stored in a 255-character column: a longer one would fail every insert of the batch.
        content_type=request.content_type[:255] if request.content_type else None,
    )
    drainer: SpoolDrainer = current_app.extensions["smspipe.spool_drainer"]
    drainer.ensure_running()
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
