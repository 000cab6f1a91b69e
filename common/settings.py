"""The one place ``SMSPIPE_*`` environment variables are read.

Every setting is listed in the README with its meaning. Bad values raise ``ConfigError`` whose
message names the setting, so start-up fails with one clear line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from common.errors import ConfigError
from common.providers import PROVIDERS, settings_prefix

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "sqlite:///smspipe.db"


@dataclass(frozen=True)
class ProviderAuth:
    """Credentials one provider's webhooks must carry; all empty means no auth is configured."""

    hmac_secrets: tuple[str, ...] = ()
    basic_auth: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.hmac_secrets or self.basic_auth or self.tokens)


@dataclass(frozen=True)
class Settings:
    redis_url: str = DEFAULT_REDIS_URL
    database_url: str = DEFAULT_DATABASE_URL
    config_path: str | None = None
    spool_dir: str = "smspipe-spool"
    max_body_bytes: int = 1024 * 1024
    max_attempts: int = 5
    batch_max_size: int = 200
    batch_max_wait_ms: float = 2.0
    enqueue_timeout_seconds: float = 10.0
    dedupe_ttl_seconds: int = 7 * 24 * 3600
    stream_name: str = "smspipe:events"
    stream_maxlen: int = 1_000_000
    queue_name: str = "smspipe"
    admin_token: str | None = None
    log_format: str = "json"
    provider_auth: Mapping[str, ProviderAuth] = field(default_factory=dict)
    #: Prometheus multiprocess files; default: ``smspipe-metrics`` beside the spool directory.
    metrics_dir: str | None = None
    #: The Celery worker's own metrics HTTP port (its main process serves every pool process); 0: off.
    worker_metrics_port: int = 9464
    worker_metrics_host: str = "0.0.0.0"
    #: Set by ``smspipe dev`` only: the ops page opens without the admin token.
    dev_mode: bool = False
    #: Celery queue of HTTP subscriber and handler deliveries (run by `smspipe deliveries worker`).
    delivery_queue_name: str = "smspipe.deliveries"
    #: Attempts one subscriber or handler may have running at once; the rest wait in the database.
    delivery_lanes: int = 4
    #: How long Redis remembers that an event id is in the stream, so a relayed event is added once.
    stream_dedupe_ttl_seconds: int = 3600
    #: Entry-point handlers (group `smspipe.handlers`) to run: names, or "*" for every installed one.
    handlers: tuple[str, ...] = ()
    #: Seconds between a failing handler's attempts; after the last one the delivery is parked.
    handler_retry_schedule: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0)
    #: SMSPIPE_VISIBILITY_TIMEOUT_SECONDS: a task taken by a worker that vanished (SIGKILL of the
    #: whole worker, host lost) is handed out again after this long; keep it above the slowest batch.
    visibility_timeout_seconds: int = 3600

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        return cls(
            redis_url=reader.text("SMSPIPE_REDIS_URL", DEFAULT_REDIS_URL),
            database_url=reader.text("SMSPIPE_DATABASE_URL", DEFAULT_DATABASE_URL),
            config_path=reader.optional_path("SMSPIPE_CONFIG"),
            spool_dir=reader.text("SMSPIPE_SPOOL_DIR", "smspipe-spool"),
            max_body_bytes=reader.integer("SMSPIPE_MAX_BODY_BYTES", 1024 * 1024, minimum=1),
            max_attempts=reader.integer("SMSPIPE_MAX_ATTEMPTS", 5, minimum=1),
            batch_max_size=reader.integer("SMSPIPE_BATCH_MAX_SIZE", 200, minimum=1),
            batch_max_wait_ms=reader.number("SMSPIPE_BATCH_MAX_WAIT_MS", 2.0, minimum=0.0),
            enqueue_timeout_seconds=reader.number("SMSPIPE_ENQUEUE_TIMEOUT_SECONDS", 10.0, minimum=0.1),
            dedupe_ttl_seconds=reader.integer("SMSPIPE_DEDUPE_TTL_SECONDS", 7 * 24 * 3600, minimum=1),
            stream_name=reader.text("SMSPIPE_STREAM", "smspipe:events"),
            stream_maxlen=reader.integer("SMSPIPE_STREAM_MAXLEN", 1_000_000, minimum=1),
            queue_name=reader.text("SMSPIPE_QUEUE", "smspipe"),
            admin_token=env.get("SMSPIPE_ADMIN_TOKEN") or None,
            log_format=reader.choice("SMSPIPE_LOG_FORMAT", "json", ("json", "console")),
            provider_auth={provider: _provider_auth(reader, provider) for provider in PROVIDERS},
            metrics_dir=reader._raw("SMSPIPE_METRICS_DIR"),
            worker_metrics_port=reader.integer("SMSPIPE_WORKER_METRICS_PORT", 9464, minimum=0),
            worker_metrics_host=reader.text("SMSPIPE_WORKER_METRICS_HOST", "0.0.0.0"),
            dev_mode=reader.choice("SMSPIPE_DEV", "0", ("0", "1")) == "1",
            delivery_queue_name=reader.text("SMSPIPE_DELIVERY_QUEUE", "smspipe.deliveries"),
            delivery_lanes=reader.integer("SMSPIPE_DELIVERY_LANES", 4, minimum=1),
            stream_dedupe_ttl_seconds=reader.integer("SMSPIPE_STREAM_DEDUPE_TTL_SECONDS", 3600, minimum=1),
            handlers=reader.secret_list("SMSPIPE_HANDLERS"),
            handler_retry_schedule=reader.numbers(
                "SMSPIPE_HANDLER_RETRY_SCHEDULE", (5.0, 30.0, 120.0, 600.0, 1800.0), minimum=0.0
            ),
            visibility_timeout_seconds=reader.integer("SMSPIPE_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=5),
        )

    def auth_for(self, provider: str) -> ProviderAuth:
        return self.provider_auth.get(provider, ProviderAuth())


def _provider_auth(reader: _Reader, provider: str) -> ProviderAuth:
    prefix = settings_prefix(provider)
    basic = reader.secret_list(f"{prefix}_BASIC_AUTH")
    for pair in basic:
        if ":" not in pair:
            raise ConfigError(f"{prefix}_BASIC_AUTH: expected user:pass, got a value without ':'")
    return ProviderAuth(
        hmac_secrets=reader.secret_list(f"{prefix}_HMAC_SECRET"),
        basic_auth=basic,
        tokens=reader.secret_list(f"{prefix}_TOKEN"),
    )


class _Reader:
    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def _raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def optional_path(self, name: str) -> str | None:
        value = self._raw(name)
        if value is not None and not os.path.isfile(value):
            raise ConfigError(f"{name}: no such file: {value}")
        return value

    def _convert(self, name: str, default: Any, kind: type, minimum: Any) -> Any:
        value = self._raw(name)
        if value is None:
            return default
        try:
            converted = kind(value)
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise ConfigError(f"{name}: expected {expected}, got {value!r}") from None
        if converted < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {value!r}")
        return converted

    def integer(self, name: str, default: int, minimum: int) -> int:
        return self._convert(name, default, int, minimum)

    def number(self, name: str, default: float, minimum: float) -> float:
        return self._convert(name, default, float, minimum)

    def numbers(self, name: str, default: tuple[float, ...], minimum: float) -> tuple[float, ...]:
        """Comma-separated numbers, e.g. a retry schedule in seconds."""
        value = self._raw(name)
        if value is None:
            return default
        parts = [part.strip() for part in value.split(",") if part.strip()]
        try:
            numbers = tuple(float(part) for part in parts)
        except ValueError:
            raise ConfigError(f"{name}: expected comma-separated numbers, got {value!r}") from None
        if any(number < minimum for number in numbers):
            raise ConfigError(f"{name}: every number must be at least {minimum}, got {value!r}")
        return numbers

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        return value

    def secret_list(self, name: str) -> tuple[str, ...]:
        """Comma-separated, so secrets can be rotated: every listed one is accepted."""
        value = self._raw(name)
        if value is None:
            return ()
        return tuple(part.strip() for part in value.split(",") if part.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings.from_env()
