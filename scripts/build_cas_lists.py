#!/usr/bin/env python3
"""Regenerate ``cas_lists/`` from the chemical source tables in ``../shared/data/chem/``.

Usage::

    python scripts/build_cas_lists.py [--src ../shared/data/chem] [--out cas_lists]

Inputs (read-only): ``hazardous_catalogue_2015.csv``, ``precursors.csv``, ``explosive_precursors.csv``,
``cwc_schedules.csv``. The split rule is the one in ``../shared/data/chem/README.md``:

* prohibited = CAS of 剧毒 catalogue entries (``CN_HAZ_2015_HIGHLY_TOXIC``) + CWC Schedule 1
  (``CWC_S1A``/``CWC_S1B``) + 易制毒 category 1 (``CN_PRECURSOR_CAT1``);
* restricted = every other CAS of those sources (``CN_HAZ_2015``, ``CN_PRECURSOR_CAT2/3``,
  ``CN_EXPLOSIVE_PRECURSOR_2017``, ``CWC_S2A/S2B/S3A/S3B``) minus the prohibited ones.

Outputs: ``prohibited.csv`` and ``restricted.csv`` (one row per CAS: cas, name_cn, name_en, synonyms,
lists, source), ``no_cas.csv`` (source entries without a CAS: they can only be matched by name) and
``rejected.csv`` (source CAS that fail the shape or the check digit: reported, never used). Nothing
is invented: every name and number is copied from a source row, whose reference is kept in ``source``.
Output is deterministic (sorted by CAS), so a re-run can be compared byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import OrderedDict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO.parent / "shared" / "data" / "chem"
DEFAULT_OUT = REPO / "cas_lists"

CAS_SHAPE = re.compile(r"^(\d{2,7})-(\d{2})-(\d)$")
PROHIBITED_LISTS = {"CN_HAZ_2015_HIGHLY_TOXIC", "CWC_S1A", "CWC_S1B", "CN_PRECURSOR_CAT1"}
FIELDS = ["cas", "name_cn", "name_en", "synonyms", "lists", "source"]
SEP = " | "  # between several names / sources in one cell (never inside a source name)


def cas_problem(cas: str) -> str | None:
    """``None`` when ``cas`` is a well-formed CAS RN with a correct check digit, else what is wrong."""
    m = CAS_SHAPE.match(cas)
    if not m:
        return "not in the form NNNNNNN-NN-N"
    body = (m.group(1) + m.group(2))[::-1]
    want = sum(i * int(d) for i, d in enumerate(body, 1)) % 10
    if want != int(m.group(3)):
        return f"check digit is {m.group(3)}, expected {want}"
    return None


def split_cas(cell: str) -> list[str]:
    return [c.strip() for c in re.split(r"[;；]", cell or "") if c.strip()]


def split_aliases(cell: str) -> list[str]:
    return [a.strip() for a in re.split(r"[；;]", cell or "") if a.strip()]


def read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


class Entry:
    __slots__ = ("cas", "name_cn", "name_en", "synonyms", "lists", "sources")

    def __init__(self, cas: str):
        self.cas = cas
        self.name_cn = ""
        self.name_en = ""
        self.synonyms: list[str] = []
        self.lists: list[str] = []
        self.sources: list[str] = []

    def add(self, lst: str, source: str, name_cn: str = "", name_en: str = "", synonyms=()) -> None:
        for name, attr in ((name_cn, "name_cn"), (name_en, "name_en")):
            name = name.strip()
            if not name:
                continue
            if not getattr(self, attr):
                setattr(self, attr, name)
            elif name != getattr(self, attr) and name not in self.synonyms:
                self.synonyms.append(name)
        for s in synonyms:
            s = s.strip()
            if s and s not in (self.name_cn, self.name_en) and s not in self.synonyms:
                self.synonyms.append(s)
        if lst not in self.lists:
            self.lists.append(lst)
        if source not in self.sources:
            self.sources.append(source)

    def row(self) -> dict:
        return {"cas": self.cas, "name_cn": self.name_cn, "name_en": self.name_en,
                "synonyms": SEP.join(self.synonyms), "lists": ";".join(self.lists),
                "source": SEP.join(self.sources)}


def _cwc_names(name: str) -> tuple[str, list[str]]:
    """``"Sarin: O-Isopropyl methylphosphonofluoridate"`` -> ("Sarin", [systematic name]); the
    annex's footnote mark ``(*)`` is dropped."""
    name = name.replace("(*)", "").strip()
    if ": " in name:
        common, rest = name.split(": ", 1)
        return common.strip(), [rest.strip()]
    return name, []


