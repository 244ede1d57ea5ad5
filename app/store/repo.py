"""Repository functions of the audit store. Each takes a :class:`~sqlalchemy.orm.Session` and runs
inside the caller's transaction (nothing here commits): wrap calls in ``with store.begin() as s:``.

When points are deducted (the "confirmed violation" of policy.md §2)
    * a violation that carries points (class A/B, points > 0) and is neither review-flagged
      (``review: true``) nor classifier-only (every evidence ``method == "classifier"``) is
      confirmed by the policy itself: it deducts **when the decision is stored**;
    * a review-flagged or classifier-only violation deducts when a moderator **confirms** the
      review item; an overturn to ``block`` may charge rules the moderator names;
    * an **overturn** reverses the deductions of the decision's rules for that listing (an appended
      ``reversal`` entry; nothing is deleted);
    * at most one deduction per (listing, rule), ever: posting the same listing again, a second
      confirmation, a retried request or a re-decision after an overturn never deducts twice
      (a unique constraint, written with INSERT ... ON CONFLICT DO NOTHING);
    * a deduction counts from the day it is made (UTC) and expires ``seller_points.retention_days``
      (policy.yaml; 365) days later; a listing without a seller deducts nothing.

Concurrency: SQLite transactions start with BEGIN IMMEDIATE (one writer at a time); on PostgreSQL
every write that concerns a listing first takes ``pg_advisory_xact_lock`` on the listing id, so
the "is there an open review item / a deduction already" checks cannot race.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import bindparam, func, literal, select
from sqlalchemy.orm import Session

from app.models import Decision, Listing
from app.models.decision import Violation
from app.store.models import DecisionRow, PointEntry, ReviewEvent, ReviewItem

ACTIONS = ("allow", "region_mask", "restrict", "block")
VERDICTS = ("confirm", "overturn")
REASONS = ("review_flag", "classifier_only", "appeal")


# ----------------------------------------------------------------------------- errors

class StoreError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None, **extra: Any):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class NotFound(StoreError):
    status = 404
    code = "not_found"


class Conflict(StoreError):
    status = 409
    code = "conflict"

    def __init__(self, code: str, message: str, field: str | None = None, **extra: Any):
        super().__init__(message, field, **extra)
        self.code = code


class Invalid(StoreError):
    status = 422
    code = "validation_error"


# ----------------------------------------------------------------------------- helpers

def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _safe(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; the JSON columns escape it, plain columns get U+FFFD."""
    return text.replace("\x00", "\ufffd") if text else text


def listing_digest(listing: Listing) -> str:
    return _digest_of(listing.model_dump(mode="json"))


