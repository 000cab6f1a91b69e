"""Normalized events as CloudEvents 1.0 (structured JSON mode).

Ids are deterministic per (provider record, event type, index within that record), so a
replayed record yields the same ids and consumers can dedupe too.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

NAMESPACE = uuid.UUID("5f1f6a8e-1d7e-4c55-9b1e-7a3c1f0e2d41")


def event_id(dedupe_key: str, event_type: str, index: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{dedupe_key}|{event_type}|{index}"))


def isoformat(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def cloud_event(
    *,
    provider: str,
    dedupe_key: str,
    event_type: str,
    index: int,
    subject: str | None,
    time: datetime,
    data: dict[str, Any],
) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": event_id(dedupe_key, event_type, index),
        "source": f"/smspipe/{provider}",
        "type": event_type,
        "time": isoformat(time),
        "datacontenttype": "application/json",
        "data": data,
    }
    if subject is not None:
        event["subject"] = subject
    return event


def dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
