"""Webhook auth per provider (CONTRACT §2): HMAC of the raw body with sha1/sha256/sha512 and
rotated secrets, Basic, token; fail-closed; 401 enqueues nothing and is counted. And Webex
Interact's endpoint verification handshake."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from common.settings import ProviderAuth, Settings
from ingest.app import create_app
from ingest.auth import AUTH_FAILURES
from tests.conftest import sample_bodies

CONNECT = sample_bodies("webex-connect")[-1][1]
INTERACT = sample_bodies("webex-interact")[0][1]


def signature(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}={hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()}"


def basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


@pytest.fixture
def published() -> list[list[dict]]:
    return []


def make_client(published, tmp_path, **auth: tuple[str, ...]):
    settings = Settings(spool_dir=str(tmp_path / "spool"), provider_auth={"webex-connect": ProviderAuth(**auth)})
    return create_app({"SMSPIPE_SETTINGS": settings}, publish=published.append).test_client()


ROTATED = ("new-secret", "old-secret")

# (label, configured auth, query string, headers, body sent, expected status)
CASES = [
    ("no auth configured", {}, "", {}, CONNECT, 200),
    ("hmac sha256, first secret", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": signature("new-secret", CONNECT)}, CONNECT, 200),
    ("hmac sha256, rotated-out secret still listed", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": signature("old-secret", CONNECT)}, CONNECT, 200),
    ("hmac sha1", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": signature("new-secret", CONNECT, "sha1")}, CONNECT, 200),
    ("hmac sha512", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": signature("new-secret", CONNECT, "sha512")}, CONNECT, 200),
    ("hmac upper-case hex", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": signature("new-secret", CONNECT).upper().replace("SHA256", "sha256")}, CONNECT, 200),
    ("hmac missing", {"hmac_secrets": ROTATED}, "", {}, CONNECT, 401),
    ("hmac unknown secret", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": signature("guess", CONNECT)}, CONNECT, 401),
    ("hmac of another body (replayed signature)", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": signature("new-secret", INTERACT)}, CONNECT, 401),
    ("hmac of the body with one byte changed", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": signature("new-secret", CONNECT)}, CONNECT + b" ", 401),
    ("hmac unknown algorithm", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": signature("new-secret", CONNECT, "md5")}, CONNECT, 401),
    ("hmac without prefix", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": signature("new-secret", CONNECT).split("=")[1]}, CONNECT, 401),
    ("hmac not hex", {"hmac_secrets": ROTATED}, "", {"X-Hub-Signature": "sha256=zz"}, CONNECT, 401),
    ("basic right", {"basic_auth": ("hook:pa:ss", "old:pw")}, "", {"Authorization": basic("hook:pa:ss")}, CONNECT, 200),
    ("basic rotated", {"basic_auth": ("hook:pa:ss", "old:pw")}, "", {"Authorization": basic("old:pw")}, CONNECT, 200),
    ("basic wrong password", {"basic_auth": ("hook:pa:ss",)}, "", {"Authorization": basic("hook:pa:sS")}, CONNECT, 401),
    ("basic not base64", {"basic_auth": ("hook:pa:ss",)}, "", {"Authorization": "Basic !!!"}, CONNECT, 401),
    ("basic missing", {"basic_auth": ("hook:pa:ss",)}, "", {}, CONNECT, 401),
    ("token in query", {"tokens": ("t0k3n", "older")}, "?token=t0k3n", {}, CONNECT, 200),
    ("token as bearer, rotated", {"tokens": ("t0k3n", "older")}, "", {"Authorization": "Bearer older"}, CONNECT, 200),
    ("token wrong", {"tokens": ("t0k3n",)}, "?token=t0k3N", {}, CONNECT, 401),
    ("token empty", {"tokens": ("t0k3n",)}, "?token=", {}, CONNECT, 401),
    ("token sent as basic", {"tokens": ("t0k3n",)}, "", {"Authorization": basic("t0k3n:")}, CONNECT, 401),
    ("hmac and token both configured, both given", {"hmac_secrets": ROTATED, "tokens": ("t0k3n",)}, "?token=t0k3n", {"X-Hub-Signature": signature("new-secret", CONNECT)}, CONNECT, 200),
    ("hmac and token both configured, token only", {"hmac_secrets": ROTATED, "tokens": ("t0k3n",)}, "?token=t0k3n", {}, CONNECT, 401),
]


@pytest.mark.parametrize(("label", "auth", "query", "headers", "body", "status"), CASES, ids=[case[0] for case in CASES])
def test_webhook_auth(published, tmp_path, label, auth, query, headers, body, status):
    # given
    client = make_client(published, tmp_path, **auth)
    failures_before = AUTH_FAILURES.snapshot().get("webex-connect", 0)

    # when
    response = client.post(f"/webhooks/webex-connect{query}", data=body, headers=headers, content_type="application/json")

    # then
    assert response.status_code == status
    failures = AUTH_FAILURES.snapshot().get("webex-connect", 0) - failures_before
    if status == 401:
        assert response.get_json() == {"error": "authentication failed"}
        assert published == []
        assert failures == 1
    else:
        assert [wire["ingest_id"] for batch in published for wire in batch] == [response.get_json()["id"]]
        assert failures == 0


def test_auth_of_one_provider_does_not_apply_to_another(published, tmp_path):
    client = make_client(published, tmp_path, tokens=("t0k3n",))

    assert client.post("/webhooks/infobip", data=sample_bodies("infobip")[0][1]).status_code == 200
    assert client.post("/webhooks/webex-connect", data=CONNECT).status_code == 401


@pytest.mark.parametrize(
    ("label", "body", "expected"),
    [
        ("verification request", b'{"secret": "s3cr3t-ab"}', b"s3cr3t-ab"),
        ("verification with other fields", b'{"type": "verification", "secret": "x y"}', b"x y"),
    ],
)
def test_interact_verification_echoes_the_secret_and_enqueues_nothing(published, tmp_path, label, body, expected):
    # given Interact with a token configured: the handshake may come without credentials
    settings = Settings(spool_dir=str(tmp_path), provider_auth={"webex-interact": ProviderAuth(tokens=("t",))})
    client = create_app({"SMSPIPE_SETTINGS": settings}, publish=published.append).test_client()

    # when
    response = client.post("/webhooks/webex-interact", data=body, content_type="application/json")

    # then
    assert (response.status_code, response.data, response.mimetype) == (200, expected, "text/plain")
    assert published == []


@pytest.mark.parametrize(
    ("label", "provider", "body"),
    [
        ("a CloudEvent carrying a secret in its data", "webex-interact",
         b'{"specversion": "1.0", "id": "1", "data": {"secret": "x"}}'),
        ("secret that is not a string", "webex-interact", b'{"secret": 5}'),
        ("secret in a JSON array", "webex-interact", b'[{"secret": "x"}]'),
        ("not JSON", "webex-interact", b'"secret" but not json'),
        ("another provider", "infobip", b'{"secret": "x"}'),
    ],
)
def test_bodies_that_are_not_a_verification_are_webhooks(published, tmp_path, label, provider, body):
    client = create_app({"SMSPIPE_SETTINGS": Settings(spool_dir=str(tmp_path))}, publish=published.append).test_client()

    response = client.post(f"/webhooks/{provider}", data=body)

    assert response.status_code == 200
    assert response.get_json()["status"] == "accepted"
    assert len(published) == 1
