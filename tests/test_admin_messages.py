"""Admin read API for messages and contacts, and ``smspipe message show`` (CONTRACT §7): the
token check, and the whole JSON answer for state built by the real Pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest

from common.envelope import Envelope
from ingest.app import create_app
from tests.conftest import ROOT, settings_env
from workers.pipeline import Pipeline

TOKEN = "s3cret-admin-token"
MESSAGE_ID = "2250be2d4219-3af1-78856-aabe-1362af1edfd2"
VOLATILE = ("created_at", "updated_at", "received_at", "ingest_id")


def infobip_report(status: dict[str, Any], done_at: str, error: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"results": [{
        "bulkId": "bulk-1", "messageId": MESSAGE_ID, "to": "385916242493",
        "sentAt": "2026-04-07T08:00:00.000+0000", "doneAt": done_at, "smsCount": 1,
        "status": status, "callbackData": "order-17",
        "error": error or {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False},
    }]}).encode()


DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
             "description": "Message delivered to handset"}
PENDING = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
           "description": "Message sent to next instance"}
STOP = json.dumps({
    "specversion": "1.0", "type": "com.interact.messages.sms.status", "id": "evt_stop_1",
    "time": "2026-04-07T09:00:00Z",
    "data": {"status": "inbound", "message": "Stop!", "phone_number": "+447838970000",
             "inbound_number": "+447860000000"},
}).encode()


@pytest.fixture
def stored(settings, sessions, redis_client) -> dict[str, str]:
    """A delivered report, then a late pending one, then an inbound STOP."""
    pipeline = Pipeline(settings, sessions, redis_client)
    bodies = [
        ("infobip", infobip_report(DELIVERED, "2026-04-07T08:00:05.000+0000")),
        ("infobip", infobip_report(PENDING, "2026-04-07T08:00:01.000+0000")),
        ("webex-interact", STOP),
    ]
    ingest_ids = {}
    for provider, body in bodies:
        envelope = Envelope.wrap(provider, body)
        pipeline.process([envelope])
        ingest_ids[body] = envelope.ingest_id
    return ingest_ids


def without_volatile(value: Any) -> Any:
    """The answer with creation/arrival times and ingest ids dropped (they are now and random)."""
    if isinstance(value, dict):
        return {key: without_volatile(item) for key, item in value.items() if key not in VOLATILE}
    if isinstance(value, list):
        return [without_volatile(item) for item in value]
    return value


@pytest.fixture
def client(settings):
    return create_app({"SMSPIPE_SETTINGS": replace(settings, admin_token=TOKEN)}, publish=lambda batch: None).test_client()


AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXPECTED_MESSAGE = {
    "message": {
        "provider": "infobip", "direction": "outbound", "provider_message_id": MESSAGE_ID,
        "end_user": "+385916242493", "our_number": None, "text": None, "keyword": None,
        "callback_data": "order-17", "correlation_id": None, "occurred_at": None, "details": {},
    },
    "state": {
        "status": "delivered", "final": True, "status_at": "2026-04-07T08:00:05Z",
        "provider_status": "DELIVERED_TO_HANDSET", "error": None,
    },
    "history": [
        {"status": "delivered", "final": True, "provider_status": "DELIVERED_TO_HANDSET", "error": None,
         "occurred_at": "2026-04-07T08:00:05Z", "applied": True},
        {"status": "submitted", "final": False, "provider_status": "PENDING_ACCEPTED", "error": None,
         "occurred_at": "2026-04-07T08:00:01Z", "applied": False},  # late: never undoes a final
    ],
}
EXPECTED_CONTACT = {
    "contact": "+447838970000",
    "consents": [
        {
            "our_number": "+447860000000", "state": "opted_out", "state_at": "2026-04-07T09:00:00Z",
            "keyword": "STOP", "lists": [],
            "history": [
                {"action": "opt_out", "state": "opted_out", "applied": True, "rule": "builtin-opt-out",
                 "keyword": "STOP", "lists": [], "origin": "smspipe", "provider": "webex-interact",
                 "provider_message_id": "evt_stop_1", "occurred_at": "2026-04-07T09:00:00Z"},
            ],
        }
    ],
}


def test_message_with_state_and_history(client, stored):
    response = client.get(f"/api/v1/messages/infobip/{MESSAGE_ID}", headers=AUTH)
    assert response.status_code == 200
    assert without_volatile(response.get_json()) == EXPECTED_MESSAGE
    assert [row["ingest_id"] for row in response.get_json()["history"]] == list(stored.values())[:2]


def test_inbound_message_shows_its_keyword_matches(client, stored):
    response = client.get("/api/v1/messages/webex-interact/evt_stop_1", headers=AUTH)
    assert response.status_code == 200
    view = response.get_json()
    assert (view["message"]["direction"], view["message"]["text"], view["state"], view["history"]) == (
        "inbound", "Stop!", None, [])
    assert view["message"]["details"]["keyword_matches"] == [
        {"rule": "builtin-opt-out", "keyword": "STOP", "action": "opt_out", "lists": [], "origin": "smspipe"}
    ]


@pytest.mark.parametrize("spelling", ["+447838970000", "447838970000", "00447838970000", "+44 7838 970000"])
def test_contact_number_is_normalized(client, stored, spelling):
    response = client.get(f"/api/v1/contacts/{spelling}", headers=AUTH)
    assert response.status_code == 200
    assert without_volatile(response.get_json()) == EXPECTED_CONTACT


def test_contact_never_seen_has_no_consent(client, stored):
    response = client.get("/api/v1/contacts/+385916242493", headers=AUTH)
    assert (response.status_code, response.get_json()) == (200, {"contact": "+385916242493", "consents": []})


@pytest.mark.parametrize(
    ("path", "status", "answer"),
    [
        ("/api/v1/messages/infobip/unknown-id", 404, {"error": "message not found"}),
        (f"/api/v1/messages/nexmo/{MESSAGE_ID}", 404, {"error": "unknown provider"}),
    ],
)
def test_not_found(client, stored, path, status, answer):
    response = client.get(path, headers=AUTH)
    assert (response.status_code, response.get_json()) == (status, answer)


@pytest.mark.parametrize("path", [f"/api/v1/messages/infobip/{MESSAGE_ID}", "/api/v1/contacts/+447838970000"])
@pytest.mark.parametrize(
    ("admin_token", "headers", "status", "answer"),
    [
        (TOKEN, {}, 401, {"error": "admin token required"}),
        (TOKEN, {"Authorization": "Bearer wrong"}, 403, {"error": "admin token is wrong"}),
        (None, AUTH, 404, {"error": "not found"}),
    ],
    ids=["no token", "wrong token", "API off"],
)
def test_token_is_required(settings, path, admin_token, headers, status, answer):
    client = create_app({"SMSPIPE_SETTINGS": replace(settings, admin_token=admin_token)},
                        publish=lambda batch: None).test_client()
    response = client.get(path, headers=headers)
    assert (response.status_code, response.get_json()) == (status, answer)


def run_cli(settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "common.cli", *arguments], env=settings_env(settings),
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_cli_message_show_prints_what_the_api_answers(settings, client, stored):
    # when
    run = run_cli(settings, "message", "show", "infobip", MESSAGE_ID)

    # then
    assert run.returncode == 0, run.stderr
    api = client.get(f"/api/v1/messages/infobip/{MESSAGE_ID}", headers=AUTH).get_json()
    assert json.loads(run.stdout) == api
    assert without_volatile(json.loads(run.stdout)) == EXPECTED_MESSAGE


def test_cli_message_show_unknown(settings, stored):
    run = run_cli(settings, "message", "show", "infobip", "nope")
    assert run.returncode == 1
    assert run.stderr.strip() == "Error: no infobip message 'nope'"
