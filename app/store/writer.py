"""Group commit: concurrent writes share one transaction, and each is answered only once it is committed.

Why: with one transaction per decision, concurrent requests queue for the database's write lock one
by one (SQLite allows one writer; its busy handler sleeps and polls), so at 16 concurrent requests
the store, not the engine, set the latency (issue 8 measured p99 270 ms stored vs 37 ms bypassed).

How: a request hands its write (a function of a session) to :meth:`GroupWriter.run` and waits. The
writes that arrive while one group is being written form the next group: one transaction, each
write in its own SAVEPOINT, one COMMIT, and only then are the waiters answered. There is no timer:
a lone request is written at once, and the group size follows the load. Two ways to run a group:

* ``inline`` (default on SQLite): the writes of one event-loop iteration are gathered and the group
  is written on the event loop thread itself, right after the handlers that queued them. SQLite
  is in-process and a group of 16 decisions takes ~2-3 ms of CPU, so a thread would only add GIL
  hand-offs: measured with the engine on one core at concurrency 16, the store cost 0.2 ms of CPU
  per request inline against 0.7 ms with a writer thread (whose groups stayed at ~1.4 requests,
  because the thread cannot run while the engine holds the GIL). Writes of more than
  ``INLINE_MAX_RECORDS`` decisions (a /batch) go to the thread, and so does an inline group that
  finds the thread writing, so the loop never waits for a long transaction.
* ``thread`` (default on PostgreSQL, where every statement is a network round trip that would
  otherwise stall the loop): one writer thread takes every group waiting in its queue.

``MODERATE_STORE_WRITER=inline|thread`` overrides the default. Callers outside an event loop use
:meth:`GroupWriter.submit` (the thread) and wait on the returned future.

Semantics are those of running the writes one after another in arrival order:

* a write that raises :class:`~app.store.repo.StoreError` (an idempotency conflict) is rolled back
  to its savepoint and gets its exception; the other writes of the group are committed;
* any other failure (the database is down, a deadlock, a failed commit) rolls the group back and
  its writes are run again one transaction each, so only the write that really fails gets the
  exception (the API answers it 503: nothing was recorded);
* a waiter is answered only after ``COMMIT`` returned: an answered decision is stored (on SQLite
  with the default ``synchronous=NORMAL`` it is in the WAL file, safe from a crash of the process;
  ``MODERATE_SQLITE_SYNCHRONOUS=FULL`` fsyncs it too, see :func:`app.store.db.sqlite_synchronous`;
  either way the cost is paid once per group, not once per decision).

On SQLite, :class:`Checkpointer` copies the WAL into the database file from a thread of its own,
so that no commit on the request path has to (see there).

On PostgreSQL a group takes the advisory locks of all its listings up front, in sorted order, so
two writers (two ``--workers``) cannot deadlock on each other's listings. With several worker
processes each has its own writer; on SQLite their groups take turns on a :class:`FileLock` (and
under it on the database's write lock, ``BEGIN IMMEDIATE`` with a 30 s busy timeout, which other
writers such as the review routes or a CLI still queue on). Within a process one group is written
at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

log = logging.getLogger("app.store")

MAX_GROUP_RECORDS = 2000  # a group stops growing past this many records (a /batch job counts its listings)
INLINE_MAX_RECORDS = 32  # larger writes (a /batch) go to the writer thread
MODE_ENV = "MODERATE_STORE_WRITER"
MODES = ("inline", "thread")


def writer_mode(backend: str) -> str:
    """``MODERATE_STORE_WRITER`` (inline or thread), else inline on SQLite and thread elsewhere."""
    value = os.environ.get(MODE_ENV, "").strip().lower()
    if not value:
        return "inline" if backend == "sqlite" else "thread"
    if value not in MODES:
        raise ValueError(f"{MODE_ENV} must be one of {list(MODES)}; got {value[:20]!r}")
    return value


@dataclass
class _Job:
    fn: Callable[[Any], Any]
    listing_ids: Sequence[str]
    records: int
    future: Future = field(default_factory=Future)
    # an inline job is awaited on this loop through an asyncio future (no thread hand-off)
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future | None = None

    def start(self) -> bool:
        """False when the waiter gave up (cancelled) before the write started."""
        if self.waiter is not None:
            return True  # an abandoned request's decision is still written, as a thread would
        return self.future.set_running_or_notify_cancel()

    def resolve(self, ok: bool, value: Any) -> None:
        if self.waiter is None:
            if ok:
                self.future.set_result(value)
            else:
                self.future.set_exception(value)
            return
        if self.loop is _running_loop():
            _settle(self.waiter, ok, value)
        else:  # an inline group handed to the thread
            self.loop.call_soon_threadsafe(_settle, self.waiter, ok, value)


def _has_flock() -> bool:
    try:
        import fcntl
    except ImportError:  # not on Windows: SQLite's own lock and busy timeout remain
        return False
    return hasattr(fcntl, "flock")


def _sqlite_file(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return str(Path(u.database).expanduser())


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _settle(waiter: asyncio.Future, ok: bool, value: Any) -> None:
    if waiter.done():  # cancelled meanwhile
        return
    if ok:
        waiter.set_result(value)
    else:
        waiter.set_exception(value)


_STOP = object()


@dataclass
class WriterStats:
    groups: int = 0
    jobs: int = 0
    records: int = 0
    largest_group: int = 0  # jobs
    fallbacks: int = 0  # groups that failed and were retried job by job
    inline_groups: int = 0  # groups written on the event loop thread
    commit_seconds: float = 0.0  # time in the group transactions (begin .. commit)

    def as_dict(self) -> dict[str, Any]:
        return {"groups": self.groups, "jobs": self.jobs, "records": self.records,
                "largest_group": self.largest_group, "fallbacks": self.fallbacks,
                "inline_groups": self.inline_groups,
                "jobs_per_group": round(self.jobs / self.groups, 2) if self.groups else None,
                "ms_per_group": round(1000 * self.commit_seconds / self.groups, 3) if self.groups else None}


class FileLock:
    """An exclusive ``flock`` on ``<database>-writer.lock``: the group writers of several worker
    processes take turns on it. SQLite's own lock would do too, but a writer that finds it taken
    sleeps in SQLite's busy handler (1, 2, 5, 10 ms ...), while a process waiting on a ``flock``
    wakes the moment it is released; and an inline group that finds it taken goes to the thread
    instead of blocking the event loop."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self, blocking: bool = True) -> bool:
        import fcntl

        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        import fcntl

        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self.fd)


