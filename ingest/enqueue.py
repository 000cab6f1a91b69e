"""Publishing a batch of raw envelopes as one Celery task, by name (no worker import), with the
disk spool as the fallback when Redis cannot take it."""

from __future__ import annotations

import logging
from typing import Any

from common.envelope import TASK_PROCESS_BATCH
from common.errors import EnqueueFailed
from common.queue import make_celery
from common.settings import Settings
from ingest.group_commit import Publish
from ingest.spool import Spool

logger = logging.getLogger(__name__)


class CeleryPublisher:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.celery = make_celery(settings, name="smspipe-ingest")
        # Fail at the first refused connection instead of kombu's default ~6 s of reconnecting:
        # the request is waiting, and the spool is the fallback.
        self.celery.conf.broker_transport_options = {**self.celery.conf.broker_transport_options, "max_retries": 0}

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        # retry=False: fail fast so the request can fall back (spool) or answer 503.
        self.celery.send_task(TASK_PROCESS_BATCH, args=[batch], queue=self.settings.queue_name, retry=False)


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
