"""Medical-device identifiers (app/checks/meddev_ids.py): formats and consistency rules from
../shared/notes/medical_devices.md §1-3, the real examples of identifier_examples.csv, and the shipped
device data (devices/)."""

from __future__ import annotations

import csv
import datetime as dt

import pytest

from app.checks.meddev_ids import (establishment_expiry, find_nmpa_in_text, parse_device_class, parse_establishment,
                                   parse_fda_number, parse_nmpa, parse_notified_body, parse_product_code)
from app.config import REPO_ROOT

DAY = dt.date(2026, 11, 1)


# ----------------------------------------------------------------------------- NMPA
@pytest.mark.parametrize("value, kind, cls", [
    ("国械注准20203460123", "nmpa_registration", 3),        # policy.md's example
    ("国械注进20213130109", "nmpa_registration", 3),
    ("国械注进20162705149", "nmpa_registration", 2),
    ("粤械注准20192140001号", "nmpa_registration", 2),       # provincial, domestic class II, trailing 号
    ("国械注许20183460001", "nmpa_registration", 3),
    ("国械注准 2020 3 460123", "nmpa_registration", 3),       # spaces as sellers type them
    ("国械注准２０２０３４６０１２３", "nmpa_registration", 3),   # full-width digits
    ("国械备20151134号", "nmpa_filing", 1),
    ("浙温械备20140027号", "nmpa_filing", 1),
    ("国食药监械(准)字2013第3461342号", "nmpa_registration_old", 3),
    ("国食药监械（进）字2013第2250408号", "nmpa_registration_old", 2),
])
def test_nmpa_valid(value, kind, cls):
    d = parse_nmpa(value, DAY)
    assert d.ok, d.problem
    assert (d.kind, d.device_class) == (kind, cls)


@pytest.mark.parametrize("value, words", [
    ("国械注准2020346012", "11 digits"),                       # a digit short
    ("国械注准20201460123", "class digit"),                    # class 1 is never registered
    ("国械注准20205460123", "class digit"),
    ("粤械注准20203460123", "not by a province"),              # province + class III
    ("粤械注进20202460123", "only domestic"),                  # province + imported
    ("国械注准20202460123", "registered by a province"),       # 国械注准 is domestic class III
    ("国械注准20123460123", "before"),                         # year before the 2014 format
    ("国械注准20303460123", "after the date"),                 # year after as_of
    ("国械备2015113号", "8 digits"),
    ("粤食药监械生产许20100001号", "company production or business licence"),
    ("国食药监械(准)字2013第346134号", "7 digits"),
    ("国食药监械(准)字2016第3461342号", "not issued in 2016"),
    ("国械注册准20203460123", "not in an NMPA format"),
    ("FDA K123456", "not an NMPA registration"),
])
def test_nmpa_malformed_says_why(value, words):
    d = parse_nmpa(value, DAY)
    assert not d.ok
    assert words in d.problem, d.problem


def test_nmpa_in_free_text_with_spans():
    text = "产品注册证号：国械注准 2020 3 460123号，另有 粤中械备20190035号。"
    found = find_nmpa_in_text(text, DAY)
    assert [text[d.start:d.end] for d in found] == ["国械注准 2020 3 460123号", "粤中械备20190035号"]
    assert [d.device_class for d in found] == [3, 1]


# ----------------------------------------------------------------------------- FDA
@pytest.mark.parametrize("value, kind, canonical", [
    ("K260002", "fda_510k", "K260002"), ("k853878", "fda_510k", "K853878"), ("510(k) K853878", "fda_510k", "K853878"),
    ("DEN250034", "fda_denovo", "DEN250034"), ("P990074", "fda_pma", "P990074"),
    ("P950037/S279", "fda_pma", "P950037/S279"), ("P950037S279", "fda_pma", "P950037/S279"),
    ("N970003/S306", "fda_pma", "N970003/S306"),
])
def test_fda_numbers_valid(value, kind, canonical):
    d = parse_fda_number(value, DAY)
    assert d.ok, d.problem
    assert (d.kind, d.canonical) == (kind, canonical)


@pytest.mark.parametrize("value, words", [
    ("K12345", "6 digits, not 5"), ("K1234567", "6 digits, not 7"), ("DEN25003", "6 digits"),
    ("X123456", "not an FDA clearance"), ("K123456/S001", "only PMA numbers carry a supplement"),
    ("P950037/S27", "S + 3 digits"), ("123456", "not an FDA clearance"),
])
def test_fda_numbers_malformed(value, words):
    d = parse_fda_number(value, DAY)
    assert not d.ok and words in d.problem, d.problem


