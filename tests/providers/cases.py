"""Shared by the provider tables: load a fixture (verbatim, or with a patch the row states), parse
it with the provider's adapter under a frozen ingest time, and turn the records into plain dicts
so a row can assert the whole normalized output."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from common.envelope import Envelope
from common.errors import PermanentError
from workers.providers import adapter_for
from workers.records import Record, RejectedRecord

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLES = ROOT / "common" / "samples"
SEED_PREFIX = "seed:"  # a seed payload from common/samples/<provider>/, shared with `send-sample`
INGEST_TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

Patch = Callable[[Any], Any]


@dataclass(frozen=True)
class Case:
    label: str
    fixture: str  # "<file>.json" under tests/fixtures/<provider>/, or "seed:<file>.json"
    expected: list[dict[str, Any]]
    patch: Patch | None = None  # what the row changes in the documented payload (its label says so)


def fixture_path(provider: str, fixture: str) -> Path:
    if fixture.startswith(SEED_PREFIX):
        return SAMPLES / provider / fixture.removeprefix(SEED_PREFIX)
    return FIXTURES / provider / fixture


def body_for(provider: str, fixture: str, patch: Patch | None = None) -> bytes:
    body = fixture_path(provider, fixture).read_bytes()
    if patch is None:
        return body  # verbatim, whitespace and all
    try:
        document = json.loads(body)
    except ValueError:
        document = body.decode()  # a payload published as invalid JSON: the patch gets the text
    return json.dumps(patch(copy.deepcopy(document))).encode()


def envelope_for(provider: str, body: bytes) -> Envelope:
    return Envelope(ingest_id="ingest-test", provider=provider, received_at=INGEST_TIME, body=body)


def normalized(item: Record | RejectedRecord) -> dict[str, Any]:
    """A record as plain JSON-shaped data, without the raw payload it carries."""
    data = asdict(item)
    data.pop("raw", None)
    data["record"] = type(item).__name__
    if isinstance(item, Record):
        data["occurred_at"] = item.occurred_at.isoformat()
    return json.loads(json.dumps(data))


def parse_case(provider: str, case: Case) -> list[dict[str, Any]]:
    """The records, or the permanent error that sends the whole payload to the dead letters."""
    envelope = envelope_for(provider, body_for(provider, case.fixture, case.patch))
    try:
        items = adapter_for(provider).parse(envelope)
    except PermanentError as error:
        return [{"raised": type(error).__name__, "reason": str(error)}]
    return [normalized(item) for item in items]


def replace_in(path: tuple[Any, ...], **changes: Any) -> Patch:
    """A patch that updates the object at ``path`` (keys and list indexes) with ``changes``;
    a change to ``None`` removes the key."""

    def apply(payload: Any) -> Any:
        target = payload
        for step in path:
            target = target[step]
        for key, value in changes.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
        return payload

    return apply
