"""The tables of the audit store (SQLAlchemy 2 declarative models).

Mutable on purpose: ``decisions.effective_action`` and a review item's ``status`` (the current state,
for the queue and the UI). Append-only, enforced by database triggers (see the migration):
``review_events`` (every queueing, appeal, confirm and overturn, with who and why) and
``point_entries`` (deductions and their reversals). Timestamps are naive UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class DecisionRow(Base):
    """One decision as the client received it, with the listing it decided."""

    __tablename__ = "decisions"
    decision_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    listing_id: Mapped[str] = mapped_column(String(128), index=True)
    seller_id: Mapped[str | None] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(16))
    effective_action: Mapped[str] = mapped_column(String(16))
    review: Mapped[bool] = mapped_column(Boolean)
    categories: Mapped[str] = mapped_column(String(400), default="")  # space-separated, sorted
    rule_ids: Mapped[str] = mapped_column(Text, default="")  # space-separated, sorted
    points_a: Mapped[int] = mapped_column(Integer, default=0)
    points_b: Mapped[int] = mapped_column(Integer, default=0)
    policy_version: Mapped[str] = mapped_column(String(64))
    data_digests: Mapped[dict[str, Any]] = mapped_column(JSON)
    as_of: Mapped[dt.date] = mapped_column(Date)
    listing_digest: Mapped[str] = mapped_column(String(64), index=True)
    listing: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class ReviewItem(Base):
    """A decision waiting for (or given) a moderator's verdict. One item per decision and reason."""

    __tablename__ = "review_items"
    __table_args__ = (UniqueConstraint("decision_id", "reason", name="uq_review_items_decision_reason"),
                      Index("ix_review_items_status_created", "status", "created_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.decision_id"))
    listing_id: Mapped[str] = mapped_column(String(128), index=True)
    seller_id: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(32))  # review_flag | classifier_only | appeal
    status: Mapped[str] = mapped_column(String(16))  # open | confirmed | overturned
    action: Mapped[str] = mapped_column(String(16))  # the decision's action
    categories: Mapped[str] = mapped_column(String(400), default="")
    title: Mapped[str] = mapped_column(String(1000), default="")
    effective_action: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)  # the seller's appeal text
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(128))


class ReviewEvent(Base):
    """Append-only history of review items."""

    __tablename__ = "review_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"), index=True)
    decision_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # queued | appealed | confirmed | overturned
    actor: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    from_action: Mapped[str | None] = mapped_column(String(16))
    to_action: Mapped[str | None] = mapped_column(String(16))
    rule_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class PointEntry(Base):
    """Append-only seller points ledger: a ``deduction`` (at most one per listing and rule) or the
    ``reversal`` of one (at most one per deduction)."""

    __tablename__ = "point_entries"
    __table_args__ = (UniqueConstraint("listing_id", "rule_id", "kind", name="uq_point_entries_listing_rule_kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seller_id: Mapped[str] = mapped_column(String(128), index=True)
    listing_id: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(128))
    violation_class: Mapped[str] = mapped_column(String(1))
    points: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # deduction | reversal
    decision_id: Mapped[str] = mapped_column(String(64), index=True)
    review_event_id: Mapped[int | None] = mapped_column(Integer)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("point_entries.id"), unique=True)
    effective_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ApiKey(Base):
    """An API key: only the sha256 of the key is kept."""

    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # publisher | moderator | admin
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_by: Mapped[str | None] = mapped_column(String(128))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class UiSession(Base):
    """A review-UI login: the cookie holds a random token, the table its sha256."""

    __tablename__ = "ui_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.key_id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
