"""The group-commit writer (app/store/writer.py) against SQLite and a real PostgreSQL: concurrent
writes share one transaction, each is answered only once committed, a failing write does not take
the others down, and a group writes exactly what one transaction per decision writes."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from app.models import Listing
from app.store import Conflict, Store, record_decision
from app.store.models import DecisionRow, PointEntry, ReviewEvent, ReviewItem
from app.store.writer import INLINE_MAX_RECORDS, MODE_ENV, GroupWriter

REPO_ROOT = Path(__file__).resolve().parents[1]
SELLER = {"seller_id": "s-w", "country": "CN"}
TITLES = ["Mango e-liquid 60ml 50mg nic salt", "Stun gun flashlight 1000kV", "Nunchaku foam training",
          "Cotton T-shirt, 100% organic", "Vape pen starter kit 1100mAh", "Handcuffs police grade steel"]
NOW = dt.datetime(2026, 11, 1, 12, 0, 0)


def listing(i: int, title: str | None = None) -> Listing:
    return Listing.model_validate({"listing_id": f"w-{i % 7}", "title": title or TITLES[i % len(TITLES)],
                                   "seller": {**SELLER, "seller_id": f"s-w{i % 3}"}})


@pytest.fixture(scope="module")
def policy(engine):
    return engine.snapshot.policy


@pytest.fixture
def store(fresh_store_url):
    s = Store(fresh_store_url).ready()
    yield s
    s.dispose()


def run_async(coro):
    """``asyncio.run`` on a thread of its own: an earlier test in the session (playwright's sync
    API) may leave an event loop marked running in the main thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def held_writer(store):
    """Occupy the writer with a job that waits on an event, so the next submissions form one group."""
    gate, entered = threading.Event(), threading.Event()

    def blocker(_session):
        entered.set()
        assert gate.wait(30)
        return "blocker"

    fut = store.writer.submit(blocker)
    assert entered.wait(30)
    return gate, fut


def snapshot_tables(store) -> dict:
    """The stored state, without what differs by construction (timestamps, autoincrement ids)."""
    with store.read() as s:
        decisions = sorted((r.decision_id, r.listing_id, r.seller_id, r.action, r.effective_action, r.review,
                            r.categories, r.rule_ids, r.listing_digest, r.source, r.idempotency_key)
                           for r in s.scalars(select(DecisionRow)))
        items = sorted((i.decision_id, i.listing_id, i.reason, i.status, i.action, i.categories, i.title)
                       for i in s.scalars(select(ReviewItem)))
        events = sorted((e.decision_id, e.kind, e.actor, e.reason, e.to_action) for e in s.scalars(select(ReviewEvent)))
        points = sorted((p.seller_id, p.listing_id, p.rule_id, p.points, p.kind, p.decision_id)
                        for p in s.scalars(select(PointEntry)))
    return {"decisions": decisions, "items": items, "events": events, "points": points}


def test_waiting_writes_are_committed_in_one_transaction(store, engine, policy):
    pairs = [(listing(i), engine.moderate(listing(i))) for i in range(12)]
    gate, first = held_writer(store)
    futs = [store.writer.submit(lambda s, li=li, d=d: record_decision(s, li, d, policy), listing_ids=[li.listing_id])
            for li, d in pairs]
    assert not any(f.done() for f in futs)  # nothing is answered before its group commits
    gate.set()
    assert first.result(30) == "blocker"
    results = [f.result(30) for f in futs]
    assert all(r.created for r in results)
    assert [r.decision.decision_id for r in results] == [d.decision_id for _, d in pairs]
    st = store.writer.stats
    assert st.groups == 2 and st.jobs == 13 and st.largest_group == 12 and st.fallbacks == 0
    with store.read() as s:
        assert len(s.scalars(select(DecisionRow)).all()) == 12


