"""Webex Interact, one row per documented event and per `data.status`.

Rows marked "derived" change one documented payload in the way their label says; the others
are verbatim from docs.webexinteract.com, except where a row says otherwise. Sources:
- seed:inbound_with_rules.json — reference/inbound-sms-events (shared/seeds/000)
- inbound_opt_ins.json — the same page's older sample with `opt_ins[]` (the page omits the final
  closing brace; added)
- outbound_submitted.json, outbound_delivered.json — reference/outbound-sms-events
- outbound_failed.json — reference/outbound-sms-failed (the page omits the final closing brace;
  added)
- api_request_accepted_submitted.json — reference/sms-api-request-accepted
- webhooks_page_submitted.json — docs/webhooks: no transaction_id, the tid_ in correlation_id
- shortlink_clicked.json — reference/shortlink-clicked: no transaction_id, a tracking_id
- opt_out_keyword.json — reference/sms-opt-out-received
- legacy_reach_submitted.json, legacy_reach_delivered.json — reference/webhook, which still shows
  samples from Interact's former name (Reach): no `id`, epoch-millisecond `time`, `data.phone`;
  the delivered one has a trailing comma (invalid JSON), kept as published
Interact documents no table of its `data.code` values (the samples show "1003" on submitted),
so codes are kept raw and no code table is claimed.
"""

from __future__ import annotations

import json

import pytest

from tests.providers.cases import Case, parse_case, replace_in

PROVIDER = "webex-interact"

SEED_INBOUND = {
    "record": "InboundMessage",
    "provider": "webex-interact",
    "dedupe_key": "webex-interact:event:evt_3F1PcvvRVhBBPawkitvn3mxn3O4",
    "provider_message_id": "evt_3F1PcvvRVhBBPawkitvn3mxn3O4",
    "occurred_at": "2026-04-07T08:23:05+00:00",
    "flags": [],
    "extra": {"channel": "sms", "inbound_number_id": "num_6C1Oy46vFl1GSaPIxLGpSuveTMn"},
    "end_user": "+447838970000",
    "our_number": "+447860000000",
    "text": "SUBSCRIBE - keep me up to date with your latest updates please",
    "keyword": None,
    "clean_text": None,
    "segments": 1,
    "price": None,
    "callback_data": None,
    "correlation_id": "cid_3C4PcZoMswjiFvhci24RrhkXrUJ",
    "provider_rules": [{"rule": "Newsletter Signup", "keyword": "SUBSCRIBE", "action": None,
                        "lists": ["LST_3BfW95mzxDy5NH4V64FNtYmkMAS", "LST_30e5wMJ4nRsxMYMiUeNGYG7onTy"]}],
}

CAMPAIGN = {"channel": "sms", "from": "Name", "message_body": "This is your message",
            "scheduled_at": "2025-06-30T12:08:43Z", "list_id": "18920476",
            "campaign_id": "cmp_214r8u4981u498", "campaign_name": "Some campaign"}

SUBMITTED = {
    "record": "StatusReport",
    "provider": "webex-interact",
    "dedupe_key": "webex-interact:event:evt_2z01l2qZ8MRVmFZSUQHHfIjVvje",
    "provider_message_id": "tid_35T5b3cQmfqTu6jcedrdVcSmNHr",
    "occurred_at": "2025-06-25T12:08:43+00:00",
    "flags": [],
    "extra": {"channel": "sms", "from": "Mattco", "message_body": "This is your message",
              "scheduled_at": "2025-06-30T12:08:43Z", "list_id": "LST_30pMyhWlE2KM55MCNJPh6CAIxvX",
              "campaign_id": "cmp_219r8u4981u498", "campaign_name": "My campaign"},
    "status": "submitted",
    "provider_status": "submitted",
    "provider_code": "1003",
    "error": None,
    "recipient": "+447810000001",
    "callback_data": None,
    "correlation_id": "anexternallyassignedreference",
    "segments": 1,
    "price": None,
}

DELIVERED = SUBMITTED | {
    "dedupe_key": "webex-interact:event:evt_2z01qjadl6TAWfvlPmMGbarsJf5",
    "occurred_at": "2025-06-25T12:09:28+00:00",
    "extra": CAMPAIGN,
    "status": "delivered",
    "provider_status": "delivered",
    "provider_code": None,
}

