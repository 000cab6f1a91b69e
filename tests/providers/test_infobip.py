"""Infobip, one row per documented payload and per documented status id.

Rows marked "derived" change one documented payload in the way their label says (a status object
from Infobip's status table, an error object, a broken field); every other row is a payload
from Infobip's documentation, verbatim. Sources:
- seed:inbound_mo_json_2.json — Receive inbound SMS messages (MO_JSON_2)
- report_webhook_two_results.json — Receive outbound SMS message report; the page cuts the second
  result after `"name": "DELIVERED_`, so it is completed exactly like the first (as Infobip's
  own Zalo sample of the same report shows)
- report_pull_get_reports.json — Get delivery reports (dev-old.infobip.com/send-sms/get-delivery-reports)
- report_whatsapp_channel.json, report_zalo_channel_two_results.json, report_apple_mfb_channel.json —
  the same report envelope for other channels ("use one URL for all report types")
- report_minimal_third_party.json — Infobip's report as documented by docs.tracklysms.com
- inbound_push_forward.json — Infobip's forwarded MO for Push (same MO_JSON envelope)
- inbound_logs_three_results.json — Received messages logs (dev-old.infobip.com): a batch of
  three, no messageCount, no price
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers.cases import Case, parse_case, replace_in

PROVIDER = "infobip"

SEED_INBOUND = {
    "record": "InboundMessage",
    "provider": "infobip",
    "dedupe_key": "infobip:inbound:817790313235066447",
    "provider_message_id": "817790313235066447",
    "occurred_at": "2016-10-06T09:28:39.220000+00:00",
    "flags": [],
    "extra": {"message_count": 1, "pending_message_count": 0},
    "end_user": "+385916242493",
    "our_number": "+385921004026",
    "text": "QUIZ Correct answer is Paris",
    "keyword": "QUIZ",
    "clean_text": "Correct answer is Paris",
    "segments": 1,
    "price": {"pricePerMessage": 0, "currency": "EUR"},
    "callback_data": "callbackData",
    "correlation_id": None,
    "provider_rules": [{"rule": None, "keyword": "QUIZ", "action": None, "lists": []}],
}

PULL_REPORT = {
    "record": "StatusReport",
    "provider": "infobip",
    "dedupe_key": "infobip:report:ff4804ef-6ab6-4abd-984d-ab3b1387e852:5:2015-02-12T09:58:20.337+0100",
    "provider_message_id": "ff4804ef-6ab6-4abd-984d-ab3b1387e852",
    "occurred_at": "2015-02-12T08:58:20.337000+00:00",
    "flags": [],
    "extra": {
        "bulk_id": "8c20f086-d82b-48cc-b2b3-3ca5f7aca9fb",
        "sent_at": "2015-02-12T09:58:20.323+0100",
        "mcc_mnc": "21901",
        "status_group": "DELIVERED",
        "status_description": "Message delivered to handset",
    },
    "status": "delivered",
    "provider_status": "DELIVERED_TO_HANDSET",
    "provider_code": "5",
    "error": None,
    "recipient": "+385981178",
    "callback_data": "DLR callback data",
    "correlation_id": None,
    "segments": 1,
    "price": {"pricePerMessage": 0.01, "currency": "EUR"},
}


def webhook_report(message_id: str, to: str, hour: int, **overrides: Any) -> dict[str, Any]:
    done_at = f"2019-11-09T{hour}:00:00.000+0000"
    return {
        "record": "StatusReport",
        "provider": "infobip",
        "dedupe_key": f"infobip:report:{message_id}:5:{done_at}",
        "provider_message_id": message_id,
        "occurred_at": f"2019-11-09T{hour}:00:00+00:00",
        "flags": [],
        "extra": {
            "bulk_id": "BULK-ID-123-xyz",
            "sent_at": done_at,
            "status_group": "DELIVERED",
            "status_description": "Message delivered to handset",
            "entity_id": "promotional-traffic-entity",
            "application_id": "marketing-automation-application",
        },
        "status": "delivered",
        "provider_status": "DELIVERED_TO_HANDSET",
        "provider_code": "5",
        "error": None,
        "recipient": to,
        "callback_data": None,
        "correlation_id": None,
        "segments": 1,
        "price": {"pricePerMessage": 0.01, "currency": "EUR"},
    } | overrides


REAL_CASES = [
    Case("seed: inbound MO_JSON_2 with keyword, cleanText, price", "seed:inbound_mo_json_2.json", [SEED_INBOUND]),
    Case("report webhook: a batch of two reports", "report_webhook_two_results.json", [
        webhook_report("MESSAGE-ID-123-xyz", "+41793026727", 16, callback_data="callbackData"),
        webhook_report("12db39c3-7822-4e72-a3ec-c87442c0ffc5", "+41793026834", 17),
    ]),
    Case("pulled report: +0100 offset, mccMnc, callbackData", "report_pull_get_reports.json", [PULL_REPORT]),
    Case("WhatsApp report on the same URL: -0300 offsets, empty bulkId, messageCount",
         "report_whatsapp_channel.json", [{
             **PULL_REPORT,
             "dedupe_key": "infobip:report:fb469d73-d362-463f-b30f-1e959b53badc:5:2019-04-09T16:01:56.494-0300",
             "provider_message_id": "fb469d73-d362-463f-b30f-1e959b53badc",
             "occurred_at": "2019-04-09T19:01:56.494000+00:00",
             "extra": {"sent_at": "2019-04-09T16:00:58.647-0300", "status_group": "DELIVERED",
                       "status_description": "Message delivered to handset"},
             "recipient": "+41793026731",
             "callback_data": None,
             "price": {"pricePerMessage": 0.21, "currency": "BRL"},
         }]),
    Case("Zalo report on the same URL: two results, messageCount, channel", "report_zalo_channel_two_results.json", [
        webhook_report("45db39c3-7822-4e72-a3ec-c87442c0ffz9", "+41793026727", 16,
                       extra={"bulk_id": "BULK-ID-123-xyz", "sent_at": "2019-11-09T16:00:00.000+0000",
                              "status_group": "DELIVERED", "status_description": "Message delivered to handset",
                              "entity_id": "my-entity-id", "application_id": "my-application-id"}),
        webhook_report("12db39c3-7822-4e72-a3ec-c87442c0ffc5", "+41793026834", 17,
                       extra={"bulk_id": "BULK-ID-123-xyz", "sent_at": "2019-11-09T17:00:00.000+0000",
                              "status_group": "DELIVERED", "status_description": "Message delivered to handset",
                              "entity_id": "my-entity-id", "application_id": "my-application-id"}),
    ]),
    Case("Apple MfB report: the recipient is an opaque id, kept and flagged", "report_apple_mfb_channel.json", [{
        **PULL_REPORT,
        "dedupe_key": "infobip:report:1688025180464000014:5:2023-09-26T10:52:15.799+0000",
        "provider_message_id": "1688025180464000014",
        "occurred_at": "2023-09-26T10:52:15.799000+00:00",
        "flags": ["number_alphanumeric"],
        "extra": {"bulk_id": "1688025180464000013", "sent_at": "2023-09-26T10:52:15.457+0000",
                  "mcc_mnc": "22801", "status_group": "DELIVERED",
                  "status_description": "Message delivered to handset"},
        "recipient": "a42fa0e0-1d5f-44f6-a321-0e40300f7712",
        "callback_data": None,
        "price": {"pricePerMessage": 0.15, "currency": "EUR"},
    }]),
    Case("minimal report: no description, error, bulkId, price or count", "report_minimal_third_party.json", [{
        **PULL_REPORT,
        "dedupe_key": "infobip:report:msg_abc123def456:5:2024-01-15T10:30:00.000+0000",
        "provider_message_id": "msg_abc123def456",
        "occurred_at": "2024-01-15T10:30:00+00:00",
        "extra": {"status_group": "DELIVERED"},
        "recipient": "+14155551234",
        "callback_data": None,
        "segments": None,
        "price": None,
    }]),
    Case("MO logs: a batch of three without messageCount or price", "inbound_logs_three_results.json", [
        SEED_INBOUND | {
            "dedupe_key": f"infobip:inbound:{message_id}",
            "provider_message_id": message_id,
            "occurred_at": occurred_at,
            "extra": {},
            "end_user": "+385998779111",
            "our_number": "+41793026727",
            "text": text,
            "keyword": text.split()[0],
            "clean_text": text.split(" ", 1)[1],
            "price": None,
            "callback_data": None,
            "provider_rules": [{"rule": None, "keyword": text.split()[0], "action": None, "lists": []}],
        }
        for message_id, occurred_at, text in [
            ("5908971644001839114", "2015-03-01T12:54:44.560000+00:00", "HEY hello world"),
            ("5904932597450690569", "2015-03-01T12:54:42.231000+00:00", "HEY how are you"),
            ("5904217701796992008", "2015-03-01T12:54:40.111000+00:00", "KEY hello world"),
        ]
    ]),
    Case("forwarded MO with opaque sender and receiver ids; no smsCount, so counted",
         "inbound_push_forward.json", [{
             **SEED_INBOUND,
             "dedupe_key": "infobip:inbound:1561984815238926404",
             "provider_message_id": "1561984815238926404",
             "occurred_at": "2017-01-05T12:47:56.221000+00:00",
             "flags": ["number_alphanumeric"],
             "end_user": "69827EDB-A806-4AF6-A7F6-98298EAA4F14",
             "our_number": "233623e3c860b49ec69a464834343481-8bj4el4a-256d-23fd-56ad-b5bc3d568b53",
             "text": "KEYWORD text",
             "keyword": "KEYWORD",
             "clean_text": "text",
             "price": None,
             "provider_rules": [{"rule": None, "keyword": "KEYWORD", "action": None, "lists": []}],
         }]),
]

# Infobip's general status table, written out here independently of the adapter's table:
# (id, groupId, group, name, description as Infobip sends it, normalized status expected).
DOCUMENTED_STATUSES = [
    (3, 1, "PENDING", "PENDING_WAITING_DELIVERY", "Message sent, waiting for delivery report", "submitted"),
    (7, 1, "PENDING", "PENDING_ENROUTE", "Message sent to next instance", "submitted"),
    (26, 1, "PENDING", "PENDING_ACCEPTED", "Message accepted, pending for delivery", "submitted"),
    (4, 2, "UNDELIVERABLE", "UNDELIVERABLE_REJECTED_OPERATOR", "Message rejected by operator", "undelivered"),
    (9, 2, "UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED", "Message sent not delivered", "undelivered"),
    (2, 3, "DELIVERED", "DELIVERED_TO_OPERATOR", "Message delivered to operator", "sent"),
    (5, 3, "DELIVERED", "DELIVERED_TO_HANDSET", "Message delivered to handset", "delivered"),
    (15, 4, "EXPIRED", "EXPIRED_EXPIRED", "Message expired", "expired"),
    (29, 4, "EXPIRED", "EXPIRED_DLR_UNKNOWN", "Expired, DLR unknown", "expired"),
    (6, 5, "REJECTED", "REJECTED_NETWORK", "Network is forbidden", "rejected"),
    (8, 5, "REJECTED", "REJECTED_PREFIX_MISSING", "Number prefix missing", "rejected"),
    (10, 5, "REJECTED", "REJECTED_DND", "Destination on DND list", "rejected"),
    (11, 5, "REJECTED", "REJECTED_SOURCE", "Invalid Source address", "rejected"),
    (12, 5, "REJECTED", "REJECTED_NOT_ENOUGH_CREDITS", "Not enough credits", "rejected"),
    (13, 5, "REJECTED", "REJECTED_SENDER", "By Sender", "rejected"),
    (14, 5, "REJECTED", "REJECTED_DESTINATION", "By Destination", "rejected"),
    (17, 5, "REJECTED", "REJECTED_PREPAID_PACKAGE_EXPIRED", "Prepaid package expired", "rejected"),
    (18, 5, "REJECTED", "REJECTED_DESTINATION_NOT_REGISTERED", "Destination not registered", "rejected"),
    (19, 5, "REJECTED", "REJECTED_ROUTE_NOT_AVAILABLE", "Route not available", "rejected"),
    (20, 5, "REJECTED", "REJECTED_FLOODING_FILTER", "Rejected flooding", "rejected"),
    (21, 5, "REJECTED", "REJECTED_SYSTEM_ERROR", "System error", "rejected"),
    (23, 5, "REJECTED", "REJECTED_DUPLICATE_MESSAGE_ID", "Rejected duplicate message ID", "rejected"),
    (24, 5, "REJECTED", "REJECTED_INVALID_UDH", "Rejected invalid UDH", "rejected"),
    (25, 5, "REJECTED", "REJECTED_MESSAGE_TOO_LONG", "Rejected message too long", "rejected"),
    (51, 5, "REJECTED", "MISSING_TO", "Missing to", "rejected"),
    (52, 5, "REJECTED", "REJECTED_INVALID_DESTINATION", "Invalid destination", "rejected"),
]

REPORT = ("results", 0)


def with_status(status_id: int | None, group_id: int | None, group: str | None, name: str | None,
                description: str | None):
    status = {key: value for key, value in (("groupId", group_id), ("groupName", group), ("id", status_id),
                                             ("name", name), ("description", description)) if value is not None}
    return replace_in(REPORT, status=status)


def status_case(status_id: int, group_id: int, group: str, name: str, description: str, expected: str) -> Case:
    return Case(
        f"derived: pulled report with status {status_id} {name}",
        "report_pull_get_reports.json",
        [PULL_REPORT | {
            "dedupe_key": f"infobip:report:ff4804ef-6ab6-4abd-984d-ab3b1387e852:{status_id}:2015-02-12T09:58:20.337+0100",
            "status": expected,
            "provider_status": name,
            "provider_code": str(status_id),
            "extra": PULL_REPORT["extra"] | {"status_group": group, "status_description": description},
        }],
        with_status(status_id, group_id, group, name, description),
    )


STATUS_CASES = [status_case(*row) for row in DOCUMENTED_STATUSES]

ERROR_CASES = [
    Case("derived: undeliverable with a permanent handset error (EC_UNKNOWN_SUBSCRIBER)",
         "report_pull_get_reports.json",
         [PULL_REPORT | {
             "dedupe_key": "infobip:report:ff4804ef-6ab6-4abd-984d-ab3b1387e852:9:2015-02-12T09:58:20.337+0100",
             "status": "undelivered",
             "provider_status": "UNDELIVERABLE_NOT_DELIVERED",
             "provider_code": "9",
             "error": {"code": "1", "description": "Unknown subscriber", "permanent": True},
             "extra": PULL_REPORT["extra"] | {"status_group": "UNDELIVERABLE",
                                             "status_description": "Message sent not delivered",
                                             "error_name": "EC_UNKNOWN_SUBSCRIBER",
                                             "error_group": "HANDSET_ERRORS"},
         }],
         lambda payload: replace_in(REPORT, error={
             "groupId": 1, "groupName": "HANDSET_ERRORS", "id": 1, "name": "EC_UNKNOWN_SUBSCRIBER",
             "description": "Unknown subscriber", "permanent": True})(
             with_status(9, 2, "UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED", "Message sent not delivered")(payload))),
    Case("derived: expired with a temporary error that has no description (name used)",
         "report_pull_get_reports.json",
         [PULL_REPORT | {
             "dedupe_key": "infobip:report:ff4804ef-6ab6-4abd-984d-ab3b1387e852:15:2015-02-12T09:58:20.337+0100",
             "status": "expired",
             "provider_status": "EXPIRED_EXPIRED",
             "provider_code": "15",
             "error": {"code": "27", "description": "EC_ABSENT_SUBSCRIBER", "permanent": False},
             "extra": PULL_REPORT["extra"] | {"status_group": "EXPIRED", "status_description": "Message expired",
                                             "error_name": "EC_ABSENT_SUBSCRIBER", "error_group": "HANDSET_ERRORS"},
         }],
         lambda payload: replace_in(REPORT, error={
             "groupId": 1, "groupName": "HANDSET_ERRORS", "id": 27, "name": "EC_ABSENT_SUBSCRIBER",
             "permanent": False})(with_status(15, 4, "EXPIRED", "EXPIRED_EXPIRED", "Message expired")(payload))),
]

# A status id Infobip adds later still names its group; DELIVERED is not guessed.
UNKNOWN_CASES = [
    Case(f"derived: an undocumented status id {status_id} in group {group}", "report_pull_get_reports.json",
         [PULL_REPORT | {
             "dedupe_key": f"infobip:report:ff4804ef-6ab6-4abd-984d-ab3b1387e852:{status_id}:2015-02-12T09:58:20.337+0100",
             "status": expected,
             "provider_status": f"{group}_SOMETHING_NEW",
             "provider_code": str(status_id),
             "flags": flags,
             "extra": PULL_REPORT["extra"] | {"status_group": group, "status_description": "New"},
         }],
         with_status(status_id, group_id, group, f"{group}_SOMETHING_NEW", "New"))
    for status_id, group_id, group, expected, flags in [
        (901, 1, "PENDING", "submitted", ["status_from_group"]),
        (902, 2, "UNDELIVERABLE", "undelivered", ["status_from_group"]),
        (904, 4, "EXPIRED", "expired", ["status_from_group"]),
        (905, 5, "REJECTED", "rejected", ["status_from_group"]),
        (903, 3, "DELIVERED", "submitted", ["unknown_status"]),
        (909, 9, "LATER", "submitted", ["unknown_status"]),
    ]
] + [
    Case("derived: a status with only a groupId (no name, no groupName)", "report_pull_get_reports.json",
         [PULL_REPORT | {
             "dedupe_key": "infobip:report:ff4804ef-6ab6-4abd-984d-ab3b1387e852:None:2015-02-12T09:58:20.337+0100",
             "status": "rejected",
             "provider_status": None,
             "provider_code": None,
             "flags": ["status_from_group"],
             "extra": {key: value for key, value in PULL_REPORT["extra"].items()
                       if key not in ("status_group", "status_description")},
         }],
         with_status(None, 5, None, None, None)),
]

EDGE_CASES = [
    Case("derived: unparseable doneAt falls back to sentAt, flagged", "report_pull_get_reports.json",
         [PULL_REPORT | {
             "dedupe_key": "infobip:report:ff4804ef-6ab6-4abd-984d-ab3b1387e852:5:yesterday",
             "occurred_at": "2015-02-12T08:58:20.323000+00:00",
             "flags": ["time_fallback"],
         }],
         replace_in(REPORT, doneAt="yesterday")),
    Case("derived: no usable time at all: the ingest time, flagged, never a dead letter",
         "report_pull_get_reports.json",
         [PULL_REPORT | {
             "dedupe_key": "infobip:report:ff4804ef-6ab6-4abd-984d-ab3b1387e852:5:None",
             "occurred_at": "2026-01-02T03:04:05+00:00",
             "flags": ["time_from_ingest"],
             "extra": {key: value for key, value in PULL_REPORT["extra"].items() if key != "sent_at"},
         }],
         replace_in(REPORT, doneAt=None, sentAt=None)),
    Case("derived: a report without messageId is rejected alone", "report_pull_get_reports.json",
         [{"record": "RejectedRecord", "index": 0, "error_type": "SchemaViolation",
           "reason": 'schema violation: {"messageId": ["Missing data for required field."]}'}],
         replace_in(REPORT, messageId=None)),
    Case("derived: batch of three MOs whose messageCount says two; the middle one broken",
         "seed:inbound_mo_json_2.json",
         [
             SEED_INBOUND | {"flags": ["message_count_mismatch"], "extra": {"message_count": 2, "pending_message_count": 0}},
             {"record": "RejectedRecord", "index": 1, "error_type": "SchemaViolation",
              "reason": "infobip: a result is not an object"},
             SEED_INBOUND | {
                 "dedupe_key": "infobip:inbound:817790313235066448",
                 "provider_message_id": "817790313235066448",
                 "end_user": "ACME",
                 "text": "Ünïcödé ✓",
                 "keyword": None,
                 "clean_text": None,
                 "segments": 1,
                 "price": None,
                 "callback_data": None,
                 "provider_rules": [],
                 "flags": ["number_alphanumeric", "message_count_mismatch"],
                 "extra": {"message_count": 2, "pending_message_count": 0},
             },
         ],
         lambda payload: payload | {
             "messageCount": 2,
             "results": payload["results"] + ["not an object", {
                 "messageId": "817790313235066448", "from": "ACME", "to": "385921004026",
                 "text": "Ünïcödé ✓", "receivedAt": "2016-10-06T09:28:39.220+0000"}],
         }),
]

CASES = REAL_CASES + STATUS_CASES + ERROR_CASES + UNKNOWN_CASES + EDGE_CASES


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_infobip_payload_is_normalized(case: Case):
    # when
    records = parse_case(PROVIDER, case)

    # then
    assert records == case.expected
