"""Medical devices (policy.md §3.5, §3.8), run through the whole engine.

The table-driven test crosses (class I/II/III) x (NMPA valid/malformed/missing) x (FDA clearance +
establishment valid/expired/missing) x (as_of before/after 2022-01-15) x (destinations global / US
only / EU only / no US). Its expected action, masked regions, review flag and points come from
``spec_expectation`` below, a restatement of §1, §3.5 and §3.8 written for this test -- it never calls
the check or the policy file.
"""

from __future__ import annotations

import itertools

import pytest

from app.models import Listing

# ----------------------------------------------------------------------------- the spec, restated
EU = ["AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT",
      "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"]
EEA = sorted(EU + ["IS", "LI", "NO"])
SEVERITY = ["allow", "region_mask", "restrict", "block"]
DESTINATIONS = {"global": None, "us_only": ["US"], "eu_only": ["DE", "FR"], "no_us": ["JP", "BR"]}
BEFORE, AFTER = "2022-01-10", "2022-03-01"


def spec_expectation(cls: int, nmpa: str, fda: str, when: str, dest: str) -> dict:
    """policy.md, with no CE certificate anywhere in the table:
    * §3.8: a malformed identifier -> block (listing_data, no points); it counts as missing;
    * §3.5 class III: China + US -> allow; China only -> region_mask US from 2022-01-15, allow (a warning)
      before; US only -> allow + review; neither -> block, B 2;
    * §3.5 any class, EU/EEA destinations without CE -> region_mask the EEA codes;
    * §1: masks outside the destinations are dropped, a mask rule with nothing left does not fire;
      the action is the most severe one, regions are the union."""
    fired = []  # (action, regions, review, B points)
    if nmpa == "malformed":
        fired.append(("block", [], False, 0))
    china, us = nmpa == "valid", fda == "valid"
    if cls == 3:
        if china and not us:
            fired.append(("region_mask", ["US"], False, 0) if when == "after" else ("allow", [], False, 0))
        elif us and not china:
            fired.append(("allow", [], True, 0))
        elif not china and not us:
            fired.append(("block", [], False, 2))
    fired.append(("region_mask", EEA, False, 0))
    dests = DESTINATIONS[dest]
    kept = []
    for action, regions, review, pts in fired:
        if dests is not None:
            regions = [r for r in regions if r in dests]
            if action == "region_mask" and not regions:
                continue
        kept.append((action, regions, review, pts))
    return {"action": max((k[0] for k in kept), key=SEVERITY.index, default="allow"),
            "masked": sorted({r for k in kept for r in k[1]}),
            "review": any(k[2] for k in kept),
            "B": sum(k[3] for k in kept)}


# ----------------------------------------------------------------------------- the listing for a row
# Real identifiers (../shared/data/meddev/identifier_examples.csv); the malformed one lacks a digit.
NMPA_VALID = {1: "国械备20151134号", 2: "国械注进20162705149", 3: "国械注进20213130109"}
NMPA_MALFORMED = "国械注准2020346012"
CLEARANCE = "P990074"           # PMA for FWM (saline breast implant)
ESTABLISHMENT = "9617229"       # Allergan, Costa Rica


def row_listing(cls: int, nmpa: str, fda: str, when: str, dest: str) -> dict:
    quals = []
    if nmpa == "valid":
        quals.append({"type": "nmpa_registration", "number": NMPA_VALID[cls]})
    elif nmpa == "malformed":
        quals.append({"type": "nmpa_registration", "number": NMPA_MALFORMED})
    if fda in ("valid", "expired"):
        quals.append({"type": "fda_clearance", "number": CLEARANCE})
        quals.append({"type": "fda_establishment_registration", "number": ESTABLISHMENT,
                      "valid_until": "2022-12-31" if fda == "valid" else "2021-12-31"})
    return {"listing_id": f"m-{cls}-{nmpa}-{fda}-{when}-{dest}", "title": "Product model A-7, sterile, 10 pcs",
            "attributes": {"Device Class": {1: "I", 2: "II", 3: "III"}[cls]},
            "seller": {"seller_id": "s1", "country": "CN", "business_type": "manufacturer", "qualifications": quals},
            "destinations": DESTINATIONS[dest], "as_of": BEFORE if when == "before" else AFTER}


