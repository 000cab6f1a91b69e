"""Normalization shared by every provider adapter: time, segments, statuses, numbers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from common.phone import NormalizedNumber, normalize_number

logger = logging.getLogger(__name__)

FLAG_TIME_FALLBACK = "time_fallback"
FLAG_TIME_INGEST = "time_from_ingest"
FLAG_UNKNOWN_STATUS = "unknown_status"

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
            return parsed, (FLAG_TIME_FALLBACK,) if position else ()
    return ingest_time.astimezone(timezone.utc), (FLAG_TIME_INGEST,)


def number(value: Any, flags: list[str]) -> str | None:
    """Normalize a phone number, collecting its flag (masked, alphanumeric, not possible)."""
    normalized: NormalizedNumber | None = normalize_number(None if value is None else str(value))
    if normalized is None:
        return None
    if normalized.flag:
        flags.append(normalized.flag)
    return normalized.value


def map_status(table: dict[str, str], raw: str | None, provider: str, flags: list[str]) -> str:
    """The one policy for provider statuses: mapped by the table, or kept raw, counted, non-final."""
    key = (raw or "").strip()
    if key in table:
        return table[key]
    flags.append(FLAG_UNKNOWN_STATUS)
    logger.warning("unknown provider status", extra={"provider": provider, "provider_status": raw})
    return UNKNOWN_STATUS_FALLBACK


# GSM 03.38: the basic set costs one septet, the extension set two.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def count_segments(text: str | None) -> int:
    """How many SMS parts the text takes: 160/153 septets in GSM-7, else 70/67 UCS-2 units."""
    if not text:
        return 1
    if all(character in GSM7_BASIC or character in GSM7_EXTENSION for character in text):
        septets = sum(2 if character in GSM7_EXTENSION else 1 for character in text)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)
