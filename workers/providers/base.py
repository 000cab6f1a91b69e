"""Helpers every adapter uses: decode the body, load a schema, reject one record."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from common.envelope import Envelope
from common.errors import MalformedPayload, SchemaViolation
from workers.records import RejectedRecord


def load_json(envelope: Envelope) -> Any:
    try:
        text = envelope.body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MalformedPayload(f"body is not UTF-8: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedPayload(f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise MalformedPayload("body is not valid JSON: nested too deeply") from None


@functools.cache
def _schema(schema_class: type[Schema]) -> Schema:
    return schema_class()


def load(schema: type[Schema] | Schema, data: Any) -> dict[str, Any]:
    """Validate against a marshmallow schema; violations become ``SchemaViolation``.

    Pass the schema class: one instance per class is reused (building a marshmallow schema
    deep-copies its fields, and cost as much as the whole parse).
    """
    if isinstance(schema, type):
        schema = _schema(schema)
    try:
        return schema.load(data)
    except ValidationError as error:
        raise SchemaViolation(f"schema violation: {json.dumps(error.messages, sort_keys=True, default=str)}") from None


def rejected(index: int, error: SchemaViolation) -> RejectedRecord:
    return RejectedRecord(index=index, reason=str(error), error_type=type(error).__name__)


def text_or_none(value: Any) -> str | None:
    """Providers send "" for absent optional strings."""
    if value is None:
        return None
    value = str(value)
    return value if value.strip() else None


class Identifier(fields.Field):
    """A provider id: a non-empty string, or an integer some providers send instead. At most
    ``MAX_LENGTH`` characters (the column holding it), so an absurd id is a schema violation on
    every database rather than kept by SQLite and refused by PostgreSQL."""

    MAX_LENGTH = 255
    default_error_messages = {"invalid": "Not a valid identifier.", "too_long": "Identifier longer than 255 characters."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
            raise self.make_error("invalid")
        if isinstance(value, int) and value.bit_length() > 900 or len(str(value)) > self.MAX_LENGTH:
            raise self.make_error("too_long")
        return str(value)


class Text(fields.Field):
    """Optional text; numbers are accepted and kept as their text, other JSON types rejected."""

    default_error_messages = {"invalid": "Not a valid string."}

    def __init__(self, **kwargs: Any):
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", None)
            kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.make_error("invalid")
        return str(value)


class Count(fields.Field):
    """A count the provider sends as a number or a numeric string (Interact ``"1"``).

    Anything else reads as absent: a count is informative, never worth dead-lettering a message.
    """

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value if value >= 0 else None
        if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
            return int(value.strip())
        return None


def without_none(values: dict[str, Any]) -> dict[str, Any]:
    """``extra`` keeps what the provider said, not the fields it left out."""
    return {key: value for key, value in values.items() if value is not None and value != ""}


@dataclass(frozen=True)
class Shape:
    """One payload shape an adapter accepts, for docs/providers.md."""

    name: str
    recognized_by: str
    becomes: str


@dataclass(frozen=True)
class Table:
    """A mapping table of an adapter, rendered into docs/providers.md."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


class Lenient(Schema):
    """New provider fields never break parsing."""

    class Meta:
        unknown = EXCLUDE
