"""Alembic environment: the URL comes from the caller (``smspipe db upgrade``) or the settings."""

from alembic import context

from common.db import make_engine
from common.models import Base
from common.settings import get_settings

config = context.config
url = config.attributes.get("database_url") or get_settings().database_url
engine = make_engine(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
