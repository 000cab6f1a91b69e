"""In-process handlers: callables registered under the entry-point group ``smspipe.handlers``.

A plugin declares, in its own pyproject.toml::

    [project.entry-points."smspipe.handlers"]
    audit = "my_package.audit:handle"

``handle(event)`` receives the CloudEvent as a dict. It may set ``handle.event_types`` (a tuple
of event types) to receive only those. Raising ``common.errors.PermanentError`` parks the
delivery at once; any other exception is retried on ``SMSPIPE_HANDLER_RETRY_SCHEDULE``. Only
the handlers named in ``SMSPIPE_HANDLERS`` run (``*``: every installed one), so installing a
package never starts sending it events on its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Any

from common.errors import ConfigError, PermanentError
from workers.fanout.attempts import AttemptResult

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "smspipe.handlers"

Handler = Callable[[dict[str, Any]], Any]

# Handlers added in code (tests, embedding applications), beside the entry points.
REGISTERED: dict[str, Handler] = {}


def register_handler(name: str, handler: Handler) -> None:
    REGISTERED[name] = handler


def unregister_handler(name: str) -> None:
    REGISTERED.pop(name, None)


def available_handlers() -> dict[str, Callable[[], Handler]]:
    """Every handler that could run, by name, as loaders (an entry point is imported only when
    it is selected)."""
    loaders: dict[str, Callable[[], Handler]] = {
        entry_point.name: entry_point.load for entry_point in entry_points(group=ENTRY_POINT_GROUP)
    }
    loaders.update({name: (lambda handler=handler: handler) for name, handler in REGISTERED.items()})
    return loaders


def load_handlers(selection: Iterable[str]) -> dict[str, Handler]:
    selection = tuple(selection)
    loaders = available_handlers()
    if "*" in selection:
        selection = tuple(sorted(loaders))
    missing = [name for name in selection if name not in loaders]
    if missing:
        raise ConfigError(f"SMSPIPE_HANDLERS: no handler named {missing[0]!r} is installed "
                          f"(entry-point group {ENTRY_POINT_GROUP}; installed: {', '.join(sorted(loaders)) or 'none'})")
    return {name: loaders[name]() for name in selection}


def run_handler(name: str, handler: Handler, event_id: str, payload: str) -> AttemptResult:
    try:
        handler(json.loads(payload))
    except PermanentError as error:
        logger.warning("handler refused the event for good", extra={"handler": name, "event_id": event_id})
        return AttemptResult.failed(f"{type(error).__name__}: {error}", retryable=False)
    except Exception as error:  # a plugin's bug or outage: isolated to its own delivery, retried
        logger.exception("handler failed", extra={"handler": name, "event_id": event_id})
        return AttemptResult.failed(f"{type(error).__name__}: {error}", retryable=True)
    return AttemptResult(ok=True)


def log_event(event: dict[str, Any]) -> None:
    """The example handler smspipe ships (entry point ``log``): one log line per event."""
    logger.info("event", extra={"event_id": event.get("id"), "event_type": event.get("type"),
                                "source": event.get("source")})