ROWS = list(itertools.product((1, 2, 3), ("valid", "malformed", "missing"), ("valid", "expired", "missing"),
                              ("before", "after"), tuple(DESTINATIONS)))


def test_the_table_has_one_row_per_combination():
    assert len(ROWS) == 3 * 3 * 3 * 2 * 4 == len(set(ROWS))


@pytest.mark.parametrize("cls, nmpa, fda, when, dest", ROWS, ids=lambda v: str(v))
def test_decision_table(engine, cls, nmpa, fda, when, dest):
    want = spec_expectation(cls, nmpa, fda, when, dest)
    d = engine.moderate(Listing.model_validate(row_listing(cls, nmpa, fda, when, dest)))
    rules = [v for v in d.violations if not v.rule_id.startswith("classifier.")]  # a model's suspicion is not §3.5
    got = {"action": d.action, "masked": d.masked_regions, "review": any(v.review for v in rules), "B": d.points.B}
    assert got == want, [(v.rule_id, v.action, v.regions, v.message) for v in d.violations]
    assert d.points.A == 0
    for v in rules:
        assert v.category in ("medical_device", "listing_data")
        if v.category == "listing_data":
            assert NMPA_MALFORMED in v.message and "11 digits" in v.message


# ----------------------------------------------------------------------------- helpers
def moderate(engine, **kw):
    base = {"listing_id": "t", "title": "Product model A-7", "as_of": AFTER}
    base.update(kw)
    lst = Listing.model_validate(base)
    return engine.moderate(lst), lst


def by_rule(d):
    return {v.rule_id: v for v in d.violations}


def seller(*quals, business_type="manufacturer"):
    return {"seller_id": "s", "country": "CN", "business_type": business_type, "qualifications": list(quals)}


def nmpa(number=NMPA_VALID[3], **kw):
    return {"type": "nmpa_registration", "number": number, **kw}


def clearance(number=CLEARANCE, **kw):
    return {"type": "fda_clearance", "number": number, **kw}


def establishment(number=ESTABLISHMENT, valid_until="2022-12-31", **kw):
    return {"type": "fda_establishment_registration", "number": number, "valid_until": valid_until, **kw}


def ce(notified_body="0123", **kw):
    return {"type": "ce_certificate", "number": "CE-MDR-1", "notified_body": notified_body, **kw}


def assert_spans(d, lst: Listing):
    quals = lst.seller.qualifications if lst.seller else []
    for v in d.violations:
        for e in v.evidence:
            if e.field == "title":
                src = lst.title
            elif e.field == "description":
                src = lst.description
            elif e.field.startswith("attributes."):
                src = lst.attributes[e.field[len("attributes."):]]
            elif e.field == "category":
                src = lst.category
            elif e.field.startswith("seller.qualifications["):
                i = int(e.field[len("seller.qualifications["):].split("]")[0])
                src = quals[i].notified_body if e.field.endswith(".notified_body") else (quals[i].number or "")
            else:
                continue
            assert src[e.start:e.end] == e.text, (e, src)


# ----------------------------------------------------------------------------- class
def test_class_from_the_nmpa_class_digit_overrides_a_lower_declared_class(engine):
    # declared II, but the registration's class digit (after the year) is 3: class III
    d, lst = moderate(engine, attributes={"Device Class": "II"}, seller=seller(nmpa("国械注准20203460123")),
                      destinations=["US"])
    v = by_rule(d)["meddev.class3_no_us"]
    assert d.action == "region_mask" and d.masked_regions == ["US"]
    assert v.detail["device_class"] == "III"
    assert any("国械注准20203460123" in c for c in v.detail["class_from"])
    assert any(e.field == "seller.qualifications[0]" for e in v.evidence)
    assert_spans(d, lst)


