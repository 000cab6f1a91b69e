"""One signed HTTP request to one subscriber (Standard Webhooks).

Headers: ``webhook-id`` (the event id, the same on every retry, so subscribers dedupe by it),
``webhook-timestamp`` (seconds) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``, made by
the ``standardwebhooks`` package). The body is the CloudEvent in structured JSON mode, byte for
byte as it sits in the outbox. https://www.standardwebhooks.com/
"""

from __future__ import annotations

from datetime import datetime, timezone

import requests
from standardwebhooks import Webhook

from common.config import SubscriberConfig
from workers.fanout.attempts import AttemptResult

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
USER_AGENT = "smspipe-webhooks/1"
RESPONSE_BODY_LIMIT = 1000


def signed_headers(secret: str, event_id: str, payload: str, now: datetime | None = None) -> dict[str, str]:
    timestamp = now or datetime.now(timezone.utc)
    return {
        "content-type": CONTENT_TYPE,
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, timestamp, payload),
    }


def send_signed(subscriber: SubscriberConfig, event_id: str, payload: str) -> AttemptResult:
    headers = signed_headers(subscriber.secret, event_id, payload)
    try:
        # requests' timeout bounds the connect and each read; redirects are not followed.
        response = requests.post(
            subscriber.url, data=payload.encode(), headers=headers,
            timeout=subscriber.timeout_seconds, allow_redirects=False,
        )
    except requests.Timeout:
        return AttemptResult.failed(f"timed out after {subscriber.timeout_seconds:g}s", retryable=True)
    except requests.ConnectionError as error:
        return AttemptResult.failed(f"connection failed: {type(error).__name__}", retryable=True)
    except requests.RequestException as error:
        return AttemptResult.failed(f"request failed: {type(error).__name__}: {error}", retryable=False)
    with response:
        return AttemptResult.from_status(
            response.status_code, response.text[:RESPONSE_BODY_LIMIT], _retry_after(response.headers.get("retry-after"))
        )


def _retry_after(value: str | None) -> float | None:
    """Only the delay-seconds form; an HTTP date is ignored (the schedule applies)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
