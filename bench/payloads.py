"""Realistic webhook bodies for the benchmarks: the three providers' shapes, unique ids, about
10% duplicates (a provider retrying), and Infobip deliveries carrying several results.

Deterministic for a given seed, so every contender in one run drains the same payloads.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent.parent / "common" / "samples"

Body = tuple[str, bytes]  # (provider route name, raw body)


def sample_bodies() -> list[Body]:
    """The seed samples verbatim (what the ingest benchmark posts, round robin)."""
    return [(path.parent.name, path.read_bytes()) for path in sorted(SAMPLES.glob("*/*.json"))]


def _phone(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice("0123456789") for _ in range(9))


def _interact_inbound(rng: random.Random, n: int) -> tuple[str, Any]:
    sample = json.loads((SAMPLES / "webex-interact" / "inbound_with_rules.json").read_text())
    sample["id"] = f"evt_bench{n:09d}"
    sample["data"]["phone_number"] = _phone(rng, "+4478")
    return "webex-interact", sample


def _interact_status(rng: random.Random, n: int) -> tuple[str, Any]:
    return "webex-interact", {
        "specversion": "1.0",
        "type": "com.interact.messages.sms.status",
        "source": "https://api.webexinteract.com/v1/sms",
        "id": f"evt_benchst{n:09d}",
        "time": f"2026-04-07T08:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "transaction_id": f"tx_bench{n // 2:09d}",  # two statuses per message
        "data": {"status": rng.choice(["submitted", "delivered", "failed"]), "channel": "sms",
                 "phone_number": _phone(rng, "+4478")},
    }


def _infobip_inbound(rng: random.Random, n: int, count: int) -> tuple[str, Any]:
    results = [
        {
            "messageId": f"{n:09d}{index:03d}",
            "from": _phone(rng, "385"),
            "to": "385921004026",
            "text": "QUIZ Correct answer is Paris",
            "cleanText": "Correct answer is Paris",
            "keyword": "QUIZ",
            "receivedAt": "2016-10-06T09:28:39.220+0000",
            "smsCount": 1,
            "price": {"pricePerMessage": 0, "currency": "EUR"},
            "callbackData": "callbackData",
        }
        for index in range(count)
    ]
    return "infobip", {"results": results, "messageCount": count, "pendingMessageCount": 0}


def _infobip_reports(rng: random.Random, n: int, count: int) -> tuple[str, Any]:
    results = [
        {
            "bulkId": "BULK-ID-123-xyz",
            "messageId": f"mid{n:09d}{index:03d}",
            "to": _phone(rng, "385"),
            "sentAt": "2019-11-09T16:00:00.000+0000",
            "doneAt": "2019-11-09T16:00:01.000+0000",
            "smsCount": 1,
            "price": {"pricePerMessage": 0.01, "currency": "EUR"},
            "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
                       "description": "Message delivered to handset"},
            "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR",
                      "description": "No Error", "permanent": False},
        }
        for index in range(count)
    ]
    return "infobip", {"results": results}


def _connect_incoming(rng: random.Random, n: int) -> tuple[str, Any]:
    sample = json.loads((SAMPLES / "webex-connect" / "08_incoming.json").read_text())
    sample["tid"] = f"bench-tid-{n:012d}"
    sample["da"] = _phone(rng, "44")
    return "webex-connect", sample


def _connect_receipt(rng: random.Random, n: int) -> tuple[str, Any]:
    sample = json.loads((SAMPLES / "webex-connect" / "07_receipt_delivered_7500.json").read_text())
    sample["deliveryInfoNotification"]["transid"] = f"bench-transid-{n:012d}"
    return "webex-connect", sample


# (weight, builder): roughly a third per provider; an Infobip delivery carries 1-5 results.
MIX: list[tuple[int, Callable[[random.Random, int], tuple[str, Any]]]] = [
    (15, _interact_inbound),
    (15, _interact_status),
    (10, lambda rng, n: _infobip_inbound(rng, n, 1)),
    (8, lambda rng, n: _infobip_inbound(rng, n, rng.randint(2, 5))),
    (12, lambda rng, n: _infobip_reports(rng, n, rng.randint(1, 5))),
    (15, _connect_incoming),
    (25, _connect_receipt),
]


def webhook_bodies(count: int, duplicate_ratio: float = 0.1, seed: int = 9) -> list[Body]:
    """``count`` deliveries; ``duplicate_ratio`` of them repeat an earlier body verbatim."""
    rng = random.Random(seed)
    builders = [builder for weight, builder in MIX for _ in range(weight)]
    bodies: list[Body] = []
    for n in range(count):
        if bodies and rng.random() < duplicate_ratio:
            bodies.append(rng.choice(bodies))
            continue
        provider, document = rng.choice(builders)(rng, n)
        bodies.append((provider, json.dumps(document, separators=(",", ":")).encode()))
    return bodies


def envelopes_wire(bodies: list[Body]) -> list[dict[str, Any]]:
    """Each body wrapped as the ingest wraps it (fresh ingest id, base64 body)."""
    from common.envelope import Envelope

    return [Envelope.wrap(provider, body, remote_addr="127.0.0.1", content_type="application/json").to_wire()
            for provider, body in bodies]
