"""Meta-tests over the provider tables: every row of every adapter mapping table is exercised by a
case (judged by what the cases' records say, not by their labels), and every fixture file is used
by some case."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from common.providers import PROVIDERS
from tests.providers import test_infobip, test_webex_connect, test_webex_interact
from tests.providers.cases import FIXTURES, SAMPLES, SEED_PREFIX, Case, parse_case
from workers.providers import infobip, webex_connect, webex_interact

TABLES = {
    "infobip": test_infobip.CASES,
    "webex-connect": test_webex_connect.CASES,
    "webex-interact": test_webex_interact.CASES,
}


def outputs(provider: str) -> list[dict[str, Any]]:
    return [record for case in TABLES[provider] for record in parse_case(provider, case)]


def values(records: Iterable[dict[str, Any]], field: str, record_type: str = "StatusReport") -> set[Any]:
    return {record.get(field) for record in records if record.get("record") == record_type}


def test_every_provider_has_a_case_table():
    assert set(TABLES) == set(PROVIDERS)


def test_every_infobip_status_and_group_row_has_a_case():
    records = outputs("infobip")
    assert {status.name for status in infobip.STATUS_TABLE.values()} <= values(records, "provider_status")
    by_group = {record["extra"].get("status_group") for record in records
                if record.get("record") == "StatusReport" and "status_from_group" in record["flags"]}
    assert set(infobip.STATUS_GROUP_FALLBACK) <= by_group
    assert any("unknown_status" in record.get("flags", ()) for record in records)
    assert {"InboundMessage", "StatusReport", "RejectedRecord"} <= {record.get("record") for record in records}


def test_every_webex_connect_status_and_code_row_has_a_case():
    records = outputs("webex-connect")
    assert set(webex_connect.STATUS_MAP) <= values(records, "provider_status")
    assert set(webex_connect.CODE_TABLE) <= values(records, "provider_code")
    assert "LinkClick" in {record.get("record") for record in records}
    assert "InboundMessage" in {record.get("record") for record in records}
    assert any("unknown_code" in record.get("flags", ()) for record in records)
    assert any("unknown_status" in record.get("flags", ()) for record in records)


def test_every_webex_interact_status_and_event_type_has_a_case():
    records = outputs("webex-interact")
    assert set(webex_interact.STATUS_MAP) <= values(records, "provider_status")
    assert set(webex_interact.CONSENT_TYPES.values()) <= values(records, "action", "ConsentSignal")
    assert {"InboundMessage", "LinkClick"} <= {record.get("record") for record in records}
    assert any("unknown_status" in record.get("flags", ()) for record in records)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_fixture_and_seed_file_is_used(provider: str):
    used = {case.fixture for case in TABLES[provider]}
    on_disk = {path.name for path in (FIXTURES / provider).glob("*.json")}
    seeds = {SEED_PREFIX + path.name for path in (SAMPLES / provider).glob("*.json")}
    assert on_disk | seeds == used


def test_cases_are_labelled_uniquely():
    labels = [case.label for cases in TABLES.values() for case in cases]
    assert len(labels) == len(set(labels))


def test_real_documented_variants_beyond_the_seeds():
    """Payloads from provider documentation, verbatim: the fixture files (the seeds not counted)."""
    real: list[Case] = [case for cases in TABLES.values() for case in cases
                        if case.patch is None and not case.fixture.startswith(SEED_PREFIX)]
    assert len({case.fixture for case in real}) == len(list(FIXTURES.glob("*/*.json")))
