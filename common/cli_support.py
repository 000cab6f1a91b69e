"""What every ``smspipe`` command shares: settings as one clear error line, and a database
session that disposes of its engine (a command runs once, so it keeps no pool)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from common.db import make_engine, make_session_factory
from common.errors import ConfigError
from common.settings import Settings, get_settings


def cli_settings() -> Settings:
    try:
        return get_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def database_session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()
