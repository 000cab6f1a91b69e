"""Publishing a batch of raw envelopes as one Celery task, by name (no worker import)."""

from __future__ import annotations

from typing import Any

from common.envelope import TASK_PROCESS_BATCH
from common.queue import make_celery
from common.settings import Settings


class CeleryPublisher:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.celery = make_celery(settings, name="smspipe-ingest")

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        # retry=False: fail fast so the request can fall back (spool) or answer 503.
        self.celery.send_task(TASK_PROCESS_BATCH, args=[batch], queue=self.settings.queue_name, retry=False)