def test_a_write_is_answered_only_after_its_commit_is_visible_to_others(store, fresh_store_url, engine, policy):
    other = Store(fresh_store_url, migrate=False)
    seen: list[bool] = []
    item = listing(1)
    decision = engine.moderate(item)

    checked = threading.Event()

    def check(_fut):  # runs the moment the future completes: another connection must see the row
        try:
            with other.read() as s:
                seen.append(s.get(DecisionRow, decision.decision_id) is not None)
        finally:
            checked.set()

    fut = store.writer.submit(lambda s: record_decision(s, item, decision, policy), listing_ids=[item.listing_id])
    fut.add_done_callback(check)
    fut.result(30)
    assert checked.wait(30)
    other.dispose()
    assert seen == [True]


def test_an_idempotency_conflict_fails_alone_and_the_group_commits(store, engine, policy):
    a, b, c = listing(1), listing(2, "Handcuffs police grade steel"), listing(3)
    gate, _ = held_writer(store)
    w = store.writer
    fa = w.submit(lambda s: record_decision(s, a, engine.moderate(a), policy, idempotency_key="k1"))
    fb = w.submit(lambda s: record_decision(s, b, engine.moderate(b), policy, idempotency_key="k1"))  # reused key
    fb2 = w.submit(lambda s: record_decision(s, a, engine.moderate(a), policy, idempotency_key="k1"))  # a retry
    fc = w.submit(lambda s: record_decision(s, c, engine.moderate(c), policy))
    gate.set()
    ra = fa.result(30)
    with pytest.raises(Conflict) as err:
        fb.result(30)
    assert err.value.code == "idempotency_key_reused"
    assert fb2.result(30).created is False and fb2.result().decision.decision_id == ra.decision.decision_id
    assert fc.result(30).created
    assert w.stats.groups == 2 and w.stats.fallbacks == 0
    with store.read() as s:
        assert sorted(r.listing_id for r in s.scalars(select(DecisionRow))) == sorted([a.listing_id, c.listing_id])


def test_a_failing_write_is_retried_alone_and_the_others_are_stored(store, engine, policy):
    good = [listing(i) for i in range(4)]
    gate, _ = held_writer(store)
    w = store.writer

    def broken(s):
        record_decision(s, listing(5), engine.moderate(listing(5)), policy)  # written, then the job fails
        raise RuntimeError("boom")

    futs = [w.submit(lambda s, li=li: record_decision(s, li, engine.moderate(li), policy)) for li in good[:2]]
    fbad = w.submit(broken)
    futs += [w.submit(lambda s, li=li: record_decision(s, li, engine.moderate(li), policy)) for li in good[2:]]
    gate.set()
    assert all(f.result(30).created for f in futs)
    with pytest.raises(RuntimeError, match="boom"):
        fbad.result(30)
    assert w.stats.fallbacks == 1
    with store.read() as s:
        ids = sorted(r.listing_id for r in s.scalars(select(DecisionRow)))
    assert ids == sorted(li.listing_id for li in good)  # the failed job's write was rolled back


def test_a_group_writes_exactly_what_one_transaction_per_decision_writes(fresh_store_url, tmp_path, engine, policy):
    """The fast path (one group) against the slow one (a transaction per decision) on the same
    sequence: repeated listings, review items queued once, points deducted once, replayed keys."""
    items = [listing(i) for i in range(30)]
    decisions = [engine.moderate(li) for li in items]
    keys = [f"key-{i % 3}" if i % 4 == 0 else None for i in range(30)]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):  # a repeated key resends the first listing, as a client retry would
        if k is not None:
            j = first.setdefault(k, i)
            items[i], decisions[i] = items[j], decisions[j]
    slow = Store(f"sqlite:///{tmp_path}/slow.sqlite3").ready()
    fast = Store(fresh_store_url).ready()
    try:
        slow_out = []
        for li, d, k in zip(items, decisions, keys):
            with slow.begin() as s:
                slow_out.append(record_decision(s, li, d, policy, idempotency_key=k, now=NOW))
        gate, _ = held_writer(fast)
        futs = [fast.writer.submit(lambda s, li=li, d=d, k=k: record_decision(s, li, d, policy, idempotency_key=k,
                                                                               now=NOW), listing_ids=[li.listing_id])
                for li, d, k in zip(items, decisions, keys)]
        gate.set()
        fast_out = [f.result(30) for f in futs]
        assert fast.writer.stats.largest_group == 30
        assert [(r.created, r.decision.decision_id, r.review_item_id is None, len(r.deductions)) for r in fast_out] == \
               [(r.created, r.decision.decision_id, r.review_item_id is None, len(r.deductions)) for r in slow_out]
        got, want = snapshot_tables(fast), snapshot_tables(slow)
        assert got == want
        assert want["items"] and want["points"]  # the sequence exercised the queue and the ledger
    finally:
        slow.dispose()
        fast.dispose()


