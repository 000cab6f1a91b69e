"""Webex Connect, one row per documented payload and per code of the seed's error-code table.

Rows marked "derived" change one documented payload in the way their label says; the others
are verbatim. Sources:
- seed:*.json — developers.webexconnect.io/reference/sms-1 (shared/seeds/002)
- imiconnect_receipt_submitted.json, imiconnect_receipt_delivered.json — the IMIconnect "Delivery
  and Read Notifications" page (Webex Connect's former name): no offset on timeStamp, no subtid
- imiconnect_receipt_expired_7208.json — same page; its deliveryInfo is verbatim, the envelope
  after the page's cut (correlationid, callbackData, transid) is the one of its sibling samples
- imiconnect_incoming_sms.json — the IMIconnect "Incoming Message Notifications" page: `datetime`
  without `T` or offset, and an extra `timeStamp`
"""

from __future__ import annotations

import pytest

from tests.providers.cases import Case, parse_case, replace_in

PROVIDER = "webex-connect"


def seed_receipt(transid: str, status: str, provider_status: str, code: str | None, error=None, *,
                 recipient: str = "9189xxxxxxxx", flags=("number_masked",)) -> dict:
    return {
        "record": "StatusReport",
        "provider": "webex-connect",
        "dedupe_key": f"webex-connect:receipt:{transid}:{provider_status}:{code}:2022-10-10T13:53:13.749+01:00",
        "provider_message_id": transid,
        "occurred_at": "2022-10-10T12:53:13.749000+00:00",
        "flags": list(flags),
        "extra": {"delivery_channel": "SMS"},
        "status": status,
        "provider_status": provider_status,
        "provider_code": code,
        "error": error,
        "recipient": recipient,
        "callback_data": None,
        "correlation_id": None,
        "segments": None,
        "price": None,
    }


SEED_CLICK = {
    "record": "LinkClick",
    "provider": "webex-connect",
    "dedupe_key": "webex-connect:receipt:4b72d8a2-290d-49e2-993e-3bd8edf31c81:Clicked:7528:2022-10-10T13:53:13.749+01:00",
    "provider_message_id": "4b72d8a2-290d-49e2-993e-3bd8edf31c81",
    "occurred_at": "2022-10-10T12:53:13.749000+00:00",
    "flags": ["number_masked"],
    "extra": {"delivery_channel": "sms", "code": "7528", "callback_data": "return callbackdata",
              "correlation_id": "3bd8edf31c81-4b72d8a2-290d-49e2-993e"},
    "recipient": "4475xxxxxxxx",
    "url": "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html",
    "ip": "192.0.2.1",
    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/60.0.3112.90 Safari/537.36",
}

SEED_INCOMING = {
    "record": "InboundMessage",
    "provider": "webex-connect",
    "dedupe_key": "webex-connect:incoming:105eddec-dd53-433d-9d6f-37f10ac76a06",
    "provider_message_id": "105eddec-dd53-433d-9d6f-37f10ac76a06",
    "occurred_at": "2024-01-07T14:36:09.266000+00:00",
    # `da` is the end user (the documentation's reading), masked in the seed.
    "flags": ["number_masked"],
    "extra": {"user_id": "9009", "channel": "SMS", "network_id": "10"},
    "end_user": "1XXXX661353",
    "our_number": "+441157070619",
    "text": "Incoming SMS Text",
    "keyword": None,
    "clean_text": None,
    "segments": 1,
    "price": None,
    "callback_data": None,
    "correlation_id": None,
    "provider_rules": [],
}

IMICONNECT_RECEIPT = {
    "record": "StatusReport",
    "provider": "webex-connect",
    "dedupe_key": "webex-connect:receipt:262895e4-2217-4eef-92ca-79fd0250c4a3:Submitted:7501:2016-07-20T17:13:17.908",
    "provider_message_id": "262895e4-2217-4eef-92ca-79fd0250c4a3",
    "occurred_at": "2016-07-20T17:13:17.908000+00:00",
    "flags": ["time_assumed_utc"],
    "extra": {"delivery_channel": "SMS"},
    "status": "submitted",
    "provider_status": "Submitted",
    "provider_code": "7501",
    "error": None,
    "recipient": "+918886661353",
    "callback_data": "return callbackdata",
    "correlation_id": "4eef-92ca-79fd0250c4a3-262895e4-2217",
    "segments": None,
    "price": None,
}

