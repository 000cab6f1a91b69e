"""The naive worker of ``bench/workers``: what a Celery user writes first, one task per webhook.

``celery -A bench.naive_worker worker -Q smspipe-naive``: each message carries ONE envelope and
runs the same pipeline on a batch of one (its own transactions), so the only difference from
smspipe's worker is one Celery message and one transaction per webhook.
"""

from __future__ import annotations

from typing import Any

from common.envelope import Envelope
from workers.celery_app import app
from workers.tasks import get_pipeline

TASK = "bench.naive_one"
QUEUE = "smspipe-naive"


@app.task(name=TASK)
def naive_one(wire: dict[str, Any]) -> int:
    return get_pipeline().process([Envelope.from_wire(wire)]).applied
