"""Group commit: the payloads of concurrent requests go to Redis as one Celery task.

Each request hands its envelope to the process's committer and waits. One flusher thread
takes whatever is waiting — up to ``max_size``, lingering at most ``max_wait`` for more — and
publishes it as one batch; every request in the batch answers only once the publish returned
(durable in Redis). Under light load a batch holds one webhook, so latency stays low; under
heavy load one Redis write carries hundreds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from common import metrics
from common.errors import EnqueueFailed
from ingest.process_thread import ProcessThread

logger = logging.getLogger(__name__)

Publish = Callable[[list[dict[str, Any]]], None]


class _Waiter:
    """A one-shot signal: a held lock that ``set`` releases (lighter than ``threading.Event``,
    which builds a Condition and a second lock per wait; one waiter is made per request)."""

    __slots__ = ("_lock", "error")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.error: BaseException | None = None

    def wait(self, timeout: float) -> bool:
        return self._lock.acquire(timeout=timeout)

    def set(self) -> None:
        self._lock.release()


class GroupCommitter:
    def __init__(self, publish: Publish, max_size: int = 200, max_wait: float = 0.002, timeout: float = 10.0):
        self.publish = publish
        self.max_size = max_size
        self.max_wait = max_wait
        self.timeout = timeout
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], _Waiter]] = queue.SimpleQueue()
        self._flusher = ProcessThread(self._run, "smspipe-group-commit", before_start=self._new_queue)
        self.batches_published = 0

    def submit(self, item: dict[str, Any]) -> None:
        """Blocks until the item is durably enqueued; raises ``EnqueueFailed`` otherwise."""
        self._flusher.ensure_running()
        waiter = _Waiter()
        self._queue.put((item, waiter))
        if not waiter.wait(self.timeout):
            # The flusher may still publish it later; the provider retries and dedupe absorbs it.
            raise EnqueueFailed(f"enqueue timed out after {self.timeout:g}s")
        if waiter.error is not None:
            raise EnqueueFailed(str(waiter.error)) from waiter.error

    def _new_queue(self) -> None:
        # Items a parent process had queued are not this process's requests.
        self._queue = queue.SimpleQueue()

    def _take_batch(self) -> list[tuple[dict[str, Any], _Waiter]]:
        batch = [self._queue.get()]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            error: BaseException | None = None
            try:
                self.publish([item for item, _ in batch])
                self.batches_published += 1
                metrics.INGEST_BATCH_SIZE.observe(len(batch))
            except Exception as exc:  # every waiter learns of it and answers 503
                logger.exception("batch enqueue failed", extra={"batch_size": len(batch)})
                metrics.INGEST_BATCHES_FAILED.inc()
                error = exc
            for _, waiter in batch:
                waiter.error = error
                waiter.set()
