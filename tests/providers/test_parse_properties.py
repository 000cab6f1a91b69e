"""Property: whatever arrives — arbitrary bytes, arbitrary JSON, or a documented payload with any
part replaced by arbitrary JSON — a parser returns only records and rejected records, or raises a
permanent parse error (which dead-letters the payload). Nothing else escapes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import MalformedPayload, PermanentError, SchemaViolation, UnknownShape
from common.providers import PROVIDERS
from tests.providers.cases import FIXTURES, SAMPLES, envelope_for, normalized
from workers.normalize import STATUSES
from workers.providers import adapter_for
from workers.records import Record, RejectedRecord, StatusReport

PARSE_ERRORS = (MalformedPayload, UnknownShape, SchemaViolation)
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=15,
)


def documented_payloads(provider: str) -> list[Any]:
    paths = sorted((FIXTURES / provider).glob("*.json")) + sorted((SAMPLES / provider).glob("*.json"))
    documents = []
    for path in paths:
        try:
            documents.append(json.loads(path.read_bytes()))
        except ValueError:
            continue  # a sample published as invalid JSON has nothing to replace parts of
    return documents


def locations(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document, the root included."""
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += locations(child, path + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += locations(child, path + (index,))
    return found


def replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


def check_parse(provider: str, body: bytes) -> None:
    try:
        items = adapter_for(provider).parse(envelope_for(provider, body))
    except PermanentError as error:
        assert isinstance(error, PARSE_ERRORS)
        return
    assert isinstance(items, list)
    for item in items:
        assert isinstance(item, (Record, RejectedRecord))
        json.dumps(normalized(item))  # plain data all the way down
        if isinstance(item, Record):
            assert isinstance(item.dedupe_key, str) and item.dedupe_key
            assert isinstance(item.occurred_at, datetime) and item.occurred_at.utcoffset() is not None
        if isinstance(item, StatusReport):
            assert item.status in STATUSES


@pytest.mark.parametrize("provider", PROVIDERS)
@PROPERTY_SETTINGS
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_a_parser(provider: str, body: bytes):
    check_parse(provider, body)


@pytest.mark.parametrize("provider", PROVIDERS)
@PROPERTY_SETTINGS
@given(value=json_values)
def test_arbitrary_json_never_crashes_a_parser(provider: str, value: Any):
    check_parse(provider, json.dumps(value).encode())


@pytest.mark.parametrize("provider", PROVIDERS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_documented_payload_with_any_part_replaced_never_crashes_a_parser(provider: str, data: st.DataObject):
    document = data.draw(st.sampled_from(documented_payloads(provider)))
    path = data.draw(st.sampled_from(locations(document)))
    new = data.draw(json_values)
    check_parse(provider, json.dumps(replaced(document, path, new)).encode())