def test_nmpa_number_in_an_attribute_gives_the_class(engine):
    d, lst = moderate(engine, attributes={"Registration No.": "国械注准20203460123"}, destinations=["US", "CN"])
    v = by_rule(d)["meddev.class3_no_qualification"]
    assert d.action == "block" and d.points.B == 2
    (ev,) = [e for e in v.evidence if e.field == "attributes.Registration No."]
    assert ev.text == "国械注准20203460123" and ev.method == "rule"
    assert_spans(d, lst)


def test_filing_means_class_one(engine):
    d, _ = moderate(engine, attributes={"备案号": "浙温械备20140027号"}, destinations=["US"])
    assert d.action == "allow" and not d.violations


def test_fda_product_code_class_from_the_shipped_data(engine):
    d, lst = moderate(engine, attributes={"FDA Product Code": "FTR"}, destinations=["US"])
    v = by_rule(d)["meddev.class3_no_qualification"]
    assert d.action == "block" and v.detail["device_class"] == "III"
    (ev,) = [e for e in v.evidence if e.field == "attributes.FDA Product Code"]
    assert ev.method == "list" and ev.source == "devices:FTR" and "Silicone Gel" in ev.matched
    d, _ = moderate(engine, attributes={"FDA Product Code": "FLL"}, destinations=["US"])  # thermometer, class 2
    assert d.action == "allow" and not d.violations


def test_unknown_but_well_formed_product_code_asks_for_review(engine):
    d, _ = moderate(engine, attributes={"FDA Product Code": "QQQ"}, destinations=["US"])
    assert d.action == "allow" and d.review
    assert "QQQ" in by_rule(d)["meddev.product_code_unknown"].message


def test_highest_class_wins_across_sources(engine):
    d, _ = moderate(engine, attributes={"Device Class": "I", "FDA Product Code": "FLL", "备案号": "国械备20151134号"},
                    seller=seller(clearance(), establishment()), destinations=["US"])
    assert d.action == "allow"  # class II: no class III rule
    d, _ = moderate(engine, attributes={"Device Class": "I", "FDA Product Code": "MAF"}, destinations=["US"])
    assert by_rule(d)["meddev.class3_no_qualification"].detail["device_class"] == "III"


# ----------------------------------------------------------------------------- identifiers
def test_malformed_identifiers_are_listing_data_with_the_value_and_the_reason(engine):
    d, lst = moderate(engine, attributes={"FDA Product Code": "FT1", "510(k)": "K12345", "Device Class": "IV"},
                      destinations=["US"])
    data = by_rule(d)["data.device_identifier_invalid"]
    assert d.action == "block" and data.category == "listing_data" and data.points == 0
    assert set(data.detail["value"]) == {"FT1", "K12345", "IV"}
    assert "K12345" in data.message and "6 digits, not 5" in data.message
    assert {e.field for e in data.evidence} == {"attributes.FDA Product Code", "attributes.510(k)",
                                               "attributes.Device Class"}
    assert_spans(d, lst)


def test_self_contradicting_registration_counts_as_missing(engine):
    # 粤 (a province) cannot register a class III device: the number contradicts itself
    d, lst = moderate(engine, attributes={"Device Class": "III"}, destinations=["US"],
                      seller=seller(nmpa("粤械注准20203460123"), clearance(), establishment()))
    rules = by_rule(d)
    assert "data.device_identifier_invalid" in rules and "meddev.class3_us_only" in rules
    assert "粤械注准20203460123" in rules["data.device_identifier_invalid"].message
    assert "not by a province" in rules["data.device_identifier_invalid"].message
    assert "not by a province" in " ".join(rules["meddev.class3_us_only"].detail["missing"])
    assert any(e.field == "seller.qualifications[0]" for e in rules["data.device_identifier_invalid"].evidence)
    assert d.action == "block" and d.review
    assert_spans(d, lst)


