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

``structures.csv`` (structures and formulas, one row per listed substance that has one): the chemical
source tables give no structure or formula, so for the CAS of ``prohibited.csv`` / ``restricted.csv`` the
formula, SMILES and InChIKey come from the PubChem-derived identifier tables bundled in the PyPI package
``chemicals`` (pinned version ``CHEMICALS_VERSION``; ``chemical identifiers pubchem large/small.tsv``,
the source the shared ``VERIFICATION.md`` used as S5), looked up by CAS; a CAS whose rows disagree is
left out, as are the CAS the shared verification found wrongly mapped there. The sexual-health
ingredients (``../shared/data/pde5/ingredients.tsv`` and ``analogue_structures.tsv``) add their sourced
SMILES / InChIKeys. ``keys`` are the connectivity keys of ``app.checks.chemstruct.structure_keys``
(parent after stripping salts and solvents), precomputed so that start-up parses no structure.
``COVERAGE.md`` is the generated coverage report (rows, names, structures, formulas per list).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import OrderedDict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # app.checks.chemstruct computes the structure keys
DEFAULT_SRC = REPO.parent / "shared" / "data" / "chem"
DEFAULT_OUT = REPO / "cas_lists"
DEFAULT_PDE5 = REPO.parent / "shared" / "data" / "pde5"
CHEMICALS_VERSION = "1.5.2"
CHEMICALS_TABLES = ("chemical identifiers pubchem large.tsv", "chemical identifiers pubchem small.tsv")
# CAS that ../shared/data/chem/VERIFICATION.md found mapped to an unrelated substance in the
# `chemicals` tables (its "Every disagreement found" table): their structure/formula is not used.
CHEMICALS_WRONG = {
    "63938-10-3": "VERIFICATION.md seq 1529: chemicals maps it to an unrelated PAH epoxide (the list means R124)",
    "15123-69-0": "VERIFICATION.md seq 2199: chemicals maps it to a C15H24 sesquiterpene (the list means 硒酸铜)",
}
STRUCT_FIELDS = ["cas", "kind", "name", "group", "formula", "inchikey", "keys", "parent_keys", "smiles", "source"]

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


def chemicals_tables() -> Path:
    """The identifier tables of the installed ``chemicals`` package (read as files; the package is
    not imported). Exits with a clear error when it is missing or another version."""
    from importlib import metadata, util

    try:
        version = metadata.version("chemicals")
    except metadata.PackageNotFoundError:
        raise SystemExit(f"the PyPI package chemicals=={CHEMICALS_VERSION} is needed to build structures.csv "
                         f"(pip install chemicals=={CHEMICALS_VERSION})")
    if version != CHEMICALS_VERSION:
        raise SystemExit(f"chemicals {version} is installed; structures.csv is built from {CHEMICALS_VERSION}")
    spec = util.find_spec("chemicals")
    return Path(spec.submodule_search_locations[0]) / "Identifiers"


def read_chemicals(folder: Path, wanted: set[str]) -> tuple[dict[str, dict], list[str]]:
    """CAS -> {formula, smiles, inchikey, source} for the wanted CAS; CAS whose rows disagree on the
    InChIKey are returned separately (left out)."""
    found: dict[str, list[dict]] = {}
    for table in CHEMICALS_TABLES:
        with (folder / table).open(encoding="utf-8") as fh:
            for line in fh:
                cols = line.rstrip("\n").split("\t")
                if len(cols) < 7 or cols[1] not in wanted:
                    continue
                found.setdefault(cols[1], []).append({
                    "formula": cols[2], "smiles": cols[4], "inchikey": cols[6],
                    "source": f"PyPI chemicals {CHEMICALS_VERSION} chemicals/Identifiers/{table} "
                              f"(PubChem CID {cols[0]}; CAS -> structure by PubChem)"})
    out, conflicts = {}, []
    for cas, rows in found.items():
        if len({r["inchikey"] for r in rows}) > 1:
            conflicts.append(cas)
            continue
        if cas in CHEMICALS_WRONG or not (rows[0]["smiles"] or rows[0]["inchikey"]):
            continue
        out[cas] = rows[0]
    return out, sorted(conflicts, key=_cas_key)


