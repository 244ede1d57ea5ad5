"""The seller points ledger on SQLite and PostgreSQL: when points are deducted, once per rule per
listing, expiry, the consequence ladder of policy.yaml, reversal on overturn, and 20 parallel
verdicts and re-submissions that must leave it exactly right."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.engine import Engine  # noqa: F401  (imports app.policy in the order it needs)
from app.models import Decision, Listing, Violation
from app.policy.model import SellerPoints, Threshold
from app.store import Conflict, Store, appeal, apply_verdict, record_decision, seller_points
from app.store.models import DecisionRow, PointEntry, ReviewEvent

NOW = dt.datetime(2026, 3, 1, 9, 30)
TODAY = NOW.date()


def listing(lid: str, title: str, seller: str = "s-ledger") -> Listing:
    return Listing.model_validate({"listing_id": lid, "title": title, "seller": {"seller_id": seller}})


@pytest.fixture(scope="module")
def policy(engine):
    return engine.snapshot.policy


def post(db, engine, policy, lid, title, seller="s-ledger", now=NOW, **kw):
    item = listing(lid, title, seller)
    d = engine.moderate(item)
    return d, record_decision(db, item, d, policy, now=now, **kw)


def balance(db, policy, seller="s-ledger", as_of=TODAY):
    return seller_points(db, seller, policy, as_of)["balance"]


def test_a_block_deducts_when_stored_and_never_twice_for_the_same_listing(db, engine, policy):
    d, rec = post(db, engine, policy, "lg-1", "Mango e-liquid 60ml 50mg nic salt")
    assert d.action == "block" and d.points.B == 2
    assert len(rec.deductions) == 1
    for _ in range(3):  # the seller posts the same listing again (and again)
        _, again = post(db, engine, policy, "lg-1", "Mango e-liquid 60ml 50mg nic salt")
        assert again.deductions == []
    # an edit that still violates the same rule is the same listing: no new deduction
    _, edited = post(db, engine, policy, "lg-1", "Mango e-liquid 30ml nic salt 20mg")
    assert edited.deductions == []
    assert balance(db, policy) == {"A": 0, "B": 2, "total": 2}
    # another listing with the same rule is another violation
    post(db, engine, policy, "lg-2", "Strawberry e-liquid 10ml nic salt")
    post(db, engine, policy, "lg-3", "Stun gun flashlight 1000kV")
    assert balance(db, policy) == {"A": 6, "B": 4, "total": 10}


def test_a_store_without_deductions_costs_nothing(db, engine, policy):
    _, rec = post(db, engine, policy, "nod-1", "Stun gun flashlight 1000kV", deduct=False)
    assert rec.created and rec.deductions == []
    assert balance(db, policy)["total"] == 0
    _, rec = post(db, engine, policy, "nod-1", "Stun gun flashlight 1000kV")  # the live pipeline does deduct
    assert len(rec.deductions) == 1


def test_allowed_and_masked_listings_and_sellerless_listings_cost_nothing(db, engine, policy):
    post(db, engine, policy, "free-1", "Cotton T-shirt")
    item = Listing.model_validate({"listing_id": "free-2", "title": "Stun gun flashlight 1000kV"})
    rec = record_decision(db, item, engine.moderate(item), policy, now=NOW)
    assert rec.deductions == []  # no seller to charge
    assert balance(db, policy) == {"A": 0, "B": 0, "total": 0}


def test_deductions_expire_365_days_after_each_deduction(db, engine, policy):
    post(db, engine, policy, "ex-1", "Stun gun flashlight 1000kV", now=NOW)
    later = NOW + dt.timedelta(days=100)
    post(db, engine, policy, "ex-2", "Mango e-liquid 60ml 50mg nic salt", now=later)
    days = policy.seller_points.retention_days
    assert days == 365
    assert balance(db, policy, as_of=TODAY - dt.timedelta(days=1))["total"] == 0  # before any deduction
    assert balance(db, policy, as_of=TODAY)["total"] == 6
    assert balance(db, policy, as_of=later.date())["total"] == 8
    assert balance(db, policy, as_of=TODAY + dt.timedelta(days=days - 1))["total"] == 8
    assert balance(db, policy, as_of=TODAY + dt.timedelta(days=days))["total"] == 2  # the first has expired
    assert balance(db, policy, as_of=later.date() + dt.timedelta(days=days))["total"] == 0
    view = seller_points(db, "s-ledger", policy, TODAY + dt.timedelta(days=days))
    assert [e["status"] for e in view["history"]] == ["expired", "active"]
    assert view["active_deductions"][0]["expires_on"] == later.date() + dt.timedelta(days=days)


def test_the_consequence_follows_the_ladder_of_policy_yaml(db, engine, policy):
    ladder = [(t.points, t.consequence) for t in policy.seller_points.thresholds]
    assert ladder == [(6, "severe_warning"), (12, "restriction_7_days"), (24, "restriction_14_days"),
                      (36, "restriction_21_days_and_all_products_removed"), (48, "membership_terminated")]
    seen = []
    for i in range(8):  # 6 A points each
        post(db, engine, policy, f"lad-{i}", "Stun gun flashlight 1000kV")
        view = seller_points(db, "s-ledger", policy, TODAY)
        seen.append((view["balance"]["total"], (view["consequence"] or {}).get("consequence")))
    assert seen == [(6, "severe_warning"), (12, "restriction_7_days"), (18, "restriction_7_days"),
                    (24, "restriction_14_days"), (30, "restriction_14_days"),
                    (36, "restriction_21_days_and_all_products_removed"),
                    (42, "restriction_21_days_and_all_products_removed"), (48, "membership_terminated")]
    assert seller_points(db, "s-ledger", policy, TODAY)["next_threshold"] is None
    # the ladder is data: another policy file, other consequences
    other = policy.model_copy(update={"seller_points": SellerPoints(retention_days=30, thresholds=[
        Threshold(points=40, consequence="call_the_seller")])})
    view = seller_points(db, "s-ledger", other, TODAY)
    assert view["consequence"] == {"points": 40, "consequence": "call_the_seller"}


def test_an_overturn_reverses_its_deduction_and_the_past_stays_visible(db, engine, policy):
    d, _ = post(db, engine, policy, "rev-1", "Stun gun flashlight 1000kV")
    post(db, engine, policy, "rev-2", "Mango e-liquid 60ml 50mg nic salt")
    assert balance(db, policy)["total"] == 8
    item, _ = appeal(db, d.decision_id, note="a torch", actor="seller", now=NOW)
    later = NOW + dt.timedelta(days=3)
    r = apply_verdict(db, item.id, "overturn", actor="mod", reason="LED torch, no electrodes", policy=policy, now=later)
    assert len(r.reversed) == 1
    assert balance(db, policy, as_of=later.date()) == {"A": 0, "B": 2, "total": 2}
    assert balance(db, policy, as_of=TODAY)["total"] == 8  # as it stood before the overturn
    # re-posting the overturned listing does not deduct again
    _, again = post(db, engine, policy, "rev-1", "Stun gun flashlight 1000kV", now=later)
    assert again.deductions == []
    assert balance(db, policy, as_of=later.date())["total"] == 2
    hist = seller_points(db, "s-ledger", policy, later.date())["history"]
    assert [(e["kind"], e["status"], e["points"]) for e in hist if e["listing_id"] == "rev-1"] == [
        ("deduction", "reversed", 6), ("reversal", "reversal", -6)]


def _review_decision(engine, lid: str) -> tuple[Listing, Decision]:
    """A decision whose pointed violation is review-flagged (the checks emit such decisions, e.g.
    a classifier finding or a mislabelled chemical; built here from a real decision)."""
    item = listing(lid, "Nunchaku foam training")
    d = engine.moderate(item)
    v = Violation(rule_id="instrument.class5", category="controlled_instrument", violation_class="B", points=2,
                  action="block", message="m", review=True, evidence=d.violations[0].evidence)
    return item, Decision.model_validate({**d.model_dump(), "action": "block", "review": True,
                                          "violations": [v.model_dump()], "points": {"A": 0, "B": 2}})


def test_review_flagged_points_wait_for_a_confirm(db, engine, policy):
    item, d = _review_decision(engine, "wait-1")
    rec = record_decision(db, item, d, policy, now=NOW)
    assert rec.deductions == [] and balance(db, policy)["total"] == 0
    r = apply_verdict(db, rec.review_item_id, "confirm", actor="mod", reason=None, policy=policy, now=NOW)
    assert len(r.deducted) == 1 and balance(db, policy)["total"] == 2


def test_an_overturn_to_block_charges_the_rules_the_moderator_names(db, engine, policy):
    _, rec = post(db, engine, policy, "chg-1", "Nunchaku foam training")
    assert rec.deductions == [] and rec.review_item_id
    r = apply_verdict(db, rec.review_item_id, "overturn", actor="mod", reason="real nunchaku", policy=policy,
                      action="block", rule_ids=["instrument.class5"], now=NOW)
    assert r.item.effective_action == "block" and len(r.deducted) == 1
    assert balance(db, policy) == {"A": 0, "B": 2, "total": 2}


# ----------------------------------------------------------------------------- concurrency

def test_twenty_parallel_verdicts_and_resubmissions_leave_the_ledger_exact(fresh_store_url, engine, policy):
    store = Store(fresh_store_url).ready()
    seller = "s-conc"
    titles = {"c-1": "Stun gun flashlight 1000kV", "c-2": "Mango e-liquid 60ml 50mg nic salt",
              "c-3": "Handcuffs police", "c-4": "Strawberry e-liquid 10ml nic salt", "c-5": "Stun gun 50000kV"}
    first = {}
    with store.begin() as s:
        for lid, title in titles.items():
            item = listing(lid, title, seller)
            first[lid] = engine.moderate(item)
            record_decision(s, item, first[lid], policy)
        race_item, _ = appeal(s, first["c-1"].decision_id, note="torch", actor="seller")  # confirm vs overturn race
        same_item, _ = appeal(s, first["c-3"].decision_id, note="toy", actor="seller")  # one overturn, retried
    expected_rules = {(lid, v.rule_id): v for lid, d in first.items() for v in d.violations if v.points > 0}
    barrier = threading.Barrier(20)
    rnd = random.Random(8)
    jobs = []
    for i in range(10):  # 10 moderators race on the same two items
        if i < 6:
            verdict = "confirm" if i % 2 else "overturn"
            jobs.append(("verdict", race_item.id, verdict, f"race-{i}"))
        else:
            jobs.append(("verdict", same_item.id, "overturn", "same-key"))
    for i in range(10):  # 10 publish retries and re-posts of the same listings
        lid = rnd.choice(sorted(titles))
        jobs.append(("post", lid, f"post-{lid}-{i % 3}"))
    rnd.shuffle(jobs)
    outcomes = []

    def run(job):
        barrier.wait()
        with store.begin() as s:
            if job[0] == "verdict":
                _, item_id, verdict, key = job
                try:
                    r = apply_verdict(s, item_id, verdict, actor=key, reason="race", policy=policy, idempotency_key=key)
                    return ("verdict", item_id, verdict, "replayed" if r.replayed else "applied")
                except Conflict as exc:
                    return ("verdict", item_id, verdict, exc.code)
            _, lid, key = job
            item = listing(lid, titles[lid], seller)
            r = record_decision(s, item, engine.moderate(item), policy, idempotency_key=key)
            return ("post", lid, key, r.created, len(r.deductions))

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(run, jobs))

    race = [o for o in outcomes if o[0] == "verdict" and o[1] == race_item.id]
    assert sum(o[3] == "applied" for o in race) == 1  # exactly one moderator wins the race
    assert all(o[3] in ("applied", "already_resolved") for o in race)
    winner = next(o[2] for o in race if o[3] == "applied")
    same = [o for o in outcomes if o[0] == "verdict" and o[1] == same_item.id]
    assert sorted(o[3] for o in same) == ["applied"] + ["replayed"] * 3  # one verdict, the retries replay it
    posts = [o for o in outcomes if o[0] == "post"]
    assert all(o[4] == 0 for o in posts)  # re-posting never deducts again

    with store.begin() as s:
        entries = s.scalars(select(PointEntry).where(PointEntry.seller_id == seller)).all()
        deductions = sorted((e.listing_id, e.rule_id) for e in entries if e.kind == "deduction")
        reversals = sorted((e.listing_id, e.rule_id) for e in entries if e.kind == "reversal")
        assert deductions == sorted(expected_rules)  # one per rule per listing, none lost, none doubled
        reversed_lids = {"c-3"} | ({"c-1"} if winner == "overturn" else set())
        assert reversals == sorted(k for k in expected_rules if k[0] in reversed_lids)
        want = {"A": 0, "B": 0}
        for (lid, _), v in expected_rules.items():
            if lid not in reversed_lids:
                want[v.violation_class] += v.points
        got = seller_points(s, seller, policy)["balance"]
        assert got == {**want, "total": want["A"] + want["B"]}
        # one decision per distinct idempotency key, plus the five first posts
        keys = {o[2] for o in posts}
        assert s.scalar(select(func.count()).select_from(DecisionRow)) == 5 + len(keys)
        assert sum(o[3] for o in posts) == len(keys)
        verdict_events = s.scalars(select(ReviewEvent).where(ReviewEvent.kind.in_(("confirmed", "overturned")))).all()
        assert len(verdict_events) == 2
    store.dispose()
