"""Webhook authentication per provider (CONTRACT §2): HMAC of the raw body, Basic, token.

All optional; once a provider has any credential configured, every configured kind must pass
(fail-closed), and each kind accepts any of its comma-separated values, so secrets can be
rotated. Every comparison is constant-time (``hmac.compare_digest``). A failure is counted per
provider in ``AUTH_FAILURES`` (read by the metrics) and answered 401; nothing is enqueued.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from common.settings import ProviderAuth

# ``X-Hub-Signature: sha256=<hex>`` (Webex Connect's "Hub Signature"); the prefix names the hash.
SIGNATURE_HEADERS = ("X-Hub-Signature-256", "X-Hub-Signature")
SIGNATURE_ALGORITHMS: Mapping[str, Callable[..., "hashlib._Hash"]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


class AuthFailures:
    """401s per provider, in this process. Thread-safe; ``snapshot()`` for metrics."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, provider: str) -> None:
        with self._lock:
            self._counts[provider] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


AUTH_FAILURES = AuthFailures()


@dataclass(frozen=True)
class Credentials:
    """What a request carries, taken from it without parsing the body."""

    body: bytes
    headers: Mapping[str, str]
    query_token: str | None


def check_hmac(secrets: tuple[str, ...], credentials: Credentials) -> bool:
    signature = next((credentials.headers.get(name) for name in SIGNATURE_HEADERS if credentials.headers.get(name)), None)
    if not signature or "=" not in signature:
        return False
    algorithm, _, given_hex = signature.strip().partition("=")
    digest = SIGNATURE_ALGORITHMS.get(algorithm.lower())
    if digest is None:
        return False
    try:
        given = bytes.fromhex(given_hex)
    except ValueError:
        return False
    matches = [
        hmac.compare_digest(hmac.new(secret.encode(), credentials.body, digest).digest(), given) for secret in secrets
    ]
    return any(matches)  # every secret is tried, so timing does not tell which one matched


def check_basic(pairs: tuple[str, ...], credentials: Credentials) -> bool:
    header = credentials.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return any([hmac.compare_digest(pair.encode(), given) for pair in pairs])


def check_token(tokens: tuple[str, ...], credentials: Credentials) -> bool:
    header = credentials.headers.get("Authorization", "")
    scheme, _, bearer = header.partition(" ")
    candidates = [value.encode() for value in (credentials.query_token, bearer.strip() if scheme.lower() == "bearer" else None) if value]
    return any([hmac.compare_digest(token.encode(), given) for token in tokens for given in candidates])


# Each configured kind must pass: (which ProviderAuth field, its check).
CHECKS: tuple[tuple[str, Callable[[tuple[str, ...], Credentials], bool]], ...] = (
    ("hmac_secrets", check_hmac),
    ("basic_auth", check_basic),
    ("tokens", check_token),
)


def authenticate(auth: ProviderAuth, credentials: Credentials) -> bool:
    """True when no credential is configured, or every configured kind is satisfied."""
    return all(check(getattr(auth, field), credentials) for field, check in CHECKS if getattr(auth, field))
