"""Hazardous chemicals (policy.md §3.4, §3.8, §6), written from the spec; run through the engine."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys

import pytest

from app.config import REPO_ROOT
from app.models import Listing

AS_OF = "2024-06-01"
RESTRICTED = "67-64-1"      # 丙酮 acetone: catalogue + 易制毒 cat 3 -> restricted
PROHIBITED = "74-90-8"      # 氰化氢 hydrogen cyanide: 剧毒 -> prohibited
CHEM_CAT = "Chemicals > Basic Organic Chemicals > Ketones"


def q(type_, scope=(), owned=True, valid_until=None):
    return {"type": type_, "number": "X-1", "scope": list(scope), "owned": owned, "valid_until": valid_until}


MANUFACTURER_SET = [q("hazchem_safety_production_permit", [RESTRICTED]),
                    q("industrial_product_production_permit"), q("business_license")]
TRADER_SET = [q("hazchem_business_permit", [RESTRICTED]), q("business_license")]


def listing(**kw) -> Listing:
    base = {"listing_id": "t", "title": "Industrial solvent 99.5%", "as_of": AS_OF,
            "category": CHEM_CAT, "attributes": {"CAS No.": RESTRICTED},
            "seller": {"seller_id": "s", "country": "CN", "business_type": "manufacturer",
                       "qualifications": MANUFACTURER_SET}}
    base.update(kw)
    return Listing.model_validate(base)


def seller(country="CN", business_type="manufacturer", quals=MANUFACTURER_SET):
    return {"seller_id": "s", "country": country, "business_type": business_type, "qualifications": quals}


def chem(decision):
    return {v.rule_id: v for v in decision.violations}


def assert_spans_point_at_original(d, lst: Listing):
    for v in d.violations:
        for e in v.evidence:
            if e.field == "title":
                src = lst.title
            elif e.field == "description":
                src = lst.description
            elif e.field.startswith("keywords["):
                src = lst.keywords[int(e.field[9:-1])]
            elif e.field.startswith("attributes."):
                src = lst.attributes[e.field[len("attributes."):]]
            else:
                continue
            assert src[e.start:e.end] == e.text, (e, src)


def test_prohibited_cas_attribute_blocks_a6(engine):
    lst = listing(attributes={"CAS No.": PROHIBITED}, title="Hydrogen cyanide")
    d = engine.moderate(lst)
    v = chem(d)["chem.prohibited"]
    assert d.action == "block" and v.violation_class == "A" and v.points == 6 and d.points.A >= 6
    assert v.detail["cas"] == PROHIBITED and "CN_HAZ_2015_HIGHLY_TOXIC" in v.detail["list"]
    assert PROHIBITED in v.message
    assert_spans_point_at_original(d, lst)


def test_restricted_fully_qualified_manufacturer_is_restricted_with_cn_mask(engine):
    d = engine.moderate(listing())
    assert d.action == "restrict"
    assert d.restrictions == ["no_online_trade"] and d.masked_regions == ["CN"]
    assert set(chem(d)) == {"chem.restricted_qualified"}
    assert (d.points.A, d.points.B) == (0, 0)


def test_restricted_fully_qualified_trader(engine):
    d = engine.moderate(listing(seller=seller(business_type="trading", quals=TRADER_SET)))
    assert d.action == "restrict" and d.masked_regions == ["CN"]


@pytest.mark.parametrize("quals", [MANUFACTURER_SET, TRADER_SET])
def test_business_type_missing_either_complete_set_accepted(engine, quals):
    d = engine.moderate(listing(seller=seller(business_type=None, quals=quals)))
    assert d.action == "restrict", [v.message for v in d.violations]


def test_destinations_without_cn_drop_the_mask_but_keep_the_restriction(engine):
    d = engine.moderate(listing(destinations=["DE"]))
    assert d.action == "restrict" and d.restrictions == ["no_online_trade"] and d.masked_regions == []


EXPIRED = "2024-05-31"

# (case, listing overrides, words the message must contain)
MISSING = [
    ("non-CN seller", {"seller": seller(country="HK")}, "mainland-China"),
    ("no seller", {"seller": None}, "mainland-China"),
    ("authorised-use permit",
     {"seller": seller(quals=[q("hazchem_safety_production_permit", [RESTRICTED], owned=False),
                              *MANUFACTURER_SET[1:]])},
     "safety production permit (危险化学品安全生产许可证) held in the seller's own name"),
    ("expired permit",
     {"seller": seller(quals=[q("hazchem_safety_production_permit", [RESTRICTED], valid_until=EXPIRED),
                              *MANUFACTURER_SET[1:]])},
     "expired 2024-05-31"),
    ("expired business licence",
     {"seller": seller(quals=[*MANUFACTURER_SET[:2], q("business_license", valid_until=EXPIRED)])},
     "business licence (营业执照) that is in date"),
    ("manufacturer without industrial permit",
     {"seller": seller(quals=[MANUFACTURER_SET[0], MANUFACTURER_SET[2]])}, "industrial product production permit"),
    ("scope missing the CAS",
     {"seller": seller(quals=[q("hazchem_safety_production_permit", ["64-17-5"]), *MANUFACTURER_SET[1:]])},
     f"scope covers CAS {RESTRICTED}"),
    ("wrong category", {"category": "Beauty & Personal Care > Nail Polish Remover"}, "chemicals category"),
    ("no category", {"category": None}, "chemicals category"),
    ("no CAS attribute", {"attributes": {}, "description": f"CAS No: {RESTRICTED}"}, "the CAS No. attribute"),
    ("trader missing business permit",
     {"seller": seller(business_type="trading", quals=[q("business_license")])},
     "hazardous-chemical business permit (危险化学品经营许可证)"),
    ("trader with only a manufacturer's permits",
     {"seller": seller(business_type="trading", quals=MANUFACTURER_SET)}, "business permit"),
]


@pytest.mark.parametrize("case,overrides,words", MISSING, ids=[m[0] for m in MISSING])
def test_each_missing_element_blocks_b2_and_is_named(engine, case, overrides, words):
    lst = listing(**overrides)
    d = engine.moderate(lst)
    v = chem(d)["chem.restricted_unqualified"]
    assert d.action == "block" and v.violation_class == "B" and v.points == 2
    assert words in v.message, v.message
    assert RESTRICTED in v.message
    # each case breaks exactly one element, so only that one is named (no seller at all also
    # means no permits)
    if case != "no seller":
        assert len(v.detail["missing"]) == 1, v.detail["missing"]
    assert_spans_point_at_original(d, lst)


def test_permit_valid_until_today_is_still_valid(engine):
    d = engine.moderate(listing(seller=seller(quals=[
        q("hazchem_safety_production_permit", [RESTRICTED], valid_until=AS_OF), *MANUFACTURER_SET[1:]])))
    assert d.action == "restrict"


def test_restricted_before_no_online_trade_date(engine):
    # chem.restricted_qualified is in force from 2021-12-03 (no online trade since then)
    d = engine.moderate(listing(as_of="2021-11-30"))
    assert "chem.restricted_qualified" not in chem(d)


def test_named_only_in_text_without_cas_attribute_blocks(engine):
    lst = listing(attributes={}, title="高纯丙酮 99.9% 工业级", category=CHEM_CAT)
    d = engine.moderate(lst)
    r = chem(d)
    assert d.action == "block"
    assert "chem.cas_attribute_missing" in r and "chem.restricted_unqualified" in r
    assert "丙酮" in r["chem.cas_attribute_missing"].message
    ev = r["chem.cas_attribute_missing"].evidence[0]
    assert (ev.field, lst.title[ev.start:ev.end]) == ("title", "丙酮")


def test_english_name_prohibited(engine):
    lst = listing(attributes={}, title="Sarin reference standard", category=None, seller=None)
    r = chem(engine.moderate(lst))
    assert "chem.prohibited" in r and r["chem.prohibited"].detail["cas"] == "107-44-8"


@pytest.mark.parametrize("title", [
    "Acetone-free nail polish remover 100ml",
    "acetone free gentle remover",
    "无丙酮洗甲水",
    "Benzene ring necklace sterling silver",
    "苯环项链 925银",
    "硫酸钡 医用",                                 # barium sulfate: 硫酸 is part of a longer name
    "tert-Butyl 4-(4-aminophenyl)piperidine-1-carboxylate",  # piperidine inside a systematic name
])
def test_not_a_chemical_finding(engine, title):
    d = engine.moderate(Listing(listing_id="n", title=title, as_of=AS_OF))
    assert not [v for v in d.violations if v.category in ("hazardous_chemical", "listing_data")], \
        [(v.rule_id, [e.text for e in v.evidence]) for v in d.violations]


@pytest.mark.parametrize("text,value,problem", [
    ("CAS No.: 7732-18-4", "7732-18-4", "check digit is 4, expected 5"),
    ("CAS# 64-17-6", "64-17-6", "check digit is 6, expected 5"),
    ("CAS号：50-00-1", "50-00-1", "check digit is 1, expected 0"),
    ("CAS RN 7732185", "7732185", "not in the form"),
])
def test_bad_cas_in_text_is_listing_data_block(engine, text, value, problem):
    lst = Listing(listing_id="c", title="Reagent", description=text, as_of=AS_OF)
    d = engine.moderate(lst)
    v = chem(d)["data.cas_invalid"]
    assert d.action == "block" and v.category == "listing_data" and v.points == 0
    assert value in v.message and problem in v.message, v.message
    assert_spans_point_at_original(d, lst)


def test_bad_cas_attribute_is_listing_data_block(engine):
    lst = listing(attributes={"cas_no": "7732-18-4"})
    d = engine.moderate(lst)
    v = chem(d)["data.cas_invalid"]
    assert v.evidence[0].field == "attributes.cas_no" and "7732-18-4" in v.message
    assert d.action == "block" and v.points == 0
    # the invalid number is not a filled CAS attribute: the restricted gate cannot pass on it
    assert "chem.restricted_qualified" not in chem(d)


@pytest.mark.parametrize("attrs,text,bad", [
    ({"EINECS No.": "200-001-9"}, "", "200-001-9"),
    ({}, "EINECS: 200-001-9", "200-001-9"),
    ({"EC No.": "200-0018"}, "", "200-0018"),
])
def test_bad_ec_number_is_listing_data_block(engine, attrs, text, bad):
    d = engine.moderate(Listing(listing_id="e", title="Reagent", description=text, attributes=attrs, as_of=AS_OF))
    v = chem(d)["data.ec_invalid"]
    assert d.action == "block" and v.points == 0 and bad in v.message


@pytest.mark.parametrize("attrs,text", [
    ({"EINECS No.": "200-001-8"}, ""),            # formaldehyde's EC number, valid
    ({}, "EC No 200-001-8"),
    ({}, "complies with Regulation (EC) No 1907/2006"),
])
def test_valid_ec_or_regulation_number_is_no_finding(engine, attrs, text):
    d = engine.moderate(Listing(listing_id="e", title="Reagent", description=text, attributes=attrs, as_of=AS_OF))
    assert "data.ec_invalid" not in chem(d)


@pytest.mark.parametrize("category,expect", [
    (None, False), ("Tools > Hardware", False), ("Chemicals > Inorganic", True)])
def test_unlabelled_number_is_a_cas_only_in_a_chemicals_category(engine, category, expect):
    # 7732-18-5 is water (valid, unlisted); 67-64-1 acetone; a part number elsewhere is not a CAS
    d = engine.moderate(Listing(listing_id="p", title="Model 67-64-1 valve", category=category, as_of=AS_OF))
    assert ("chem.restricted_unqualified" in chem(d)) is expect


def test_part_number_with_bad_check_digit_outside_chemicals_is_ignored(engine):
    d = engine.moderate(Listing(listing_id="p", title="Model 7732-18-4 spare part", as_of=AS_OF))
    assert d.action == "allow"


def test_en_dash_and_spaces_in_labelled_cas(engine):
    lst = Listing(listing_id="d", title="Solvent", description="<p>CAS No. 67 – 64 – 1</p>", as_of=AS_OF)
    d = engine.moderate(lst)
    v = chem(d)["chem.restricted_unqualified"]
    assert v.detail["cas"] == RESTRICTED
    assert_spans_point_at_original(d, lst)


def test_policy_reports_chemical_rules_implemented(engine):
    ids = engine.snapshot.active_rule_ids()
    for rid in ("chem.prohibited", "chem.restricted_qualified", "chem.restricted_unqualified",
                "chem.cas_attribute_missing", "data.cas_invalid", "data.ec_invalid"):
        assert rid in ids


# ---------------------------------------------------------------- real listings (../shared)
def test_real_chemical_listings(engine, shared_dir, capsys):
    path = shared_dir / "data" / "listings" / "chemicals_cas.csv"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    spec = importlib.util.spec_from_file_location("eval_chem", REPO_ROOT / "bench" / "eval_chem.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("eval_chem", mod)
    spec.loader.exec_module(mod)
    res = mod.evaluate(engine, path.parent)
    c, _ = res["chemicals_cas.csv"]
    with capsys.disabled():
        print(f"\nchemicals_cas.csv: {dict(c)}")
        for name in ("benign_titles.csv", "hard_negatives.csv"):
            if name in res:
                print(f"{name}: {dict(res[name][0])}")
    assert c["rows"] == 1519
    # every listing has "CAS No: …" and no CAS attribute: listed ones must also be cas_attribute_missing
    assert c["chem.prohibited"] + c["chem.restricted_unqualified"] == c["chem.cas_attribute_missing"]
    assert c["chem.prohibited"] >= 3 and c["data.cas_invalid"] >= 1
    for name in ("benign_titles.csv", "hard_negatives.csv"):
        if name in res:
            cc = res[name][0]
            assert cc.get("flagged", 0) / cc["rows"] <= 0.001
