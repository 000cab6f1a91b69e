"""Admin API for the dead-letter store: list, show, replay (the CLI's ``smspipe dead-letters``)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request

from common import dead_letters
from common.errors import EnqueueFailed
from ingest.admin import blueprint, db_session, require_admin


@blueprint.get("/dead-letters")
@require_admin
def list_dead_letters() -> Any:
    limit = min(request.args.get("limit", default=100, type=int) or 100, 1000)
    pending = request.args.get("pending", "").lower() in ("1", "true", "yes")
    letters = dead_letters.list_dead_letters(db_session(), limit=limit, include_replayed=not pending)
    return jsonify(dead_letters=[dead_letters.summary(letter) for letter in letters])


@blueprint.get("/dead-letters/<int:letter_id>")
@require_admin
def show_dead_letter(letter_id: int) -> Any:
    try:
        letter = dead_letters.get_dead_letter(db_session(), letter_id)
    except dead_letters.DeadLetterNotFound as error:
        return jsonify(error=str(error)), 404
    document = dead_letters.summary(letter)
    document["traceback"] = letter.traceback
    return jsonify(document)


@blueprint.post("/dead-letters/<int:letter_id>/replay")
@require_admin
def replay_dead_letter(letter_id: int) -> Any:
    # The ingest's own publisher: the broker, or the disk spool when Redis is down.
    publish = current_app.extensions["smspipe.publisher"]
    try:
        ingest_ids = dead_letters.replay(db_session(), [letter_id], publish)
    except dead_letters.DeadLetterNotFound as error:
        return jsonify(error=str(error)), 404
    except EnqueueFailed as error:
        return jsonify(error=f"could not enqueue the replay: {error}"), 503
    # ``ingest_id``: a dead letter belongs to one payload, replayed under its own ingest id.
    return jsonify(status="replayed", id=letter_id, ingest_id=ingest_ids[0], ingest_ids=ingest_ids), 202
