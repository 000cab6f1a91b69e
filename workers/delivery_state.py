"""Delivery state as a transition table (CONTRACT §4).

Every report goes into the message's history; only some change its current state. Rows are
keyed by (current kind, incoming kind); duplicates never get here (they are deduped first), and
late or out-of-order arrivals are explicit rows, not special cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from workers.normalize import NON_FINAL_RANK, is_final


@dataclass(frozen=True)
class State:
    status: str
    at: datetime


def _kind(state: State | None) -> str:
    if state is None:
        return "none"
    return "final" if is_final(state.status) else "non_final"


def _always(current: State | None, incoming: State) -> bool:
    return True


def _never(current: State | None, incoming: State) -> bool:
    # A late non-final report ("sent" after "delivered") never undoes a final state.
    return False


def _higher_rank(current: State | None, incoming: State) -> bool:
    assert current is not None
    return NON_FINAL_RANK[incoming.status] > NON_FINAL_RANK[current.status]


def _later_or_same_time(current: State | None, incoming: State) -> bool:
    # Among finals the later provider timestamp wins; on a tie the later arrival does.
    assert current is not None
    return incoming.at >= current.at


TRANSITIONS: dict[tuple[str, str], Callable[[State | None, State], bool]] = {
    ("none", "non_final"): _always,  # a report for a message never seen creates it
    ("none", "final"): _always,
    ("non_final", "non_final"): _higher_rank,
    ("non_final", "final"): _always,
    ("final", "non_final"): _never,
    ("final", "final"): _later_or_same_time,
}


def decide(current: State | None, incoming: State) -> bool:
    """Does ``incoming`` become the current state?"""
    return TRANSITIONS[(_kind(current), _kind(incoming))](current, incoming)