def test_nmpa_number_in_the_description(engine):
    desc = "规格齐全，注册证号：国械注准 2020 3 460123号，欢迎咨询"
    d, lst = moderate(engine, description=desc, destinations=["US"])
    v = by_rule(d)["meddev.class3_no_qualification"]
    (ev,) = [e for e in v.evidence if e.field == "description"]
    assert desc[ev.start:ev.end] == "国械注准 2020 3 460123号"
    assert_spans(d, lst)


def test_a_class_one_filing_does_not_qualify_a_class_three_device(engine):
    d, _ = moderate(engine, attributes={"Device Class": "III"}, destinations=["US"],
                    seller=seller(nmpa("国械备20151134号"), clearance(), establishment()))
    v = by_rule(d)["meddev.class3_us_only"]
    assert "class I device but this device is class III" in " ".join(v.detail["missing"])


def test_old_format_registration_is_historical(engine):
    d, _ = moderate(engine, attributes={"Device Class": "III"}, destinations=["US"],
                    seller=seller(nmpa("国食药监械(准)字2013第3461342号")))
    v = by_rule(d)["meddev.class3_no_qualification"]
    assert "pre-2014" in " ".join(v.detail["missing"])
    assert "data.device_identifier_invalid" not in by_rule(d)


# ----------------------------------------------------------------------------- qualifications
def test_authorised_use_and_expired_registrations_do_not_count(engine):
    d, _ = moderate(engine, attributes={"Device Class": "III"}, destinations=["US"],
                    seller=seller(nmpa(owned=False), clearance(), establishment()))
    assert "own name" in " ".join(by_rule(d)["meddev.class3_us_only"].detail["missing"])
    d, _ = moderate(engine, attributes={"Device Class": "III"}, destinations=["US"],
                    seller=seller(nmpa(valid_until="2022-02-01"), clearance(), establishment()))
    assert "expired 2022-02-01" in " ".join(by_rule(d)["meddev.class3_us_only"].detail["missing"])


def test_establishment_registration_expires_on_31_december_of_its_year(engine):
    quals = seller(clearance(), establishment(valid_until="2021-06-30"))
    d, _ = moderate(engine, attributes={"Device Class": "III"}, seller=quals, destinations=["US"], as_of="2021-12-31")
    assert set(by_rule(d)) == {"meddev.class3_us_only"}          # current until 31 December 2021
    d, _ = moderate(engine, attributes={"Device Class": "III"}, seller=quals, destinations=["US"], as_of="2022-01-01")
    v = by_rule(d)["meddev.class3_no_qualification"]
    assert "expired 2021-12-31" in v.message


def test_establishment_without_a_year_is_not_current(engine):
    quals = seller(nmpa(), clearance(), {"type": "fda_establishment_registration", "number": ESTABLISHMENT})
    d, _ = moderate(engine, attributes={"Device Class": "III"}, seller=quals, destinations=["US"])
    assert "registration year" in by_rule(d)["meddev.class3_no_us"].message


def test_scope_naming_other_products_does_not_qualify(engine):
    quals = seller(nmpa(scope=["FWM"]), clearance(scope=["FTR"]), establishment())
    d, _ = moderate(engine, attributes={"FDA Product Code": "FTR"}, seller=quals, destinations=["US"])
    v = by_rule(d)["meddev.class3_us_only"]
    assert "scope" in " ".join(v.detail["missing"])
    quals = seller(nmpa(scope=["FTR"]), clearance(scope=["FTR"]), establishment())
    d, _ = moderate(engine, attributes={"FDA Product Code": "FTR"}, seller=quals, destinations=["US"])
    assert d.action == "allow" and not d.violations


