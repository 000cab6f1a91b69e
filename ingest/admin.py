"""The admin read API's shared parts: the token check and the database session.

Protected by ``SMSPIPE_ADMIN_TOKEN`` sent as ``Authorization: Bearer <token>``: 401 without it,
403 when wrong, and the whole API is off (404) when no token is configured. Route modules
(``ingest/admin_*.py``) register on ``blueprint``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy.orm import Session

from common.db import make_engine, make_session_factory
from common.settings import Settings

blueprint = Blueprint("admin", __name__, url_prefix="/api/v1")


def require_admin(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        settings: Settings = current_app.config["SMSPIPE_SETTINGS"]
        if not settings.admin_token:
            return jsonify(error="not found"), 404
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return jsonify(error="admin token required"), 401
        if not hmac.compare_digest(header.removeprefix("Bearer ").encode(), settings.admin_token.encode()):
            return jsonify(error="admin token is wrong"), 403
        return view(*args, **kwargs)

    return guarded


def db_session() -> Session:
    """A session for this request, closed at its end. The engine is created on first use, so
    the webhook path never touches the database."""
    if "smspipe_session" not in g:
        factory = current_app.extensions.get("smspipe.sessions")
        if factory is None:
            settings: Settings = current_app.config["SMSPIPE_SETTINGS"]
            factory = make_session_factory(make_engine(settings.database_url))
            current_app.extensions["smspipe.sessions"] = factory
        g.smspipe_session = factory()
    return g.smspipe_session


@blueprint.teardown_app_request
def close_session(_error: BaseException | None) -> None:
    session = g.pop("smspipe_session", None)
    if session is not None:
        session.close()
