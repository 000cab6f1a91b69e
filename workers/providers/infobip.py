"""Infobip: inbound SMS (MO_JSON_2) and SMS delivery reports.

Both arrive as ``{"results": [...]}``; each result is told apart by its shape (an inbound
message has ``receivedAt``/``text``, a delivery report has ``status``/``doneAt``). Each result
is its own record, and one bad result does not sink its siblings.
Fixtures: https://www.infobip.com/docs/api/channels/sms/sms-messaging/inbound-sms/receive-inbound-sms-messages
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from common.envelope import Envelope
from common.errors import SchemaViolation, UnknownShape
from workers.normalize import map_status, number, pick_time
from workers.providers.base import Identifier, Lenient, Text, load, load_json, rejected, text_or_none
from workers.records import InboundMessage, ProviderError, ProviderRule, Record, RejectedRecord, StatusReport

NAME = "infobip"

# Status groups (status.groupName). DELIVERED is refined by status name below.
STATUS_GROUP_MAP = {
    "PENDING": "submitted",  # every PENDING id (26 PENDING_ACCEPTED, 7 PENDING_ENROUTE, ...)
    "UNDELIVERABLE": "undelivered",
    "EXPIRED": "expired",
    "REJECTED": "rejected",
}
# Within group DELIVERED. Judgement: the operator accepting a message is not the handset
# receiving it, so DELIVERED_TO_OPERATOR is `sent`, not `delivered`.
DELIVERED_STATUS_MAP = {
    "DELIVERED_TO_OPERATOR": "sent",
    "DELIVERED_TO_HANDSET": "delivered",
}
# groupId, for reports that carry no groupName.
STATUS_GROUP_IDS = {1: "PENDING", 2: "UNDELIVERABLE", 3: "DELIVERED", 4: "EXPIRED", 5: "REJECTED"}
NO_ERROR_IDS = {0}


class PriceSchema(Lenient):
    pricePerMessage = fields.Raw(load_default=None, allow_none=True)
    currency = Text()


class InboundSchema(Lenient):
    messageId = Identifier(required=True)
    to = Text()
    text = Text()
    cleanText = Text()
    keyword = Text()
    receivedAt = fields.Raw(load_default=None, allow_none=True)
    smsCount = fields.Integer(load_default=None, allow_none=True, strict=True)
    price = fields.Nested(PriceSchema, load_default=None, allow_none=True)
    callbackData = Text()
    # `from` is a Python keyword.
    sender = Text(data_key="from")


class StatusSchema(Lenient):
    groupId = fields.Integer(load_default=None, allow_none=True)
    groupName = Text()
    id = fields.Integer(load_default=None, allow_none=True)
    name = Text()
    description = Text()


class ErrorSchema(Lenient):
    groupId = fields.Integer(load_default=None, allow_none=True)
    groupName = Text()
    id = fields.Integer(load_default=None, allow_none=True)
    name = Text()
    description = Text()
    permanent = fields.Boolean(load_default=None, allow_none=True)


class DeliveryReportSchema(Lenient):
    bulkId = Text()
    messageId = Identifier(required=True)
    to = Text()
    sentAt = fields.Raw(load_default=None, allow_none=True)
    doneAt = fields.Raw(load_default=None, allow_none=True)
    smsCount = fields.Integer(load_default=None, allow_none=True)
    mccMnc = Text()
    callbackData = Text()
    price = fields.Nested(PriceSchema, load_default=None, allow_none=True)
    status = fields.Nested(StatusSchema, required=True)
    error = fields.Nested(ErrorSchema, load_default=None, allow_none=True)


def parse(envelope: Envelope) -> list[Record | RejectedRecord]:
    payload = load_json(envelope)
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        raise UnknownShape("infobip: expected an object with a results array")
    records: list[Record | RejectedRecord] = []
    for index, result in enumerate(payload["results"]):
        try:
            records.append(_parse_result(envelope, result))
        except SchemaViolation as error:
            records.append(rejected(index, error))
    return records


def _parse_result(envelope: Envelope, result: Any) -> Record:
    if not isinstance(result, dict):
        raise SchemaViolation("infobip: a result is not an object")
    if "status" in result or "doneAt" in result:
        return parse_delivery_report(envelope, load(DeliveryReportSchema, result), result)
    if "receivedAt" in result or "text" in result or "from" in result:
        return parse_inbound(envelope, load(InboundSchema, result), result)
    raise SchemaViolation("infobip: a result is neither an inbound message nor a delivery report")


def parse_inbound(envelope: Envelope, data: dict[str, Any], raw: dict[str, Any]) -> InboundMessage:
    flags: list[str] = []
    occurred_at, time_flags = pick_time([data["receivedAt"]], envelope.received_at)
    keyword = text_or_none(data["keyword"])
    price = data["price"]
    return InboundMessage(
        provider=NAME,
        dedupe_key=f"{NAME}:inbound:{data['messageId']}",
        provider_message_id=data["messageId"],
        occurred_at=occurred_at,
        end_user=number(data["sender"], flags),
        our_number=number(data["to"], flags),
        text=data["text"],
        keyword=keyword,
        segments=data["smsCount"],
        price=price,
        callback_data=text_or_none(data["callbackData"]),
        provider_rules=(ProviderRule(rule=None, keyword=keyword),) if keyword else (),
        flags=tuple(flags) + time_flags,
        raw=raw,
    )


def parse_delivery_report(envelope: Envelope, data: dict[str, Any], raw: dict[str, Any]) -> StatusReport:
    flags: list[str] = []
    status = data["status"]
    group = status["groupName"] or STATUS_GROUP_IDS.get(status["groupId"] or -1)
    if group == "DELIVERED":
        normalized = map_status(DELIVERED_STATUS_MAP, status["name"], NAME, flags)
    else:
        normalized = map_status(STATUS_GROUP_MAP, group, NAME, flags)
    occurred_at, time_flags = pick_time([data["doneAt"], data["sentAt"]], envelope.received_at)
    error = data["error"]
    return StatusReport(
        provider=NAME,
        # doneAt as sent (not parsed), so two reports differing only in offset spelling stay apart.
        dedupe_key=f"{NAME}:report:{data['messageId']}:{status['id']}:{data['doneAt']}",
        provider_message_id=data["messageId"],
        occurred_at=occurred_at,
        status=normalized,
        provider_status=status["name"] or group,
        error=None
        if not error or error["id"] in NO_ERROR_IDS
        else ProviderError(
            code=None if error["id"] is None else str(error["id"]),
            description=error["description"] or error["name"],
            permanent=error["permanent"],
        ),
        recipient=number(data["to"], flags),
        callback_data=text_or_none(data["callbackData"]),
        flags=tuple(flags) + time_flags,
        raw=raw,
    )