REAL_CASES = [
    Case("seed: submitted 7501", "seed:01_receipt_submitted_7501.json",
         [seed_receipt("7f3af32c-8d6a-4173-b1c8-4805135ada71", "submitted", "Submitted", "7501")]),
    Case("seed: failed 7101 invalid sender", "seed:02_receipt_failed_7101_invalid_sender.json",
         [seed_receipt("3bf586f4-3001-4272-8da2-a7161644cebc", "failed", "Failed", "7101",
                       {"code": "7101", "description": "Invalid Sender ID", "permanent": True})]),
    Case("seed: failed 7102 invalid address", "seed:03_receipt_failed_7102_invalid_address.json",
         [seed_receipt("dba07fc1-0d68-4ce7-ae9f-d7ec539ac832", "failed", "Failed", "7102",
                       {"code": "7102", "description": "Invalid address", "permanent": True})]),
    Case("seed: failed 7107 length exceeded", "seed:04_receipt_failed_7107_length_exceeded.json",
         [seed_receipt("4daf1851-eca4-4cad-a231-9be44a0f60ce", "failed", "Failed", "7107",
                       {"code": "7107", "description": "Message length exceeded", "permanent": True},
                       recipient="91891xxxxxxxx")]),
    Case("seed: Un-Delivered with the placeholder code: kept raw, flagged, status unchanged",
         "seed:05_receipt_undelivered_dynamic_code.json",
         [seed_receipt("f7541551-0d9d-4aea-b68d-1499168e24fb", "undelivered", "Un-Delivered", "<dynamic code>",
                       {"code": "<dynamic code>", "description": "<dynamic response>", "permanent": None},
                       flags=("number_masked", "unknown_code"))]),
    Case("seed: Clicked: URL|IP from Description, user agent from additionalInfo", "seed:06_receipt_clicked.json",
         [SEED_CLICK]),
    Case("seed: delivered 7500", "seed:07_receipt_delivered_7500.json",
         [seed_receipt("7f3af32c-8d6a-4173-b1c8-4805135ada71", "delivered", "Delivered", "7500")]),
    Case("seed: incoming SMS (oa ours, da the end user)", "seed:08_incoming.json", [SEED_INCOMING]),
    Case("IMIconnect: submitted, timeStamp without offset read as UTC", "imiconnect_receipt_submitted.json",
         [IMICONNECT_RECEIPT]),
    Case("IMIconnect: delivered", "imiconnect_receipt_delivered.json", [IMICONNECT_RECEIPT | {
        "dedupe_key": "webex-connect:receipt:262895e4-2217-4eef-92ca-79fd0250c4a3:Delivered:7500:2016-07-20T17:13:17.908",
        "status": "delivered", "provider_status": "Delivered", "provider_code": "7500"}]),
    Case("IMIconnect: Un-Delivered 7208 is expired; the number loses no digit", "imiconnect_receipt_expired_7208.json",
         [IMICONNECT_RECEIPT | {
             "dedupe_key": "webex-connect:receipt:262895e4-2217-4eef-92ca-79fd0250c4a3:Un-Delivered:7208:"
                           "2016-07-28T11:47:56.459",
             "occurred_at": "2016-07-28T11:47:56.459000+00:00",
             "flags": ["number_not_possible", "time_assumed_utc"],
             "status": "expired", "provider_status": "Un-Delivered", "provider_code": "7208",
             "error": {"code": "7208", "description": "Message expired", "permanent": False},
             "recipient": "910000000001"}]),
    Case("IMIconnect: incoming, datetime without T or offset", "imiconnect_incoming_sms.json", [SEED_INCOMING | {
        "occurred_at": "2015-04-12T13:00:19+00:00",
        "flags": ["time_assumed_utc"],
        "end_user": "+918886661353",
        "text": "Simple Text",
    }]),
]

# The seed's "Error Codes" table, written out here independently of the adapter's table:
# (code, description, deliveryStatus the table names, normalized expected, permanent expected).
DOCUMENTED_CODES = [
    ("7004", "Returned when an invalid value or parameters are provided", "undelivered", True),
    ("7006", "Returned when an occur occurs in server", "undelivered", False),
    ("7101", "Returned when the sender ID is invalid", "undelivered", True),
    ("7102", "Returned when the address is invalid", "undelivered", True),
    ("7107", "Returned when the message length exceeded 1024 characters", "undelivered", True),
    ("7109", "Returned when the user is registered on Do Not Disturb list", "undelivered", True),
    ("7201", "Returned when the delivery failed at operator", "undelivered", False),
    ("7202", "Returned when the delivery failed at platform", "undelivered", False),
    ("7203", "Returned when the subscriber address is not known", "undelivered", True),
    ("7204", "Returned when the subscriber account has insufficient credits", "undelivered", False),
    ("7205", "Returned when there is an error in binary message", "undelivered", True),
    ("7206", "Returned when the subscribers SIM is full", "undelivered", False),
    ("7207", "Returned when the subscriber is out of coverage area", "undelivered", False),
    ("7208", "Returned when message is expired", "expired", False),
    ("7209", "Returned when unable to deliver multi-part message", "undelivered", False),
    ("7210", "Returned when there is an error in billing configuration", "undelivered", False),
    ("7211", "Returned when an error occurs at operator", "undelivered", False),
]
UNDELIVERED_SEED = "seed:05_receipt_undelivered_dynamic_code.json"
DELIVERY_INFO = ("deliveryInfoNotification", "deliveryInfo")


