"""The audit store: decisions, review queue and history, seller points ledger, API keys, UI sessions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("review_events", "point_entries")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("listing_id", sa.String(128), nullable=False),
        sa.Column("seller_id", sa.String(128)),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("effective_action", sa.String(16), nullable=False),
        sa.Column("review", sa.Boolean, nullable=False),
        sa.Column("categories", sa.String(400), nullable=False),
        sa.Column("rule_ids", sa.Text, nullable=False),
        sa.Column("points_a", sa.Integer, nullable=False),
        sa.Column("points_b", sa.Integer, nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("data_digests", sa.JSON, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("listing_digest", sa.String(64), nullable=False),
        sa.Column("listing", sa.JSON, nullable=False),
        sa.Column("decision", sa.JSON, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(200), unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_decisions_listing_id", "decisions", ["listing_id"])
    op.create_index("ix_decisions_seller_id", "decisions", ["seller_id"])
    op.create_index("ix_decisions_listing_digest", "decisions", ["listing_digest"])
    op.create_index("ix_decisions_created_at", "decisions", ["created_at"])

    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(64), sa.ForeignKey("decisions.decision_id"), nullable=False),
        sa.Column("listing_id", sa.String(128), nullable=False),
        sa.Column("seller_id", sa.String(128)),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("categories", sa.String(400), nullable=False),
        sa.Column("title", sa.String(1000), nullable=False),
        sa.Column("effective_action", sa.String(16)),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("resolved_by", sa.String(128)),
        sa.UniqueConstraint("decision_id", "reason", name="uq_review_items_decision_reason"),
    )
    op.create_index("ix_review_items_listing_id", "review_items", ["listing_id"])
    op.create_index("ix_review_items_status_created", "review_items", ["status", "created_at"])

    op.create_table(
        "review_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id"), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("reason", sa.Text),
        sa.Column("from_action", sa.String(16)),
        sa.Column("to_action", sa.String(16)),
        sa.Column("rule_ids", sa.JSON, nullable=False),
        sa.Column("idempotency_key", sa.String(200), unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_review_events_item_id", "review_events", ["item_id"])
    op.create_index("ix_review_events_decision_id", "review_events", ["decision_id"])

    op.create_table(
        "point_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("listing_id", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("violation_class", sa.String(1), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("review_event_id", sa.Integer),
        sa.Column("reverses_id", sa.Integer, sa.ForeignKey("point_entries.id"), unique=True),
        sa.Column("effective_on", sa.Date, nullable=False),
        sa.Column("expires_on", sa.Date),
        sa.Column("reason", sa.Text),
        sa.Column("actor", sa.String(128)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("listing_id", "rule_id", "kind", name="uq_point_entries_listing_rule_kind"),
    )
    op.create_index("ix_point_entries_seller_id", "point_entries", ["seller_id"])
    op.create_index("ix_point_entries_decision_id", "point_entries", ["decision_id"])

    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(128)),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_table(
        "ui_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), sa.ForeignKey("api_keys.key_id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_ui_sessions_key_id", "ui_sessions", ["key_id"])

    # the history and the ledger are append-only: the database itself refuses UPDATE and DELETE
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("""
            CREATE FUNCTION moderate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$""")
        for t in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION moderate_append_only()")
    elif dialect == "sqlite":
        for t in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {t}_no_{verb.lower()} BEFORE {verb} ON {t} "
                           f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for t in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
        op.execute("DROP FUNCTION IF EXISTS moderate_append_only()")
    for t in ("ui_sessions", "api_keys", "point_entries", "review_events", "review_items", "decisions"):
        op.drop_table(t)
