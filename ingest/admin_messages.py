"""Admin read API for messages and contacts (CONTRACT §7), token-protected like every admin route.

``GET /api/v1/messages/<provider>/<id>``: the message, its current delivery state and history.
``GET /api/v1/contacts/<number>``: the contact's consent on each of our numbers, its lists and
history. The number in the URL is normalized as the workers normalize numbers, so
``/api/v1/contacts/00447838970000`` and ``/api/v1/contacts/+44%207838%20970000`` are one contact.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from common.phone import normalize_number
from common.providers import PROVIDERS
from common.views import contact_view, message_view
from ingest.admin import blueprint, db_session, require_admin


@blueprint.get("/messages/<provider>/<path:provider_message_id>")
@require_admin
def show_message(provider: str, provider_message_id: str) -> Any:
    if provider not in PROVIDERS:
        return jsonify(error="unknown provider"), 404
    view = message_view(db_session(), provider, provider_message_id)
    if view is None:
        return jsonify(error="message not found"), 404
    return jsonify(view)


@blueprint.get("/contacts/<path:number>")
@require_admin
def show_contact(number: str) -> Any:
    normalized = normalize_number(number)
    if normalized is None:
        return jsonify(error="no number given"), 400
    return jsonify(contact_view(db_session(), normalized.value))
