"""Build ``lexicons/data/pde5_ingredients.csv`` from the research data in ``../shared/data/pde5/``.

Usage::

    python scripts/build_pde5_table.py [--src ../shared/data/pde5] [--out lexicons/data/pde5_ingredients.csv]

Every value is copied from the research files, never written by hand: names, CAS numbers and brands
from ``ingredients.tsv``; the InChIKey of the analogues that only ``analogue_structures.tsv`` gives a
structure for, and the FDA preferred term named in that file's ``source`` column (as ``other_names``).
Each row keeps the research row's ``source`` and says which file each value came from. SMILES are not
copied (the service matches InChIKeys; the structures stay in the research folder).
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["name_en", "synonyms", "other_names", "cas", "inchikey", "group", "brands", "source"]
_PREFERRED = re.compile(r'FDA UNII (\w+) \(preferred term "([^"]+)"')


def _fold(s: str) -> str:
    return re.sub(r"[^0-9a-z]", "", s.casefold())


def build(src: Path) -> list[dict[str, str]]:
    with open(src / "ingredients.tsv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    with open(src / "analogue_structures.tsv", encoding="utf-8", newline="") as fh:
        structs = {r["name_en"]: r for r in csv.DictReader(fh, delimiter="\t")}
    out = []
    for r in rows:
        source = [f"ingredients.tsv: {r['source']}"]
        inchikey = r["inchikey"]
        other = []
        st = structs.get(r["name_en"])
        if st:
            if st["cas"] != r["cas"]:
                raise SystemExit(f"{r['name_en']}: CAS differs between the two research files")
            m = _PREFERRED.search(st["source"])
            if m:
                names = {_fold(r["name_en"]), *(_fold(x) for x in r["synonyms"].split(";") if x)}
                if _fold(m.group(2)) not in names:
                    other.append(m.group(2))  # verbatim (FDA writes upper case)
                source.append(f"other_names: FDA preferred term of UNII {m.group(1)} (analogue_structures.tsv)")
            if not inchikey:
                inchikey = st["inchikey"]
                source.append("inchikey: analogue_structures.tsv (RDKit, from the OPSIN parse of the FDA "
                              "systematic name; CAS-structure link rests on the name match)")
            elif inchikey != st["inchikey"]:
                raise SystemExit(f"{r['name_en']}: InChIKey differs between the two research files")
        out.append({"name_en": r["name_en"], "synonyms": r["synonyms"], "other_names": ";".join(other),
                    "cas": r["cas"], "inchikey": inchikey, "group": r["group"], "brands": r["brands"],
                    "source": " || ".join(source)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=str(REPO.parent / "shared" / "data" / "pde5"))
    ap.add_argument("--out", default=str(REPO / "lexicons" / "data" / "pde5_ingredients.csv"))
    a = ap.parse_args()
    rows = build(Path(a.src))
    with open(a.out, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} rows -> {a.out}")


if __name__ == "__main__":
    main()