def test_both_qualifications_allow_worldwide_except_eea_without_ce(engine):
    d, _ = moderate(engine, attributes={"Device Class": "III"}, seller=seller(nmpa(), clearance(), establishment()))
    assert d.action == "region_mask" and d.masked_regions == EEA
    d, _ = moderate(engine, attributes={"Device Class": "III"},
                    seller=seller(nmpa(), clearance(), establishment(), ce()))
    assert d.action == "allow" and not d.violations and d.masked_regions == []


# ----------------------------------------------------------------------------- CE
def test_ce_needs_a_notified_body_above_class_one(engine):
    d, _ = moderate(engine, attributes={"Device Class": "II"}, seller=seller(ce(notified_body=None)), destinations=["FR"])
    v = by_rule(d)["meddev.no_ce_eea"]
    assert d.masked_regions == ["FR"] and "notified-body" in v.message
    d, _ = moderate(engine, attributes={"Device Class": "I"}, seller=seller(ce(notified_body=None)), destinations=["FR"])
    assert d.action == "allow" and not d.violations
    d, _ = moderate(engine, attributes={"Device Class": "II"}, seller=seller(ce("123")), destinations=["FR"])
    data = by_rule(d)["data.device_identifier_invalid"]
    assert d.action == "block" and "four digits" in data.message
    assert data.evidence[0].field == "seller.qualifications[0].notified_body"


def test_expired_ce_certificate_and_non_eea_destinations(engine):
    d, _ = moderate(engine, attributes={"Device Class": "II"}, seller=seller(ce(valid_until="2022-01-01")),
                    destinations=["NO", "CH"])
    assert d.masked_regions == ["NO"] and "expired 2022-01-01" in by_rule(d)["meddev.no_ce_eea"].message
    d, _ = moderate(engine, attributes={"Device Class": "II"}, destinations=["CH", "GB", "TR"])
    assert d.action == "allow" and not d.violations


# ----------------------------------------------------------------------------- text-only inference
@pytest.mark.parametrize("title", [
    "Silicone gel breast implant round 350cc", "Drug eluting coronary stent system 3.0x18mm",
    "Dual chamber cardiac pacemaker", "Cross-linked hyaluronic acid dermal filler 1ml",
    "Foldable hydrophobic intraocular lens", "硅胶乳房假体 光面", "Mechanical heart valve 25mm",
    "Cochlear implant system", "Кардиостимулятор двухкамерный",
])
def test_text_only_class_three_without_qualifications_is_never_a_silent_allow(engine, title):
    for dest in (None, ["US"], ["JP"]):
        d, lst = moderate(engine, title=title, destinations=dest)
        assert d.action == "block" or d.review, (title, dest, d.action)
        v = by_rule(d)["meddev.class3_no_qualification"]
        assert v.detail["text_only"] is True and v.detail["device_class"] == "III"
        assert any(e.field == "title" and e.method in ("exact", "normalized") for e in v.evidence)
        assert_spans(d, lst)


def test_declared_data_without_a_class_leave_the_class_to_the_text(engine):
    # an establishment number and a notified body say nothing about the class: the text decides
    d, _ = moderate(engine, title="Silicone gel breast implant", destinations=["US"],
                    attributes={"FDA Registration Number": ESTABLISHMENT, "Notified Body": "0123"})
    v = by_rule(d)["meddev.class3_no_qualification"]
    assert d.action == "block" and v.detail["text_only"] is True


def test_the_closest_qualification_is_cited(engine):
    d, lst = moderate(engine, attributes={"Device Class": "III"}, destinations=["US"],
                      seller=seller(ce(), nmpa(valid_until="2022-01-01")))
    v = by_rule(d)["meddev.class3_no_qualification"]
    assert "expired 2022-01-01" in v.message
    assert any(e.field == "seller.qualifications[1]" and e.text == NMPA_VALID[3] for e in v.evidence)
    assert_spans(d, lst)


