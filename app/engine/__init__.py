"""The engine: one immutable snapshot of the data (policy, lexicons, automata) and the function
listing -> decision. Snapshots are swapped atomically on reload; a request keeps the snapshot it
started with, and a broken file leaves the old snapshot in place."""

from app.engine.core import Engine, Snapshot, build_snapshot

__all__ = ["Engine", "Snapshot", "build_snapshot"]
