"""Get-or-create a row and lock it, the same way on SQLite and PostgreSQL.

Two workers may update one message (or one contact's consent) at once. The row is created with
``INSERT ... ON CONFLICT DO NOTHING`` (the loser of a race waits on the unique index, then
inserts nothing) and read back ``FOR UPDATE``, so the second worker waits for the first one's
commit and then sees its state: no lost update. On SQLite, ``BEGIN IMMEDIATE`` (common.db)
already serializes writers and ``FOR UPDATE`` is a no-op.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.db import insert_ignoring_conflicts

Model = TypeVar("Model")


def locked_row(session: Session, model: type[Model], key: dict[str, Any], defaults: dict[str, Any]) -> Model:
    """The row of ``model`` with ``key`` (its unique columns), locked; created with ``defaults``."""
    # Earlier records' changes first: re-reading below overwrites unflushed ones, and the batch
    # fast path (workers.pipeline) runs without autoflush.
    session.flush()
    query = (
        select(model)
        .filter_by(**key)
        .with_for_update()
        # The session may hold this row from an earlier record of the batch: read it afresh.
        .execution_options(populate_existing=True)
    )
    row = session.scalars(query).one_or_none()
    if row is None:
        table = model.__table__  # type: ignore[attr-defined]
        session.execute(insert_ignoring_conflicts(session, table).values(**key, **defaults))
        row = session.scalars(query).one()
    return row
