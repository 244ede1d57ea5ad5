"""Engines, sessions and migrations.

* SQLite (the embedded default, a file under ``MODERATE_STATE_DIR``): WAL journal
  (``synchronous=NORMAL``, or FULL with ``MODERATE_SQLITE_SYNCHRONOUS=FULL``: see
  :func:`sqlite_synchronous`), a 30 s busy timeout, foreign keys on, and every transaction
  opened with ``BEGIN IMMEDIATE`` so that writers queue for the lock instead of failing with
  "database is locked" half-way through.
* PostgreSQL (``postgresql+psycopg://...``): READ COMMITTED; writers that touch one listing take a
  transaction-scoped advisory lock on it (see :mod:`app.store.repo`).

:class:`Store` is created cheaply (no I/O) and made ready lazily: :meth:`Store.ready` creates the
SQLite directory, the engine, and runs ``alembic upgrade head`` once per process.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("app.store")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# a fixed key for the PostgreSQL advisory lock that serialises concurrent "upgrade head" runs
MIGRATION_LOCK_KEY = 7_201_108_001


SYNCHRONOUS_ENV = "MODERATE_SQLITE_SYNCHRONOUS"


def sqlite_synchronous() -> str:
    """``NORMAL`` (default) or ``FULL``, from ``MODERATE_SQLITE_SYNCHRONOUS``. In WAL mode NORMAL
    writes every commit to the WAL file before COMMIT returns (a crash of the process loses nothing
    committed) but fsyncs only at checkpoints, so a power loss or OS crash can lose the last
    commits; FULL fsyncs the WAL at every commit. The group writer pays that fsync once per group,
    not once per decision; measured here an fsync took 0.4 to 12 ms (bench/results/bench_store.md)."""
    value = os.environ.get(SYNCHRONOUS_ENV, "NORMAL").strip().upper()
    if value not in ("NORMAL", "FULL"):
        raise ValueError(f"{SYNCHRONOUS_ENV} must be NORMAL or FULL; got {value[:20]!r}")
    return value


def json_serializer(obj) -> str:
    """The JSON columns' serialiser: orjson (~5x faster than ``json.dumps`` on a stored decision);
    ``json.dumps`` for what orjson refuses (a lone surrogate in a listing that did not come over
    HTTP). Both write plain JSON that ``json.loads`` reads back to the same value; NUL is escaped."""
    try:
        return orjson.dumps(obj).decode("utf-8")
    except TypeError:
        return json.dumps(obj)


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url`` with the settings above. The SQLite directory is created."""
    kwargs.setdefault("json_serializer", json_serializer)
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
                cur.execute(f"PRAGMA synchronous={sqlite_synchronous()}")
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
        self._writer = None

    @property
    def writer(self):
        """The group-commit writer of this store (:mod:`app.store.writer`), created on first use."""
        if self._writer is None:
            from app.store.writer import GroupWriter

            with self._lock:
                if self._writer is None:
                    self._writer = GroupWriter(self)
        return self._writer

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
        if self._writer is not None:
            self._writer.close()
            self._writer = None
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
