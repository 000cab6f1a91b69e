"""The one function that decides retry versus park, as a table."""

from __future__ import annotations

import pytest

from workers.fanout.attempts import PARKED, RETRY, SUCCEEDED, AttemptResult, Decision, decide

SCHEDULE = (5.0, 30.0, 120.0)
MIDDLE = lambda: 0.5  # noqa: E731 (no jitter: the schedule's own step)

# (label, result, attempts so far including this one, decision)
CASES = [
    ("200", AttemptResult.from_status(200), 1, Decision(SUCCEEDED)),
    ("299", AttemptResult.from_status(299), 3, Decision(SUCCEEDED)),
    ("500 first", AttemptResult.from_status(500), 1, Decision(RETRY, 5.0)),
    ("503 second", AttemptResult.from_status(503), 2, Decision(RETRY, 30.0)),
    ("599 third", AttemptResult.from_status(599), 3, Decision(RETRY, 120.0)),
    ("500 after the schedule", AttemptResult.from_status(500), 4, Decision(PARKED)),
    ("408", AttemptResult.from_status(408), 1, Decision(RETRY, 5.0)),
    ("429", AttemptResult.from_status(429), 1, Decision(RETRY, 5.0)),
    ("429 with Retry-After", AttemptResult.from_status(429, retry_after=60), 1, Decision(RETRY, 60.0)),
    ("Retry-After shorter than the step", AttemptResult.from_status(503, retry_after=1), 2, Decision(RETRY, 30.0)),
    ("Retry-After capped", AttemptResult.from_status(503, retry_after=10**6), 1, Decision(RETRY, 3600.0)),
    ("400", AttemptResult.from_status(400), 1, Decision(PARKED)),
    ("401", AttemptResult.from_status(401), 1, Decision(PARKED)),
    ("404", AttemptResult.from_status(404), 1, Decision(PARKED)),
    ("422", AttemptResult.from_status(422), 1, Decision(PARKED)),
    ("302", AttemptResult.from_status(302), 1, Decision(PARKED)),
    ("timeout", AttemptResult.failed("timed out after 10s", retryable=True), 1, Decision(RETRY, 5.0)),
    ("bad URL", AttemptResult.failed("request failed", retryable=False), 1, Decision(PARKED)),
]


@pytest.mark.parametrize("result, attempts, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_decide(result, attempts, expected):
    assert decide(result, attempts, SCHEDULE, rng=MIDDLE) == expected


@pytest.mark.parametrize("rng, delay", [(lambda: 0.0, 24.0), (lambda: 0.999999, 36.0)], ids=["low", "high"])
def test_jitter_stays_within_twenty_percent(rng, delay):
    assert decide(AttemptResult.from_status(500), 2, SCHEDULE, rng=rng).delay == pytest.approx(delay)


def test_an_empty_schedule_parks_after_one_attempt():
    assert decide(AttemptResult.from_status(500), 1, ()) == Decision(PARKED)
