"""What a provider adapter turns a webhook into: typed, normalized records.

One HTTP delivery may hold several records (Infobip ``results[]``). A record that fails
validation is a ``RejectedRecord``: it is dead-lettered alone while its siblings go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ProviderError:
    code: str | None
    description: str | None
    permanent: bool | None


@dataclass(frozen=True)
class ProviderRule:
    """A keyword rule the provider already applied (Interact ``rules[]``, Infobip ``keyword``)."""

    rule: str | None
    keyword: str | None
    action: str | None = None
    lists: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    provider: str
    dedupe_key: str
    provider_message_id: str | None
    occurred_at: datetime
    flags: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Provider fields with no normalized home (Infobip bulkId and mccMnc, Interact campaign and
    # list ids, Webex Connect userId...), under snake_case names; kept so nothing is lost.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundMessage(Record):
    end_user: str | None = None
    our_number: str | None = None
    text: str | None = None
    keyword: str | None = None
    clean_text: str | None = None  # the text without the keyword, where the provider gives it
    segments: int | None = None
    price: dict[str, Any] | None = None
    callback_data: str | None = None
    correlation_id: str | None = None
    provider_rules: tuple[ProviderRule, ...] = ()


@dataclass(frozen=True)
class StatusReport(Record):
    status: str = "submitted"
    provider_status: str | None = None
    provider_code: str | None = None  # the provider's status code as sent, error or not
    error: ProviderError | None = None
    recipient: str | None = None
    callback_data: str | None = None
    correlation_id: str | None = None
    segments: int | None = None
    price: dict[str, Any] | None = None


@dataclass(frozen=True)
class LinkClick(Record):
    recipient: str | None = None
    url: str | None = None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class ConsentSignal(Record):
    """The provider says a contact opted in or out (Interact opt-out events)."""

    contact: str | None = None
    our_number: str | None = None
    action: str = "opt_out"  # opt_in | opt_out
    keyword: str | None = None
    lists: tuple[str, ...] = ()


@dataclass(frozen=True)
class RejectedRecord:
    """One record of a delivery that failed validation; the reason goes to the dead-letter store."""

    index: int
    reason: str
    error_type: str