def test_text_only_class_three_with_both_qualifications_is_allowed(engine):
    d, _ = moderate(engine, title="Implantable cardiac pacemaker", destinations=["US", "CN"],
                    seller=seller(nmpa(), clearance(), establishment()))
    assert d.action == "allow" and not d.violations


def test_grey_wording_and_a_declared_class_below_the_text_ask_for_review(engine):
    d, _ = moderate(engine, title="Vascular stent 3.0x18mm", destinations=["US"])
    assert d.action == "allow" and d.review and "meddev.review" in by_rule(d)
    d, _ = moderate(engine, title="Silicone breast implant", attributes={"Device Class": "I"}, destinations=["US"])
    v = by_rule(d)["meddev.review"]
    assert d.review and "class I" in v.message and "class3_no_qualification" not in str(by_rule(d))


@pytest.mark.parametrize("title", ["Digital meat thermometer", "Breast implant sizer set", "Hyaluronic acid serum 30ml",
                                   "Heart valve model anatomical teaching", "Cotton face mask 2 ply",
                                   "Implant Grade Titanium Tragus Earring"])
def test_look_alikes_are_not_class_three(engine, title):
    d, _ = moderate(engine, title=title, destinations=["US"])
    assert d.action == "allow", [(v.rule_id, v.evidence) for v in d.violations]


def test_device_category_is_a_device(engine):
    d, lst = moderate(engine, title="Product model A-7", category="Health & Medical > Medical Devices")
    v = by_rule(d)["meddev.no_ce_eea"]
    assert v.evidence[0].field == "category" and v.evidence[0].method == "rule"


def test_the_date_decides_between_warning_and_us_mask(engine):
    for as_of, rule, action, regions in [("2022-01-14", "meddev.class3_no_us_warning", "allow", []),
                                         ("2022-01-15", "meddev.class3_no_us", "region_mask", ["US"])]:
        d, _ = moderate(engine, attributes={"Device Class": "III"}, seller=seller(nmpa()), destinations=["US"],
                        as_of=as_of)
        assert set(by_rule(d)) == {rule} and d.action == action and d.masked_regions == regions
    d, _ = moderate(engine, attributes={"Device Class": "III"}, destinations=["US"], as_of="2021-12-27")
    assert d.action == "allow" and not d.violations      # before the announcement


def test_device_data_digest_is_in_every_decision(engine):
    d, _ = moderate(engine)
    assert "devices/fda_product_codes.csv" in d.data_digests


# ----------------------------------------------------------------------------- HTTP
@pytest.fixture(scope="module")
def client(engine):
    from fastapi.testclient import TestClient

    from app.api import create_app

    with TestClient(create_app(engine=engine)) as c:
        yield c


def test_http_every_class_three_branch(client):
    base = {"listing_id": "h", "title": "Product model A-7", "attributes": {"Device Class": "III"},
            "as_of": AFTER, "destinations": ["US", "DE"]}
    cases = [
        ([nmpa(), clearance(), establishment(), ce()], "allow", [], False),
        ([nmpa(), ce()], "region_mask", ["US"], False),
        ([clearance(), establishment(), ce()], "allow", [], True),
        ([ce()], "block", [], False),
        ([nmpa(), clearance(), establishment()], "region_mask", ["DE"], False),
    ]
    for quals, action, masked, review in cases:
        r = client.post("/v1/moderate", json={**base, "seller": seller(*quals)})
        assert r.status_code == 200, r.text
        body = r.json()
        rule_review = any(v["review"] for v in body["violations"] if not v["rule_id"].startswith("classifier."))
        assert (body["action"], body["masked_regions"], rule_review) == (action, masked, review), body
        assert "devices/fda_product_codes.csv" in body["data_digests"]
    r = client.post("/v1/moderate", json={**base, "seller": seller(nmpa(), ce())}).json()
    v = [x for x in r["violations"] if x["rule_id"] == "meddev.class3_no_us"][0]
    assert "FDA clearance" in v["message"] and v["evidence"] and v["citation"]
    r = client.post("/v1/moderate", json={**base, "as_of": BEFORE, "seller": seller(nmpa(), ce())}).json()
    assert r["action"] == "allow" and r["as_of"] == BEFORE


