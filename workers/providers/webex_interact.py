"""Webex Interact: CloudEvents for inbound SMS, outbound status (submitted, delivered, failed,
clicked) and opt-in/opt-out.

Every event carries a unique envelope ``id`` (the dedupe key). Outbound events name their
message by the top-level ``transaction_id``. ``time`` is ISO 8601, or epoch milliseconds in
older samples.
Fixtures: https://docs.webexinteract.com/reference/inbound-sms-events,
https://docs.webexinteract.com/reference/outbound-sms-events
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from common.envelope import Envelope
from common.errors import SchemaViolation, UnknownShape
from workers.normalize import count_segments, map_status, number, pick_time
from workers.providers.base import Identifier, Lenient, Text, load, load_json, rejected, text_or_none
from workers.records import (
    ConsentSignal,
    InboundMessage,
    LinkClick,
    ProviderError,
    ProviderRule,
    Record,
    RejectedRecord,
    StatusReport,
)

NAME = "webex-interact"

INBOUND = "inbound"
CLICKED = "clicked"
# Interact's outbound statuses map to themselves.
STATUS_MAP = {
    "submitted": "submitted",
    "delivered": "delivered",
    "failed": "failed",
}
CONSENT_TYPES = {
    "com.interact.messages.sms.opt.out": "opt_out",
    "com.interact.messages.sms.opt.in": "opt_in",
}


class RuleSchema(Lenient):
    rule = Text()
    trigger_keyword = Text()
    target_lists = fields.List(fields.String(), load_default=list)


class DataSchema(Lenient):
    status = Text()
    channel = Text()
    message = Text()
    message_body = Text()
    message_parts = fields.Integer(load_default=None, allow_none=True)
    phone_number = Text()
    inbound_number = Text()
    inbound_number_id = Text()
    code = Text()
    description = Text()
    url = Text()
    ip = Text()
    user_agent = Text()
    keyword = Text()
    rules = fields.List(fields.Nested(RuleSchema), load_default=list)
    opt_ins = fields.List(fields.Nested(RuleSchema), load_default=list)
    target_lists = fields.List(fields.String(), load_default=list)


class CloudEventSchema(Lenient):
    specversion = Text()
    type = Text(required=True, allow_none=False)
    id = Identifier(required=True)
    time = fields.Raw(load_default=None, allow_none=True)
    data = fields.Nested(DataSchema, required=True)
    correlation_id = Text()
    transaction_id = Text()


def parse(envelope: Envelope) -> list[Record | RejectedRecord]:
    payload = load_json(envelope)
    if not isinstance(payload, dict) or "specversion" not in payload or "type" not in payload:
        raise UnknownShape("webex-interact: not a CloudEvent (no specversion/type)")
    try:
        return [parse_event(envelope, payload)]
    except SchemaViolation as error:
        return [rejected(0, error)]


def _provider_rules(data: dict[str, Any]) -> tuple[ProviderRule, ...]:
    # `opt_ins[]` is the older spelling of `rules[]`.
    return tuple(
        ProviderRule(rule=rule["rule"], keyword=rule["trigger_keyword"], lists=tuple(rule["target_lists"]))
        for rule in data["rules"] + data["opt_ins"]
    )


def parse_event(envelope: Envelope, raw: dict[str, Any]) -> Record:
    event = load(CloudEventSchema, raw)
    data = event["data"]
    flags: list[str] = []
    occurred_at, time_flags = pick_time([event["time"]], envelope.received_at)
    common = dict(provider=NAME, dedupe_key=f"{NAME}:event:{event['id']}", occurred_at=occurred_at, raw=raw)
    correlation_id = text_or_none(event["correlation_id"])
    if event["type"] in CONSENT_TYPES:
        return ConsentSignal(
            provider_message_id=event["id"],
            contact=number(data["phone_number"], flags),
            our_number=number(data["inbound_number"], flags),
            action=CONSENT_TYPES[event["type"]],
            keyword=text_or_none(data["keyword"]),
            lists=tuple(data["target_lists"]),
            flags=tuple(flags) + time_flags,
            **common,
        )
    status = (data["status"] or "").strip().lower()
    if status == INBOUND:
        return InboundMessage(
            provider_message_id=event["id"],
            end_user=number(data["phone_number"], flags),
            our_number=number(data["inbound_number"], flags),
            text=data["message"],
            segments=data["message_parts"] or count_segments(data["message"]),
            correlation_id=correlation_id,
            provider_rules=_provider_rules(data),
            flags=tuple(flags) + time_flags,
            **common,
        )
    message_id = text_or_none(event["transaction_id"])
    if status == CLICKED:
        return LinkClick(
            provider_message_id=message_id,
            recipient=number(data["phone_number"], flags),
            url=data["url"],
            ip=data["ip"],
            user_agent=data["user_agent"],
            flags=tuple(flags) + time_flags,
            **common,
        )
    if message_id is None:
        raise SchemaViolation("webex-interact: an outbound status event without transaction_id")
    normalized = map_status(STATUS_MAP, status, NAME, flags)
    return StatusReport(
        provider_message_id=message_id,
        status=normalized,
        provider_status=data["status"],
        error=ProviderError(code=data["code"], description=data["description"], permanent=None)
        if normalized == "failed"
        else None,
        recipient=number(data["phone_number"], flags),
        correlation_id=correlation_id,
        flags=tuple(flags) + time_flags,
        **common,
    )