def test_fda_number_from_the_future_contradicts_itself():
    assert parse_fda_number("K260002", dt.date(2026, 12, 1)).ok
    d = parse_fda_number("K260002", dt.date(2022, 3, 1))
    assert not d.ok and "2026" in d.problem and "year the FDA received it" in d.problem


def test_product_codes_and_establishment_and_notified_body():
    assert parse_product_code(" ftr ").canonical == "FTR" and parse_product_code("ftr").ok
    assert not parse_product_code("FT1").ok and not parse_product_code("FTRX").ok
    assert parse_establishment("1723241").ok and parse_establishment("3014680740").ok
    assert parse_establishment("FEI 3014680740").ok
    d = parse_establishment("12345678")
    assert not d.ok and "7 or 10 digits" in d.problem and "not 8" in d.problem
    assert parse_notified_body("0123").ok and parse_notified_body("CE 2797").canonical == "2797"
    assert not parse_notified_body("123").ok and not parse_notified_body("CE").ok


def test_establishment_expires_on_31_december_of_its_year():
    assert establishment_expiry(dt.date(2021, 6, 30)) == dt.date(2021, 12, 31)
    assert establishment_expiry(dt.date(2021, 12, 31)) == dt.date(2021, 12, 31)
    assert establishment_expiry(None) is None


@pytest.mark.parametrize("value, cls", [("III", 3), ("Class III", 3), ("class 3", 3), ("IIb", 2), ("Class IIa", 2),
                                        ("I", 1), ("第三类", 3), ("三类", 3), ("Ⅱ类", 2), ("2", 2)])
def test_device_class_values(value, cls):
    d = parse_device_class(value)
    assert d.ok and d.device_class == cls


@pytest.mark.parametrize("value", ["IV", "high", "Class", "A"])
def test_device_class_malformed(value):
    assert not parse_device_class(value).ok


# ----------------------------------------------------------------------------- real examples
@pytest.mark.shared
def test_every_real_identifier_example_parses_with_its_recorded_class(shared_dir):
    path = shared_dir / "data" / "meddev" / "identifier_examples.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert len(rows) >= 80
    for r in rows:
        t, v = r["id_type"], r["value"]
        if t.startswith("nmpa"):
            d = parse_nmpa(v, DAY)
            assert d.ok, (v, d.problem)
            assert str(d.device_class) == r["device_class"], v
        elif t == "fda_establishment_registration":
            assert parse_establishment(v).ok, v
        elif t.startswith("fda_"):
            assert parse_fda_number(v, DAY).ok, v
        elif t == "eu_notified_body":
            assert parse_notified_body(v).ok, v


# ----------------------------------------------------------------------------- the shipped data (devices/)
DEVICES = REPO_ROOT / "devices" / "fda_product_codes.csv"


def test_shipped_device_data_is_well_formed():
    rows = list(csv.DictReader(DEVICES.open(encoding="utf-8")))
    assert len(rows) > 6000
    codes = [r["product_code"] for r in rows]
    assert len(set(codes)) == len(codes) and codes == sorted(codes)
    assert all(len(c) == 3 and c.isascii() and c.isupper() and c.isalpha() for c in codes)
    assert {r["device_class"] for r in rows} <= {"1", "2", "3", "U", "N", "F"}
    assert all(r["source"].startswith("FDA-foiclass@") and r["device_name"] for r in rows)
    by = {r["product_code"]: r["device_class"] for r in rows}
    # notes/medical_devices.md §4, verified there against the FDA file
    for code in ("FTR", "FWM", "DXY", "MAF", "NIQ", "HQL", "LMH", "MCM", "DYE"):
        assert by[code] == "3", code
    assert by["FLL"] == "2" and by["LZA"] == "1"
    readme = (DEVICES.parent / "README.md").read_text(encoding="utf-8")
    assert str(len(rows)) in readme.replace(",", "")


@pytest.mark.shared
def test_shipped_device_data_matches_its_source(shared_dir):
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_devices", REPO_ROOT / "scripts" / "build_devices.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows, problems, _ = mod.build(shared_dir / "data" / "meddev" / "foiclass.csv")
    assert not problems
    shipped = list(csv.DictReader(DEVICES.open(encoding="utf-8")))
    assert shipped == [{k: str(v) for k, v in r.items()} for r in rows]
