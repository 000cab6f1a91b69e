"""Infobip: inbound SMS (MO_JSON_2) and SMS delivery reports.

Both arrive as ``{"results": [...]}``; each result is told apart by its shape (an inbound
message has ``receivedAt``/``text``/``from``, a delivery report has ``status``/``doneAt``). Each
result is its own record, and one bad result does not sink its siblings.
Fixtures: https://www.infobip.com/docs/api/channels/sms/inbound-sms/receive-inbound-sms-messages,
https://www.infobip.com/docs/api/channels/sms/sms-messaging/logs-and-status-reports/receive-outbound-sms-message-report,
status ids: https://www.infobip.com/docs/essentials/api-essentials/response-status-and-error-codes
"""

from __future__ import annotations

from typing import Any, NamedTuple

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
from workers.records import InboundMessage, ProviderError, ProviderRule, Record, RejectedRecord, StatusReport

NAME = "infobip"

FLAG_STATUS_FROM_GROUP = "status_from_group"
FLAG_MESSAGE_COUNT_MISMATCH = "message_count_mismatch"


class InfobipStatus(NamedTuple):
    group: str
    name: str
    normalized: str


STATUS_GROUPS = {1: "PENDING", 2: "UNDELIVERABLE", 3: "DELIVERED", 4: "EXPIRED", 5: "REJECTED"}

# Every documented general status id (Infobip "Response status and error codes").
STATUS_TABLE: dict[int, InfobipStatus] = {
    3: InfobipStatus("PENDING", "PENDING_WAITING_DELIVERY", "submitted"),
    7: InfobipStatus("PENDING", "PENDING_ENROUTE", "submitted"),
    26: InfobipStatus("PENDING", "PENDING_ACCEPTED", "submitted"),
    4: InfobipStatus("UNDELIVERABLE", "UNDELIVERABLE_REJECTED_OPERATOR", "undelivered"),
    9: InfobipStatus("UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED", "undelivered"),
    # Judgement: the operator accepting a message is not the handset receiving it (Infobip calls
    # it intermediate: "a further DLR may follow"), so DELIVERED_TO_OPERATOR is `sent`.
    2: InfobipStatus("DELIVERED", "DELIVERED_TO_OPERATOR", "sent"),
    5: InfobipStatus("DELIVERED", "DELIVERED_TO_HANDSET", "delivered"),
    15: InfobipStatus("EXPIRED", "EXPIRED_EXPIRED", "expired"),
    29: InfobipStatus("EXPIRED", "EXPIRED_DLR_UNKNOWN", "expired"),
    6: InfobipStatus("REJECTED", "REJECTED_NETWORK", "rejected"),
    8: InfobipStatus("REJECTED", "REJECTED_PREFIX_MISSING", "rejected"),
    10: InfobipStatus("REJECTED", "REJECTED_DND", "rejected"),
    11: InfobipStatus("REJECTED", "REJECTED_SOURCE", "rejected"),
    12: InfobipStatus("REJECTED", "REJECTED_NOT_ENOUGH_CREDITS", "rejected"),
    13: InfobipStatus("REJECTED", "REJECTED_SENDER", "rejected"),
    14: InfobipStatus("REJECTED", "REJECTED_DESTINATION", "rejected"),
    17: InfobipStatus("REJECTED", "REJECTED_PREPAID_PACKAGE_EXPIRED", "rejected"),
    18: InfobipStatus("REJECTED", "REJECTED_DESTINATION_NOT_REGISTERED", "rejected"),
    19: InfobipStatus("REJECTED", "REJECTED_ROUTE_NOT_AVAILABLE", "rejected"),
    20: InfobipStatus("REJECTED", "REJECTED_FLOODING_FILTER", "rejected"),
    21: InfobipStatus("REJECTED", "REJECTED_SYSTEM_ERROR", "rejected"),
    23: InfobipStatus("REJECTED", "REJECTED_DUPLICATE_MESSAGE_ID", "rejected"),
    24: InfobipStatus("REJECTED", "REJECTED_INVALID_UDH", "rejected"),
    25: InfobipStatus("REJECTED", "REJECTED_MESSAGE_TOO_LONG", "rejected"),
    51: InfobipStatus("REJECTED", "MISSING_TO", "rejected"),
    52: InfobipStatus("REJECTED", "REJECTED_INVALID_DESTINATION", "rejected"),
}
STATUS_BY_NAME = {status.name: status for status in STATUS_TABLE.values()}