def code_case(code: str, description: str, expected: str, permanent: bool) -> Case:
    return Case(
        f"derived: Un-Delivered receipt with code {code} and the table's description",
        UNDELIVERED_SEED,
        [seed_receipt("f7541551-0d9d-4aea-b68d-1499168e24fb", expected, "Un-Delivered", code,
                      {"code": code, "description": description, "permanent": permanent})],
        replace_in(DELIVERY_INFO, code=code, Description=description),
    )


CODE_CASES = [code_case(*row) for row in DOCUMENTED_CODES]

EDGE_CASES = [
    Case("derived: Failed with 7208: the code refines it to expired too", "seed:02_receipt_failed_7101_invalid_sender.json",
         [seed_receipt("3bf586f4-3001-4272-8da2-a7161644cebc", "expired", "Failed", "7208",
                       {"code": "7208", "description": "Invalid Sender ID", "permanent": False})],
         replace_in(DELIVERY_INFO, code="7208")),
    Case("derived: Delivered with 7208: a code never overrides a success", "seed:07_receipt_delivered_7500.json",
         [seed_receipt("7f3af32c-8d6a-4173-b1c8-4805135ada71", "delivered", "Delivered", "7208",
                       {"code": "7208", "description": "Delivered", "permanent": False})],
         replace_in(DELIVERY_INFO, code="7208")),
    Case("derived: Un-Delivered with no code and no description: no error to report", UNDELIVERED_SEED,
         [seed_receipt("f7541551-0d9d-4aea-b68d-1499168e24fb", "undelivered", "Un-Delivered", None)],
         replace_in(DELIVERY_INFO, code="", Description="")),
    Case("derived: an unknown deliveryStatus: non-final, raw kept, flagged", "seed:07_receipt_delivered_7500.json",
         [seed_receipt("7f3af32c-8d6a-4173-b1c8-4805135ada71", "submitted", "Read", "7500",
                       flags=("number_masked", "unknown_status"))],
         replace_in(DELIVERY_INFO, deliveryStatus="Read")),
    Case("derived: Clicked whose Description has no IP", "seed:06_receipt_clicked.json",
         [SEED_CLICK | {"ip": None, "url": "https://example.com/offer"}],
         replace_in(DELIVERY_INFO, Description="https://example.com/offer")),
    Case("derived: bad timeStamp: the ingest time, flagged, still a receipt", "seed:07_receipt_delivered_7500.json",
         [seed_receipt("7f3af32c-8d6a-4173-b1c8-4805135ada71", "delivered", "Delivered", "7500") | {
             "dedupe_key": "webex-connect:receipt:7f3af32c-8d6a-4173-b1c8-4805135ada71:Delivered:7500:10/10/2022",
             "occurred_at": "2026-01-02T03:04:05+00:00",
             "flags": ["number_masked", "time_from_ingest"]}],
         replace_in(DELIVERY_INFO, timeStamp="10/10/2022")),
    Case("derived: incoming with a bad datetime falls back to ts, epoch milliseconds", "seed:08_incoming.json",
         [SEED_INCOMING | {"occurred_at": "2015-04-12T13:00:19.456000+00:00",
                           "flags": ["number_masked", "time_fallback"]}],
         replace_in((), datetime="not a date", ts=1428843619456)),
    Case("derived: a receipt without deliveryStatus is rejected", "seed:07_receipt_delivered_7500.json",
         [{"record": "RejectedRecord", "index": 0, "error_type": "SchemaViolation",
           "reason": 'schema violation: {"deliveryInfo": {"deliveryStatus": ["Missing data for required field."]}}'}],
         replace_in(DELIVERY_INFO, deliveryStatus=None)),
]

CASES = REAL_CASES + CODE_CASES + EDGE_CASES


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_webex_connect_payload_is_normalized(case: Case):
    # when
    records = parse_case(PROVIDER, case)

    # then
    assert records == case.expected
