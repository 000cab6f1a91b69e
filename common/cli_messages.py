"""``smspipe message show <provider> <id>``: what ``GET /api/v1/messages/<provider>/<id>``
answers (the message, its current delivery state, its history), read from the database."""

from __future__ import annotations

import json

import click

from common.cli_support import cli_settings, database_session
from common.providers import PROVIDERS
from common.views import message_view


@click.group()
def message() -> None:
    """Messages and their delivery state."""


@message.command("show")
@click.argument("provider", type=click.Choice(PROVIDERS))
@click.argument("provider_message_id")
def message_show(provider: str, provider_message_id: str) -> None:
    """Print a message, its current state and its history as JSON."""
    with database_session(cli_settings()) as session:
        view = message_view(session, provider, provider_message_id)
    if view is None:
        raise click.ClickException(f"no {provider} message {provider_message_id!r}")
    click.echo(json.dumps(view, indent=2, ensure_ascii=False))