def _keys(smiles: str, inchikey: str) -> dict[str, str]:
    """``keys`` (exact) and ``parent_keys`` columns; the source InChIKey's first block is an exact key
    too (for hypervalent oxoanions RDKit's InChI can differ from the source's)."""
    from app.checks.chemstruct import structure_keys

    exact, parents = structure_keys(smiles) if smiles else (frozenset(), frozenset())
    exact = set(exact) | ({inchikey[:14]} if inchikey else set())
    return {"keys": ";".join(sorted(exact)), "parent_keys": ";".join(sorted(parents))}


def read_tsv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def pde5_structures(folder: Path) -> list[dict]:
    """Sourced structures of the sexual-health ingredients (policy.md §3.3)."""
    from rdkit import Chem
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula

    rows: dict[tuple[str, str], dict] = {}
    analogues = {r["name_en"]: r for r in read_tsv(folder / "analogue_structures.tsv")}
    for r in read_tsv(folder / "ingredients.tsv"):
        a = analogues.pop(r["name_en"], None)
        smiles, key, formula = r["smiles"], r["inchikey"], ""
        src = f"../shared/data/pde5/ingredients.tsv ({r['name_en']}): {r['source']}"
        if not smiles and a is not None:
            smiles, key, formula = a["smiles"], a["inchikey"], a["formula"]
            src = f"../shared/data/pde5/analogue_structures.tsv ({r['name_en']}): {a['source']}"
        if not (smiles or key):
            continue
        if smiles and not formula:
            formula = CalcMolFormula(Chem.MolFromSmiles(smiles))  # computed from the sourced SMILES
        rows[(r["name_en"], r["cas"])] = {
            "cas": r["cas"], "kind": "sexual_health", "name": r["name_en"], "group": r["group"],
            "formula": formula, "inchikey": key, **_keys(smiles, key), "smiles": smiles, "source": src}
    for name, a in analogues.items():  # analogue rows not in ingredients.tsv (none today)
        rows[(name, a["cas"])] = {
            "cas": a["cas"], "kind": "sexual_health", "name": name, "group": "pde5_analogue",
            "formula": a["formula"], "inchikey": a["inchikey"], **_keys(a["smiles"], a["inchikey"]),
            "smiles": a["smiles"], "source": f"../shared/data/pde5/analogue_structures.tsv ({name}): {a['source']}"}
    return [rows[k] for k in sorted(rows)]


def list_structures(lists: dict[str, list[dict]], folder: Path) -> tuple[list[dict], list[str]]:
    wanted = {r["cas"] for rows in lists.values() for r in rows}
    found, conflicts = read_chemicals(folder, wanted)
    out = []
    for kind, rows in lists.items():
        for r in rows:
            f = found.get(r["cas"])
            if f is None:
                continue
            out.append({"cas": r["cas"], "kind": kind, "name": r["name_cn"] or r["name_en"],
                        "group": r["lists"], "formula": f["formula"], "inchikey": f["inchikey"],
                        **_keys(f["smiles"], f["inchikey"]), "smiles": f["smiles"], "source": f["source"]})
    return out, conflicts


def _without_structure_note(lists: dict[str, list[dict]], by_cas: dict) -> str:
    miss = [r for rows in lists.values() for r in rows if not by_cas.get(r["cas"], {}).get("keys")]
    perox = sum(1 for r in miss if "过氧" in r["name_cn"])
    cwc = sum(1 for r in miss if any(x.startswith("CWC_") for x in r["lists"].split(";")))
    return (f"{perox} organic peroxide formulations, {cwc} on a CWC schedule (incl. the 2019 1A additions); "
            f"the other {len(miss) - perox - cwc} are substances the `chemicals` tables do not carry — mixtures such "
            "as 石脑油 / 松节油, salts and ordinary compounds alike")


