"""Webex Interact: CloudEvents for inbound SMS, outbound status (submitted, delivered, failed,
clicked) and opt-in/opt-out.

Every event carries a unique envelope ``id`` (the dedupe key). Outbound events name their
message by the top-level ``transaction_id``; the short samples on Interact's webhooks page carry
none and put the ``tid_...`` in ``correlation_id`` instead, which we then use (flagged). ``time``
is ISO 8601, or epoch milliseconds in older samples.
Fixtures: https://docs.webexinteract.com/reference/inbound-sms-events,
https://docs.webexinteract.com/reference/outbound-sms-events,
https://docs.webexinteract.com/reference/shortlink-clicked,
https://docs.webexinteract.com/reference/sms-opt-out-received,
https://docs.webexinteract.com/docs/webhooks
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from common.envelope import Envelope
from common.errors import SchemaViolation, UnknownShape
from workers.normalize import count_segments, map_status, number, pick_time
from workers.providers.base import (
    Count,
    Identifier,
    Lenient,
    Shape,
    Table,
    Text,
    load,
    load_json,
    rejected,
    text_or_none,
    without_none,
)
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

STATUS_EVENT = "com.interact.messages.sms.status"
# Interact's own webhook reference page still shows samples from its former name, Reach.
LEGACY_STATUS_EVENT = "com.reach.messages.sms.status"
STATUS_EVENTS = frozenset({STATUS_EVENT, LEGACY_STATUS_EVENT})
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
TRANSACTION_ID_PREFIX = "tid_"
FLAG_ID_FROM_CORRELATION = "message_id_from_correlation_id"

SHAPES = (
    Shape("Inbound SMS", f"type `{STATUS_EVENT}`, `data.status` `inbound`; `data.rules[]`, or the older "
          "`data.opt_ins[]` (`opt_in`, `keyword`, `target_lists`)",
          "InboundMessage → `io.smspipe.message.received.v1`; rules as provider matches"),
    Shape("Outbound status", f"type `{STATUS_EVENT}`, `data.status` submitted/delivered/failed (or a future one)",
          "StatusReport → `io.smspipe.message.status.v1`"),
    Shape("Shortlink clicked", f"type `{STATUS_EVENT}`, `data.status` `clicked`",
          "LinkClick → `io.smspipe.link.clicked.v1` (`data.url`; no IP or user agent is sent)"),
    Shape("Legacy Reach status", f"type `{LEGACY_STATUS_EVENT}` (`data.phone`, `data.correlationid`)",
          "as the status event; the documented samples carry no `id`, so they are dead-lettered with that reason"),
    Shape("Opt-out / opt-in", "type `com.interact.messages.sms.opt.out` / `.opt.in`",
          "ConsentSignal (contact `data.phone_number`, our number `data.inbound_number`)"),
)


class RuleSchema(Lenient):
    # rules[] items
    rule = Text()
    trigger_keyword = Text()
    # the older opt_ins[] items
    opt_in = Text()
    keyword = Text()
    target_lists = fields.List(fields.String(), load_default=list)


class DataSchema(Lenient):
    status = Text()
    channel = Text()
    type = Text()
    message = Text()
    message_body = Text()
    message_parts = Count()
    phone_number = Text()
    phone = Text()  # the legacy Reach samples' spelling of phone_number
    correlationid = Text()  # ... and of the top-level correlation_id
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
    # outbound campaign fields, kept in `extra`
    sender = Text(data_key="from")
    scheduled_at = Text()
    list_id = Text()
    custom_id = Text()
    campaign_id = Text()
    campaign_name = Text()
    # shortlink clicks
    short_link = Text()
    short_link_id = Text()
    short_link_name = Text()
    device = Text()
    browser = Text()
    os = Text()
    # opt-outs
    account_level_opt_out = fields.Boolean(load_default=None, allow_none=True)
    opt_out_time = fields.Raw(load_default=None, allow_none=True)


class CloudEventSchema(Lenient):
    specversion = Text()
    type = Text(required=True, allow_none=False)
    id = Identifier(required=True)
    time = fields.Raw(load_default=None, allow_none=True)
    data = fields.Nested(DataSchema, required=True)
    correlation_id = Text()
    transaction_id = Text()
    tracking_id = Text()


def parse(envelope: Envelope) -> list[Record | RejectedRecord]:
    payload = load_json(envelope)
    if not isinstance(payload, dict) or "specversion" not in payload or "type" not in payload:
        raise UnknownShape("webex-interact: not a CloudEvent (no specversion/type)")
    try:
        return [parse_event(envelope, payload)]
    except SchemaViolation as error:
        return [rejected(0, error)]


def _provider_rules(data: dict[str, Any]) -> tuple[ProviderRule, ...]:
    rules = tuple(
        ProviderRule(rule=rule["rule"], keyword=rule["trigger_keyword"], lists=tuple(rule["target_lists"]))
        for rule in data["rules"]
    )
    # `opt_ins[]` is the older spelling of `rules[]`: every entry is an opt-in to its lists.
    opt_ins = tuple(
        ProviderRule(rule=item["opt_in"] or item["rule"], keyword=item["keyword"] or item["trigger_keyword"],
                     action="opt_in", lists=tuple(item["target_lists"]))
        for item in data["opt_ins"]
    )
    return rules + opt_ins


def _campaign_extra(data: dict[str, Any]) -> dict[str, Any]:
    return without_none({
        "channel": data["channel"], "from": data["sender"], "message_body": data["message_body"],
        "scheduled_at": data["scheduled_at"], "list_id": data["list_id"], "custom_id": data["custom_id"],
        "campaign_id": data["campaign_id"], "campaign_name": data["campaign_name"],
    })


def parse_event(envelope: Envelope, raw: dict[str, Any]) -> Record:
    event = load(CloudEventSchema, raw)
    data = event["data"]
    flags: list[str] = []
    occurred_at, time_flags = pick_time([event["time"], data["opt_out_time"]], envelope.received_at)
    common = dict(provider=NAME, dedupe_key=f"{NAME}:event:{event['id']}", occurred_at=occurred_at, raw=raw)
    correlation_id = text_or_none(event["correlation_id"]) or text_or_none(data["correlationid"])
    phone_number = data["phone_number"] or data["phone"]
    if event["type"] in CONSENT_TYPES:
        # A keyword opt-out carries the message that triggered it ("STOP"); a webform one does not.
        keyword = text_or_none(data["keyword"]) or (text_or_none(data["message"]) if data["type"] == "keyword" else None)
        return ConsentSignal(
            provider_message_id=event["id"],
            contact=number(phone_number, flags),
            our_number=number(data["inbound_number"], flags),
            action=CONSENT_TYPES[event["type"]],
            keyword=keyword,
            lists=tuple(data["target_lists"]),
            flags=tuple(flags) + time_flags,
            extra=without_none({"source": data["type"], "inbound_number_id": data["inbound_number_id"],
                                "account_level_opt_out": data["account_level_opt_out"],
                                "opt_out_time": data["opt_out_time"]}),
            **common,
        )
    if event["type"] not in STATUS_EVENTS:
        raise SchemaViolation(f"webex-interact: unknown event type {event['type']!r}")
    status = (data["status"] or "").strip().lower()
    if status == INBOUND:
        return InboundMessage(
            provider_message_id=event["id"],
            end_user=number(phone_number, flags),
            our_number=number(data["inbound_number"], flags),
            text=data["message"],
            segments=data["message_parts"] if data["message_parts"] is not None else count_segments(data["message"]),
            correlation_id=correlation_id,
            provider_rules=_provider_rules(data),
            flags=tuple(flags) + time_flags,
            extra=without_none({"channel": data["channel"], "inbound_number_id": data["inbound_number_id"]}),
            **common,
        )
    message_id = text_or_none(event["transaction_id"])
    if message_id is None and correlation_id and correlation_id.startswith(TRANSACTION_ID_PREFIX):
        message_id = correlation_id
        flags.append(FLAG_ID_FROM_CORRELATION)
    if status == CLICKED:
        return LinkClick(
            provider_message_id=message_id,
            recipient=number(phone_number, flags),
            url=data["url"] or data["short_link"],
            ip=data["ip"],
            user_agent=data["user_agent"],
            flags=tuple(flags) + time_flags,
            extra=_campaign_extra(data) | without_none({
                "tracking_id": event["tracking_id"], "link_type": data["type"], "short_link": data["short_link"],
                "short_link_id": data["short_link_id"], "short_link_name": data["short_link_name"],
                "device": data["device"], "browser": data["browser"], "os": data["os"],
            }),
            **common,
        )
    if message_id is None:
        raise SchemaViolation("webex-interact: an outbound status event without transaction_id")
    normalized = map_status(STATUS_MAP, status, NAME, flags)
    code = text_or_none(data["code"])
    description = text_or_none(data["description"])
    return StatusReport(
        provider_message_id=message_id,
        status=normalized,
        provider_status=data["status"],
        provider_code=code,
        # Interact documents no code table: a failure keeps whatever code/description it sends.
        error=ProviderError(code=code, description=description, permanent=None)
        if normalized == "failed" and (code or description)
        else None,
        recipient=number(phone_number, flags),
        correlation_id=correlation_id,
        segments=data["message_parts"],
        flags=tuple(flags) + time_flags,
        extra=_campaign_extra(data),
        **common,
    )


def mapping_tables() -> list[Table]:
    return [
        Table(
            f"`{STATUS_EVENT}` by `data.status`",
            ("data.status", "normalized"),
            ((f"`{INBOUND}`", "inbound message"),)
            + tuple((f"`{raw}`", f"`{normalized}`") for raw, normalized in STATUS_MAP.items())
            + ((f"`{CLICKED}`", "`io.smspipe.link.clicked.v1`, no state change"),
               ("anything else", "unknown-status policy: `submitted`, flagged `unknown_status`")),
        ),
        Table(
            "Consent events by CloudEvent `type`",
            ("type", "action"),
            tuple((f"`{event_type}`", f"`{action}`") for event_type, action in CONSENT_TYPES.items()),
        ),
    ]