CLICK = {
    "record": "LinkClick",
    "provider": "webex-interact",
    "dedupe_key": "webex-interact:event:evt_2z01l2qQ8MRVmFZSUQHHxIjVvje",
    "provider_message_id": None,
    "occurred_at": "2025-06-25T12:08:43+00:00",
    "flags": [],
    "extra": {"channel": "sms", "from": "Name", "campaign_id": "cmp_2yzyPKOKFjbycNEYSwkjk85ceqX",
              "tracking_id": "30recwEuHHhrQtggF3E5vUMkH9C", "link_type": "LINK",
              "short_link": "https://intr.cc/D0vRZp", "short_link_id": "shl_30rdc2Mie8PXOG4taeBqTxlnZrH",
              "short_link_name": "Learning link", "device": "PC", "browser": "CHROME", "os": "MAC_OS"},
    "recipient": "+447810000001",
    "url": "https://www.cisco.com/c/r/team-development/career-and-learning/learning-subscriptions.html",
    "ip": None,
    "user_agent": None,
}

OPT_OUT = {
    "record": "ConsentSignal",
    "provider": "webex-interact",
    "dedupe_key": "webex-interact:event:evt_36Ko1hKxBAQ7X9VrGoBxPoK7Om0",
    "provider_message_id": "evt_36Ko1hKxBAQ7X9VrGoBxPoK7Om0",
    "occurred_at": "2025-12-03T12:20:10+00:00",
    "flags": [],
    "extra": {"source": "keyword", "inbound_number_id": "num_36IR2Jpl1u1wOuRBgmMmoMhawjE",
              "account_level_opt_out": False, "opt_out_time": "2025-12-03T12:20:10Z"},
    "contact": "+447807127129",
    "our_number": "+447807127121",
    "action": "opt_out",
    "keyword": "STOP",
    "lists": [],
}

REAL_CASES = [
    Case("seed: inbound with rules[]", "seed:inbound_with_rules.json", [SEED_INBOUND]),
    Case("inbound with the older opt_ins[] shape: two opt-ins", "inbound_opt_ins.json", [SEED_INBOUND | {
        "dedupe_key": "webex-interact:event:evt_2z01rKkdxq3oKzf013lxmn127v8",
        "provider_message_id": "evt_2z01rKkdxq3oKzf013lxmn127v8",
        "occurred_at": "2025-06-25T12:09:33+00:00",
        "extra": {"channel": "sms", "inbound_number_id": "num_2yuxhMhvveEjsqYuHm68rslycA8"},
        "text": "I'd like to SUBSCRIBE to your EVENTS newsletters",
        "correlation_id": "cid_2z01rLJP7wm5KhVPuvvUj0TfvwT",
        "provider_rules": [
            {"rule": "Newsletter Signup", "keyword": "SUBSCRIBE", "action": "opt_in",
             "lists": ["Monthly Newsletter", "Promotions"]},
            {"rule": "Event Alerts", "keyword": "EVENTS", "action": "opt_in", "lists": ["Local Events"]},
        ],
    }]),
    Case("outbound submitted: code, message_parts as a string, campaign and list", "outbound_submitted.json",
         [SUBMITTED]),
    Case("outbound submitted (API request accepted page)", "api_request_accepted_submitted.json",
         [SUBMITTED | {"extra": SUBMITTED["extra"] | {"from": "Name"}}]),
    Case("outbound delivered", "outbound_delivered.json", [DELIVERED]),
    Case("outbound failed, with custom_id; no code or description sent", "outbound_failed.json", [DELIVERED | {
        "dedupe_key": "webex-interact:event:evt_2z020YIp98J0ow5egHEVQJQd2Sx",
        "occurred_at": "2025-06-25T12:10:47+00:00",
        "extra": CAMPAIGN | {"custom_id": "123"},
        "status": "failed",
        "provider_status": "failed",
    }]),
    Case("webhooks page: submitted without transaction_id, the tid_ in correlation_id",
         "webhooks_page_submitted.json", [SUBMITTED | {
             "dedupe_key": "webex-interact:event:evt_2z01l2qQ8MRVmFZSUQHHxIjVvje",
             "provider_message_id": "tid_2z01kRVL89GGMsgtgFuHk2hlGMI",
             "flags": ["message_id_from_correlation_id"],
             "extra": {"channel": "sms"},
             "correlation_id": "tid_2z01kRVL89GGMsgtgFuHk2hlGMI",
             "segments": None,
         }]),
    Case("shortlink clicked: url, device and browser, no transaction id", "shortlink_clicked.json", [CLICK]),
    Case("opt-out by keyword", "opt_out_keyword.json", [OPT_OUT]),
    Case("legacy Reach sample without an event id: dead-lettered with that reason", "legacy_reach_submitted.json",
         [{"record": "RejectedRecord", "index": 0, "error_type": "SchemaViolation",
           "reason": 'schema violation: {"id": ["Missing data for required field."]}'}]),
    Case("legacy Reach sample as published (trailing comma): the whole payload is malformed",
         "legacy_reach_delivered.json",
         [{"raised": "MalformedPayload",
           "reason": "body is not valid JSON: Expecting property name enclosed in double quotes: "
                     "line 12 column 1 (char 281)"}]),
]

