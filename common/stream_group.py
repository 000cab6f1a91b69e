"""Reading the event stream as a member of a Redis consumer group (``smspipe events tail --group``).

Every entry goes to one member of the group and stays pending until that member acknowledges it
(XACK), so a member that dies loses nothing: on restart under the same consumer name it first
re-reads its own pending entries, and any member claims entries another member left pending for
longer than ``claim_idle_seconds`` (XAUTOCLAIM). Delivery is at least once; dedupe by event id.
examples/consume_events.py is the same loop for a downstream service, without smspipe installed.
"""

from __future__ import annotations

import os
import socket
import time

import redis

Entry = tuple[bytes, dict[bytes, bytes]]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class GroupReader:
    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        start_id: str = "$",
        claim_idle_seconds: float = 60.0,
    ):
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.start_id = start_id
        self.claim_idle_ms = int(claim_idle_seconds * 1000)
        self._own_pending_cursor: str | None = "0"  # None once our own backlog is re-read
        self._next_claim = 0.0

    def ensure_group(self) -> bool:
        """Create the group (and the stream) if needed; ``start_id`` counts only then.
        Returns whether it was created."""
        try:
            self.client.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
        except redis.ResponseError as error:
            if not str(error).startswith("BUSYGROUP"):  # Redis's error code for "the group exists"
                raise
            return False
        return True

    def read(self, block_ms: int = 1000, count: int = 100) -> list[Entry]:
        """The next entries for this member: its own unacknowledged ones first, then entries
        other members left idle, then new ones (blocking up to ``block_ms``)."""
        if self._own_pending_cursor is not None:
            entries = self._read_group(self._own_pending_cursor, count, block_ms=None)
            if entries:
                self._own_pending_cursor = entries[-1][0].decode()
                return self._live(entries)
            self._own_pending_cursor = None
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self.claim_idle_ms / 2000
            claimed = self.client.xautoclaim(
                self.stream, self.group, self.consumer, min_idle_time=self.claim_idle_ms, start_id="0-0", count=count
            )
            if claimed[1]:
                return self._live(claimed[1])
        return self._live(self._read_group(">", count, block_ms=block_ms))

    def ack(self, entry_ids: list[bytes]) -> None:
        if entry_ids:
            self.client.xack(self.stream, self.group, *entry_ids)

    def _read_group(self, cursor: str, count: int, block_ms: int | None) -> list[Entry]:
        answer = self.client.xreadgroup(self.group, self.consumer, {self.stream: cursor}, count=count, block=block_ms)
        return answer[0][1] if answer else []

    def _live(self, entries: list[Entry]) -> list[Entry]:
        """Entries trimmed away by MAXLEN come back without fields: acknowledge and drop them."""
        trimmed = [entry_id for entry_id, fields in entries if not fields]
        self.ack(trimmed)
        return [(entry_id, fields) for entry_id, fields in entries if fields]
