"""``smspipe status``: the ops page's summary in the terminal, one screen (``rich``).

Reads the database, Redis and the spool directly (``common.ops_summary``), so it works with or
without a running ingest.
"""

from __future__ import annotations

from typing import Any

import click
import redis
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from common.cli_support import cli_settings, database_session
from common.ops_summary import Summary, build_summary

SPARK_BLOCKS = " ▁▂▃▄▅▆▇█"


def spark(values: list[int]) -> str:
    top = max(values) or 1
    return "".join(SPARK_BLOCKS[round(value / top * (len(SPARK_BLOCKS) - 1))] for value in values)


def render_summary(summary: Summary) -> Group:
    overview = Table.grid(padding=(0, 3))
    overview.add_column(style="bold")
    overview.add_column()
    if summary.queue is None:
        overview.add_row("queue", Text("broker unreachable", style="bold red"))
    else:
        age = summary.queue["oldest_age_seconds"]
        overview.add_row(
            "queue",
            Text(f"{summary.queue['depth']} batches waiting, {summary.queue['unacked']} in progress, "
                 f"oldest waiting {age:.1f}s", style="yellow" if age > 60 else ""),
        )
    overview.add_row("spool", Text(f"{summary.spool['files']} webhooks on disk ({summary.spool['bytes']} bytes)",
                                   style="yellow" if summary.spool["files"] else ""))
    states = summary.payload_states
    overview.add_row("webhooks stored", f"{states.get('processed', 0)} processed, {states.get('pending', 0)} pending, "
                                        f"{states.get('dead_lettered', 0)} dead-lettered")
    overview.add_row("dead letters", Text(f"{summary.dead_letters_waiting} waiting for a replay",
                                          style="bold red" if summary.dead_letters_waiting else "green"))

    rates = Table(title=f"webhooks per provider, last 5 min ({summary.rate_bucket_seconds}s steps)",
                  title_justify="left", expand=False)
    rates.add_column("provider")
    rates.add_column("per min", justify="right")
    rates.add_column("5 min", justify="right")
    rates.add_column("trend")
    for provider, values in summary.rates.items():
        rates.add_row(provider, f"{summary.per_minute(provider):.0f}", str(sum(values)), spark(values))

    statuses = Table(title="delivery status", title_justify="left")
    statuses.add_column("status")
    statuses.add_column("messages", justify="right")
    total = sum(count for _, count in summary.statuses) or 1
    statuses.add_column("")
    for status, count in summary.statuses:
        statuses.add_row(status, str(count), "█" * max(1, round(24 * count / total)))

    events = Table(title="latest events", title_justify="left")
    for column in ("#", "type", "subject", "ingest id"):
        events.add_column(column)
    for event in summary.latest_events[:6]:
        events.add_row(str(event["seq"]), event["type"], event["subject"] or "", event["ingest_id"])

    letters = Table(title="dead letters (newest)", title_justify="left")
    for column in ("id", "provider", "reason", "replayed"):
        letters.add_column(column)
    for letter in summary.dead_letters[:5]:
        letters.add_row(str(letter["id"]), letter["provider"], letter["reason"][:60],
                        "yes" if letter["replayed_at"] else "")

    subscribers = Table(title="subscribers", title_justify="left")
    subscribers.add_column("name")
    subscribers.add_column("url")
    for subscriber in summary.subscribers:
        subscribers.add_row(subscriber["name"], subscriber["problem"] or subscriber["url"])

    header = f"smspipe status · {summary.generated_at:%Y-%m-%d %H:%M:%S} UTC"
    parts: list[Any] = [Panel(overview, title=header, title_align="left"), rates]
    for table, empty in ((statuses, "delivery status: no outbound messages yet"),
                         (events, "latest events: none yet"),
                         (letters, "dead letters: none"),
                         (subscribers, "subscribers: none configured (events go to the Redis Stream)")):
        parts.append(table if table.row_count else Text(empty, style="dim"))
    return Group(*parts)


@click.command()
def status() -> None:
    """One screen: queue, spool, rates per provider, delivery statuses, latest events, dead letters."""
    settings = cli_settings()
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
    try:
        with database_session(settings) as session:
            summary = build_summary(settings, session, client)
    finally:
        client.close()
    Console().print(render_summary(summary))
