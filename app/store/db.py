"""Engines, sessions and migrations.

* SQLite (the embedded default, a file under ``MODERATE_STATE_DIR``): WAL journal, a 30 s busy
  timeout, foreign keys on, and every transaction opened with ``BEGIN IMMEDIATE`` so that writers
  queue for the lock instead of failing with "database is locked" half-way through.
* PostgreSQL (``postgresql+psycopg://...``): READ COMMITTED; writers that touch one listing take a
  transaction-scoped advisory lock on it (see :mod:`app.store.repo`).

:class:`Store` is created cheaply (no I/O) and made ready lazily: :meth:`Store.ready` creates the
SQLite directory, the engine, and runs ``alembic upgrade head`` once per process.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("app.store")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# a fixed key for the PostgreSQL advisory lock that serialises concurrent "upgrade head" runs
MIGRATION_LOCK_KEY = 7_201_108_001


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url`` with the settings above. The SQLite directory is created."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if u.database and u.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it consistent
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # noqa: ANN001
            # writers take the lock up front; read-only sessions (Store.read) begin deferred and
            # do not queue behind writers (WAL readers see the last commit)
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def alembic_config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """``alembic upgrade head`` on ``engine`` (safe to run from several processes at once)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class Store:
    """The database of one service: engine + session factory, migrated on first use."""

    def __init__(self, url: str, migrate: bool = True):
        self.url = url
        self.migrate = migrate
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return make_url(self.url).get_backend_name()

    def ready(self) -> "Store":
        if self._sessions is None:
            with self._lock:
                if self._sessions is None:
                    engine = make_engine(self.url)
                    if self.migrate:
                        upgrade(engine)
                    self._engine = engine
                    self._sessions = sessionmaker(engine, expire_on_commit=False)
                    log.info("store ready: %s", make_url(self.url).render_as_string(hide_password=True))
        return self

    @property
    def engine(self) -> Engine:
        self.ready()
        assert self._engine is not None
        return self._engine

    def session(self) -> Session:
        self.ready()
        assert self._sessions is not None
        return self._sessions()

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A session in a transaction: committed when the block ends, rolled back on an exception."""
        with self.session() as s, s.begin():
            yield s

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (on SQLite it does not wait for the write lock); rolled back at the end."""
        with self.session() as s:
            s.connection(execution_options={"read_only": True})
            try:
                yield s
            finally:
                s.expunge_all()  # the rows read stay usable (a rollback would expire them)
                s.rollback()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


async def run_db(store: Store, fn, *args, read: bool = False, **kwargs):
    """Run ``fn(session, *args, **kwargs)`` in one committed transaction on a worker thread (the
    store is synchronous; the event loop keeps serving other requests meanwhile). ``read=True``:
    a read-only transaction (see :meth:`Store.read`)."""
    import anyio

    def work():
        with (store.read() if read else store.begin()) as session:
            return fn(session, *args, **kwargs)

    return await anyio.to_thread.run_sync(work)