def coverage(lists: dict[str, list[dict]], no_cas: list[dict], rejected: list[dict], structs: list[dict],
             conflicts: list[str], pde5_src: Path) -> str:
    """The generated, honest coverage report (cas_lists/COVERAGE.md)."""
    by_cas = {s["cas"]: s for s in structs if s["kind"] != "sexual_health"}
    per_list: dict[str, dict[str, int]] = {}
    for kind, rows in lists.items():
        for r in rows:
            for lst in r["lists"].split(";"):
                rule = "prohibited" if lst in PROHIBITED_LISTS else "restricted"
                c = per_list.setdefault(lst, {"kind": rule, "rows": 0, "cn": 0, "en": 0, "struct": 0, "formula": 0})
                c["rows"] += 1
                c["cn"] += bool(r["name_cn"])
                c["en"] += bool(r["name_en"])
                c["struct"] += bool(by_cas.get(r["cas"], {}).get("keys"))
                c["formula"] += bool(by_cas.get(r["cas"], {}).get("formula"))
    no_cas_by_list: dict[str, int] = {}
    for r in no_cas:
        no_cas_by_list[r["list"]] = no_cas_by_list.get(r["list"], 0) + 1
    lines = [
        "# `cas_lists/` coverage report (generated by `scripts/build_cas_lists.py`; do not edit)",
        "",
        "What the lists cover and what they lack. Structures and formulas are never invented: a CAS without",
        "a sourced structure has none here, and the check then matches it by CAS and name only.",
        "",
        "## Rows per source list",
        "",
        "A CAS on several lists is counted under each (the `lists` column); `rule` is what the list makes its",
        "CAS (a CAS on any prohibited list is prohibited, so some `CN_HAZ_2015` rows are in `prohibited.csv`).",
        "",
        "| list | rule | CAS rows | with Chinese name | with English name | with structure | with formula | entries without CAS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for lst in sorted(per_list, key=lambda x: (per_list[x]["kind"], x)):
        c = per_list[lst]
        lines.append(f"| `{lst}` | {c['kind']} | {c['rows']} | {c['cn']} | {c['en']} | {c['struct']} | "
                     f"{c['formula']} | {no_cas_by_list.get(lst, 0)} |")
    for kind, rows in lists.items():
        n = len(rows)
        st = sum(1 for r in rows if by_cas.get(r["cas"], {}).get("keys"))
        fo = sum(1 for r in rows if by_cas.get(r["cas"], {}).get("formula"))
        en = sum(1 for r in rows if r["name_en"])
        lines.append(f"| **all {kind}** | {kind} | **{n}** | {sum(1 for r in rows if r['name_cn'])} | {en} | "
                     f"**{st}** ({100 * st / max(n, 1):.1f} %) | **{fo}** | |")
    lines.append(f"| **no CAS** (`no_cas.csv`) | — | — | {len(no_cas)} names | | 0 | 0 | **{len(no_cas)}** |")
    sh = [s for s in structs if s["kind"] == "sexual_health"]
    groups: dict[str, int] = {}
    for s in sh:
        groups[s["group"]] = groups.get(s["group"], 0) + 1
    lines += [
        "",
        "## Structures and formulas: where they come from",
        "",
        "* The chemical source tables (`../shared/data/chem/`) carry **no structure and no formula**. For the",
        f"  listed CAS, `structures.csv` takes formula, SMILES and InChIKey from the PubChem-derived identifier",
        f"  tables bundled in the PyPI package `chemicals` {CHEMICALS_VERSION} (looked up by CAS; the mapping",
        "  CAS -> structure is PubChem's). The shared `VERIFICATION.md` used the same tables (its S5): plausible",
        "  for every sampled row, element cross-check on 2,376 CAS without a transcription error, and two CAS",
        "  wrongly mapped there, which are left out here:",
    ]
    for cas, why in CHEMICALS_WRONG.items():
        lines.append(f"  * `{cas}`: {why}")
    lines += [
        f"* CAS whose rows in those tables disagree (left out): {len(conflicts)}"
        + (f" ({', '.join(conflicts)})" if conflicts else "") + ".",
        "* Formulas are PubChem's formula of that CAS; a declared MF is compared with it (`chem.identity_mismatch`,",
        "  review). Structures are reduced to connectivity keys (InChIKey first block of the whole structure, its",
        "  core without water/solvents and each parent fragment after stripping counter-ions): stereo, isotopes",
        "  and charge are not distinguished.",
        f"* Sexual-health ingredients (`../shared/data/pde5/`): {len(sh)} rows with a sourced structure "
        f"({', '.join(f'{k} {v}' for k, v in sorted(groups.items()))}); their formula is the source's",
        "  (`analogue_structures.tsv`) or computed by RDKit from the sourced SMILES. A structure given by an",
        "  InChIKey only (3 rows) matches on that key's first block.",
        "",
        "## Gaps (what the lists do not cover)",
        "",
        f"* **Entries without CAS**: {len(no_cas)} (`no_cas.csv`: class entries such as 钡合金, 含易燃溶剂的…制品,",
        "  易制毒 麻黄素类 / 黄樟油 / 麻黄浸膏, 镁铝粉); the shared `no_cas.csv` has 172 — the 11 CWC family entries",
        "  (Schedule 1A(1)–(3), 1B(9)–(10), 2B(4)–(6), (10)–(12)) are not rows of `cwc_schedules.csv`. These",
        "  entries are not matched by the check (a class name such as 钡合金 is not a substance name); CWC",
        "  families would need substructure rules that no source gives.",
        f"* **Listed CAS without a structure**: "
        + ", ".join(f"{k} {len(v) - sum(1 for r in v if by_cas.get(r['cas'], {}).get('keys'))}"
                    for k, v in lists.items())
        + f" ({_without_structure_note(lists, by_cas)}). They are matched by CAS and name",
        "  only; a structure of them is not recognised.",
        "* **English names**: the 2015 catalogue and the 易制爆 list have Chinese names only; English names exist",
        "  for the 易制毒 and CWC rows (and nothing is translated), so an English-only listing of a catalogue",
        "  substance is found by its CAS or structure, not its name.",
        "* **Concentration qualifiers** (`[含量＞20%]`) are kept in the names but not applied; group entries are not",
        "  expanded; 易制毒 additions other than 2021 are missing (see the shared README).",
        "",
        "## Errors found in the sources",
        "",
        f"* Rejected source CAS (shape or check digit) in the rows this build reads: {len(rejected)}"
        + "".join(f"\n  * `{r['raw_cas']}` {r['name']}: {r['problem']}" for r in rejected) + ".",
        "* `../shared/data/chem/source_cas_errors.csv`: three malformed CAS in the CWC annex text (`944.22-9`,",
        "  `10801-0`, `100-378`), all on exemption rows that are not scheduled and not read by this build.",
        "* `VERIFICATION.md` oddities kept as in the official text: 2478 亚硒酸铈 carries the CAS of the caesium",
        "  salt (15586-47-7), 934 花青甙 the CAS of thionine (581-64-6); the CAS is what is listed, so the structure",
        "  here is that CAS's. Name typos 脂/酯 (1423, 1596, 1740) and 亚磷基/亚硝基 (1099) are kept.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("--pde5", type=Path, default=DEFAULT_PDE5)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if not (args.src / "hazardous_catalogue_2015.csv").is_file():
        print(f"source tables not found in {args.src}", file=sys.stderr)
        return 2
    if not (args.pde5 / "ingredients.tsv").is_file():
        print(f"sexual-health ingredient tables not found in {args.pde5}", file=sys.stderr)
        return 2
    entries, no_cas, rejected = build(args.src)
    prohibited, restricted = [], []
    for cas in sorted(entries, key=_cas_key):
        e = entries[cas]
        (prohibited if PROHIBITED_LISTS & set(e.lists) else restricted).append(e.row())
    lists = {"prohibited": prohibited, "restricted": restricted}
    structs, conflicts = list_structures(lists, chemicals_tables())
    structs += pde5_structures(args.pde5)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "prohibited.csv", FIELDS, prohibited)
    write_csv(args.out / "restricted.csv", FIELDS, restricted)
    write_csv(args.out / "no_cas.csv", ["name", "list", "source"], no_cas)
    write_csv(args.out / "rejected.csv", ["list", "name", "raw_cas", "problem", "source"], rejected)
    write_csv(args.out / "structures.csv", STRUCT_FIELDS, structs)
    (args.out / "COVERAGE.md").write_text(coverage(lists, no_cas, rejected, structs, conflicts, args.pde5),
                                          encoding="utf-8")
    print(f"prohibited {len(prohibited)}, restricted {len(restricted)}, no CAS {len(no_cas)}, "
          f"rejected (bad CAS) {len(rejected)}, structures {len(structs)} -> {args.out}")
    for r in rejected:
        print(f"  rejected {r['raw_cas']!r} ({r['name']}): {r['problem']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
