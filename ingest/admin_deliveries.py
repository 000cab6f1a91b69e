"""Admin API for deliveries to HTTP subscribers and handlers: list (parked by default), show
with every attempt, replay one or all parked. ``smspipe deliveries`` mirrors it."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from flask import current_app, jsonify, request

from common.deliveries import STATES, delivery_as_dict, enqueue_replayed, get_delivery, list_deliveries, replay_parked
from common.queue import make_celery
from common.settings import Settings
from ingest.admin import blueprint, db_session, require_admin

logger = logging.getLogger(__name__)


@blueprint.get("/deliveries")
@require_admin
def deliveries_list() -> Any:
    state = request.args.get("state", "parked")
    if state not in STATES:
        return jsonify(error=f"state: expected one of {', '.join(STATES)}"), 400
    limit = request.args.get("limit", 100, type=int)
    found = list_deliveries(db_session(), state, request.args.get("destination"), max(1, min(limit, 1000)))
    return jsonify(deliveries=[delivery_as_dict(delivery) for delivery in found])


@blueprint.get("/deliveries/<int:delivery_id>")
@require_admin
def deliveries_show(delivery_id: int) -> Any:
    found = get_delivery(db_session(), delivery_id)
    if found is None:
        return jsonify(error="no such delivery"), 404
    return jsonify(delivery_as_dict(*found))


@blueprint.post("/deliveries/<int:delivery_id>/replay")
@require_admin
def deliveries_replay(delivery_id: int) -> Any:
    session = db_session()
    if get_delivery(session, delivery_id) is None:
        return jsonify(error="no such delivery"), 404
    ids = _replay(session, [delivery_id], None)
    if not ids:
        return jsonify(error="delivery is not parked"), 409
    return jsonify(replayed=ids), 202


@blueprint.post("/deliveries/replay")
@require_admin
def deliveries_replay_all() -> Any:
    """Every parked delivery, or those of ``?destination=``."""
    return jsonify(replayed=_replay(db_session(), None, request.args.get("destination"))), 202


def _replay(session: Any, delivery_ids: list[int] | None, destination: str | None) -> list[int]:
    replayed = replay_parked(session, delivery_ids, destination)
    session.commit()
    settings: Settings = current_app.config["SMSPIPE_SETTINGS"]
    try:
        enqueue_replayed(_celery(settings), settings, replayed)
    except Exception:  # the broker is down: they are pending and due, the worker's sweep sends them
        logger.warning("replayed deliveries left to the sweep", exc_info=True)
    return [delivery_id for delivery_id, _kind, _name in replayed]


def _celery(settings: Settings) -> Celery:
    celery = current_app.extensions.get("smspipe.admin_celery")
    if celery is None:
        celery = current_app.extensions["smspipe.admin_celery"] = make_celery(settings, name="smspipe-admin")
    return celery