DERIVED_CASES = [
    Case("derived: an opt-in event (the opt-out sample with type .opt.in; Interact shows no opt-in sample)",
         "opt_out_keyword.json",
         [OPT_OUT | {"action": "opt_in", "keyword": None,
                     "extra": OPT_OUT["extra"] | {"source": "webform"}}],
         lambda payload: replace_in(("data",), type="webform", message=None)(
             payload | {"type": "com.interact.messages.sms.opt.in"})),
    Case("derived: failed with a code and description, kept raw", "outbound_failed.json", [DELIVERED | {
        "dedupe_key": "webex-interact:event:evt_2z020YIp98J0ow5egHEVQJQd2Sx",
        "occurred_at": "2025-06-25T12:10:47+00:00",
        "extra": CAMPAIGN | {"custom_id": "123"},
        "status": "failed",
        "provider_status": "failed",
        "provider_code": "4001",
        "error": {"code": "4001", "description": "Number unreachable", "permanent": None},
    }], replace_in(("data",), code="4001", description="Number unreachable")),
    Case("derived: a future status: non-final, raw kept, flagged", "outbound_delivered.json", [DELIVERED | {
        "status": "submitted",
        "provider_status": "read",
        "flags": ["unknown_status"],
    }], replace_in(("data",), status="read")),
    Case("derived: time as epoch milliseconds", "outbound_delivered.json",
         [DELIVERED | {"occurred_at": "2025-06-25T12:09:28.500000+00:00"}],
         lambda payload: payload | {"time": 1750853368500}),
    Case("derived: inbound without message_parts: counted (a 161-character GSM text is 2 parts)",
         "seed:inbound_with_rules.json", [SEED_INBOUND | {"text": "A" * 161, "segments": 2}],
         replace_in(("data",), message="A" * 161)),
    Case("derived: message_parts that is not a number is ignored, not fatal", "outbound_delivered.json",
         [DELIVERED | {"segments": None}], replace_in(("data",), message_parts="one")),
    Case("derived: a status event without transaction_id or tid_ is rejected", "outbound_delivered.json",
         [{"record": "RejectedRecord", "index": 0, "error_type": "SchemaViolation",
           "reason": "webex-interact: an outbound status event without transaction_id"}],
         lambda payload: {key: value for key, value in payload.items() if key != "transaction_id"}),
    Case("derived: the legacy Reach delivered sample, repaired and given an id: phone and correlationid read",
         "legacy_reach_delivered.json",
         [DELIVERED | {
             "dedupe_key": "webex-interact:event:evt_legacy",
             "provider_message_id": "tid_legacy",
             "occurred_at": "2025-03-03T05:41:00.557000+00:00",
             "flags": ["number_masked"],
             "extra": {"channel": "sms"},
             "recipient": "+44771782XXXX",
             "correlation_id": "cid_2rR8xzxxedfTt",
             "segments": None,
         }],
         lambda text: json.loads(text.replace('Tt",\n}', 'Tt"\n}')) | {"id": "evt_legacy",
                                                                            "transaction_id": "tid_legacy"}),
    Case("derived: an event type Interact may add later is rejected with its name", "outbound_delivered.json",
         [{"record": "RejectedRecord", "index": 0, "error_type": "SchemaViolation",
           "reason": "webex-interact: unknown event type 'com.interact.messages.whatsapp.status'"}],
         lambda payload: payload | {"type": "com.interact.messages.whatsapp.status"}),
]

CASES = REAL_CASES + DERIVED_CASES


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_webex_interact_payload_is_normalized(case: Case):
    # when
    records = parse_case(PROVIDER, case)

    # then
    assert records == case.expected