@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_concurrent_requests_over_http_are_grouped_and_all_stored(engine, tmp_path, monkeypatch, mode):
    import httpx

    monkeypatch.setenv(MODE_ENV, mode)

    from app.api import create_app

    settings = dataclasses.replace(engine.settings, database_url=f"sqlite:///{tmp_path}/http.sqlite3")
    app = create_app(settings=settings, engine=engine)
    bodies = [{"listing_id": f"h-{i}", "title": TITLES[i % len(TITLES)], "seller": SELLER} for i in range(48)]

    async def scenario():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                sem = asyncio.Semaphore(16)

                async def one(b):
                    async with sem:
                        return await c.post("/v1/moderate", json=b)

                out = await asyncio.gather(*[one(b) for b in bodies])
                batch = await c.post("/v1/moderate/batch", json={"listings": bodies[:5]})
                metrics = (await c.get("/metrics")).text
            stats = app.state.store.writer.stats.as_dict()
            with app.state.store.read() as s:
                rows = {r.decision_id: r.source for r in s.scalars(select(DecisionRow))}
            return out, batch, metrics, stats, rows

    out, batch, metrics, stats, rows = run_async(scenario())
    assert all(r.status_code == 200 and r.headers["x-decision-stored"] == "true" for r in out)
    assert all(rows.get(r.json()["decision_id"]) == "api" for r in out)
    assert batch.status_code == 200
    assert all(rows.get(d["decision_id"]) == "batch" for d in batch.json()["decisions"])
    assert len(rows) == 53
    assert stats["jobs"] == 49 and stats["records"] == 53  # the batch is one job of 5 records
    assert stats["groups"] < stats["jobs"]  # concurrent requests shared transactions
    if mode == "inline":
        assert stats["inline_groups"] == stats["groups"]  # the batch too: 5 records <= INLINE_MAX_RECORDS
    else:
        assert stats["inline_groups"] == 0
    assert "moderation_store_group_commits_total" in metrics and "moderation_store_grouped_writes_total 49.0" in metrics


CHILD = """
import json, sys
import app.engine  # noqa: F401  (imports app.policy in the order the app does)
from app.config import Settings
from app.models import Decision, Listing
from app.policy import load_policy
from app.store import Store, record_decision

url, path = sys.argv[1], sys.argv[2]
policy = load_policy(Settings().policy_path)
pairs = [(Listing.model_validate(a), Decision.model_validate(b)) for a, b in json.load(open(path))]
store = Store(url)
futs = [store.writer.submit(lambda s, li=li, d=d: record_decision(s, li, d, policy), listing_ids=[li.listing_id])
        for li, d in pairs]
print(sum(1 for f in futs if f.result(60).created))
store.dispose()
"""


