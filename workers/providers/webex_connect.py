"""Webex Connect: incoming SMS (``oa``/``da``/``tid``) and delivery receipts
(``deliveryInfoNotification``).

Incoming: per Webex Connect's documentation ``oa`` is the number the message was received on
(ours) and ``da`` the end user who sent it — the reverse of the usual SMPP reading.
Fixtures: the Webex Connect "SMS" outbound-webhooks page (shared/seeds).
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from common.envelope import Envelope
from common.errors import SchemaViolation, UnknownShape
from workers.normalize import count_segments, map_status, number, pick_time
from workers.providers.base import Identifier, Lenient, Text, load, load_json, rejected, text_or_none
from workers.records import InboundMessage, LinkClick, ProviderError, Record, RejectedRecord, StatusReport

NAME = "webex-connect"

CLICKED = "Clicked"
STATUS_MAP = {
    "Submitted": "submitted",
    "Delivered": "delivered",
    "Un-Delivered": "undelivered",
    "Failed": "failed",
}

# code -> (description, permanent, normalized status where the code is more precise than
# deliveryStatus). "permanent" is our judgement of whether resending the same message can work.
CODE_TABLE: dict[str, tuple[str, bool | None, str | None]] = {
    "7500": ("Returned when the delivery is completed successfully", None, None),
    "7501": ("Returned when message is submitted to the gateway", None, None),
    "7004": ("Returned when an invalid value or parameters are provided", True, None),
    "7006": ("Returned when an occur occurs in server", False, None),
    "7101": ("Returned when the sender ID is invalid", True, None),
    "7102": ("Returned when the address is invalid", True, None),
    "7107": ("Returned when the message length exceeded 1024 characters", True, None),
    "7109": ("Returned when the user is registered on Do Not Disturb list", True, None),
    "7201": ("Returned when the delivery failed at operator", False, None),
    "7202": ("Returned when the delivery failed at platform", False, None),
    "7203": ("Returned when the subscriber address is not known", True, None),
    "7204": ("Returned when the subscriber account has insufficient credits", False, None),
    "7205": ("Returned when there is an error in binary message", True, None),
    "7206": ("Returned when the subscribers SIM is full", False, None),
    "7207": ("Returned when the subscriber is out of coverage area", False, None),
    # The only code more precise than its deliveryStatus (Un-Delivered): the validity ran out.
    "7208": ("Returned when message is expired", False, "expired"),
    "7209": ("Returned when unable to deliver multi-part message", False, None),
    "7210": ("Returned when there is an error in billing configuration", False, None),
    "7211": ("Returned when an error occurs at operator", False, None),
}
SUCCESS_CODES = {"7500", "7501"}


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
    occurred_at, time_flags = pick_time([data["datetime"], data["ts"]], envelope.received_at)
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
        raw=raw,
    )


def parse_receipt(envelope: Envelope, raw: Any) -> StatusReport | LinkClick:
    data = load(NotificationSchema, raw)
    info = data["deliveryInfo"]
    flags: list[str] = []
    occurred_at, time_flags = pick_time([info["timeStamp"]], envelope.received_at)
    recipient = number(info["destination"], flags)
    delivery_status = info["deliveryStatus"]
    code = info["code"]
    dedupe_key = f"{NAME}:receipt:{data['transid']}:{delivery_status}:{code}:{info['timeStamp']}"
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
            **common,
        )
    status = map_status(STATUS_MAP, delivery_status, NAME, flags)
    known = CODE_TABLE.get(code or "")
    if known and known[2]:
        status = known[2]
    error = None
    if code not in SUCCESS_CODES and (code or info["Description"]) and status not in ("submitted", "delivered"):
        error = ProviderError(
            code=code,
            description=info["Description"] or (known[0] if known else None),
            permanent=known[1] if known else None,
        )
    return StatusReport(
        status=status,
        provider_status=delivery_status,
        error=error,
        callback_data=text_or_none(data["callbackData"]),
        correlation_id=text_or_none(data["correlationid"]),
        flags=tuple(flags) + time_flags,
        **common,
    )