# A status id or name not in the table still names its group, whose meaning Infobip documents;
# DELIVERED is left out on purpose: its members differ (operator vs handset), so an unknown
# DELIVERED_* goes through the shared unknown-status policy instead of guessing `delivered`.
STATUS_GROUP_FALLBACK = {
    "PENDING": "submitted",
    "UNDELIVERABLE": "undelivered",
    "EXPIRED": "expired",
    "REJECTED": "rejected",
}

# error.groupId; error id 0 (NO_ERROR, group OK) is no error at all.
ERROR_GROUPS = {0: "OK", 1: "HANDSET_ERRORS", 2: "USER_ERRORS", 3: "OPERATOR_ERRORS"}
NO_ERROR_IDS = frozenset({0})

SHAPES = (
    Shape("Inbound SMS (MO_JSON_2)", "`results[]` item with `receivedAt`, `text` or `from` (no `status`)",
          "InboundMessage → `io.smspipe.message.received.v1`"),
    Shape("SMS delivery report", "`results[]` item with `status` or `doneAt`",
          "StatusReport → `io.smspipe.message.status.v1`"),
    Shape("Batch of either", "`results[]` of any length; `messageCount` is checked against it",
          "one record per result; a bad result is dead-lettered alone"),
)


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
    smsCount = Count()
    price = fields.Nested(PriceSchema, load_default=None, allow_none=True)
    callbackData = Text()
    # `from` is a Python keyword.
    sender = Text(data_key="from")


class StatusSchema(Lenient):
    groupId = fields.Integer(load_default=None, allow_none=True, strict=True)
    groupName = Text()
    id = fields.Integer(load_default=None, allow_none=True, strict=True)
    name = Text()
    description = Text()


class ErrorSchema(Lenient):
    groupId = fields.Integer(load_default=None, allow_none=True, strict=True)
    groupName = Text()
    id = fields.Integer(load_default=None, allow_none=True, strict=True)
    name = Text()
    description = Text()
    permanent = fields.Boolean(load_default=None, allow_none=True)


class DeliveryReportSchema(Lenient):
    bulkId = Text()
    messageId = Identifier(required=True)
    to = Text()
    sentAt = fields.Raw(load_default=None, allow_none=True)
    doneAt = fields.Raw(load_default=None, allow_none=True)
    smsCount = Count()
    messageCount = Count()  # other channels' reports (WhatsApp, Zalo...) say messageCount
    mccMnc = Text()
    callbackData = Text()
    entityId = Text()
    applicationId = Text()
    price = fields.Nested(PriceSchema, load_default=None, allow_none=True)
    status = fields.Nested(StatusSchema, required=True)
    error = fields.Nested(ErrorSchema, load_default=None, allow_none=True)


class BatchSchema(Lenient):
    messageCount = Count()
    pendingMessageCount = Count()


def parse(envelope: Envelope) -> list[Record | RejectedRecord]:
    payload = load_json(envelope)
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        raise UnknownShape("infobip: expected an object with a results array")
    batch = BatchSchema().load({key: payload.get(key) for key in ("messageCount", "pendingMessageCount")})
    batch_flags: tuple[str, ...] = ()
    if batch["messageCount"] is not None and batch["messageCount"] != len(payload["results"]):
        batch_flags = (FLAG_MESSAGE_COUNT_MISMATCH,)
    batch_extra = without_none(
        {"message_count": batch["messageCount"], "pending_message_count": batch["pendingMessageCount"]}
    )
    records: list[Record | RejectedRecord] = []
    for index, result in enumerate(payload["results"]):
        try:
            records.append(_parse_result(envelope, result, batch_extra, batch_flags))
        except SchemaViolation as error:
            records.append(rejected(index, error))
    return records


def _parse_result(envelope: Envelope, result: Any, batch_extra: dict[str, Any],
                  batch_flags: tuple[str, ...]) -> Record:
    if not isinstance(result, dict):
        raise SchemaViolation("infobip: a result is not an object")
    if "status" in result or "doneAt" in result:
        return parse_delivery_report(envelope, load(DeliveryReportSchema, result), result)
    if "receivedAt" in result or "text" in result or "from" in result:
        return parse_inbound(envelope, load(InboundSchema, result), result, batch_extra, batch_flags)
    raise SchemaViolation("infobip: a result is neither an inbound message nor a delivery report")


