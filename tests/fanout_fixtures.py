"""Helpers shared by the fan-out tests: synthetic events committed to the outbox, a TOML config
with subscribers, and a fan-out built on test settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from common.events import MESSAGE_RECEIVED
from common.settings import Settings
from workers.outbox import OutboxItem, write_outbox

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def make_event(index: int, event_type: str = MESSAGE_RECEIVED) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"00000000-0000-4000-8000-{index:012d}",
        "source": "/smspipe/infobip",
        "type": event_type,
        "subject": "+41793026727",
        "time": "2026-11-23T10:00:00Z",
        "datacontenttype": "application/json",
        "data": {"provider": "infobip", "provider_message_id": f"msg-{index}", "text": f"hello {index}"},
    }


def commit_events(sessions: Any, events: list[dict[str, Any]], ingest_id: str = "ingest-1") -> list[OutboxItem]:
    """What the pipeline's batch transaction does, without publishing afterwards."""
    with sessions() as session, session.begin():
        return write_outbox(session, ingest_id, events)


def subscriber_toml(subscribers: list[dict[str, Any]]) -> str:
    blocks = []
    for subscriber in subscribers:
        lines = ["[[subscribers]]"]
        for key, value in subscriber.items():
            if isinstance(value, str):
                lines.append(f'{key} = "{value}"')
            elif isinstance(value, (list, tuple)):
                items = ", ".join(f'"{item}"' if isinstance(item, str) else str(item) for item in value)
                lines.append(f"{key} = [{items}]")
            else:
                lines.append(f"{key} = {value}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def with_subscribers(settings: Settings, tmp_path: Path, subscribers: list[dict[str, Any]], **overrides: Any) -> Settings:
    path = tmp_path / "smspipe.toml"
    path.write_text(subscriber_toml(subscribers))
    return replace(settings, config_path=str(path), **overrides)
