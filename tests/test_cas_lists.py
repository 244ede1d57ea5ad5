"""cas_lists/: shape and check digit of every CAS, disjoint lists, counts, reproducible build."""

from __future__ import annotations

import csv
import importlib.util
import re

import pytest

from app.config import REPO_ROOT

LISTS = REPO_ROOT / "cas_lists"
_SPEC = importlib.util.spec_from_file_location("build_cas_lists", REPO_ROOT / "scripts" / "build_cas_lists.py")
build = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(build)


def rows(name: str) -> list[dict]:
    with (LISTS / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def independent_check_digit_ok(cas: str) -> bool:
    # written from the CAS definition, independent of the build script's helper
    m = re.fullmatch(r"(\d{2,7})-(\d{2})-(\d)", cas)
    if not m:
        return False
    digits = m.group(1) + m.group(2)
    total = sum((len(digits) - i) * int(d) for i, d in enumerate(digits))
    return total % 10 == int(m.group(3))


@pytest.mark.parametrize("name", ["prohibited.csv", "restricted.csv"])
def test_every_cas_passes_shape_and_check_digit(name):
    bad = [r["cas"] for r in rows(name) if not independent_check_digit_ok(r["cas"])]
    assert bad == []


@pytest.mark.parametrize("name", ["prohibited.csv", "restricted.csv"])
def test_one_row_per_cas_and_every_row_sourced_and_named(name):
    rs = rows(name)
    assert len({r["cas"] for r in rs}) == len(rs)
    assert all(r["source"].strip() for r in rs)
    assert all(r["lists"].strip() for r in rs)
    # a CAS without any name would be un-explainable to a seller; the 8 CWC 2019 additions have none
    unnamed = [r["cas"] for r in rs if not (r["name_cn"] or r["name_en"])]
    assert len(unnamed) <= 8, unnamed


def test_no_cas_on_both_lists():
    assert not {r["cas"] for r in rows("prohibited.csv")} & {r["cas"] for r in rows("restricted.csv")}


def test_counts_match_the_source_readme():
    # ../shared/data/chem/README.md: prohibited 192, restricted 2548 (after the VERIFICATION.md fix)
    assert len(rows("prohibited.csv")) == 192
    assert len(rows("restricted.csv")) == 2548
    # 172 in the shared no_cas.csv includes 11 CWC family rows that cwc_schedules.csv does not carry
    assert len(rows("no_cas.csv")) == 161


def test_split_rule_examples():
    pro = {r["cas"]: r for r in rows("prohibited.csv")}
    res = {r["cas"]: r for r in rows("restricted.csv")}
    # README: 74-90-8 is 氰化氢 [剧毒] and 氢氰酸[含量≤20%] -> prohibited, every list shown
    assert set(pro["74-90-8"]["lists"].split(";")) == {"CN_HAZ_2015_HIGHLY_TOXIC", "CN_HAZ_2015", "CWC_S3A"}
    assert "107-44-8" in pro            # sarin, CWC 1A
    assert "67-64-1" in res             # acetone: catalogue + precursor cat 3
    assert "28679-16-5" in res          # VERIFICATION.md correction (seq 1805)
    assert "67-56-1" in res and res["67-56-1"]["name_cn"] == "甲醇"


def test_build_is_reproducible(tmp_path, shared_dir):
    src = shared_dir / "data" / "chem"
    if not (src / "hazardous_catalogue_2015.csv").is_file():
        pytest.skip(f"chemical source tables absent ({src})")
    pde5 = shared_dir / "data" / "pde5"
    assert build.main(["--src", str(src), "--pde5", str(pde5), "--out", str(tmp_path)]) == 0
    for name in ("prohibited.csv", "restricted.csv", "no_cas.csv", "rejected.csv", "structures.csv", "COVERAGE.md"):
        assert (tmp_path / name).read_bytes() == (LISTS / name).read_bytes(), f"cas_lists/{name} is stale"


# ------------------------------------------------------------------ structures.csv (self-tests)
def test_structures_are_sourced_keyed_and_belong_to_listed_cas():
    from app.checks import chemstruct

    listed = {r["cas"]: kind for kind in ("prohibited", "restricted") for r in rows(f"{kind}.csv")}
    rs = rows("structures.csv")
    assert len(rs) > 2000
    key = re.compile(r"[A-Z]{14}")
    for r in rs:
        assert r["source"].strip() and (r["smiles"] or r["inchikey"]), r
        assert r["keys"] and all(key.fullmatch(k) for k in r["keys"].split(";")), r
        if r["kind"] in ("prohibited", "restricted"):
            # a structure only for a listed CAS, under the list the CAS is on, with a formula
            assert listed.get(r["cas"]) == r["kind"], r["cas"]
            assert chemstruct.formula_counts(r["formula"]) is not None, r
        else:
            assert r["kind"] == "sexual_health" and r["group"] in ("approved_pde5", "pde5_analogue", "other_sexual_drug")
        if r["smiles"]:
            p = chemstruct.parse_smiles(r["smiles"])
            assert p.problem is None, r
            # the precomputed keys are what the check computes today (else: rebuild cas_lists)
            assert set(p.keys) <= set(r["keys"].split(";")), r["cas"]
        if r["inchikey"]:
            assert chemstruct.INCHIKEY.fullmatch(r["inchikey"]) and r["inchikey"][:14] in r["keys"]
    # the CAS the shared VERIFICATION.md found wrongly mapped by the structure source are left out
    assert not {"63938-10-3", "15123-69-0"} & {r["cas"] for r in rs}


def test_structure_formula_agrees_with_the_smiles_for_most_rows():
    """Formula (source) and SMILES (source) of one row are two fields of one record; RDKit's formula of
    the SMILES must agree except for a few hypervalent / charged inorganic records."""
    from app.checks import chemstruct

    rs = [r for r in rows("structures.csv") if r["smiles"] and r["formula"]]
    disagree = [r["cas"] for r in rs
                if chemstruct.parse_smiles(r["smiles"]).formula != chemstruct.formula_counts(r["formula"])]
    assert len(disagree) / len(rs) < 0.03, disagree[:20]


def test_coverage_report_is_honest():
    text = (LISTS / "COVERAGE.md").read_text(encoding="utf-8")
    structs = rows("structures.csv")
    for kind in ("prohibited", "restricted"):
        n = len(rows(f"{kind}.csv"))
        with_structure = sum(1 for r in structs if r["kind"] == kind)
        assert f"| **all {kind}** | {kind} | **{n}** |" in text
        assert f"**{with_structure}** ({100 * with_structure / n:.1f} %)" in text
    assert "no structure and no formula" in text and "63938-10-3" in text


def test_build_rejects_bad_check_digits(tmp_path):
    assert build.cas_problem("7732-18-5") is None
    assert build.cas_problem("7732-18-4") == "check digit is 4, expected 5"
    assert build.cas_problem("944.22-9") == "not in the form NNNNNNN-NN-N"
