"""Celery tasks. They take ids or raw envelopes, return values, and one classifier decides
retry versus dead letter (``RetryableError`` retries with backoff up to SMSPIPE_MAX_ATTEMPTS)."""

from __future__ import annotations

import logging
import os
import random
import threading
from typing import Any

import redis
from celery import Task

from common import metrics
from common.config import load_config
from common.db import make_engine, make_session_factory
from common.envelope import TASK_PROCESS_BATCH, Envelope
from common.errors import RetryableError
from common.settings import get_settings
from workers.celery_app import app
from workers.pipeline import TRANSIENT_ERRORS, Pipeline

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300

_pipeline: tuple[int, Pipeline] | None = None
_pipeline_lock = threading.Lock()


def get_pipeline() -> Pipeline:
    """One pipeline (engine, Redis pool) per process, created after the worker forked."""
    global _pipeline
    with _pipeline_lock:
        if _pipeline is None or _pipeline[0] != os.getpid():
            settings = get_settings()
            engine = make_engine(settings.database_url)
            _pipeline = (
                os.getpid(),
                Pipeline(settings, make_session_factory(engine), redis.Redis.from_url(settings.redis_url),
                         load_config(settings.config_path)),
            )
        return _pipeline[1]


def backoff_seconds(attempt: int) -> float:
    """Exponential with full jitter: 1, 2, 4 ... seconds, capped."""
    return random.uniform(0.5, 1.0) * min(MAX_BACKOFF_SECONDS, 2 ** (attempt - 1))


@app.task(name=TASK_PROCESS_BATCH, bind=True, max_retries=None)
def process_batch(self: Task, batch: list[dict[str, Any]]) -> dict[str, Any]:
    envelopes = [Envelope.from_wire(wire) for wire in batch]
    pipeline = get_pipeline()
    attempt = self.request.retries + 1
    try:
        result = pipeline.process(envelopes)
    except Exception as error:  # RetryableError, or anything unforeseen: retried, then parked
        if not isinstance(error, RetryableError):
            logger.exception("batch failed unexpectedly")
        logger.warning("batch failed, attempt %d of %d: %s", attempt, pipeline.settings.max_attempts, error)
        if attempt < pipeline.settings.max_attempts:
            metrics.batch_done([], "retried")
            raise self.retry(exc=error, countdown=backoff_seconds(attempt))
        try:
            dead = pipeline.settle_one_by_one(envelopes, error, attempts=attempt)
        except (RetryableError, *TRANSIENT_ERRORS) as storage_error:
            # Nowhere to put it yet: keep retrying rather than acknowledge and lose it.
            raise self.retry(exc=storage_error, countdown=MAX_BACKOFF_SECONDS)
        metrics.batch_done([], "dead_lettered")
        return {"dead_lettered": dead}
    summary = result.summary()
    metrics.batch_done((envelope.received_at for envelope in envelopes), "processed")
    logger.info("batch processed", extra=summary | {"ingest_ids": [envelope.ingest_id for envelope in envelopes]})
    return summary


@app.task(name="smspipe.relay_outbox")
def relay_outbox() -> int:
    return get_pipeline().outbox.relay_pending()
