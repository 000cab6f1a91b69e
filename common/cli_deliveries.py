"""``smspipe deliveries``: run the delivery worker, list, show and replay parked deliveries;
and ``smspipe events tail --group``'s loop. The admin API mirrors list/show/replay."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

import click
import redis

from common.cli_support import cli_settings as _settings
from common.cli_support import database_session as _session
from common.deliveries import STATES, delivery_as_dict, enqueue_replayed, get_delivery, list_deliveries, replay_parked
from common.settings import Settings
from common.stream_group import GroupReader, default_consumer_name


@click.group()
def deliveries() -> None:
    """Deliveries to HTTP subscribers and handlers: worker, parked list, replay."""


@deliveries.command("worker")
@click.option("--concurrency", "-c", default=16, show_default=True, help="deliveries attempted at once")
def deliveries_worker(concurrency: int) -> None:
    """Run a Celery worker for the delivery queues only (threads: deliveries wait on the network)."""
    os.execv(sys.executable, deliveries_worker_command(concurrency))


def deliveries_worker_command(concurrency: int) -> list[str]:
    # Every queue the app declares (one per destination, read from the config) except the
    # batch queue: the app knows the destinations, the CLI need not.
    return [
        sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
        "--exclude-queues", _settings().queue_name,
        "--pool", "threads", "--concurrency", str(concurrency),
        "--loglevel", "INFO", "--without-gossip", "--without-mingle",
    ]


@deliveries.command("list")
@click.option("--state", type=click.Choice(STATES), default="parked", show_default=True)
@click.option("--destination", default=None, help="only this subscriber or handler")
@click.option("--limit", default=100, show_default=True)
def deliveries_list(state: str, destination: str | None, limit: int) -> None:
    """One JSON document a line, oldest first."""
    settings = _settings()
    with _session(settings) as session:
        for delivery in list_deliveries(session, state, destination, limit):
            click.echo(json.dumps(delivery_as_dict(delivery)))


@deliveries.command("show")
@click.argument("delivery_id", type=int)
def deliveries_show(delivery_id: int) -> None:
    """A delivery with every attempt."""
    settings = _settings()
    with _session(settings) as session:
        found = get_delivery(session, delivery_id)
        if found is None:
            raise click.ClickException(f"no delivery {delivery_id}")
        click.echo(json.dumps(delivery_as_dict(*found), indent=2))


@deliveries.command("replay")
@click.argument("delivery_ids", type=int, nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="every parked delivery (of --destination, if given)")
@click.option("--destination", default=None)
def deliveries_replay(delivery_ids: tuple[int, ...], replay_all: bool, destination: str | None) -> None:
    """Send parked deliveries again, with a fresh retry schedule."""
    if bool(delivery_ids) == replay_all:
        raise click.UsageError("give delivery ids or --all")
    settings = _settings()
    with _session(settings) as session, session.begin():
        replayed = replay_parked(session, None if replay_all else delivery_ids, destination)
    ids = [delivery_id for delivery_id, _kind, _name in replayed]
    not_parked = sorted(set(delivery_ids) - set(ids))
    if ids:
        from common.queue import make_celery

        try:
            enqueue_replayed(make_celery(settings, name="smspipe-cli"), settings, replayed)
        except Exception as error:  # the broker is down: the worker's sweep sends them later
            click.echo(f"queued for the sweep (broker unavailable: {type(error).__name__})", err=True)
    click.echo(json.dumps({"replayed": ids}))
    if not_parked:
        raise click.ClickException(f"not parked (or no such delivery): {', '.join(map(str, not_parked))}")


def tail_group(
    client: redis.Redis,
    settings: Settings,
    group: str,
    consumer: str | None,
    from_start: bool,
    count: int | None,
    idle_timeout: float | None,
    echo: Callable[[str], None] = click.echo,
) -> None:
    """``smspipe events tail --group``: print, then acknowledge, as one member of ``group``."""
    reader = GroupReader(client, settings.stream_name, group, consumer or default_consumer_name(),
                         start_id="0" if from_start else "$")
    printed = 0
    idle_since = time.monotonic()
    try:
        reader.ensure_group()
        while count is None or printed < count:
            entries = reader.read(block_ms=1000, count=100 if count is None else min(100, count - printed))
            if not entries:
                if idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                    break
                continue
            for entry_id, fields in entries:
                echo(fields[b"event"].decode())
                reader.ack([entry_id])
                printed += 1
            idle_since = time.monotonic()
    except redis.ConnectionError as error:
        raise click.ClickException(f"cannot reach Redis at {settings.redis_url}: {error}") from None
