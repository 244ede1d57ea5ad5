"""Shared fixtures. The engine is built once per session: it compiles every lexicon (about a second)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from app.config import REPO_ROOT
from tests.support import free_port

SHARED = Path(os.environ.get("MODERATE_SHARED_DIR", REPO_ROOT.parent / "shared"))

# The audit store (app/store): tests never write into the working directory's moderate-data/.
os.environ.setdefault("MODERATE_STATE_DIR", tempfile.mkdtemp(prefix="moderate-test-state-"))
# The text classifier (issue 7) is off unless a test turns it on (Settings(classifier=True)): the rule
# tests and their committed evaluation reports measure the lexicons and lists alone; the classifier and
# how it combines with them are tested in tests/test_classifier*.py and measured by bench/bench_classifier.py.
os.environ.setdefault("MODERATE_CLASSIFIER", "off")
# compiled pattern databases of this run go to a directory of its own, not to the user's ~/.cache
os.environ.setdefault("MODERATE_CACHE_DIR", tempfile.mkdtemp(prefix="moderate-test-cache-"))


@pytest.fixture(scope="session")
def engine():
    from app.engine import Engine

    return Engine()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is absent ({SHARED}): the shared research data is not redistributed with the repo")
    return SHARED


# ----------------------------------------------------------------------------- store (issue 8)
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
CHROMIUM = os.environ.get("MODERATE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def pg_url():
    """A real PostgreSQL server for the session: initdb + pg_ctl on a temporary directory and a free
    port (run as the ``postgres`` user when the tests run as root: pg_ctl refuses root). Skips with
    the reason when the server binaries are absent (Debian: ``apt-get install postgresql``)."""
    explicit = os.environ.get("MODERATE_TEST_PG_URL")
    if explicit:
        yield explicit
        return
    bindir = next((d for d in PG_BIN_DIRS if (d / "initdb").exists()), None)
    if bindir is None:
        pytest.skip("PostgreSQL server binaries are absent (no /usr/lib/postgresql/*/bin/initdb); "
                    "install the postgresql package (.ci/run does) or set MODERATE_TEST_PG_URL")
    root = os.geteuid() == 0
    as_pg = ["runuser", "-u", "postgres", "--"] if root else []
    tmp = Path(tempfile.mkdtemp(prefix="moderate-pg-"))
    data = tmp / "data"
    if root:
        shutil.chown(tmp, "postgres", "postgres")
    port = free_port()
    log = tmp / "server.log"
    try:
        subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(data), "-U", "test", "-A", "trust", "--no-sync",
                        "-E", "UTF8", "--locale=C"], check=True, capture_output=True)
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-w", "-D", str(data), "-l", str(log), "start", "-o",
                        f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"],
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')}"
                           f"{log.read_text() if log.exists() else ''}") from exc
    try:
        yield f"postgresql+psycopg://test@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright drives Debian's chromium (``playwright install`` is never run)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (Debian: apt-get install chromium; or set MODERATE_CHROMIUM)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def store_url(request, tmp_path_factory):
    """The store tests run twice: on an SQLite file and on the real PostgreSQL of ``pg_url``."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store')}/store.sqlite3"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def store_engine(store_url):
    from app.store import make_engine, upgrade

    eng = make_engine(store_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def db(store_engine):
    """A session inside a transaction that is rolled back after the test (repository commits
    become savepoints)."""
    from sqlalchemy.orm import Session

    conn = store_engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        trans.rollback()
        conn.close()


@pytest.fixture
def fresh_store_url(store_url, tmp_path):
    """An empty database of its own (tests with several connections at once cannot share one
    rolled-back transaction): a new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/fresh.sqlite3"
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = f"t_{os.getpid()}_{abs(hash(tmp_path)) % 10**8}"
    admin = create_engine(store_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(store_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
