"""Alembic environment of the audit store. Used by the service (``app.store.db.upgrade`` passes its
own connection) and by the ``alembic`` command (``alembic.ini`` at the repository root; the URL is
``-x url=...``, else ``sqlalchemy.url``, else the service's setting ``MODERATE_DATABASE_URL`` /
the embedded SQLite file)."""

from __future__ import annotations

from alembic import context

from app.store.db import MIGRATION_LOCK_KEY, make_engine
from app.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    if connection.dialect.name == "postgresql":
        # several workers may start at once: one migrates, the others wait and find it done
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from app.config import Settings

        url = Settings().db_url
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