def _digest_of(dumped: dict[str, Any]) -> str:
    """The digest of a listing's ``model_dump(mode="json")`` (dumped once, used for the row too)."""
    canon = json.dumps(dumped, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8", "surrogatepass")).hexdigest()


def is_pointed(v: Violation) -> bool:
    return v.violation_class in ("A", "B") and v.points > 0


def is_classifier_only(v: Violation) -> bool:
    return bool(v.evidence) and all(e.method == "classifier" for e in v.evidence)


def needs_review(v: Violation) -> bool:
    return v.review or is_classifier_only(v)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def lock_listing(session: Session, listing_id: str) -> None:
    """Serialise writers of one listing (PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
    if _dialect(session) == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(literal(listing_id), 0))))


def lock_listings(session: Session, listing_ids: Iterable[str]) -> None:
    """:func:`lock_listing` for several listings, in sorted order (two transactions that lock the
    same listings in the same order cannot deadlock). The group writer calls it before a group."""
    if _dialect(session) == "postgresql":
        for listing_id in sorted(set(listing_ids)):
            lock_listing(session, _safe(listing_id))


_INSERTS: dict[tuple, Any] = {}


def _insert_ignore(session: Session, model, values: dict[str, Any], conflict: list[str]) -> Any:
    """INSERT ... ON CONFLICT (conflict) DO NOTHING RETURNING the primary key (None if it existed).
    The statement is built once per table and dialect (Core, bound parameters: its compiled form
    is cached), which keeps a stored decision well under a millisecond of CPU."""
    dialect = _dialect(session)
    cache_key = (dialect, model.__tablename__, tuple(conflict))
    stmt = _INSERTS.get(cache_key)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        table = model.__table__
        pk = list(table.primary_key.columns)[0]
        stmt = _INSERTS[cache_key] = insert(table).on_conflict_do_nothing(index_elements=conflict).returning(pk)
    return session.connection().execute(stmt, values).scalar_one_or_none()


def _decision_of(row: DecisionRow) -> Decision:
    return Decision.model_validate(row.decision)


# ----------------------------------------------------------------------------- ledger writes

def _deduct(session: Session, *, seller_id: str, listing_id: str, rule_id: str, violation_class: str,
            points: int, decision_id: str, retention_days: int, now: dt.datetime, reason: str,
            actor: str | None = None, review_event_id: int | None = None) -> int | None:
    today = now.date()
    return _insert_ignore(session, PointEntry, {
        "seller_id": seller_id, "listing_id": listing_id, "rule_id": rule_id,
        "violation_class": violation_class, "points": points, "kind": "deduction",
        "decision_id": decision_id, "review_event_id": review_event_id, "reverses_id": None,
        "effective_on": today, "expires_on": today + dt.timedelta(days=retention_days),
        "reason": reason, "actor": actor, "created_at": now,
    }, ["listing_id", "rule_id", "kind"])


def _reverse(session: Session, deduction: PointEntry, *, decision_id: str, now: dt.datetime, reason: str,
             actor: str | None, review_event_id: int | None) -> int | None:
    return _insert_ignore(session, PointEntry, {
        "seller_id": deduction.seller_id, "listing_id": deduction.listing_id, "rule_id": deduction.rule_id,
        "violation_class": deduction.violation_class, "points": -deduction.points, "kind": "reversal",
        "decision_id": decision_id, "review_event_id": review_event_id, "reverses_id": deduction.id,
        "effective_on": now.date(), "expires_on": None, "reason": reason, "actor": actor, "created_at": now,
    }, ["listing_id", "rule_id", "kind"])


# ----------------------------------------------------------------------------- decisions

@dataclass
class Recorded:
    """What :func:`record_decision` did."""

    decision: Decision  # the stored decision (on an idempotent replay: the one stored first)
    created: bool  # False: the idempotency key was seen before; nothing was written
    review_item_id: int | None = None
    deductions: list[int] = field(default_factory=list)  # point_entries ids written now


def record_decision(session: Session, listing: Listing, decision: Decision, policy, *, source: str = "api",
                    idempotency_key: str | None = None, now: dt.datetime | None = None,
                    deduct: bool = True) -> Recorded:
    """Store ``decision`` (made for ``listing``) with the listing snapshot, queue it for review when
    it needs a moderator, and deduct the points the policy confirms by itself. ``policy`` is the
    :class:`~app.policy.Policy` that decided (its ``seller_points.retention_days`` dates the
    deductions). Runs in the caller's transaction; commit to make it durable.

    With ``idempotency_key``: a key seen before returns the decision stored under it
    (``created=False``) when the listing is the same, and raises :class:`Conflict` when it is not.
    ``deduct=False`` stores (and queues) without deducting points, e.g. for a what-if rescan that
    must not cost sellers anything; a later confirm of one of its review items still deducts."""
    now = now or utcnow()
    dumped = listing.model_dump(mode="json")
    digest = _digest_of(dumped)
    seller_id = _safe(listing.seller.seller_id) if listing.seller else None
    listing_id = _safe(listing.listing_id)
    lock_listing(session, listing_id)
    if idempotency_key is not None:
        prior = session.scalar(select(DecisionRow).where(DecisionRow.idempotency_key == idempotency_key))
        if prior is not None:
            return _replayed(prior, digest, idempotency_key)
    viol = decision.violations
    inserted = _insert_ignore(session, DecisionRow, {
        "decision_id": decision.decision_id, "listing_id": listing_id, "seller_id": seller_id,
        "action": decision.action, "effective_action": decision.action, "review": decision.review,
        "categories": " ".join(sorted({v.category for v in viol})),
        "rule_ids": " ".join(sorted({v.rule_id for v in viol})),
        "points_a": decision.points.A, "points_b": decision.points.B,
        "policy_version": decision.policy_version, "data_digests": dict(decision.data_digests),
        "as_of": decision.as_of, "listing_digest": digest,
        "listing": dumped, "decision": decision.model_dump(mode="json"),
        "source": source, "idempotency_key": idempotency_key, "created_at": now,
    }, ["idempotency_key"] if idempotency_key is not None else ["decision_id"])
    if inserted is None:  # the same key, committed by a concurrent request meanwhile
        prior = session.scalar(select(DecisionRow).where(DecisionRow.idempotency_key == idempotency_key)) \
            if idempotency_key is not None else session.get(DecisionRow, decision.decision_id)
        if prior is None:
            raise Conflict("conflict", f"decision {decision.decision_id} could not be stored; retry")
        return _replayed(prior, digest, idempotency_key)

    out = Recorded(decision=decision, created=True)
    reason = ("classifier_only" if any(is_classifier_only(v) for v in viol)
              else "review_flag" if decision.review else None)
    if reason is not None:
        out.review_item_id = _queue(session, decision, listing, listing_id, seller_id, digest, reason, now)
    if seller_id is not None and deduct:
        days = policy.seller_points.retention_days
        for v in viol:
            if is_pointed(v) and not needs_review(v):
                entry = _deduct(session, seller_id=seller_id, listing_id=listing_id, rule_id=v.rule_id,
                                violation_class=v.violation_class, points=v.points,
                                decision_id=decision.decision_id, retention_days=days, now=now,
                                reason=f"{decision.action} by policy {decision.policy_version}")
                if entry is not None:
                    out.deductions.append(entry)
    return out


def _replayed(prior: DecisionRow, digest: str, key: str | None) -> Recorded:
    if prior.listing_digest != digest:
        raise Conflict("idempotency_key_reused",
                       f"the Idempotency-Key {key!r} was already used for a different request (listing "
                       f"{prior.listing_id!r}); use a new key for a new request", "Idempotency-Key")
    return Recorded(decision=_decision_of(prior), created=False)


_WAITING: dict[str, Any] = {}


def _queue(session: Session, decision: Decision, listing: Listing, listing_id: str, seller_id: str | None,
           digest: str, reason: str, now: dt.datetime) -> int | None:
    """Open a review item, unless the same listing content already waits for the same reason.
    Core statements (compiled once): the ORM unit of work cost ~1 ms per queued decision."""
    session.flush()  # what the ORM holds pending is visible to the query below (as with autoflush)
    waiting_q = _WAITING.get("q")
    if waiting_q is None:
        waiting_q = _WAITING["q"] = (
            select(ReviewItem.id).join(DecisionRow, DecisionRow.decision_id == ReviewItem.decision_id)
            .where(ReviewItem.listing_id == bindparam("listing_id"), ReviewItem.reason == bindparam("reason"),
                   ReviewItem.status == "open", DecisionRow.listing_digest == bindparam("digest")).limit(1))
    conn = session.connection()
    waiting = conn.execute(waiting_q, {"listing_id": listing_id, "reason": reason, "digest": digest}).scalar()
    if waiting is not None:
        return waiting
    item_id = _insert_ignore(session, ReviewItem, {
        "decision_id": decision.decision_id, "listing_id": listing_id, "seller_id": seller_id, "reason": reason,
        "status": "open", "action": decision.action,
        "categories": " ".join(sorted({v.category for v in decision.violations})),
        "title": _safe(listing.title) or "", "effective_action": None, "note": None, "created_at": now,
        "resolved_at": None, "resolved_by": None,
    }, ["decision_id", "reason"])
    event_insert = _WAITING.get("event")
    if event_insert is None:
        event_insert = _WAITING["event"] = ReviewEvent.__table__.insert()
    conn.execute(event_insert, {"item_id": item_id, "decision_id": decision.decision_id, "kind": "queued",
                                "actor": "policy", "reason": reason, "from_action": None,
                                "to_action": decision.action, "rule_ids": [], "idempotency_key": None,
                                "created_at": now})
    return item_id


def get_decision(session: Session, decision_id: str) -> DecisionRow:
    row = session.get(DecisionRow, decision_id)
    if row is None:
        raise NotFound(f"there is no stored decision {decision_id!r}", "decision_id")
    return row


def decision_view(session: Session, row: DecisionRow) -> dict[str, Any]:
    items = session.scalars(select(ReviewItem).where(ReviewItem.decision_id == row.decision_id)
                            .order_by(ReviewItem.id)).all()
    return {
        "decision": row.decision,
        "listing": row.listing,
        "effective_action": row.effective_action,
        "stored_at": row.created_at,
        "source": row.source,
        "listing_digest": row.listing_digest,
        "review_items": [item_view(session, i, with_decision=False) for i in items],
    }


# ----------------------------------------------------------------------------- review

def appeal(session: Session, decision_id: str, *, note: str | None, actor: str | None,
           now: dt.datetime | None = None) -> tuple[ReviewItem, bool]:
    """Queue a blocked decision because its seller appeals; one appeal per decision (a repeated
    appeal returns the existing item, ``created=False``)."""
    now = now or utcnow()
    row = get_decision(session, decision_id)
    lock_listing(session, row.listing_id)
    session.refresh(row)
    existing = session.scalar(select(ReviewItem).where(ReviewItem.decision_id == decision_id,
                                                       ReviewItem.reason == "appeal"))
    if existing is not None:
        return existing, False
    if row.effective_action != "block":
        raise Conflict("not_blocked", f"decision {decision_id} is not a block (its effective action is "
                       f"{row.effective_action}); only blocks can be appealed", "decision_id")
    item_id = _insert_ignore(session, ReviewItem, {
        "decision_id": decision_id, "listing_id": row.listing_id, "seller_id": row.seller_id,
        "reason": "appeal", "status": "open", "action": row.action, "categories": row.categories,
        "title": _safe(row.listing.get("title")) or "", "effective_action": None, "note": _safe(note),
        "created_at": now,
    }, ["decision_id", "reason"])
    if item_id is None:
        item = session.scalar(select(ReviewItem).where(ReviewItem.decision_id == decision_id,
                                                       ReviewItem.reason == "appeal"))
        return item, False
    session.add(ReviewEvent(item_id=item_id, decision_id=decision_id, kind="appealed", actor=actor,
                            reason=_safe(note), from_action=row.action, to_action=None, rule_ids=[],
                            created_at=now))
    session.flush()
    return session.get(ReviewItem, item_id), True


@dataclass
class VerdictResult:
    item: ReviewItem
    event: ReviewEvent
    replayed: bool
    deducted: list[int] = field(default_factory=list)
    reversed: list[int] = field(default_factory=list)


def apply_verdict(session: Session, item_id: int, verdict: str, *, actor: str, reason: str | None, policy,
                  action: str | None = None, rule_ids: Iterable[str] = (), idempotency_key: str | None = None,
                  now: dt.datetime | None = None) -> VerdictResult:
    """Confirm or overturn a review item (see the module docstring for the points).

    ``overturn`` replaces the effective action with ``action`` (default: ``allow`` for a decision
    that was not allow, ``block`` for one that was) and needs a ``reason``; with ``action="block"``
    it may charge ``rule_ids`` (rules of ``policy`` that carry points). A second verdict on a
    resolved item raises :class:`Conflict` ``already_resolved``, unless it carries the
    ``idempotency_key`` of the first, which returns the first (``replayed=True``)."""
    now = now or utcnow()
    if verdict not in VERDICTS:
        raise Invalid(f"verdict must be one of {list(VERDICTS)}; got {verdict!r}", "verdict")
    reason = (reason or "").strip() or None
    rule_ids = sorted(set(rule_ids))
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound(f"there is no review item {item_id}", "item_id")
    lock_listing(session, item.listing_id)
    item = session.scalars(select(ReviewItem).where(ReviewItem.id == item_id)
                           .with_for_update().execution_options(populate_existing=True)).one()
    if idempotency_key is not None:
        prior = session.scalar(select(ReviewEvent).where(ReviewEvent.idempotency_key == idempotency_key))
        if prior is not None:
            if prior.item_id != item_id or prior.kind != ("confirmed" if verdict == "confirm" else "overturned"):
                raise Conflict("idempotency_key_reused", f"the Idempotency-Key {idempotency_key!r} was already "
                               "used for a different verdict; use a new key", "Idempotency-Key")
            return VerdictResult(item, prior, replayed=True)
    if item.status != "open":
        raise Conflict("already_resolved", f"review item {item_id} was already {item.status} by "
                       f"{item.resolved_by} at {item.resolved_at:%Y-%m-%d %H:%M} UTC", "item_id",
                       item_status=item.status)
    row = session.scalars(select(DecisionRow).where(DecisionRow.decision_id == item.decision_id)
                          .execution_options(populate_existing=True)).one()
    decision = _decision_of(row)
    pointed = [v for v in decision.violations if is_pointed(v)]
    if verdict == "confirm":
        to_action = row.effective_action
        if action is not None and action != to_action:
            raise Invalid(f"a confirm keeps the action {to_action}; to change it, overturn", "action")
        if rule_ids:
            raise Invalid("rule_ids are only charged by an overturn to block", "rule_ids")
    else:
        if reason is None:
            raise Invalid("an overturn needs a reason: say why the decision was wrong", "reason")
        to_action = action or ("allow" if decision.action != "allow" else "block")
        if to_action not in ACTIONS:
            raise Invalid(f"action must be one of {list(ACTIONS)}; got {to_action!r}", "action")
        if to_action == decision.action:
            raise Invalid(f"an overturn must change the action; the decision already is {to_action} "
                          "(confirm it instead)", "action")
        for rid in rule_ids:
            try:
                rule = policy.rule(rid)
            except KeyError:
                raise Invalid(f"rule_ids: {rid!r} is not a rule of policy {policy.version}", "rule_ids") from None
            if to_action != "block":
                raise Invalid("rule_ids may only be charged when the overturn blocks the listing", "rule_ids")
            if not (rule.violation_class and rule.points > 0):
                raise Invalid(f"rule_ids: {rid} carries no points", "rule_ids")
    event = ReviewEvent(item_id=item.id, decision_id=row.decision_id,
                        kind="confirmed" if verdict == "confirm" else "overturned", actor=actor, reason=reason,
                        from_action=row.effective_action, to_action=to_action, rule_ids=rule_ids,
                        idempotency_key=idempotency_key, created_at=now)
    session.add(event)
    session.flush()
    out = VerdictResult(item, event, replayed=False)
    days = policy.seller_points.retention_days
    if verdict == "confirm":
        if row.seller_id is not None:
            for v in pointed:
                e = _deduct(session, seller_id=row.seller_id, listing_id=row.listing_id, rule_id=v.rule_id,
                            violation_class=v.violation_class, points=v.points, decision_id=row.decision_id,
                            retention_days=days, now=now, reason=f"confirmed by {actor}" + (f": {reason}" if reason else ""),
                            actor=actor, review_event_id=event.id)
                if e is not None:
                    out.deducted.append(e)
    else:
        rules = {v.rule_id for v in pointed}
        if rules:
            held = session.scalars(select(PointEntry).where(
                PointEntry.listing_id == row.listing_id, PointEntry.kind == "deduction",
                PointEntry.rule_id.in_(rules))).all()
            for d in held:
                r = _reverse(session, d, decision_id=row.decision_id, now=now, reason=f"overturned by {actor}: {reason}",
                             actor=actor, review_event_id=event.id)
                if r is not None:
                    out.reversed.append(r)
        if row.seller_id is not None:
            for rid in rule_ids:
                rule = policy.rule(rid)
                e = _deduct(session, seller_id=row.seller_id, listing_id=row.listing_id, rule_id=rid,
                            violation_class=rule.violation_class, points=rule.points, decision_id=row.decision_id,
                            retention_days=days, now=now, reason=f"charged by {actor} on overturn: {reason}",
                            actor=actor, review_event_id=event.id)
                if e is not None:
                    out.deducted.append(e)
    item.status = "confirmed" if verdict == "confirm" else "overturned"
    item.effective_action = to_action
    item.resolved_at = now
    item.resolved_by = actor
    row.effective_action = to_action
    session.flush()
    return out


def review_queue(session: Session, *, status: str = "open", category: str | None = None,
                 action: str | None = None, reason: str | None = None, min_age: dt.timedelta | None = None,
                 max_age: dt.timedelta | None = None, seller_id: str | None = None, limit: int = 100,
                 now: dt.datetime | None = None) -> list[ReviewItem]:
    """Review items, oldest first. ``min_age``/``max_age`` filter on the time since queueing."""
    now = now or utcnow()
    q = select(ReviewItem)
    if status != "all":
        q = q.where(ReviewItem.status == status)
    if category:
        q = q.where((literal(" ") + ReviewItem.categories + literal(" ")).like(f"% {category} %"))
    if action:
        q = q.where(ReviewItem.action == action)
    if reason:
        q = q.where(ReviewItem.reason == reason)
    if seller_id:
        q = q.where(ReviewItem.seller_id == seller_id)
    if min_age is not None:
        q = q.where(ReviewItem.created_at <= now - min_age)
    if max_age is not None:
        q = q.where(ReviewItem.created_at >= now - max_age)
    return list(session.scalars(q.order_by(ReviewItem.created_at, ReviewItem.id).limit(limit)))


def get_item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound(f"there is no review item {item_id}", "item_id")
    return item


def item_events(session: Session, item_id: int) -> list[ReviewEvent]:
    return list(session.scalars(select(ReviewEvent).where(ReviewEvent.item_id == item_id).order_by(ReviewEvent.id)))


def event_view(e: ReviewEvent) -> dict[str, Any]:
    return {"id": e.id, "kind": e.kind, "actor": e.actor, "reason": e.reason, "from_action": e.from_action,
            "to_action": e.to_action, "rule_ids": list(e.rule_ids or []), "at": e.created_at}


def item_view(session: Session, item: ReviewItem, with_decision: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": item.id, "decision_id": item.decision_id, "listing_id": item.listing_id,
        "seller_id": item.seller_id, "reason": item.reason, "status": item.status, "action": item.action,
        "categories": item.categories.split(), "title": item.title, "effective_action": item.effective_action,
        "note": item.note, "queued_at": item.created_at, "resolved_at": item.resolved_at,
        "resolved_by": item.resolved_by,
        "history": [event_view(e) for e in item_events(session, item.id)],
    }
    if with_decision:
        row = get_decision(session, item.decision_id)
        out["decision"] = row.decision
        out["listing"] = row.listing
    return out


# ----------------------------------------------------------------------------- seller points

def _entry_view(e: PointEntry, status: str | None = None) -> dict[str, Any]:
    return {"id": e.id, "kind": e.kind, "listing_id": e.listing_id, "rule_id": e.rule_id,
            "violation_class": e.violation_class, "points": e.points, "decision_id": e.decision_id,
            "effective_on": e.effective_on, "expires_on": e.expires_on, "reverses_id": e.reverses_id,
            "reason": e.reason, "actor": e.actor, "status": status}


def seller_points(session: Session, seller_id: str, policy, as_of: dt.date | None = None) -> dict[str, Any]:
    """The seller's balance as of a date: deductions made on or before it, not yet expired and not
    reversed on or before it; the consequence is the highest ``seller_points.thresholds`` step
    the total (A + B) has reached."""
    as_of = as_of or utcnow().date()
    rows = list(session.scalars(select(PointEntry).where(PointEntry.seller_id == seller_id)
                                .order_by(PointEntry.effective_on, PointEntry.id)))
    reversal_of = {r.reverses_id: r for r in rows if r.kind == "reversal"}
    history, active = [], []
    balance = {"A": 0, "B": 0}
    for e in rows:
        if e.effective_on > as_of:
            continue
        if e.kind == "reversal":
            history.append(_entry_view(e, "reversal"))
            continue
        rev = reversal_of.get(e.id)
        if rev is not None and rev.effective_on <= as_of:
            status = "reversed"
        elif e.expires_on is not None and as_of >= e.expires_on:
            status = "expired"
        else:
            status = "active"
            balance[e.violation_class] += e.points
            active.append(_entry_view(e, status))
        history.append(_entry_view(e, status))
    total = balance["A"] + balance["B"]
    steps = sorted(policy.seller_points.thresholds, key=lambda t: t.points)
    reached = [t for t in steps if t.points <= total]
    upcoming = [t for t in steps if t.points > total]
    return {
        "seller_id": seller_id,
        "as_of": as_of,
        "balance": {"A": balance["A"], "B": balance["B"], "total": total},
        "consequence": {"points": reached[-1].points, "consequence": reached[-1].consequence} if reached else None,
        "next_threshold": {"points": upcoming[0].points, "consequence": upcoming[0].consequence} if upcoming else None,
        "retention_days": policy.seller_points.retention_days,
        "policy_version": policy.version,
        "active_deductions": active,
        "history": history,
    }