def parse_inbound(envelope: Envelope, data: dict[str, Any], raw: dict[str, Any],
                  batch_extra: dict[str, Any] | None = None, batch_flags: tuple[str, ...] = ()) -> InboundMessage:
    flags: list[str] = []
    occurred_at, time_flags = pick_time([data["receivedAt"]], envelope.received_at)
    keyword = text_or_none(data["keyword"])
    return InboundMessage(
        provider=NAME,
        dedupe_key=f"{NAME}:inbound:{data['messageId']}",
        provider_message_id=data["messageId"],
        occurred_at=occurred_at,
        end_user=number(data["sender"], flags),
        our_number=number(data["to"], flags),
        text=data["text"],
        keyword=keyword,
        clean_text=data["cleanText"],
        segments=data["smsCount"] if data["smsCount"] is not None else count_segments(data["text"]),
        price=data["price"],
        callback_data=text_or_none(data["callbackData"]),
        provider_rules=(ProviderRule(rule=None, keyword=keyword),) if keyword else (),
        flags=tuple(flags) + time_flags + batch_flags,
        extra=dict(batch_extra or {}),
        raw=raw,
    )


def normalize_status(status: dict[str, Any], flags: list[str]) -> str:
    """By status id, else by name, else by documented group; else the shared unknown policy."""
    known = STATUS_TABLE.get(status["id"]) if status["id"] is not None else None
    known = known or STATUS_BY_NAME.get((status["name"] or "").strip())
    if known:
        return known.normalized
    group = (status["groupName"] or STATUS_GROUPS.get(status["groupId"] or -1) or "").strip().upper()
    if group in STATUS_GROUP_FALLBACK:
        flags.append(FLAG_STATUS_FROM_GROUP)
    return map_status(STATUS_GROUP_FALLBACK, group, NAME, flags)


def parse_delivery_report(envelope: Envelope, data: dict[str, Any], raw: dict[str, Any]) -> StatusReport:
    flags: list[str] = []
    status = data["status"]
    normalized = normalize_status(status, flags)
    occurred_at, time_flags = pick_time([data["doneAt"], data["sentAt"]], envelope.received_at)
    error = data["error"]
    has_error = bool(error) and error["id"] not in NO_ERROR_IDS
    segments = data["smsCount"] if data["smsCount"] is not None else data["messageCount"]
    return StatusReport(
        provider=NAME,
        # doneAt as sent (not parsed), so two reports differing only in offset spelling stay apart.
        dedupe_key=f"{NAME}:report:{data['messageId']}:{status['id']}:{data['doneAt']}",
        provider_message_id=data["messageId"],
        occurred_at=occurred_at,
        status=normalized,
        provider_status=status["name"] or status["groupName"],
        provider_code=None if status["id"] is None else str(status["id"]),
        error=ProviderError(
            code=None if error["id"] is None else str(error["id"]),
            description=error["description"] or error["name"],
            permanent=error["permanent"],
        ) if has_error else None,
        recipient=number(data["to"], flags),
        callback_data=text_or_none(data["callbackData"]),
        segments=segments,
        price=data["price"],
        flags=tuple(flags) + time_flags,
        extra=without_none(
            {
                "bulk_id": data["bulkId"],
                "sent_at": data["sentAt"],
                "mcc_mnc": data["mccMnc"],
                "status_group": status["groupName"],
                "status_description": status["description"],
                "error_name": error["name"] if has_error else None,
                "error_group": error["groupName"] if has_error else None,
                "entity_id": data["entityId"],
                "application_id": data["applicationId"],
            }
        ),
        raw=raw,
    )


def mapping_tables() -> list[Table]:
    return [
        Table(
            "Delivery report status (`status.id` / `status.name`)",
            ("id", "group", "name", "normalized"),
            tuple((status_id, s.group, f"`{s.name}`", f"`{s.normalized}`")
                  for status_id, s in STATUS_TABLE.items()),
        ),
        Table(
            "Status not in the table above: by its group (`status.groupName`, else `groupId`)",
            ("group", "normalized"),
            tuple((group, f"`{normalized}` (flagged `{FLAG_STATUS_FROM_GROUP}`)")
                  for group, normalized in STATUS_GROUP_FALLBACK.items())
            + (("DELIVERED or unknown", "unknown-status policy: `submitted`, flagged `unknown_status`"),),
        ),
        Table(
            "Error groups (`error.groupId`); error id 0 `NO_ERROR` is no error",
            ("groupId", "groupName"),
            tuple(ERROR_GROUPS.items()),
        ),
    ]
