"""Hazardous-chemical check on the real listings of ../shared/data/listings.

* chemicals_cas.csv (fine-chemical catalogue; `description` = "CAS No: …"): how many CAS hit the
  prohibited / restricted lists, how many fail the shape or check digit;
* benign_titles.csv and hard_negatives.csv: how many titles get any hazardous_chemical finding
  (name matches on ordinary products).

    python bench/eval_chem.py [--dir ../shared/data/listings]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, also when loaded by a test
from app.models import Listing  # noqa: E402
from benchlib import listings_dir, read_rows  # noqa: E402

DEFAULT_DIR = listings_dir()


def evaluate(engine, directory: Path = DEFAULT_DIR) -> dict:
    out: dict = {}
    rows = read_rows(directory / "chemicals_cas.csv")
    c = Counter()
    examples: dict[str, list[str]] = {}
    for i, r in enumerate(rows):
        listing = Listing(listing_id=f"chem-{i}", title=r["title"][:1000] or "-", description=r["description"],
                          category=r["category"] or None)
        d = engine.moderate(listing)
        rules = {v.rule_id for v in d.violations}
        c["rows"] += 1
        for rule in ("chem.prohibited", "chem.restricted_unqualified", "chem.restricted_qualified",
                     "chem.cas_attribute_missing", "data.cas_invalid", "chem.cas_near_miss",
                     "chem.name_near_miss", "chem.identity_mismatch", "data.structure_invalid"):
            if rule in rules:
                c[rule] += 1
                examples.setdefault(rule, []).append(f"{r['title'][:50]} | {r['description'][:40]}")
        if d.action == "block":
            c["blocked"] += 1
    out["chemicals_cas.csv"] = (c, examples)
    for name in ("benign_titles.csv", "hard_negatives.csv"):
        path = directory / name
        if not path.is_file():
            continue
        c, ex = Counter(), {}
        for i, r in enumerate(read_rows(path)):
            if not r["title"].strip():
                continue
            listing = Listing(listing_id=f"b-{i}", title=r["title"][:1000], category=r.get("category") or None)
            d = engine.moderate(listing)
            chem = [v for v in d.violations if v.category in ("hazardous_chemical", "listing_data")]
            c["rows"] += 1
            if chem:
                c["flagged"] += 1
                ex.setdefault("flagged", []).append(
                    f"{r['title'][:60]} <- " + ", ".join(sorted({e.text for v in chem for e in v.evidence})))
        out[name] = (c, ex)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = ap.parse_args()
    from app.engine import Engine
    res = evaluate(Engine(), args.dir)
    for name, (c, ex) in res.items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
        for k, xs in ex.items():
            for x in xs[:12]:
                print(f"   {k}: {x}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
