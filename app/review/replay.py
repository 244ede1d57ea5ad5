"""Replay: re-decide a stored listing under the loaded policy at the decision's original ``as_of``
and at today's date, and say what differs.

The store keeps the listing, the policy version and the sha256 of every data file that decided, not
the old files themselves: the replay runs on the data loaded now, and reports whether that is the
same data (``same_data``; ``changed_files`` names the files whose digest differs). With the same
data, the replay at the original ``as_of`` reproduces the stored decision exactly (a test checks it);
with newer data it shows what the new data would have said at that date.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.models import Decision, Listing


def summary(d: dict[str, Any] | Decision) -> dict[str, Any]:
    if isinstance(d, Decision):
        d = d.model_dump(mode="json")
    return {
        "action": d["action"],
        "masked_regions": list(d.get("masked_regions", [])),
        "restrictions": list(d.get("restrictions", [])),
        "review": d.get("review", False),
        "rules": sorted(v["rule_id"] for v in d.get("violations", [])),
        "points": dict(d.get("points", {"A": 0, "B": 0})),
    }


def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What changes from decision summary ``a`` to ``b`` (empty when nothing does)."""
    out: dict[str, Any] = {}
    for k in ("action", "masked_regions", "restrictions", "review", "points"):
        if a[k] != b[k]:
            out[k] = {"from": a[k], "to": b[k]}
    added = sorted(set(b["rules"]) - set(a["rules"]))
    removed = sorted(set(a["rules"]) - set(b["rules"]))
    if added:
        out["rules_added"] = added
    if removed:
        out["rules_removed"] = removed
    return out


def replay(engine, stored: dict[str, Any], listing_json: dict[str, Any], today: dt.date) -> dict[str, Any]:
    snap = engine.snapshot
    listing = Listing.model_validate(listing_json)
    original_as_of = dt.date.fromisoformat(str(stored["as_of"]))
    then = engine.moderate(listing, as_of=original_as_of, snap=snap)
    now = engine.moderate(listing, as_of=today, snap=snap)
    s_stored, s_then, s_now = summary(stored), summary(then), summary(now)
    old_digests = stored.get("data_digests", {})
    changed = sorted(k for k in set(old_digests) | set(snap.digests) if old_digests.get(k) != snap.digests.get(k))
    return {
        "decision_id": stored["decision_id"],
        "listing_id": stored["listing_id"],
        "stored": {"as_of": original_as_of, "policy_version": stored["policy_version"], **s_stored},
        "policy_version_now": snap.version,
        "same_data": not changed,
        "changed_files": changed,
        "at_original_as_of": {"as_of": original_as_of, **s_then, "differences_from_stored": diff(s_stored, s_then),
                              "decision": then.model_dump(mode="json")},
        "today": {"as_of": today, **s_now, "differences_from_stored": diff(s_stored, s_now),
                  "differences_from_original_as_of": diff(s_then, s_now),
                  "decision": now.model_dump(mode="json")},
    }
