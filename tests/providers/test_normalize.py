"""The normalization every adapter shares: segments, numbers, times, the unknown-value policy."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from common.phone import normalize_number
from workers.normalize import (
    UNKNOWN_VALUES,
    count_segments,
    lookup_code,
    map_status,
    parse_time,
    pick_time,
)

SEGMENT_CASES = [
    ("empty text is one part", "", 1),
    ("160 GSM characters fit one part", "a" * 160, 1),
    ("161 GSM characters take two parts of 153", "a" * 161, 2),
    ("306 GSM characters fill two parts", "a" * 306, 2),
    ("307 GSM characters take three", "a" * 307, 3),
    ("GSM basic-set accents stay GSM-7", "é" * 160, 1),
    ("80 extension characters are 160 septets: one part", "€" * 80, 1),
    ("81 extension characters are 162 septets: two parts", "€" * 81, 2),
    ("159 letters and one extension char are 161 septets: two parts", "a" * 159 + "{", 2),
    ("an extension char is never split: 306 septets, but 152 + '^' + 152 needs three parts",
     "a" * 152 + "^" + "a" * 152, 3),
    ("one non-GSM character makes it UCS-2: 70 units fit one part", "ç" * 70, 1),
    ("71 UCS-2 units take two parts of 67", "ç" * 71, 2),
    ("134 UCS-2 units fill two parts", "ж" * 134, 2),
    ("135 UCS-2 units take three", "ж" * 135, 3),
    ("an emoji is two UTF-16 units: 35 emoji are 70 units, one part", "😀" * 35, 1),
    ("36 emoji are 72 units: two parts", "😀" * 36, 2),
    ("a surrogate pair is never split: 134 units, but 66 + emoji + 66 needs three parts",
     "ж" * 66 + "😀" + "ж" * 66, 3),
]


@pytest.mark.parametrize("label, text, parts", SEGMENT_CASES, ids=[row[0] for row in SEGMENT_CASES])
def test_count_segments(label: str, text: str, parts: int):
    assert count_segments(text) == parts


NUMBER_CASES = [
    ("digits-only international (Infobip)", "385916242493", ("+385916242493", None)),
    ("already E.164", "+447838970000", ("+447838970000", None)),
    ("with spaces and a 00 prefix", "0044 7838 970000", ("+447838970000", None)),
    ("US with punctuation", "+1 (415) 555-1234", ("+14155551234", None)),
    ("test range number stays (possible, not valid)", "447700900123", ("+447700900123", None)),
    ("masked with x (Webex Connect)", "9189xxxxxxxx", ("9189xxxxxxxx", "number_masked")),
    ("masked with X", "1XXXX661353", ("1XXXX661353", "number_masked")),
    ("masked with *", "+4479****1234", ("+4479****1234", "number_masked")),
    ("alphanumeric sender id, not keypad digits", "InfoSMS", ("InfoSMS", "number_alphanumeric")),
    ("short code kept without +", "56263", ("56263", "number_not_possible")),
    ("too long to be possible", "12345678901234567", ("12345678901234567", "number_not_possible")),
    ("leading-zero run phonenumbers would shorten", "910000000001", ("910000000001", "number_not_possible")),
    ("non-ASCII digits are not read as digits", "١٢٣٤٥٦٧٨٩٠١", ("١٢٣٤٥٦٧٨٩٠١", "number_alphanumeric")),
]


@pytest.mark.parametrize("label, raw, expected", NUMBER_CASES, ids=[row[0] for row in NUMBER_CASES])
def test_normalize_number(label: str, raw: str, expected: tuple[str, str | None]):
    normalized = normalize_number(raw)
    assert (normalized.value, normalized.flag) == expected


def test_empty_number_is_absent():
    assert (normalize_number(None), normalize_number("  ")) == (None, None)


UTC = timezone.utc
TIME_CASES = [
    ("Infobip offset without colon", "2016-10-06T09:28:39.220+0000", datetime(2016, 10, 6, 9, 28, 39, 220000, UTC)),
    ("Webex Connect offset with colon", "2022-10-10T13:53:13.749+01:00", datetime(2022, 10, 10, 12, 53, 13, 749000, UTC)),
    ("Interact Z", "2026-04-07T08:23:05Z", datetime(2026, 4, 7, 8, 23, 5, tzinfo=UTC)),
    ("negative offset", "2019-04-09T16:01:56.494-0300", datetime(2019, 4, 9, 19, 1, 56, 494000, UTC)),
    ("IMIconnect space separator, no offset", "2015-04-12 13:00:19", datetime(2015, 4, 12, 13, 0, 19, tzinfo=UTC)),
    ("epoch seconds", 1428843619, datetime(2015, 4, 12, 13, 0, 19, tzinfo=UTC)),
    ("epoch milliseconds as text", "1428843619456", datetime(2015, 4, 12, 13, 0, 19, 456000, UTC)),
    ("garbage", "10/10/2022", None),
    ("a boolean is not a time", True, None),
    ("infinity is not a time", float("inf"), None),
    ("a year out of range", 1e20, None),
]


@pytest.mark.parametrize("label, raw, expected", TIME_CASES, ids=[row[0] for row in TIME_CASES])
def test_parse_time(label: str, raw, expected):
    assert parse_time(raw) == expected


def test_pick_time_falls_back_and_flags():
    ingest = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert pick_time(["bad", "2015-04-12T13:00:19Z"], ingest) == (
        datetime(2015, 4, 12, 13, 0, 19, tzinfo=UTC), ("time_fallback",))
    assert pick_time(["bad", None], ingest) == (ingest, ("time_from_ingest",))
    assert pick_time(["2016-07-20T17:13:17.908"], ingest) == (
        datetime(2016, 7, 20, 17, 13, 17, 908000, UTC), ("time_assumed_utc",))


def test_unknown_status_and_code_are_flagged_and_counted():
    # given
    flags: list[str] = []
    before = (UNKNOWN_VALUES[("test", "status", "Read")], UNKNOWN_VALUES[("test", "code", "9999")])

    # when
    status = map_status({"Delivered": "delivered"}, "Read", "test", flags)
    code = lookup_code({"7500": "row"}, "9999", "test", flags)

    # then
    assert (status, code, flags) == ("submitted", None, ["unknown_status", "unknown_code"])
    after = (UNKNOWN_VALUES[("test", "status", "Read")], UNKNOWN_VALUES[("test", "code", "9999")])
    assert after == (before[0] + 1, before[1] + 1)


def test_absent_code_is_not_unknown():
    flags: list[str] = []
    assert (lookup_code({"7500": "row"}, "", "test", flags), flags) == (None, [])
