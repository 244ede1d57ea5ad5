"""The audit store: every decision with its listing, the review queue and its append-only history,
the seller points ledger, API keys. SQLAlchemy 2 over SQLite (embedded default) or PostgreSQL;
schema changes are Alembic migrations in ``app/store/migrations`` (run at start-up).

For other components (e.g. a batch rescan) the entry point is::

    from app.store import Store, record_decision
    store = Store(settings.db_url)
    with store.begin() as session:            # one transaction; commit on exit
        record_decision(session, listing, decision, snapshot.policy, source="rescan")

Many concurrent writers (the API) share transactions through the store's group-commit writer
(:mod:`app.store.writer`): ``await store.writer.run(fn)`` from async code, or
``store.writer.submit(fn).result()`` from threads, with ``fn(session)`` as above.
"""

from app.store.db import Store, current_revision, make_engine, upgrade
from app.store.repo import (Conflict, Invalid, NotFound, Recorded, StoreError, VerdictResult, appeal,
                            apply_verdict, decision_view, get_decision, get_item, item_view, listing_digest,
                            record_decision, review_queue, seller_points)

__all__ = [
    "Conflict", "Invalid", "NotFound", "Recorded", "Store", "StoreError", "VerdictResult", "appeal",
    "apply_verdict", "current_revision", "decision_view", "get_decision", "get_item", "item_view",
    "listing_digest", "make_engine", "record_decision", "review_queue", "seller_points", "upgrade",
]
