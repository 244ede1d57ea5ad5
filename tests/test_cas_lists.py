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
    assert build.main(["--src", str(src), "--out", str(tmp_path)]) == 0
    for name in ("prohibited.csv", "restricted.csv", "no_cas.csv", "rejected.csv"):
        assert (tmp_path / name).read_bytes() == (LISTS / name).read_bytes(), f"cas_lists/{name} is stale"


def test_build_rejects_bad_check_digits(tmp_path):
    assert build.cas_problem("7732-18-5") is None
    assert build.cas_problem("7732-18-4") == "check digit is 4, expected 5"
    assert build.cas_problem("944.22-9") == "not in the form NNNNNNN-NN-N"