def test_http_malformed_identifier_and_text_inference(client):
    r = client.post("/v1/moderate", json={"listing_id": "h2", "title": "Model B", "as_of": AFTER,
                                          "attributes": {"510(k)": "K12345"}}).json()
    v = [x for x in r["violations"] if x["category"] == "listing_data"][0]
    assert r["action"] == "block" and "K12345" in v["message"]
    assert v["evidence"][0]["field"] == "attributes.510(k)"
    r = client.post("/v1/moderate", json={"listing_id": "h3", "title": "Silicone gel breast implant", "as_of": AFTER,
                                          "destinations": ["US"]}).json()
    assert r["action"] == "block" and r["points"]["B"] == 2


def test_http_bad_qualification_is_a_4xx_naming_the_field(client):
    r = client.post("/v1/moderate", json={"listing_id": "h4", "title": "x",
                                          "seller": {"seller_id": "s", "qualifications": [{"type": "nmpa_licence"}]}})
    assert 400 <= r.status_code < 500 and "qualifications" in r.text


def test_policy_reports_device_and_epidemic_rules_implemented(engine, client):
    ids = engine.snapshot.active_rule_ids()
    for rid in ("meddev.class3_no_us", "meddev.class3_no_us_warning", "meddev.class3_no_qualification",
                "meddev.class3_us_only", "meddev.no_ce_eea", "meddev.review", "meddev.product_code_unknown",
                "data.device_identifier_invalid", "epidemic.not_admitted", "epidemic.review"):
        assert rid in ids, rid
    r = client.get("/v1/policy")
    assert r.status_code == 200 and "devices/fda_product_codes.csv" in r.text


# ----------------------------------------------------------------------------- real data (../shared)
@pytest.mark.shared
def test_real_device_listings_are_never_class_three(engine, shared_dir):
    """medical_devices.csv (thermometers, glucose meters, hearing aids, condoms): some are recognised as
    devices, none is inferred class III; the benign titles give (almost) no class III inference."""
    import csv

    path = shared_dir / "data" / "listings" / "medical_devices.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    recognised = 0
    for i, r in enumerate(rows):
        d = engine.moderate(Listing(listing_id=f"r{i}", title=r["title"][:1000], as_of=AFTER))
        rules = {v.rule_id for v in d.violations}
        assert not rules & {"meddev.class3_no_qualification", "meddev.class3_no_us"}, r["title"]
        recognised += "meddev.no_ce_eea" in rules
    assert recognised >= len(rows) // 3
    path = shared_dir / "data" / "listings" / "benign_titles.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))[::20]
    flagged = [r["title"] for i, r in enumerate(rows)
               if any(v.category == "medical_device" and v.action == "block" for v in
                      engine.moderate(Listing(listing_id=f"b{i}", title=r["title"][:1000], as_of=AFTER)).violations)]
    assert len(flagged) <= len(rows) * 0.001, flagged


@pytest.mark.parametrize("title, transform", [("S1licone br3ast impl@nt 300cc", "leet"),
                                              ("c o r o n a r y  s t e n t", "separator")])
def test_distorted_class_three_names_earn_the_circumvention_point(engine, title, transform):
    d, lst = moderate(engine, title=title, destinations=["US"])
    rules = by_rule(d)
    assert d.action == "block" and "meddev.class3_no_qualification" in rules
    dist = rules["circumvention.keyword_distortion"]
    assert dist.category == "medical_device" and transform in dist.detail["transforms"] and d.points.B == 3
    assert_spans(d, lst)
