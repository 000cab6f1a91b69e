"""Structured logs with ``structlog``: one JSON object a line in production, readable console
lines under ``smspipe dev`` (``SMSPIPE_LOG_FORMAT=console``).

The code logs with the standard library (``logger.info("batch processed", extra={...})``);
structlog's ``ProcessorFormatter`` renders those records, their ``extra`` fields included, and
Celery's and gunicorn's own records alike. End-user numbers are masked except their last 4
digits in every line — fields, messages and tracebacks — by ``mask_numbers``, the last step
before rendering, so no caller has to remember to.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

from common.phone import mask_number

#: Fields that hold a phone number whatever it looks like (masked even when short or odd).
NUMBER_FIELDS = frozenset(
    {"from", "to", "end_user", "our_number", "recipient", "subject", "contact", "phone_number",
     "msisdn", "destination", "sender", "oa", "da", "number"}
)
# A run of 7 to 15 digits (E.164 allows at most 15), optionally after "+", that is not part of a
# longer word: an ingest id's hex digits, a decimal fraction or a 16+ digit message id are left alone.
NUMBER_PATTERN = re.compile(r"(?<![\w+.])\+?\d{7,15}(?![\w])")

_HANDLER_NAME = "smspipe"


def mask_text(text: str) -> str:
    return NUMBER_PATTERN.sub(lambda match: mask_number(match.group(0)) or "", text)


def _mask_value(key: str | None, value: Any) -> Any:
    if isinstance(value, str):
        if key in NUMBER_FIELDS:
            return mask_number(value)
        return mask_text(value)
    if isinstance(value, dict):
        return {name: _mask_value(str(name), item) for name, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_mask_value(None, item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and (key in NUMBER_FIELDS or len(str(value)) >= 7):
        return mask_text(str(value)) if key not in NUMBER_FIELDS else mask_number(str(value))
    return value


def mask_numbers(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: every string (and long integer) in the line, numbers masked."""
    return {key: _mask_value(key, value) for key, value in event_dict.items()}


def hide_task_arguments(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: Celery's task lines carry the task's arguments in ``data`` — our
    batches, whose base64 bodies hold end-user numbers that masking cannot see. Keep the task's
    name and id, drop its arguments."""
    data = event_dict.get("data")
    if isinstance(data, dict) and ("args" in data or "kwargs" in data):
        event_dict["data"] = {key: value for key, value in data.items() if key not in ("args", "kwargs")}
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def make_formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    renderer: Any
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    else:
        renderer = structlog.processors.JSONRenderer(default=str)
    return structlog.stdlib.ProcessorFormatter(
        # stdlib records: their ``extra={...}`` become fields of the line.
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # tracebacks become text, and are masked too
            hide_task_arguments,
            mask_numbers,
            renderer,
        ],
    )


def configure_logging(log_format: str, level: int | str = logging.INFO) -> None:
    """Route every stdlib and structlog record through one masked, structured handler on stderr.
    Called by the processes smspipe runs (gunicorn, Celery), not on import."""
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(make_formatter(log_format))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
