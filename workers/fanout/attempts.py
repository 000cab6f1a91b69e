"""What one attempt returned, and the one function that decides retry versus park."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# 408 and 429 say "later"; 5xx says the subscriber is broken for now. Every other non-2xx
# answer (other 4xx, and 3xx: redirects are not followed) will not change on a retry.
RETRYABLE_STATUS_CODES = frozenset({408, 429, *range(500, 600)})
JITTER = 0.2  # each wait is the schedule's step, +/- 20%, so retries of a burst spread out
MAX_RETRY_AFTER_SECONDS = 3600.0

SUCCEEDED = "succeeded"
RETRY = "retry"
PARKED = "parked"


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    retryable: bool = False
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    retry_after: float | None = None  # seconds the destination asked us to wait

    @classmethod
    def from_status(cls, status_code: int, body: str | None = None, retry_after: float | None = None) -> AttemptResult:
        ok = 200 <= status_code < 300
        return cls(
            ok=ok,
            retryable=status_code in RETRYABLE_STATUS_CODES,
            status_code=status_code,
            error=None if ok else f"HTTP {status_code}",
            response_body=body,
            retry_after=retry_after,
        )

    @classmethod
    def failed(cls, error: str, retryable: bool) -> AttemptResult:
        return cls(ok=False, retryable=retryable, error=error)


@dataclass(frozen=True)
class Decision:
    outcome: str  # succeeded | retry | parked
    delay: float | None = None  # seconds until the next attempt, for a retry


def decide(
    result: AttemptResult, attempts: int, retry_schedule: Sequence[float], rng: Callable[[], float] = random.random
) -> Decision:
    """``attempts`` counts this one; the schedule holds the waits before attempts 2, 3, ...

    So a delivery is tried ``1 + len(retry_schedule)`` times before it is parked."""
    if result.ok:
        return Decision(SUCCEEDED)
    if not result.retryable or attempts > len(retry_schedule):
        return Decision(PARKED)
    delay = retry_schedule[attempts - 1] * (1 - JITTER + 2 * JITTER * rng())
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, MAX_RETRY_AFTER_SECONDS))
    return Decision(RETRY, delay)
