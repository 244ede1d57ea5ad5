"""What changed between two runs: the listings whose action, masked regions, restrictions or
violations (rule ids, and each rule's points and regions) differ, grouped by rule, with counts.

Inputs are decision files (``moderate rescan`` or ``moderate batch`` output: one Decision per line),
joined on ``listing_id``. Memory stays bounded whatever the size: when the old file is large, both
files are first split into hash buckets of compact records in a temporary folder and compared one
bucket at a time.

Each line of the diff file is::

    {"listing_id", "change": "changed" | "added" | "removed",
     "old": {"action", "masked_regions", "restrictions", "rules": {rule_id: {"points", "regions"}}} | null,
     "new": {...} | null, "effects": ["blocked", "masked_more", ...],
     "rules_added": [...], "rules_removed": [...], "rules_changed": [...]}

``effects`` is what the platform does about the listing: ``blocked`` (now block, before not),
``freed`` (now allow, before not), ``masked_more`` / ``masked_less`` (regions added / removed),
``restricted_more`` / ``restricted_less``, ``action_changed`` (any other action change), and
``violations_only`` (same action, regions and restrictions; other violations).
"""

from __future__ import annotations

import math
import tempfile
import zlib
from pathlib import Path
from typing import Any, Iterator, Optional

import orjson

from app.rescan.files import atomic_writer

BUCKET_BYTES = 64 * 1024 * 1024  # old-file bytes per bucket compared in memory (~100 MB of Python objects)
EFFECTS = ("blocked", "freed", "masked_more", "masked_less", "restricted_more", "restricted_less",
           "action_changed", "violations_only")


def compact(decision: dict[str, Any]) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for v in decision.get("violations") or ():
        rules[v["rule_id"]] = {"points": v.get("points", 0), "regions": sorted(v.get("regions") or ())}
    return {"action": decision["action"], "masked_regions": sorted(decision.get("masked_regions") or ()),
            "restrictions": sorted(decision.get("restrictions") or ()), "rules": dict(sorted(rules.items()))}


def _read(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with open(path, "rb", buffering=1 << 20) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                d = orjson.loads(line)
                yield d["listing_id"], compact(d)
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}: line {lineno} is not a decision ({exc})") from None