class Checkpointer:
    """Moves SQLite's WAL checkpoints off the request path. SQLite checkpoints in the connection
    whose commit takes the WAL past 1,000 pages: that commit then copies ~4 MB into the database
    file and fsyncs it (5-15 ms here), and with inline groups every request of that group waits.
    This thread runs ``PRAGMA wal_checkpoint(PASSIVE)`` (which never blocks writers) on its own
    connection at most every ``interval`` seconds while there are new commits, so the WAL is
    recycled before a commit has to do it."""

    def __init__(self, path: str, interval: float = 0.5):
        self.path = path
        self.interval = interval
        self.checkpoints = 0
        self.dirty = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-wal-checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import sqlite3

        conn = None
        try:
            while not self._stop.is_set():
                if not self.dirty.wait(1.0):
                    continue
                if self._stop.wait(self.interval):
                    break
                self.dirty.clear()
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # busy or gone: the next round (or SQLite itself) does it
                    log.debug("WAL checkpoint skipped: %s", exc)
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self.dirty.set()
        self._thread.join(10)


class GroupWriter:
    """The group-commit writer of one store (see the module docstring)."""

    def __init__(self, store, max_records: int = MAX_GROUP_RECORDS, mode: str | None = None):
        self.store = store
        self.max_records = max_records
        self.mode = mode or writer_mode(store.backend)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}; got {self.mode!r}")
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()  # lists of jobs, or _STOP
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards _thread and _closed
        self._write_lock = threading.Lock()  # one group at a time in this process
        self._gathering: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        self._closed = False
        self.checkpointer: Checkpointer | None = None
        self.file_lock: FileLock | None = None
        path = _sqlite_file(store.url)
        if path is not None:
            self.checkpointer = Checkpointer(path)
            if _has_flock():
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                    self.file_lock = FileLock(path + "-writer.lock")
                except OSError as exc:  # the store itself will fail and say why (a 503)
                    log.warning("no writer lock file next to %s: %s", path, exc)

    # ------------------------------------------------------------------ submitting
    def submit(self, fn: Callable[[Any], Any], *, listing_ids: Sequence[str] = (), records: int = 1) -> Future:
        """Queue ``fn(session)`` for the writer thread; the future gets its result (or exception)
        once the group that ran it is committed."""
        job = _Job(fn, listing_ids, max(1, records))
        self._enqueue([job])
        return job.future

    async def run(self, fn: Callable[[Any], Any], *, listing_ids: Sequence[str] = (), records: int = 1) -> Any:
        """Write ``fn(session)`` in the next group and return its result once committed (see the
        module docstring for inline and thread groups)."""
        records = max(1, records)
        if self.mode == "inline" and records <= INLINE_MAX_RECORDS:
            if self._closed:
                raise RuntimeError("the store's writer is closed")
            loop = asyncio.get_running_loop()
            job = _Job(fn, listing_ids, records, loop=loop, waiter=loop.create_future())
            pending = self._gathering.get(loop)
            if pending is None:
                pending = self._gathering[loop] = []
                loop.call_soon(self._flush_gathered, loop)  # after the handlers already runnable
            pending.append(job)
            return await job.waiter
        job = _Job(fn, listing_ids, records)
        self._enqueue([job])
        return await asyncio.wrap_future(job.future)

    def close(self, timeout: float = 30) -> None:
        """Write what the thread has queued, then stop it (a later :meth:`submit` raises)."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._queue.put(_STOP)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self.checkpointer is not None:
            self.checkpointer.close()
        if self.file_lock is not None:
            self.file_lock.close()
            self.file_lock = None

    def _enqueue(self, jobs: list[_Job]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the store's writer is closed")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="store-group-writer", daemon=True)
                self._thread.start()
            self._queue.put(jobs)

    # ------------------------------------------------------------------ inline groups
    def _flush_gathered(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = self._gathering.pop(loop, None)
        if not jobs:
            return
        if not self._write_lock.acquire(blocking=False):
            self._enqueue(jobs)  # the thread is writing (a batch): queue behind it, do not block the loop
            return
        try:
            lock = self.file_lock
            if lock is not None and not lock.acquire(blocking=False):
                self._enqueue(jobs)  # another worker process is writing: its turn, then the thread's
                return
            try:
                for i in range(0, len(jobs), self.max_records):
                    self._write(jobs[i:i + self.max_records], inline=True)
            finally:
                if lock is not None:
                    lock.release()
        finally:
            self._write_lock.release()

    # ------------------------------------------------------------------ the writer thread
    def _loop(self) -> None:
        carry: list[_Job] = []
        stop = False
        while not stop:
            if carry:
                group, carry = carry, []
            else:
                item = self._queue.get()
                if item is _STOP:
                    return
                group = list(item)
            records = sum(j.records for j in group)
            while records < self.max_records:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                more = sum(j.records for j in item)
                if records + more > self.max_records:
                    carry = list(item)  # starts the next group
                    break
                group += item
                records += more
            try:
                self._locked_write(group)
            except BaseException as exc:  # noqa: BLE001 - never leave a waiter hanging
                log.exception("store writer failed")
                for j in group:
                    if not (j.waiter or j.future).done():
                        j.resolve(False, exc)
        for j in carry:  # stopped with a group still to write
            self._locked_write([j])

    def _locked_write(self, group: list[_Job]) -> None:
        with self._write_lock:
            lock = self.file_lock
            if lock is not None:
                lock.acquire()
            try:
                self._write(group, inline=False)
            finally:
                if lock is not None:
                    lock.release()

    def _write(self, group: list[_Job], inline: bool) -> None:
        from app.store.repo import StoreError, lock_listings

        jobs = [j for j in group if j.start()]
        if not jobs:
            return
        started = time.perf_counter()
        results: list[tuple[bool, Any]] = []
        try:
            with self.store.begin() as session:
                ids = sorted({i for j in jobs for i in j.listing_ids})
                if ids:
                    lock_listings(session, ids)
                # a plain SAVEPOINT per job on the driver's connection (SQLAlchemy's begin_nested()
                # costs ~0.2 ms of CPU each); the jobs write with Core statements, so the session
                # holds no ORM state that a rollback to the savepoint could leave stale
                raw = session.connection().connection.driver_connection
                for j in jobs:
                    raw.execute("SAVEPOINT group_job")
                    try:
                        value = j.fn(session)
                    except StoreError as exc:
                        raw.execute("ROLLBACK TO SAVEPOINT group_job")
                        raw.execute("RELEASE SAVEPOINT group_job")
                        results.append((False, exc))
                    else:
                        raw.execute("RELEASE SAVEPOINT group_job")
                        results.append((True, value))
        except Exception as exc:  # noqa: BLE001 - retried one by one below
            self.stats.fallbacks += 1
            log.warning("a group of %d store writes failed (%s: %s); writing them one by one",
                        len(jobs), type(exc).__name__, exc)
            self._one_by_one(jobs)
            return
        finally:
            self.stats.commit_seconds += time.perf_counter() - started
        if self.checkpointer is not None:
            self.checkpointer.dirty.set()
        s = self.stats
        s.groups += 1
        s.inline_groups += inline
        s.jobs += len(jobs)
        s.records += sum(j.records for j in jobs)
        s.largest_group = max(s.largest_group, len(jobs))
        for j, (ok, value) in zip(jobs, results):  # committed: answer them
            j.resolve(ok, value)

    def _one_by_one(self, jobs: list[_Job]) -> None:
        from app.store.repo import lock_listings

        for j in jobs:
            try:
                with self.store.begin() as session:
                    if j.listing_ids:
                        lock_listings(session, sorted(set(j.listing_ids)))
                    value = j.fn(session)
            except BaseException as exc:  # noqa: BLE001 - the waiter gets it (StoreError or a 503)
                j.resolve(False, exc)
            else:
                j.resolve(True, value)
