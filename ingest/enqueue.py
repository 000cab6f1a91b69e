"""The ingest's publishing: the broker (``common.batch_publisher.CeleryPublisher``, one Celery
task per batch) first; when Redis refuses a batch, the disk spool (``SpoolingPublisher``).
"""

from __future__ import annotations

import logging
from typing import Any

from common.errors import EnqueueFailed
from ingest.group_commit import Publish
from ingest.spool import Spool

logger = logging.getLogger(__name__)


class SpoolingPublisher:
    """The broker first; if it refuses, the spool (fsynced); ``EnqueueFailed`` if both fail."""

    def __init__(self, publish: Publish, spool: Spool):
        self.publish = publish
        self.spool = spool
        self.spooled_batches = 0

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.publish(batch)
            return
        except Exception as broker_error:  # any broker failure: the spool is the fallback
            logger.warning("broker refused a batch of %d; spooling it: %s", len(batch), broker_error)
            try:
                self.spool.append(batch)
            except EnqueueFailed as spool_error:
                raise EnqueueFailed(f"broker: {broker_error}; {spool_error}") from spool_error
        self.spooled_batches += 1
