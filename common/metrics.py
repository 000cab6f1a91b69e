"""Prometheus metrics: their definitions, one-line recording helpers, and the scrape.

Correct with several gunicorn workers and Celery pool processes: the parent prepares a
multiprocess directory (``common.metrics_dir``) before this module is first imported, every
process writes its own file there, and a scrape sums them (``MultiProcessCollector``). Without
that directory (tests, scripts) the ordinary in-process registry is used.

What is only known at scrape time — queue depth, the age of the oldest waiting batch, the spool
size — is read then by ``PipelineCollector`` rather than kept as gauges.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.metrics_dir import multiprocess_dir
from common.providers import PROVIDERS
from common.settings import Settings

# --- ingest ----------------------------------------------------------------------------------

WEBHOOKS_RECEIVED = Counter(
    "smspipe_webhooks_received", "Webhook requests answered, by provider route and HTTP status code",
    ["provider", "code"],
)
INGEST_LATENCY = Histogram(
    "smspipe_ingest_latency_seconds", "Time from a webhook request's arrival to its answer",
    ["provider"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INGEST_BATCH_SIZE = Histogram(
    "smspipe_ingest_batch_size", "Webhooks per batch the ingest enqueued (group commit)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
INGEST_BATCHES_FAILED = Counter("smspipe_ingest_batches_failed", "Batches the ingest could not enqueue")

# --- workers ---------------------------------------------------------------------------------

BATCHES = Counter("smspipe_batches", "Batches a worker finished, by outcome", ["outcome"])
BATCH_PAYLOADS = Histogram(
    "smspipe_batch_payloads", "Webhooks per batch a worker processed",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
PIPELINE_LAG = Histogram(
    "smspipe_pipeline_lag_seconds", "From the oldest webhook of a batch reaching the ingest to its batch done",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
RECORDS = Counter(
    "smspipe_records", "Provider records, by provider, kind and outcome (applied, duplicate, rejected)",
    ["provider", "kind", "outcome"],
)
DEAD_LETTERS = Counter(
    "smspipe_dead_letters", "Dead letters written: kind 'payload' (a whole webhook) or 'record' (one of its records)",
    ["provider", "kind", "error_type"],
)
EVENTS_EMITTED = Counter("smspipe_events_emitted", "Normalized events written to the outbox, by type", ["type"])
STATUS_TRANSITIONS = Counter(
    "smspipe_delivery_transitions", "Delivery-state changes of outbound messages",
    ["provider", "from_status", "to_status"],
)
# Subscriber delivery (CONTRACT §6.2) records these; defined here so dashboards and the ops page
# have stable names. TODO(#7): recorded by the HTTP subscriber delivery task.
SUBSCRIBER_DELIVERIES = Counter(
    "smspipe_subscriber_deliveries", "HTTP subscriber delivery attempts, by subscriber and outcome",
    ["subscriber", "outcome"],
)
SUBSCRIBER_LATENCY = Histogram(
    "smspipe_subscriber_delivery_seconds", "HTTP subscriber delivery attempt duration", ["subscriber"],
)

# Record classes (workers.records) by name, so common need not import the workers.
RECORD_KINDS = {
    "InboundMessage": "inbound",
    "StatusReport": "status",
    "LinkClick": "click",
    "ConsentSignal": "consent",
    "RejectedRecord": "rejected",
}


def record_kind(record: object) -> str:
    return RECORD_KINDS.get(type(record).__name__, type(record).__name__.lower())


# --- one-line recording helpers, called from the ingest and the pipeline ----------------------


def provider_label(provider: str | None) -> str:
    """Only known routes become label values: a scan of random paths cannot blow up the series."""
    return provider if provider in PROVIDERS else "unknown"


def webhook_answered(provider: str | None, code: int, seconds: float) -> None:
    label = provider_label(provider)
    WEBHOOKS_RECEIVED.labels(label, str(code)).inc()
    INGEST_LATENCY.labels(label).observe(seconds)


def record_outcome(provider: str, record: object, outcome: str) -> None:
    RECORDS.labels(provider, record_kind(record), outcome).inc()


def dead_lettered(provider: str, record_index: int | None, error_type: str) -> None:
    DEAD_LETTERS.labels(provider, "payload" if record_index is None else "record", error_type).inc()


def events_emitted(event_types: Iterable[str]) -> None:
    for event_type in event_types:
        EVENTS_EMITTED.labels(event_type).inc()


def status_transition(provider: str, previous: str | None, status: str) -> None:
    STATUS_TRANSITIONS.labels(provider, previous or "none", status).inc()


def batch_done(received_at: Iterable[datetime], outcome: str) -> None:
    """One batch finished in a worker; ``received_at`` of its webhooks gives the lag."""
    times = list(received_at)
    BATCHES.labels(outcome).inc()
    if outcome == "processed" and times:
        BATCH_PAYLOADS.observe(len(times))
        PIPELINE_LAG.observe(max(0.0, (datetime.now(timezone.utc) - min(times)).total_seconds()))


# --- scrape-time readings ----------------------------------------------------------------------


def oldest_batch_received_at(message: bytes) -> datetime | None:
    """The ``received_at`` of the first webhook in a Celery message on the Redis list, or None
    when the message is not one of our batches."""
    try:
        document = json.loads(message)
        body = document["body"]
        if document.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return datetime.fromisoformat(args[0][0]["received_at"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def queue_reading(client: redis.Redis, queue_name: str) -> dict[str, Any]:
    """Batches waiting in the broker, batches taken but not yet acknowledged, and how long the
    oldest waiting one has waited. Celery's Redis transport LPUSHes and BRPOPs: the oldest is last."""
    with client.pipeline(transaction=False) as pipe:
        pipe.llen(queue_name)
        pipe.lindex(queue_name, -1)
        pipe.hlen("unacked")
        depth, oldest, unacked = pipe.execute()
    received = oldest_batch_received_at(oldest) if oldest else None
    age = (datetime.now(timezone.utc) - received).total_seconds() if received else 0.0
    return {"depth": int(depth), "unacked": int(unacked), "oldest_age_seconds": max(0.0, age)}


