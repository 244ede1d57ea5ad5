#!/usr/bin/env python3
"""Regenerate ``devices/fda_product_codes.csv`` from the FDA product-classification table.

Usage::

    python scripts/build_devices.py [--src ../shared/data/meddev/foiclass.csv] [--out devices]

Input (read-only): ``foiclass.csv`` (FDA CDRH "Product Classification" file ``foiclass.txt``, as
described in ``../shared/data/meddev/PROVENANCE.md``). One output row per product code:

``product_code, device_name, device_class, regulation_number, implant, source``

``device_class`` is copied as given (1, 2, 3; U unclassified; N not classified; F HDE-type).
``source`` is the short key ``FDA-foiclass@<commit>``; the README of ``devices/`` spells it out
(file, repository, commit, date). Nothing is invented: rows whose code is not three capital letters
or whose class is not one of the values above are reported and dropped. Output is deterministic
(sorted by product code), so a re-run can be compared byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO.parent / "shared" / "data" / "meddev" / "foiclass.csv"
DEFAULT_OUT = REPO / "devices"
FIELDS = ["product_code", "device_name", "device_class", "regulation_number", "implant", "source"]
CODE = re.compile(r"^[A-Z]{3}$")
CLASSES = {"1", "2", "3", "U", "N", "F"}
_COMMIT = re.compile(r"@([0-9a-f]{40})")


def build(src: Path) -> tuple[list[dict], list[str], str]:
    rows, problems, sources = [], [], set()
    with src.open(encoding="utf-8", newline="") as fh:
        for i, r in enumerate(csv.DictReader(fh), 2):
            code = (r.get("product_code") or "").strip()
            cls = (r.get("device_class") or "").strip().upper()
            if not CODE.match(code):
                problems.append(f"line {i}: product code {code!r} is not three capital letters")
                continue
            if cls not in CLASSES:
                problems.append(f"line {i}: {code}: class {cls!r} unknown")
                continue
            m = _COMMIT.search(r.get("source") or "")
            if not m:
                problems.append(f"line {i}: {code}: source names no commit")
                continue
            sources.add(m.group(1))
            rows.append({"product_code": code, "device_name": " ".join((r.get("device_name") or "").split()),
                         "device_class": cls, "regulation_number": (r.get("regulation_number") or "").strip(),
                         "implant": (r.get("implant_flag") or "").strip().upper(),
                         "source": f"FDA-foiclass@{m.group(1)[:12]}"})
    codes = Counter(r["product_code"] for r in rows)
    dup = sorted(c for c, n in codes.items() if n > 1)
    if dup:
        problems.append(f"duplicate product codes: {dup}")
    rows.sort(key=lambda r: r["product_code"])
    return rows, problems, ",".join(sorted(sources))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if not args.src.is_file():
        print(f"source file not found: {args.src}", file=sys.stderr)
        return 2
    rows, problems, sources = build(args.src)
    for p in problems:
        print("dropped:", p, file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "fda_product_codes.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    counts = Counter(r["device_class"] for r in rows)
    print(f"{len(rows)} product codes ({', '.join(f'{k}={counts[k]}' for k in sorted(counts))}); "
          f"implant=Y: {sum(r['implant'] == 'Y' for r in rows)}; source commits: {sources}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
