"""The audit store against SQLite and a real PostgreSQL (started by the ``pg_url`` fixture): schema
and migrations, decisions with their listing snapshot, idempotency, the review queue, appeals,
verdicts and the append-only history. Each test runs in a transaction rolled back afterwards
(``db`` fixture in conftest.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.models import Decision, Listing, Violation
from app.store import (Conflict, Invalid, NotFound, Store, appeal, apply_verdict, current_revision, get_decision,
                       listing_digest, record_decision, review_queue)
from app.store.models import Base, DecisionRow, PointEntry, ReviewEvent, ReviewItem

SELLER = {"seller_id": "s-store", "country": "CN"}


def listing(lid: str, title: str, **kw) -> Listing:
    return Listing.model_validate({"listing_id": lid, "title": title, "seller": SELLER, **kw})


@pytest.fixture(scope="module")
def policy(engine):
    return engine.snapshot.policy


def decide(engine, item: Listing) -> Decision:
    return engine.moderate(item)


# ----------------------------------------------------------------------------- schema

def test_migrations_match_the_models_and_are_at_head(store_engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    assert current_revision(store_engine) == "0001"
    with store_engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    # the models and the hand-written migration describe the same schema
    assert diffs == [], diffs


def test_upgrade_is_idempotent_and_downgrade_reverses_it(fresh_store_url):
    from alembic import command
    from sqlalchemy import inspect

    from app.store.db import alembic_config, make_engine, upgrade

    eng = make_engine(fresh_store_url)
    try:
        upgrade(eng)
        upgrade(eng)  # a second start-up finds the schema at head and does nothing
        assert current_revision(eng) == "0001"
        assert {"decisions", "review_items", "review_events", "point_entries", "api_keys",
                "ui_sessions"} <= set(inspect(eng).get_table_names())
        with eng.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert "decisions" not in inspect(eng).get_table_names()
        upgrade(eng)
        assert current_revision(eng) == "0001"
    finally:
        eng.dispose()


def test_store_creates_its_sqlite_directory_and_survives_a_restart(tmp_path, engine, policy):
    url = f"sqlite:///{tmp_path}/new/dir/moderate.sqlite3"
    item = listing("restart-1", "Mango e-liquid 60ml 50mg nic salt")
    d = decide(engine, item)
    s1 = Store(url)
    with s1.begin() as s:
        record_decision(s, item, d, policy)
    s1.dispose()
    assert (tmp_path / "new" / "dir" / "moderate.sqlite3").exists()
    s2 = Store(url)  # a new process: everything is still there
    with s2.begin() as s:
        row = get_decision(s, d.decision_id)
        assert Decision.model_validate(row.decision) == d
        assert s.scalar(select(func.count()).select_from(PointEntry)) == 1
    s2.dispose()


# ----------------------------------------------------------------------------- decisions

def test_a_decision_is_stored_with_its_listing_policy_digests_and_as_of(db, engine, policy):
    item = listing("st-1", "Mango e-liquid 60ml 50mg nic salt", description="<p>50mg</p>",
                   attributes={"Brand Name": "X"}, as_of="2024-03-01")
    d = decide(engine, item)
    rec = record_decision(db, item, d, policy)
    db.commit()
    assert rec.created and rec.decision == d
    row = db.get(DecisionRow, d.decision_id)
    assert Listing.model_validate(row.listing) == item  # the full snapshot, not only a digest
    assert row.listing_digest == listing_digest(item)
    assert Decision.model_validate(row.decision) == d
    assert row.policy_version == d.policy_version == policy.version
    assert row.data_digests == d.data_digests and "policy/policy.yaml" in row.data_digests
    assert row.as_of == dt.date(2024, 3, 1) == d.as_of
    assert row.action == row.effective_action == "block"
    assert row.categories == "e_cigarette" and "ecig.e_liquid" in row.rule_ids.split()
    assert (row.points_a, row.points_b) == (d.points.A, d.points.B)


def test_text_the_database_cannot_hold_raw_is_stored_safely(db, engine, policy):
    # NUL cannot be stored in PostgreSQL text: plain columns replace it, the JSON snapshot keeps it
    item = listing("nul\x00id", "Mango e-liquid\x00 60ml nic salt", description="\x00<script>x</script>")
    d = decide(engine, item)
    record_decision(db, item, d, policy)
    db.commit()
    row = db.get(DecisionRow, d.decision_id)
    assert row.listing_id == "nul\ufffdid"
    assert row.listing["title"] == "Mango e-liquid\x00 60ml nic salt"


def test_an_idempotency_key_returns_the_first_decision_and_refuses_another_listing(db, engine, policy):
    item = listing("idem-1", "Mango e-liquid 60ml 50mg nic salt")
    first = decide(engine, item)
    r1 = record_decision(db, item, first, policy, idempotency_key="req-1")
    again = decide(engine, item)
    assert again.decision_id != first.decision_id
    r2 = record_decision(db, item, again, policy, idempotency_key="req-1")
    assert r1.created and not r2.created
    assert r2.decision.decision_id == first.decision_id
    assert db.scalar(select(func.count()).select_from(DecisionRow).where(DecisionRow.listing_id == "idem-1")) == 1
    other = listing("idem-2", "Cotton T-shirt")
    with pytest.raises(Conflict) as exc:
        record_decision(db, other, decide(engine, other), policy, idempotency_key="req-1")
    assert exc.value.code == "idempotency_key_reused"


def test_without_a_key_every_post_is_its_own_decision(db, engine, policy):
    item = listing("twice", "Cotton T-shirt")
    record_decision(db, item, decide(engine, item), policy)
    record_decision(db, item, decide(engine, item), policy)
    assert db.scalar(select(func.count()).select_from(DecisionRow).where(DecisionRow.listing_id == "twice")) == 2


# ----------------------------------------------------------------------------- review queue

def test_review_flagged_decisions_are_queued_once_per_listing_content(db, engine, policy):
    item = listing("rv-1", "Nunchaku foam training")
    d = decide(engine, item)
    assert d.review and d.action == "allow"
    rec = record_decision(db, item, d, policy)
    assert rec.review_item_id is not None
    # the same listing posted again waits in the same item; changed content gets its own
    rec2 = record_decision(db, item, decide(engine, item), policy)
    assert rec2.review_item_id == rec.review_item_id
    changed = listing("rv-1", "Nunchaku foam training set")
    d3 = decide(engine, changed)
    assert d3.review
    assert record_decision(db, changed, d3, policy).review_item_id != rec.review_item_id
    clean = listing("rv-2", "Cotton T-shirt")
    assert record_decision(db, clean, decide(engine, clean), policy).review_item_id is None
    items = review_queue(db, seller_id="s-store")
    assert [i.listing_id for i in items] == ["rv-1", "rv-1"]
    ev = db.scalars(select(ReviewEvent).where(ReviewEvent.item_id == rec.review_item_id)).all()
    assert [e.kind for e in ev] == ["queued"]


def test_classifier_only_findings_are_queued(db, engine, policy):
    item = listing("clf-1", "Garden hose 20m")
    base = decide(engine, item)
    v = {"rule_id": "ecig.e_liquid", "category": "e_cigarette", "violation_class": "B", "points": 2,
         "action": "block", "message": "m", "evidence": [
             {"field": "title", "start": 0, "end": 6, "text": "Garden", "matched": "score 0.93",
              "method": "classifier"}]}
    d = base.model_copy(update={"action": "block", "violations": [Violation.model_validate(v)]})
    rec = record_decision(db, item, d, policy)
    item_row = db.get(ReviewItem, rec.review_item_id)
    assert item_row.reason == "classifier_only"
    assert rec.deductions == []  # a classifier alone never costs points before a moderator confirms


def test_queue_filters_category_action_reason_and_age(db, engine, policy):
    now = dt.datetime(2026, 1, 10, 12, 0)
    old = listing("age-old", "Nunchaku foam training")
    new = listing("age-new", "butterfly knife balisong trainer")
    record_decision(db, old, decide(engine, old), policy, now=now - dt.timedelta(days=9))
    record_decision(db, new, decide(engine, new), policy, now=now - dt.timedelta(minutes=20))
    blk = listing("age-blk", "Mango e-liquid 60ml 50mg nic salt")
    dblk = decide(engine, blk)
    record_decision(db, blk, dblk, policy, now=now - dt.timedelta(hours=3))
    appeal(db, dblk.decision_id, note="it is a flavouring", actor="seller", now=now - dt.timedelta(hours=2))

    def ids(**kw):
        return [i.listing_id for i in review_queue(db, now=now, seller_id="s-store", **kw)]

    assert ids() == ["age-old", "age-blk", "age-new"]  # oldest first
    assert ids(category="controlled_instrument") == ["age-old", "age-new"]
    assert ids(category="e_cigarette") == ["age-blk"]
    assert ids(action="block") == ["age-blk"]
    assert ids(reason="appeal") == ["age-blk"]
    assert ids(max_age=dt.timedelta(hours=1)) == ["age-new"]
    assert ids(min_age=dt.timedelta(days=7)) == ["age-old"]
    assert ids(category="medical_device") == []


# ----------------------------------------------------------------------------- appeals and verdicts

def test_only_blocks_can_be_appealed_and_only_once(db, engine, policy):
    ok = listing("ap-ok", "Cotton T-shirt")
    d_ok = decide(engine, ok)
    record_decision(db, ok, d_ok, policy)
    with pytest.raises(Conflict) as exc:
        appeal(db, d_ok.decision_id, note=None, actor="seller")
    assert exc.value.code == "not_blocked"
    with pytest.raises(NotFound):
        appeal(db, "dec_missing", note=None, actor="seller")
    blk = listing("ap-blk", "Stun gun flashlight 1000kV")
    d = decide(engine, blk)
    record_decision(db, blk, d, policy)
    item, created = appeal(db, d.decision_id, note="it is a torch", actor="seller")
    again, created2 = appeal(db, d.decision_id, note="really", actor="seller")
    assert created and not created2 and again.id == item.id
    assert item.reason == "appeal" and item.note == "it is a torch" and item.status == "open"


def test_overturn_changes_the_effective_decision_and_history_is_appended(db, engine, policy):
    blk = listing("ov-1", "Stun gun flashlight 1000kV")
    d = decide(engine, blk)
    record_decision(db, blk, d, policy)
    item, _ = appeal(db, d.decision_id, note="torch", actor="seller")
    with pytest.raises(Invalid) as exc:
        apply_verdict(db, item.id, "overturn", actor="mod", reason=" ", policy=policy)
    assert exc.value.field == "reason"
    r = apply_verdict(db, item.id, "overturn", actor="mod-1", reason="a plain LED torch", policy=policy,
                      idempotency_key="v-1")
    assert r.item.status == "overturned" and r.item.effective_action == "allow"
    assert get_decision(db, d.decision_id).effective_action == "allow"
    assert get_decision(db, d.decision_id).action == "block"  # what the client was told stays recorded
    # the same request again: the first answer; another verdict: refused
    again = apply_verdict(db, item.id, "overturn", actor="mod-1", reason="a plain LED torch", policy=policy,
                          idempotency_key="v-1")
    assert again.replayed and again.event.id == r.event.id
    with pytest.raises(Conflict) as exc:
        apply_verdict(db, item.id, "confirm", actor="mod-2", reason=None, policy=policy)
    assert exc.value.code == "already_resolved"
    kinds = [(e.kind, e.actor, e.reason) for e in
             db.scalars(select(ReviewEvent).where(ReviewEvent.item_id == item.id).order_by(ReviewEvent.id))]
    assert kinds == [("appealed", "seller", "torch"), ("overturned", "mod-1", "a plain LED torch")]


def test_confirm_keeps_the_action_and_overturn_must_change_it(db, engine, policy):
    rv = listing("cf-1", "Nunchaku foam training")
    d = decide(engine, rv)
    rec = record_decision(db, rv, d, policy)
    with pytest.raises(Invalid):
        apply_verdict(db, rec.review_item_id, "overturn", actor="m", reason="x", policy=policy, action="allow")
    with pytest.raises(Invalid):
        apply_verdict(db, rec.review_item_id, "confirm", actor="m", reason=None, policy=policy, action="block")
    with pytest.raises(Invalid):
        apply_verdict(db, rec.review_item_id, "overturn", actor="m", reason="x", policy=policy, rule_ids=["no.such"])
    with pytest.raises(Invalid):
        apply_verdict(db, rec.review_item_id, "maybe", actor="m", reason="x", policy=policy)
    r = apply_verdict(db, rec.review_item_id, "confirm", actor="m", reason=None, policy=policy)
    assert r.item.status == "confirmed" and r.item.effective_action == "allow"


def test_history_and_ledger_are_append_only_in_the_database(db, engine, policy):
    blk = listing("ao-1", "Stun gun flashlight 1000kV")
    d = decide(engine, blk)
    record_decision(db, blk, d, policy)
    appeal(db, d.decision_id, note="x", actor="seller")
    db.commit()  # a savepoint: the triggers are checked on the statements below
    for stmt in ("UPDATE review_events SET reason = 'rewritten'", "DELETE FROM review_events",
                 "UPDATE point_entries SET points = 0", "DELETE FROM point_entries"):
        nested = db.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(stmt))
        nested.rollback()
    assert db.scalar(select(func.count()).select_from(PointEntry).where(PointEntry.listing_id == "ao-1")) == 1


def test_readers_do_not_wait_for_a_writer_and_keep_their_rows(fresh_store_url, engine, policy):
    import threading
    import time

    store = Store(fresh_store_url).ready()
    item = listing("rd-1", "Nunchaku foam training")
    with store.begin() as s:
        record_decision(s, item, decide(engine, item), policy)
    holding, release = threading.Event(), threading.Event()

    def writer():
        with store.begin() as s:  # holds the write lock (SQLite: BEGIN IMMEDIATE) until released
            record_decision(s, listing("rd-2", "Cotton T-shirt"), decide(engine, listing("rd-2", "Cotton T-shirt")),
                            policy)
            holding.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert holding.wait(10)
        started = time.perf_counter()
        with store.read() as s:
            items = review_queue(s)
        assert time.perf_counter() - started < 2  # did not queue behind the writer
        assert [i.listing_id for i in items] == ["rd-1"]  # usable after the session ended
    finally:
        release.set()
        t.join()
        store.dispose()
