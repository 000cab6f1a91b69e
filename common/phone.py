"""Phone numbers to E.164, or kept exactly as given with a flag saying why.

``is_possible_number``, not ``is_valid_number``: test ranges and newly allocated ranges must pass.
Letters are never handed to ``phonenumbers``, which would read them as keypad digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

MASK_CHARACTERS = frozenset("xX*#")
_SEPARATORS = re.compile(r"[\s().\-/]")

FLAG_MASKED = "number_masked"
FLAG_ALPHANUMERIC = "number_alphanumeric"
FLAG_NOT_POSSIBLE = "number_not_possible"


@dataclass(frozen=True)
class NormalizedNumber:
    value: str
    flag: str | None = None  # None when value is E.164


def normalize_number(raw: str | None) -> NormalizedNumber | None:
    if raw is None:
        return None
    given = str(raw).strip()
    if not given:
        return None
    compact = _SEPARATORS.sub("", given)
    digits = compact.removeprefix("+")
    if not digits.isdigit() or not digits.isascii():
        if any(character in MASK_CHARACTERS for character in compact):
            return NormalizedNumber(given, FLAG_MASKED)
        return NormalizedNumber(given, FLAG_ALPHANUMERIC)
    # Providers send international numbers without the plus ("385916242493"); "00" is the
    # international call prefix in most of the world.
    if not compact.startswith("+") and digits.startswith("00"):
        digits = digits[2:]
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return NormalizedNumber(given, FLAG_NOT_POSSIBLE)
    if not phonenumbers.is_possible_number(parsed):
        return NormalizedNumber(given, FLAG_NOT_POSSIBLE)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164 != "+" + digits:
        # phonenumbers drops digits of long runs of leading zeros ("910000000001" would become
        # "+91000000001"): never hand on a number that is not the one the provider sent.
        return NormalizedNumber(given, FLAG_NOT_POSSIBLE)
    return NormalizedNumber(e164)


def mask_number(value: str | None) -> str | None:
    """For logs: everything but the last 4 characters hidden."""
    if value is None:
        return None
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]