def test_two_processes_write_to_one_sqlite_file_at_once(tmp_path, engine):
    """Two ``--workers`` share the SQLite file: their writers queue for the write lock (WAL + busy
    timeout) and nothing is lost."""
    url = f"sqlite:///{tmp_path}/shared.sqlite3"
    Store(url).ready().dispose()
    procs = []
    for part in range(2):
        items = [listing(i + 100 * part) for i in range(60)]
        items = [li.model_copy(update={"listing_id": f"p{part}-{i}"}) for i, li in enumerate(items)]
        path = tmp_path / f"part{part}.json"
        path.write_text(json.dumps([[li.model_dump(mode="json"), engine.moderate(li).model_dump(mode="json")]
                                    for li in items]))
        procs.append(subprocess.Popen([sys.executable, "-c", CHILD, url, str(path)], cwd=REPO_ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    assert [o.strip() for o, _ in outs] == ["60", "60"]
    store = Store(url, migrate=False)
    with store.read() as s:
        assert len(s.scalars(select(DecisionRow)).all()) == 120
    store.dispose()


def test_a_closed_writer_refuses_new_work_and_finishes_what_was_queued(store, engine, policy):
    gate, first = held_writer(store)
    item = listing(1)
    fut = store.writer.submit(lambda s: record_decision(s, item, engine.moderate(item), policy))
    writer = store.writer
    closer = threading.Thread(target=writer.close)
    closer.start()
    gate.set()
    closer.join(30)
    assert fut.result(30).created
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(lambda s: None)


def test_an_inline_group_waits_in_the_thread_queue_while_the_thread_writes(store, engine, policy):
    """An inline group never blocks the event loop on a long thread transaction (a /batch): it is
    handed to the thread and written after it, and its waiters are answered on their loop."""
    writer = GroupWriter(store, mode="inline")
    store._writer = writer
    gate, first = held_writer(store)  # the thread holds the write lock
    items = [listing(i) for i in range(3)]

    async def scenario():
        tasks = [asyncio.ensure_future(writer.run(lambda s, li=li: record_decision(s, li, engine.moderate(li), policy),
                                                  listing_ids=[li.listing_id])) for li in items]
        await asyncio.sleep(0.3)
        assert not any(t.done() for t in tasks)  # queued behind the thread's transaction, loop free
        gate.set()
        return await asyncio.gather(*tasks)

    out = run_async(scenario())
    assert all(r.created for r in out) and first.result(30) == "blocker"
    assert writer.stats.inline_groups == 0 and writer.stats.groups == 2


def test_a_large_write_goes_to_the_thread_and_small_ones_stay_inline(store, engine, policy):
    writer = GroupWriter(store, mode="inline")
    small = [listing(i) for i in range(3)]
    big = [listing(i).model_copy(update={"listing_id": f"big-{i}"}) for i in range(INLINE_MAX_RECORDS + 1)]

    def write_all(pairs):
        return lambda s: [record_decision(s, li, engine.moderate(li), policy) for li in pairs]

    async def scenario():
        a = writer.run(write_all(small), listing_ids=[li.listing_id for li in small], records=len(small))
        b = writer.run(write_all(big), listing_ids=[li.listing_id for li in big], records=len(big))
        return await asyncio.gather(a, b)

    small_out, big_out = run_async(scenario())
    assert len(small_out) == 3 and len(big_out) == INLINE_MAX_RECORDS + 1
    assert writer.stats.inline_groups == 1 and writer.stats.groups == 2
    writer.close()


def test_the_writer_mode_comes_from_the_environment(monkeypatch, tmp_path):
    from app.store.writer import writer_mode

    monkeypatch.delenv(MODE_ENV, raising=False)
    assert writer_mode("sqlite") == "inline" and writer_mode("postgresql") == "thread"
    monkeypatch.setenv(MODE_ENV, "thread")
    assert writer_mode("sqlite") == "thread"
    assert Store(f"sqlite:///{tmp_path}/m.sqlite3").writer.mode == "thread"
    monkeypatch.setenv(MODE_ENV, "sometimes")
    with pytest.raises(ValueError, match=MODE_ENV):
        writer_mode("sqlite")


def test_sqlite_wal_checkpoints_run_off_the_request_path(tmp_path, engine, policy):
    import sqlite3
    import time

    store = Store(f"sqlite:///{tmp_path}/ckpt.sqlite3").ready()
    try:
        writer = store.writer
        assert writer.checkpointer is not None
        for i in range(5):
            li = listing(i)
            writer.submit(lambda s, li=li: record_decision(s, li, engine.moderate(li), policy)).result(30)
        deadline = time.monotonic() + 20
        while writer.checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.checkpointer.checkpoints >= 1
        conn = sqlite3.connect(tmp_path / "ckpt.sqlite3")
        try:
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()
        assert busy == 0 and frames == done  # nothing left for a committing request to copy
    finally:
        store.dispose()
    assert not writer.checkpointer._thread.is_alive()