def build(src: Path) -> tuple[dict[str, Entry], list[dict], list[dict]]:
    entries: "OrderedDict[str, Entry]" = OrderedDict()
    no_cas: list[dict] = []
    rejected: list[dict] = []

    def put(raw_cas: str, lst: str, source: str, name: str, **kw) -> None:
        cases = split_cas(raw_cas)
        if not cases:
            no_cas.append({"name": name, "list": lst, "source": source})
            return
        for cas in cases:
            problem = cas_problem(cas)
            if problem:
                rejected.append({"list": lst, "name": name, "raw_cas": cas, "problem": problem, "source": source})
                continue
            entries.setdefault(cas, Entry(cas)).add(lst, source, **kw)

    for r in read(src / "hazardous_catalogue_2015.csv"):
        lst = "CN_HAZ_2015_HIGHLY_TOXIC" if r["highly_toxic"].strip() == "1" else "CN_HAZ_2015"
        put(r["cas"], lst, f"{r['source']} seq {r['seq']}", r["name_cn"],
            name_cn=r["name_cn"], synonyms=split_aliases(r["aliases"]))
    for r in read(src / "precursors.csv"):
        lst = f"CN_PRECURSOR_CAT{r['category'].strip()}"
        put(r["cas"], lst, f"{r['source']} (易制毒 category {r['category'].strip()})", r["name_cn"],
            name_cn=r["name_cn"], name_en=r["name_en"])
    for r in read(src / "explosive_precursors.csv"):
        put(r["cas"], "CN_EXPLOSIVE_PRECURSOR_2017", f"{r['source']} item {r['seq']}", r["name_cn"],
            name_cn=r["name_cn"], synonyms=split_aliases(r["aliases"]))
    for r in read(src / "cwc_schedules.csv"):
        lst = f"CWC_S{r['schedule'].strip()}{r['part'].strip()}"
        en, syn = _cwc_names(r["name_en"])
        put(r["cas"], lst, f"{r['source']} Schedule {r['schedule']}{r['part']} {r['item']}".strip(),
            r["name_en"] or f"(unnamed {lst} entry)", name_en=en, synonyms=syn)
    return entries, no_cas, rejected


def write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _cas_key(cas: str) -> tuple[int, ...]:
    return tuple(int(p) for p in cas.split("-"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if not (args.src / "hazardous_catalogue_2015.csv").is_file():
        print(f"source tables not found in {args.src}", file=sys.stderr)
        return 2
    entries, no_cas, rejected = build(args.src)
    prohibited, restricted = [], []
    for cas in sorted(entries, key=_cas_key):
        e = entries[cas]
        (prohibited if PROHIBITED_LISTS & set(e.lists) else restricted).append(e.row())
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "prohibited.csv", FIELDS, prohibited)
    write_csv(args.out / "restricted.csv", FIELDS, restricted)
    write_csv(args.out / "no_cas.csv", ["name", "list", "source"], no_cas)
    write_csv(args.out / "rejected.csv", ["list", "name", "raw_cas", "problem", "source"], rejected)
    print(f"prohibited {len(prohibited)}, restricted {len(restricted)}, no CAS {len(no_cas)}, "
          f"rejected (bad CAS) {len(rejected)} -> {args.out}")
    for r in rejected:
        print(f"  rejected {r['raw_cas']!r} ({r['name']}): {r['problem']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