def spool_reading(spool_dir: str) -> dict[str, int]:
    """Files and bytes waiting in the disk spool (webhooks accepted while Redis was down)."""
    files = size = 0
    root = Path(spool_dir)
    if root.is_dir():
        for path in root.rglob("*"):
            try:
                if path.is_file():
                    files += 1
                    size += path.stat().st_size
            except OSError:  # taken by the re-enqueuer while we looked
                continue
    return {"files": files, "bytes": size}


class PipelineCollector(Collector):
    """Queue depth, oldest batch age and spool size, read from Redis and disk at each scrape."""

    def __init__(self, settings: Settings, client: redis.Redis):
        self.settings = settings
        self.client = client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("smspipe_broker_up", "1 when the broker answered this scrape")
        try:
            queue = queue_reading(self.client, self.settings.queue_name)
        except redis.RedisError:
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            yield GaugeMetricFamily("smspipe_queue_depth", "Batches waiting in the broker", value=queue["depth"])
            yield GaugeMetricFamily(
                "smspipe_queue_unacked", "Batches taken by a worker, not yet acknowledged", value=queue["unacked"]
            )
            yield GaugeMetricFamily(
                "smspipe_queue_oldest_batch_age_seconds", "How long the oldest waiting batch has waited",
                value=queue["oldest_age_seconds"],
            )
        yield up
        spool = spool_reading(self.settings.spool_dir)
        yield GaugeMetricFamily("smspipe_spool_files", "Webhooks waiting in the disk spool", value=spool["files"])
        yield GaugeMetricFamily("smspipe_spool_bytes", "Bytes waiting in the disk spool", value=spool["bytes"])


def process_registry() -> CollectorRegistry:
    """Every process's samples: summed from the multiprocess directory, or this process's own."""
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return registry


def render(extra: Collector | None = None) -> tuple[bytes, str]:
    """The Prometheus text exposition of every process's metrics, plus ``extra``."""
    text = generate_latest(process_registry())
    if extra is not None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(extra)
        text += generate_latest(registry)
    return text, CONTENT_TYPE_LATEST


def counter_values(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """A counter's current totals across processes, keyed by sorted label pairs (ops page, status)."""
    values: dict[tuple[tuple[str, str], ...], float] = {}
    for family in process_registry().collect():
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == name + "_total":
                key = tuple(sorted(sample.labels.items()))
                values[key] = values.get(key, 0.0) + sample.value
    return values


def start_worker_metrics_server(settings: Settings) -> Any:
    """Serve the worker's metrics (all its pool processes) on their own port; None when off or
    the port is taken (a warning, never a crashed worker)."""
    import logging

    from prometheus_client import start_http_server

    if not settings.worker_metrics_port:
        return None
    try:
        server, _thread = start_http_server(
            settings.worker_metrics_port, addr=settings.worker_metrics_host, registry=process_registry()
        )
    except OSError as error:
        logging.getLogger(__name__).warning(
            "worker metrics port unavailable", extra={"port": settings.worker_metrics_port, "error": str(error)}
        )
        return None
    logging.getLogger(__name__).info(
        "worker metrics listening", extra={"host": settings.worker_metrics_host, "port": settings.worker_metrics_port}
    )
    return server
