"""Normalization shared by every provider adapter: time, segments, statuses, numbers."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from common.phone import NormalizedNumber, normalize_number

logger = logging.getLogger(__name__)

FLAG_TIME_FALLBACK = "time_fallback"
FLAG_TIME_INGEST = "time_from_ingest"
FLAG_TIME_ASSUMED_UTC = "time_assumed_utc"  # ISO time without an offset (older Webex Connect samples)
FLAG_UNKNOWN_STATUS = "unknown_status"
FLAG_UNKNOWN_CODE = "unknown_code"

# Unknown provider vocabulary seen by this process, by (provider, kind, raw value): the
# "counted" of the one shared policy. Logged too, so an operator sees new values in either place.
UNKNOWN_VALUES: Counter[tuple[str, str, str]] = Counter()

# Normalized delivery statuses (CONTRACT §4). Non-finals are ranked; finals are not.
NON_FINAL_RANK = {"submitted": 1, "sent": 2}
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "expired", "rejected"})
STATUSES = frozenset(NON_FINAL_RANK) | FINAL_STATUSES
# What an unknown provider status becomes: non-final and lowest, so it never overrides anything.
UNKNOWN_STATUS_FALLBACK = "submitted"


def is_final(status: str) -> bool:
    return status in FINAL_STATUSES


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 in any of the providers' spellings, or epoch seconds/milliseconds, to aware UTC."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        return _from_epoch(float(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # Every provider documents UTC where it omits the offset.
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _from_epoch(number: float) -> datetime | None:
    if number > 1e11:  # milliseconds
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def pick_time(candidates: Iterable[Any], ingest_time: datetime) -> tuple[datetime, tuple[str, ...]]:
    """The first candidate that parses; a later one is flagged, and the ingest time last of all.

    A bad timestamp alone never dead-letters a record.
    """
    for position, candidate in enumerate(candidates):
        parsed = parse_time(candidate)
        if parsed is not None:
            flags = (FLAG_TIME_FALLBACK,) if position else ()
            if _without_offset(candidate):
                flags += (FLAG_TIME_ASSUMED_UTC,)
            return parsed, flags
    return ingest_time.astimezone(timezone.utc), (FLAG_TIME_INGEST,)


def _without_offset(value: Any) -> bool:
    if not isinstance(value, str) or value.strip().replace(".", "", 1).isdigit():
        return False  # epoch values are UTC by definition
    try:
        return datetime.fromisoformat(value.strip()).tzinfo is None
    except ValueError:
        return False


def number(value: Any, flags: list[str]) -> str | None:
    """Normalize a phone number, collecting its flag (masked, alphanumeric, not possible)."""
    normalized: NormalizedNumber | None = normalize_number(None if value is None else str(value))
    if normalized is None:
        return None
    if normalized.flag and normalized.flag not in flags:
        flags.append(normalized.flag)
    return normalized.value


def map_status(table: Mapping[str, str], raw: str | None, provider: str, flags: list[str]) -> str:
    """The one policy for provider statuses: mapped by the table, or kept raw, counted, non-final."""
    key = (raw or "").strip()
    if key in table:
        return table[key]
    _record_unknown(provider, "status", key, FLAG_UNKNOWN_STATUS, flags)
    return UNKNOWN_STATUS_FALLBACK


def lookup_code(table: Mapping[str, Any], raw: str | None, provider: str, flags: list[str]) -> Any | None:
    """The same policy for error/status codes: the table's row, or None — flagged, counted, logged.

    An absent code is not unknown; an unknown one never changes the status the record states.
    """
    key = (raw or "").strip()
    if key and key not in table:
        _record_unknown(provider, "code", key, FLAG_UNKNOWN_CODE, flags)
    return table.get(key) if key else None


def _record_unknown(provider: str, kind: str, value: str, flag: str, flags: list[str]) -> None:
    flags.append(flag)
    UNKNOWN_VALUES[(provider, kind, value)] += 1
    logger.warning(f"unknown provider {kind}", extra={"provider": provider, f"provider_{kind}": value})


# GSM 03.38: the basic set costs one septet, the extension set two.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


GSM7_SINGLE_SEGMENT, GSM7_MULTI_SEGMENT = 160, 153  # septets; a multi-part header costs 7
UCS2_SINGLE_SEGMENT, UCS2_MULTI_SEGMENT = 70, 67  # UTF-16 code units


def count_segments(text: str | None) -> int:
    """How many SMS parts the text takes: 160/153 septets in GSM-7, else 70/67 UCS-2 units.

    Parts are packed the way handsets and SMSCs split them: an extension character (two septets,
    ESC + char) or a surrogate pair (two UTF-16 units) is never split across two parts, so a
    part may carry one unit less than its capacity.
    """
    if not text:
        return 1
    if all(character in GSM7_BASIC or character in GSM7_EXTENSION for character in text):
        costs = [2 if character in GSM7_EXTENSION else 1 for character in text]
        return _pack(costs, GSM7_SINGLE_SEGMENT, GSM7_MULTI_SEGMENT)
    costs = [len(character.encode("utf-16-le")) // 2 for character in text]
    return _pack(costs, UCS2_SINGLE_SEGMENT, UCS2_MULTI_SEGMENT)


def _pack(costs: list[int], single: int, multi: int) -> int:
    if sum(costs) <= single:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            parts, used = parts + 1, 0
        used += cost
    return parts