def compare(lid: str, old: Optional[dict[str, Any]], new: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The diff record of one listing, or None when nothing changed."""
    if old == new:
        return None
    if old is None or new is None:
        return {"listing_id": lid, "change": "added" if old is None else "removed", "old": old, "new": new,
                "effects": [], "rules_added": sorted((new or {}).get("rules", {})) if old is None else [],
                "rules_removed": sorted(old["rules"]) if new is None else [], "rules_changed": []}
    o_rules, n_rules = old["rules"], new["rules"]
    effects = []
    if new["action"] == "block" and old["action"] != "block":
        effects.append("blocked")
    elif new["action"] == "allow" and old["action"] != "allow":
        effects.append("freed")
    o_reg, n_reg = set(old["masked_regions"]), set(new["masked_regions"])
    if n_reg - o_reg:
        effects.append("masked_more")
    if o_reg - n_reg:
        effects.append("masked_less")
    o_res, n_res = set(old["restrictions"]), set(new["restrictions"])
    if n_res - o_res:
        effects.append("restricted_more")
    if o_res - n_res:
        effects.append("restricted_less")
    if not effects and old["action"] != new["action"]:
        effects.append("action_changed")
    if not effects:
        effects.append("violations_only")
    return {"listing_id": lid, "change": "changed", "old": old, "new": new, "effects": effects,
            "rules_added": sorted(set(n_rules) - set(o_rules)),
            "rules_removed": sorted(set(o_rules) - set(n_rules)),
            "rules_changed": sorted(r for r in set(o_rules) & set(n_rules) if o_rules[r] != n_rules[r])}


class _Summary:
    def __init__(self, old: Path, new: Path):
        self.doc: dict[str, Any] = {
            "old": str(old), "new": str(new), "old_listings": 0, "new_listings": 0, "unchanged": 0, "changed": 0,
            "added": 0, "removed": 0, "duplicate_ids": {"old": 0, "new": 0}, "transitions": {},
            "effects": {e: 0 for e in EFFECTS}, "rules": {}}

    def add(self, rec: Optional[dict[str, Any]]) -> None:
        d = self.doc
        if rec is None:
            d["unchanged"] += 1
            return
        d[rec["change"]] += 1
        if rec["change"] == "changed":
            t = f"{rec['old']['action']}→{rec['new']['action']}"
            d["transitions"][t] = d["transitions"].get(t, 0) + 1
            for e in rec["effects"]:
                d["effects"][e] += 1
        for key, what in (("rules_added", "added"), ("rules_removed", "removed"), ("rules_changed", "changed")):
            for r in rec[key]:
                row = d["rules"].setdefault(r, {"added": 0, "removed": 0, "changed": 0})
                row[what] += 1

    def finish(self) -> dict[str, Any]:
        d = self.doc
        d["transitions"] = dict(sorted(d["transitions"].items(), key=lambda kv: -kv[1]))
        d["rules"] = dict(sorted(d["rules"].items(), key=lambda kv: (-sum(kv[1].values()), kv[0])))
        return d


def _diff_maps(old_items: Iterator[tuple[str, dict]], new_items: Iterator[tuple[str, dict]], out, summary: _Summary
               ) -> None:
    old: dict[str, dict] = {}
    for lid, c in old_items:
        summary.doc["old_listings"] += 1
        if lid in old:
            summary.doc["duplicate_ids"]["old"] += 1
        old[lid] = c  # the last decision of a repeated id counts
    seen: set[str] = set()
    for lid, c in new_items:
        summary.doc["new_listings"] += 1
        if lid in seen:
            summary.doc["duplicate_ids"]["new"] += 1
            continue
        seen.add(lid)
        rec = compare(lid, old.pop(lid, None), c)
        summary.add(rec)
        if rec is not None:
            out.write(orjson.dumps(rec) + b"\n")
    for lid, c in old.items():
        rec = compare(lid, c, None)
        summary.add(rec)
        out.write(orjson.dumps(rec) + b"\n")


def _split(path: Path, folder: Path, tag: str, k: int) -> list[Path]:
    paths = [folder / f"{tag}-{i:04d}.jsonl" for i in range(k)]
    handles = [open(p, "wb", buffering=1 << 16) for p in paths]  # noqa: SIM115
    try:
        for lid, c in _read(path):
            handles[zlib.crc32(lid.encode()) % k].write(orjson.dumps([lid, c]) + b"\n")
    finally:
        for h in handles:
            h.close()
    return paths


def _read_split(path: Path) -> Iterator[tuple[str, dict]]:
    with open(path, "rb") as fh:
        for line in fh:
            lid, c = orjson.loads(line)
            yield lid, c


def diff_runs(old: Path, new: Path, out_path: Path, bucket_bytes: int = BUCKET_BYTES) -> dict[str, Any]:
    """Write the diff of two decision files to ``out_path`` (atomically) and return the summary."""
    old, new = Path(old), Path(new)
    for p in (old, new):
        if not p.is_file():
            raise FileNotFoundError(f"{p} does not exist")
    summary = _Summary(old.resolve(), new.resolve())
    k = max(1, math.ceil(old.stat().st_size / bucket_bytes))
    with atomic_writer(Path(out_path)) as out:
        if k == 1:
            _diff_maps(_read(old), _read(new), out, summary)
        else:
            with tempfile.TemporaryDirectory(dir=Path(out_path).parent, prefix=".diff-") as tmp:
                olds = _split(old, Path(tmp), "old", k)
                news = _split(new, Path(tmp), "new", k)
                for o, n in zip(olds, news):
                    _diff_maps(_read_split(o), _read_split(n), out, summary)
                    o.unlink()
                    n.unlink()
    doc = summary.finish()
    doc["buckets"] = k
    return doc
