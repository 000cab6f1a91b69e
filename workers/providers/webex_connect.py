"""Webex Connect: incoming SMS (``oa``/``da``/``tid``) and delivery receipts
(``deliveryInfoNotification``).

Incoming: per Webex Connect's documentation ``oa`` is the number the message was received on
(ours) and ``da`` the end user who sent it — the reverse of the usual SMPP reading (and of the
older IMIconnect template, which we do not follow).
Fixtures: https://developers.webexconnect.io/reference/sms-1 (shared/seeds) and the IMIconnect
pages it grew from (https://docs.imiconnect.com/docs/delivery-and-read-receipt-notifications,
https://docs.imiconnect.com/docs/mo-events).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from marshmallow import fields

from common.envelope import Envelope
from common.errors import SchemaViolation, UnknownShape
from workers.normalize import count_segments, lookup_code, map_status, number, pick_time
from workers.providers.base import (
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
from workers.records import InboundMessage, LinkClick, ProviderError, Record, RejectedRecord, StatusReport

NAME = "webex-connect"

CLICKED = "Clicked"
STATUS_MAP = {
    "Submitted": "submitted",
    "Delivered": "delivered",
    "Un-Delivered": "undelivered",
    "Failed": "failed",
}
FAILURE_STATUSES = frozenset({"undelivered", "failed", "expired"})


class WebexConnectCode(NamedTuple):
    documented_status: str  # the "Status" column of the seed's table
    description: str
    permanent: bool | None  # our judgement: can resending the same message to the same number work?
    refines_to: str | None  # a normalized status more precise than deliveryStatus, if any


# The seed's "Error Codes" table, every row.
CODE_TABLE: dict[str, WebexConnectCode] = {
    "7500": WebexConnectCode("Delivered", "Returned when the delivery is completed successfully", None, None),
    "7501": WebexConnectCode("Submitted", "Returned when message is submitted to the gateway", None, None),
    "7004": WebexConnectCode("Un-Delivered", "Returned when an invalid value or parameters are provided", True, None),
    "7006": WebexConnectCode("Un-Delivered", "Returned when an occur occurs in server", False, None),
    "7101": WebexConnectCode("Un-Delivered", "Returned when the sender ID is invalid", True, None),
    "7102": WebexConnectCode("Un-Delivered", "Returned when the address is invalid", True, None),
    "7107": WebexConnectCode("Un-Delivered", "Returned when the message length exceeded 1024 characters", True, None),
    "7109": WebexConnectCode("Un-Delivered", "Returned when the user is registered on Do Not Disturb list", True, None),
    "7201": WebexConnectCode("Un-Delivered", "Returned when the delivery failed at operator", False, None),
    "7202": WebexConnectCode("Un-Delivered", "Returned when the delivery failed at platform", False, None),
    "7203": WebexConnectCode("Un-Delivered", "Returned when the subscriber address is not known", True, None),
    "7204": WebexConnectCode("Un-Delivered", "Returned when the subscriber account has insufficient credits", False, None),
    "7205": WebexConnectCode("Un-Delivered", "Returned when there is an error in binary message", True, None),
    "7206": WebexConnectCode("Un-Delivered", "Returned when the subscribers SIM is full", False, None),
    "7207": WebexConnectCode("Un-Delivered", "Returned when the subscriber is out of coverage area", False, None),
    # The only code more precise than its deliveryStatus (Un-Delivered): the validity ran out.
    "7208": WebexConnectCode("Un-Delivered", "Returned when message is expired", False, "expired"),
    "7209": WebexConnectCode("Un-Delivered", "Returned when unable to deliver multi-part message", False, None),
    "7210": WebexConnectCode("Un-Delivered", "Returned when there is an error in billing configuration", False, None),
    "7211": WebexConnectCode("Un-Delivered", "Returned when an error occurs at operator", False, None),
}
SUCCESS_CODES = frozenset({"7500", "7501"})

SHAPES = (
    Shape("Incoming SMS", "an object with `tid` and `oa` or `da`",
          "InboundMessage → `io.smspipe.message.received.v1` (`da` end user, `oa` our number)"),
    Shape("Delivery receipt", "`deliveryInfoNotification.deliveryInfo` with `deliveryStatus` other than `Clicked`",
          "StatusReport → `io.smspipe.message.status.v1`"),
    Shape("Click receipt", "`deliveryStatus` `Clicked`; `Description` is `URL|IP`, `additionalInfo` the user agent",
          "LinkClick → `io.smspipe.link.clicked.v1` (no state change)"),
)


class DeliveryInfoSchema(Lenient):
    timeStamp = fields.Raw(load_default=None, allow_none=True)
    Description = Text()
    code = Text()
    deliveryChannel = Text()
    additionalInfo = Text()
    destination = Text()
    destinationType = Text()
    deliveryStatus = Text(required=True, allow_none=False)


class NotificationSchema(Lenient):
    deliveryInfo = fields.Nested(DeliveryInfoSchema, required=True)
    subtid = Text()
    transid = Identifier(required=True)
    callbackData = Text()
    correlationid = Text()


class IncomingSchema(Lenient):
    userId = Text()
    channel = Text()
    oa = Text()
    da = Text()
    message = Text()
    tid = Identifier(required=True)
    datetime = fields.Raw(load_default=None, allow_none=True)
    ts = fields.Raw(load_default=None, allow_none=True)
    timeStamp = fields.Raw(load_default=None, allow_none=True)
    x_networkid = Text()


def parse(envelope: Envelope) -> list[Record | RejectedRecord]:
    payload = load_json(envelope)
    if isinstance(payload, dict) and "deliveryInfoNotification" in payload:
        parser, data = parse_receipt, payload["deliveryInfoNotification"]
    elif isinstance(payload, dict) and "tid" in payload and ("oa" in payload or "da" in payload):
        parser, data = parse_incoming, payload
    else:
        raise UnknownShape("webex-connect: neither an incoming message nor a delivery receipt")
    try:
        return [parser(envelope, data)]
    except SchemaViolation as error:
        return [rejected(0, error)]


def parse_incoming(envelope: Envelope, raw: Any) -> InboundMessage:
    data = load(IncomingSchema, raw)
    flags: list[str] = []
    # `timeStamp` appears only in the older IMIconnect samples.
    occurred_at, time_flags = pick_time([data["datetime"], data["ts"], data["timeStamp"]], envelope.received_at)
    return InboundMessage(
        provider=NAME,
        dedupe_key=f"{NAME}:incoming:{data['tid']}",
        provider_message_id=data["tid"],
        occurred_at=occurred_at,
        end_user=number(data["da"], flags),
        our_number=number(data["oa"], flags),
        text=data["message"],
        segments=count_segments(data["message"]),
        flags=tuple(flags) + time_flags,
        extra=without_none({"user_id": data["userId"], "channel": data["channel"], "network_id": data["x_networkid"]}),
        raw=raw,
    )


def parse_receipt(envelope: Envelope, raw: Any) -> StatusReport | LinkClick:
    data = load(NotificationSchema, raw)
    info = data["deliveryInfo"]
    flags: list[str] = []
    occurred_at, time_flags = pick_time([info["timeStamp"]], envelope.received_at)
    recipient = number(info["destination"], flags)
    delivery_status = info["deliveryStatus"]
    code = text_or_none(info["code"])
    dedupe_key = f"{NAME}:receipt:{data['transid']}:{delivery_status}:{code}:{info['timeStamp']}"
    extra = without_none({"subtid": data["subtid"], "delivery_channel": info["deliveryChannel"]})
    common = dict(
        provider=NAME,
        dedupe_key=dedupe_key,
        provider_message_id=data["transid"],
        occurred_at=occurred_at,
        recipient=recipient,
        raw=raw,
    )
    if delivery_status == CLICKED:
        url, _, ip = (info["Description"] or "").rpartition("|")
        if not url:  # no "|": the whole description is the URL
            url, ip = ip, ""
        return LinkClick(
            url=url or None,
            ip=ip or None,
            user_agent=text_or_none(info["additionalInfo"]),
            flags=tuple(flags) + time_flags,
            extra=extra | without_none({"code": code, "callback_data": data["callbackData"],
                                        "correlation_id": data["correlationid"]}),
            **common,
        )
    status = map_status(STATUS_MAP, delivery_status, NAME, flags)
    known = lookup_code(CODE_TABLE, code, NAME, flags)
    if known and known.refines_to and status in FAILURE_STATUSES:
        status = known.refines_to
    description = text_or_none(info["Description"])
    error = None
    if (status in FAILURE_STATUSES and (code or description)) or (known and code not in SUCCESS_CODES):
        error = ProviderError(
            code=code,
            description=description or (known.description if known else None),
            permanent=known.permanent if known else None,
        )
    return StatusReport(
        status=status,
        provider_status=delivery_status,
        provider_code=code,
        error=error,
        callback_data=text_or_none(data["callbackData"]),
        correlation_id=text_or_none(data["correlationid"]),
        flags=tuple(flags) + time_flags,
        extra=extra | without_none({"additional_info": info["additionalInfo"]}),
        **common,
    )


def mapping_tables() -> list[Table]:
    return [
        Table(
            "Receipt `deliveryStatus`",
            ("deliveryStatus", "normalized"),
            tuple((f"`{raw}`", f"`{normalized}`") for raw, normalized in STATUS_MAP.items())
            + ((f"`{CLICKED}`", "`io.smspipe.link.clicked.v1`, no state change"),
               ("anything else", "unknown-status policy: `submitted`, flagged `unknown_status`")),
        ),
        Table(
            "Receipt `code` (the seed's table; kept raw beside the status)",
            ("code", "documented status", "description", "permanent", "refines the status to"),
            tuple((code, row.documented_status, row.description,
                   "" if row.permanent is None else str(row.permanent).lower(), row.refines_to or "")
                  for code, row in CODE_TABLE.items())
            + (("other, or `<dynamic code>`", "", "kept raw, flagged `unknown_code`", "", "never"),),
        ),
    ]
