"""The raw envelope: what the ingest enqueues for every webhook, and the task that carries it.

The ingest never parses the body. It wraps the verbatim bytes with where and when they came from;
the bytes travel base64-encoded inside the JSON task message, so invalid UTF-8 survives unchanged.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# The ingest enqueues by name, so it never imports the workers.
TASK_PROCESS_BATCH = "smspipe.process_batch"


def new_ingest_id() -> str:
    """Time-ordered (milliseconds first) and unique: 12 hex digits of time, 20 random."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


@dataclass(frozen=True)
class Envelope:
    ingest_id: str
    provider: str
    received_at: datetime
    body: bytes
    remote_addr: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def wrap(
        cls,
        provider: str,
        body: bytes,
        remote_addr: str | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Envelope:
        return cls(
            ingest_id=new_ingest_id(),
            provider=provider,
            received_at=datetime.now(timezone.utc),
            body=body,
            remote_addr=remote_addr,
            content_type=content_type,
            headers=headers or {},
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "ingest_id": self.ingest_id,
            "provider": self.provider,
            "received_at": self.received_at.isoformat(),
            "remote_addr": self.remote_addr,
            "content_type": self.content_type,
            "headers": self.headers,
            "body_b64": base64.b64encode(self.body).decode("ascii"),
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Envelope:
        return cls(
            ingest_id=wire["ingest_id"],
            provider=wire["provider"],
            received_at=datetime.fromisoformat(wire["received_at"]),
            body=base64.b64decode(wire["body_b64"]),
            remote_addr=wire.get("remote_addr"),
            content_type=wire.get("content_type"),
            headers=wire.get("headers") or {},
        )
