"""Who receives which events: the HTTP subscribers of the TOML config and the selected
handlers, each one a ``Destination`` with its own retry schedule and attempt function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from common.config import load_config
from common.deliveries import HANDLER, SUBSCRIBER, destination_queue
from common.settings import Settings
from workers.fanout.attempts import AttemptResult
from workers.fanout.handlers import load_handlers, run_handler
from workers.fanout.http import send_signed

# How long an attempt may hold its delivery before the sweep considers the worker dead.
LEASE_MARGIN_SECONDS = 60.0
HANDLER_LEASE_SECONDS = 600.0


@dataclass(frozen=True)
class Destination:
    kind: str  # subscriber | handler
    name: str
    types: tuple[str, ...]  # empty: every type
    retry_schedule: tuple[float, ...]
    lease_seconds: float
    attempt: Callable[[str, str], AttemptResult]  # (event_id, payload) -> result

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    def wants(self, event_type: str) -> bool:
        return not self.types or event_type in self.types


def load_destinations(settings: Settings) -> dict[tuple[str, str], Destination]:
    destinations = [
        Destination(
            SUBSCRIBER, subscriber.name, subscriber.types, subscriber.retry_schedule,
            subscriber.timeout_seconds + LEASE_MARGIN_SECONDS, partial(send_signed, subscriber),
        )
        for subscriber in load_config(settings.config_path).subscribers
    ]
    destinations += [
        Destination(
            HANDLER, name, tuple(getattr(handler, "event_types", ())), settings.handler_retry_schedule,
            HANDLER_LEASE_SECONDS, partial(run_handler, name, handler),
        )
        for name, handler in load_handlers(settings.handlers).items()
    ]
    return {destination.key: destination for destination in destinations}


def delivery_queues(settings: Settings) -> list[str]:
    """The shared delivery queue, then one per destination."""
    return [settings.delivery_queue_name] + [destination_queue(settings, *key) for key in load_destinations(settings)]
