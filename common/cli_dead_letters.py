"""``smspipe dead-letters list|show <id>|replay <id>...|--all``: the dead-letter store from the
command line (the admin API's ``/api/v1/dead-letters`` mirrors it)."""

from __future__ import annotations

import json

import click

from common import dead_letters
from common.batch_publisher import CeleryPublisher
from common.cli_support import cli_settings as _settings
from common.cli_support import database_session as _session


@click.group("dead-letters")
def dead_letters_group() -> None:
    """Payloads (or records) that could not be processed: inspect and replay them."""


@dead_letters_group.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--pending", is_flag=True, help="only the ones not replayed yet")
def list_command(limit: int, pending: bool) -> None:
    """One line per dead letter, newest first: id, time, provider, ingest id, attempts, reason."""
    settings = _settings()
    with _session(settings) as session:
        letters = dead_letters.list_dead_letters(session, limit=limit, include_replayed=not pending)
        for letter in letters:
            replayed = f" replayed {letter.replayed_at.isoformat()}" if letter.replayed_at else ""
            # repr() keeps a reason holding newlines or control characters on its one line.
            click.echo(
                f"{letter.id}\t{letter.created_at.isoformat()}\t{letter.provider}\t{letter.ingest_id}\t"
                f"attempts={letter.attempts}{replayed}\t{letter.reason!r}"
            )


@dead_letters_group.command("show")
@click.argument("letter_id", type=int)
def show_command(letter_id: int) -> None:
    """The dead letter as JSON, with its traceback and raw body."""
    settings = _settings()
    with _session(settings) as session:
        try:
            letter = dead_letters.get_dead_letter(session, letter_id)
        except dead_letters.DeadLetterNotFound as error:
            raise click.ClickException(str(error)) from None
        document = dead_letters.summary(letter)
        document["traceback"] = letter.traceback
        click.echo(json.dumps(document, indent=2))


@dead_letters_group.command("replay")
@click.argument("letter_ids", type=int, nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="every dead letter not replayed yet")
def replay_command(letter_ids: tuple[int, ...], replay_all: bool) -> None:
    """Re-enqueue the raw payload of each dead letter for processing (idempotent)."""
    if bool(letter_ids) == replay_all:
        raise click.UsageError("give dead letter ids or --all (not both)")
    settings = _settings()
    publish = CeleryPublisher(settings)
    with _session(settings) as session:
        try:
            if replay_all:
                ingest_ids = dead_letters.replay_all(session, publish)
            else:
                ingest_ids = dead_letters.replay(session, list(letter_ids), publish)
        except dead_letters.DeadLetterNotFound as error:
            raise click.ClickException(str(error)) from None
        except Exception as error:  # the broker refused: nothing changed, say so and fail
            raise click.ClickException(f"could not enqueue the replay: {error}") from None
    for ingest_id in ingest_ids:
        click.echo(f"replayed {ingest_id}")
    click.echo(f"{len(ingest_ids)} payload(s) re-enqueued")
