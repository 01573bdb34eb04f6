"""Alembic environment, driven programmatically by `callcore.store.db.upgrade`.

No alembic.ini: `upgrade` passes an open connection in `config.attributes["connection"]`.
For ad-hoc use (`alembic -x url=... upgrade head` with a minimal ini) a URL is accepted too.
SQLite gets `render_as_batch`, since it can only alter tables by copying them.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from callcore.store.models import Base

config = context.config
target_metadata = Base.metadata  # whole once callcore.wiring.schema is imported


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from callcore.store.db import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; pass a database URL")
run_migrations_online()
