"""``GET /ops``: one server-rendered page an operator can leave open.

Live rates per provider, queue depth and lag, the spool, the delivery-status distribution, the
latest events, dead letters with a replay button, and subscribers — the summary of
``common.ops_summary``, drawn as inline SVG on the server. The page works offline: its small
script and stylesheet ship in this package, no CDN. The script re-fetches ``/ops/live`` (the same
template's live part) every few seconds and posts replays to the admin API.

Access: the admin token (``Authorization: Bearer``, or the cookie the login form sets); open
without one only under ``smspipe dev`` (``SMSPIPE_DEV=1``). Off (404) when no token is set.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, make_response, redirect, render_template, request

from common.ops_summary import STATUS_ORDER, Summary, build_summary
from common.settings import Settings
from ingest import admin
from ingest.metrics import answer_totals, redis_client

blueprint = Blueprint(
    "ops", __name__, template_folder="templates", static_folder="static", static_url_path="/ops/static"
)

COOKIE = "smspipe_ops_token"
REFRESH_SECONDS = 3
FINAL_STATUSES = frozenset(STATUS_ORDER[2:])


def _settings() -> Settings:
    return current_app.config["SMSPIPE_SETTINGS"]


def _denied() -> Response | None:
    """None when the request may see the page; otherwise the answer to give."""
    settings = _settings()
    if settings.dev_mode:
        return None
    if not settings.admin_token:
        return make_response(jsonify(error="not found"), 404)
    header = request.headers.get("Authorization", "")
    supplied = header.removeprefix("Bearer ") if header.startswith("Bearer ") else request.cookies.get(COOKIE)
    if not supplied:
        return make_response(render_template("ops_login.html", problem=None), 401)
    if not hmac.compare_digest(supplied.encode(), settings.admin_token.encode()):
        return make_response(render_template("ops_login.html", problem="That token is wrong."), 403)
    return None


def _summary() -> Summary:
    return build_summary(_settings(), admin.db_session(), redis_client())


def sparkline(values: list[int], width: int = 240, height: int = 48) -> str:
    """SVG polyline points for ``values`` scaled into the box (the highest value on top)."""
    top = max(values) or 1
    step = width / max(1, len(values) - 1)
    return " ".join(f"{index * step:.1f},{height - 2 - (value / top) * (height - 4):.1f}"
                    for index, value in enumerate(values))


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _context(summary: Summary) -> dict[str, Any]:
    status_total = sum(count for _, count in summary.statuses) or 1
    return {
        "summary": summary,
        "answers": answer_totals(),
        "sparkline": sparkline,
        "ago": lambda moment: ago(moment, summary.generated_at),
        "status_total": status_total,
        "final_statuses": FINAL_STATUSES,
        "refresh_seconds": REFRESH_SECONDS,
        "replay_enabled": bool(_settings().admin_token),
    }


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/ops")
def page() -> Response:
    denied = _denied()
    if denied is not None:
        return denied
    context = _context(_summary())
    # The page's script calls the admin API (replay) with the token the viewer already holds.
    context["admin_token"] = _settings().admin_token or ""
    return _no_store(make_response(render_template("ops.html", **context)))


@blueprint.get("/ops/live")
def live() -> Response:
    denied = _denied()
    if denied is not None:
        return denied
    return _no_store(make_response(render_template("ops_live.html", **_context(_summary()))))


@blueprint.post("/ops/login")
def login() -> Response:
    settings = _settings()
    if not settings.admin_token:
        return make_response(jsonify(error="not found"), 404)
    supplied = request.form.get("token", "")
    if not hmac.compare_digest(supplied.encode(), settings.admin_token.encode()):
        return make_response(render_template("ops_login.html", problem="That token is wrong."), 403)
    response = redirect("/ops", code=303)
    response.set_cookie(COOKIE, supplied, httponly=True, samesite="Strict", secure=request.is_secure, path="/ops")
    return response


def install(app: Flask) -> None:
    app.register_blueprint(blueprint)
