"""Hazardous chemicals, second pass (policy.md §3.3 structures, §3.4, §3.8): structures (SMILES, InChI,
InChIKey) with salts/hydrates stripped, MF against the declared CAS, near-miss names, one-digit CAS
typos, and nicotine named in an e-liquid listing. Run through the engine."""

from __future__ import annotations

import csv

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.checks import chemstruct
from app.checks.chemids import cas_check
from app.config import REPO_ROOT
from app.models import Listing

AS_OF = "2024-06-01"
CHEM_CAT = "Chemicals > Basic Organic Chemicals"
MUSTARD_HN2 = "CN(CCCl)CCCl"            # 51-75-2 bis(2-chloroethyl)methylamine: 剧毒 + CWC 1A -> prohibited
ETHANOL_INCHI = "InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3"   # 64-17-5 乙醇[无水]: restricted
ACETONE = "67-64-1"
SILDENAFIL = "CCCc1nn(C)c2c(=O)[nH]c(-c3cc(S(=O)(=O)N4CCN(C)CC4)ccc3OCC)nc12"
CITRIC_ACID = "OC(=O)CC(O)(CC(=O)O)C(=O)O"


def q(type_, scope=()):
    return {"type": type_, "number": "X-1", "scope": list(scope), "owned": True}


QUALIFIED = {"seller_id": "s", "country": "CN", "business_type": "trading",
             "qualifications": [q("hazchem_business_permit", [ACETONE]), q("business_license")]}


def moderate(engine, **kw):
    base = {"listing_id": "t", "title": "Fine chemical", "as_of": AS_OF}
    base.update(kw)
    lst = Listing.model_validate(base)
    d = engine.moderate(lst)
    for v in d.violations:  # every span points into what the seller wrote
        for e in v.evidence:
            if e.field.startswith("attributes."):
                assert lst.attributes[e.field[len("attributes."):]][e.start:e.end] == e.text
            elif e.field in ("title", "description"):
                assert getattr(lst, e.field)[e.start:e.end] == e.text
    return d


def rules(d):
    return {v.rule_id: v for v in d.violations}


# ------------------------------------------------------------------------------- structures
@pytest.mark.parametrize("smiles", [
    MUSTARD_HN2,
    "ClCCN(C)CCCl",                       # another way to write it
    MUSTARD_HN2 + ".Cl",                  # hydrochloride salt
    "C[NH+](CCCl)CCCl.[Cl-]",             # the salt written as ions
    MUSTARD_HN2 + ".O.O",                 # a hydrate
])
def test_prohibited_substance_given_by_smiles_salt_or_hydrate(engine, smiles):
    d = moderate(engine, attributes={"SMILES": smiles})
    r = rules(d)
    assert d.action == "block" and "chem.prohibited" in r, [v.rule_id for v in d.violations]
    v = r["chem.prohibited"]
    assert v.detail["cas"] == "51-75-2" and v.points == 6
    ev = [e for e in v.evidence if e.method == "structure"]
    assert ev and ev[0].field == "attributes.SMILES" and ev[0].matched == "51-75-2"
    # a listed chemical named by structure only: the CAS No. attribute is mandatory (§3.4)
    assert "chem.cas_attribute_missing" in r


def test_inchi_and_inchikey_attributes(engine):
    d = moderate(engine, attributes={"InChI": ETHANOL_INCHI, "CAS No.": "64-17-5"}, category=CHEM_CAT)
    assert rules(d)["chem.restricted_unqualified"].detail["cas"] == "64-17-5"
    d = moderate(engine, attributes={"InChIKey": "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"}, category=CHEM_CAT)
    assert rules(d)["chem.restricted_unqualified"].detail["cas"] == "64-17-5"


def test_salt_exact_form_beats_parent_match(engine):
    # sodium cyanide is 143-33-9 itself (exact tier), not every listed cyanide salt
    d = moderate(engine, attributes={"SMILES": "[Na+].[C-]#N", "CAS No.": "143-33-9"})
    r = rules(d)
    assert r["chem.prohibited"].detail["cas"] == "143-33-9"
    assert "chem.restricted_unqualified" not in r and "chem.identity_mismatch" not in r
    # an unlisted cyanide salt reaches the listed substance through its parent (HCN)
    d = moderate(engine, attributes={"SMILES": "[Li+].[C-]#N"})
    assert "74-90-8" in rules(d)["chem.prohibited"].detail["cas"]


@pytest.mark.parametrize("smiles", [
    "[Na+].[Cl-]",                                             # no carbon: no acid parent (HCl is listed)
    "[K+].[K+].[K+].[K+].[C-]#N.[C-]#N.[C-]#N.[C-]#N.[C-]#N.[C-]#N.[Fe+2]",  # ferrocyanide is no cyanide
    "CCCCCCCCCCCCCCCC(=O)O",                                   # palmitic acid: not listed
])
def test_structures_that_are_not_listed(engine, smiles):
    d = moderate(engine, attributes={"SMILES": smiles})
    assert not [v for v in d.violations if v.category in ("hazardous_chemical", "listing_data")], \
        [(v.rule_id, v.detail) for v in d.violations]


@pytest.mark.parametrize("key,value,problem", [
    ("SMILES", "C1CC(", "syntax error"),
    ("SMILES", "C(C)(C)(C)(C)C", "valence"),
    ("SMILES", "c1cccc1", "kekulize"),
    ("InChI", "InChI=1S/C2H6O/c1-2-3/h3H,2H9,1H3", "Syntax error"),
    ("InChI", "C2H6O", "InChI=1S/"),
    ("InChIKey", "LFQSCWFLJHTTHZ-UHFFFAOYSA", "14, 10 and 1 capital letters"),
])
def test_unparsable_structure_is_listing_data_block_naming_field_and_problem(engine, key, value, problem):
    d = moderate(engine, attributes={key: value})
    v = rules(d)["data.structure_invalid"]
    assert d.action == "block" and v.category == "listing_data" and v.points == 0
    assert f"attributes.{key}" in v.message and problem in v.message, v.message
    assert v.evidence[0].field == f"attributes.{key}"


@pytest.mark.parametrize("value", ["N/A", "  ", "无", "-"])
def test_structure_attribute_not_given_is_not_an_error(engine, value):
    d = moderate(engine, attributes={"SMILES": value, "InChI": value})
    assert "data.structure_invalid" not in rules(d)


def test_structures_in_text(engine):
    d = moderate(engine, description=f"Spec sheet. SMILES: {MUSTARD_HN2}, purity 99%")
    assert rules(d)["chem.prohibited"].detail["cas"] == "51-75-2"
    d = moderate(engine, description=f"Identity {ETHANOL_INCHI} (HPLC)", category=CHEM_CAT)
    assert rules(d)["chem.restricted_unqualified"].detail["cas"] == "64-17-5"
    d = moderate(engine, description="InChIKey: LFQSCWFLJHTTHZ-UHFFFAOYSA-N", category=CHEM_CAT)
    assert "chem.restricted_unqualified" in rules(d)
    # free text after "SMILES" that is no SMILES is not an identity and not an error
    d = moderate(engine, description="SMILES: see the COA")
    assert not rules(d)


def test_structure_contradicting_the_cas_reviews_and_the_stricter_identity_decides(engine):
    # a qualified seller declares restricted acetone, but the SMILES is hydrogen cyanide (prohibited)
    d = moderate(engine, attributes={"CAS No.": ACETONE, "SMILES": "C#N"}, category=CHEM_CAT, seller=QUALIFIED)
    r = rules(d)
    assert d.review and d.action == "block"
    assert r["chem.prohibited"].detail["cas"] == "74-90-8"
    assert "chem.restricted_qualified" in r          # the CAS identity alone would be publishable
    assert "74-90-8" in r["chem.identity_mismatch"].message and ACETONE in r["chem.identity_mismatch"].message


def test_structure_of_an_unlisted_substance_against_a_listed_cas_reviews(engine):
    d = moderate(engine, attributes={"CAS No.": ACETONE, "SMILES": "CCCCCCCCCC"}, category=CHEM_CAT, seller=QUALIFIED)
    r = rules(d)
    assert d.review and d.action == "restrict" and "chem.identity_mismatch" in r
    assert "not the structure of CAS 67-64-1" in r["chem.identity_mismatch"].message


def test_matching_structure_and_cas_is_no_mismatch(engine):
    d = moderate(engine, attributes={"CAS No.": ACETONE, "SMILES": "CC(C)=O", "MF": "C3H6O"},
                 category=CHEM_CAT, seller=QUALIFIED)
    assert d.action == "restrict" and not d.review and set(rules(d)) == {"chem.restricted_qualified"}


# ------------------------------------------------------------------------------- molecular formula
@pytest.mark.parametrize("mf,mismatch", [
    ("C3H6O", False), ("C₃H₆O", False), ("CH3COCH3", False), ("C3H6O·H2O", False),   # dotted water: a hydrate
    ("C2H6O", True), ("C3H8O", True), ("C3H8O2", True),                            # merged water is no hydrate
])
def test_mf_against_the_declared_cas(engine, mf, mismatch):
    d = moderate(engine, attributes={"CAS No.": ACETONE, "MF": mf}, category=CHEM_CAT, seller=QUALIFIED)
    r = rules(d)
    assert ("chem.identity_mismatch" in r) is mismatch and d.review is mismatch
    assert d.action == "restrict"  # review only: the CAS identity still decides
    if mismatch:
        v = r["chem.identity_mismatch"]
        assert "C3H6O" in v.message and mf in v.message and v.points == 0
        assert {e.field for e in v.evidence} == {"attributes.MF", "attributes.CAS No."}


def test_mf_that_is_no_formula_is_not_compared(engine):
    d = moderate(engine, attributes={"CAS No.": ACETONE, "MF": "see COA"}, category=CHEM_CAT, seller=QUALIFIED)
    assert not d.review


def test_mf_against_the_declared_structure(engine):
    d = moderate(engine, attributes={"SMILES": "CCO", "MF": "C3H6O", "CAS No.": "64-17-5"}, category=CHEM_CAT)
    assert "declared SMILES (C2H6O)" in rules(d)["chem.identity_mismatch"].message


def test_formula_parser():
    f = chemstruct.formula_counts
    assert f("CuSO4·5H2O") == f("CuH10O9S") == (("Cu", 1), ("H", 10), ("O", 9), ("S", 1))
    assert f("Ca(OH)2") == (("Ca", 1), ("H", 2), ("O", 2))
    assert f("C22H30N6O4S.C6H8O7") == (("C", 28), ("H", 38), ("N", 6), ("O", 11), ("S", 1))
    assert f("Xy2") is None and f("99% min") is None and f("") is None
    assert chemstruct.declared_formulas("CuSO4·5H2O") == {f("CuSO4"), f("CuH10O9S")}
    assert chemstruct.declared_formulas("C2H6O") == {f("C2H6O")}      # ethanol is no hydrate of ethylene
    assert chemstruct.declared_formulas("see COA") == frozenset()


# ------------------------------------------------------------------------------- sexual-health structures
def test_pde5_drug_by_smiles_salt_and_analogue_by_inchikey(engine):
    d = moderate(engine, title="Herbal capsules", attributes={"SMILES": SILDENAFIL + "." + CITRIC_ACID})
    v = rules(d)["sexual_health.drug_ingredient"]
    assert d.action == "block" and v.points == 6
    assert any(e.method == "structure" and e.field == "attributes.SMILES" for e in v.evidence)
    # an unapproved analogue known only by structure (analogue_structures.tsv: carbodenafil)
    d = moderate(engine, title="Herbal capsules", attributes={"InChIKey": "BNQTXDVBJLRWNB-UHFFFAOYSA-N"})
    v = rules(d)["sexual_health.drug_ingredient"]
    assert any(e.method == "structure" for e in v.evidence)


# ------------------------------------------------------------------------------- near-miss names
@pytest.mark.parametrize("title,name", [
    ("Pseudoephedrin hydrochloride powder", "pseudoephedrine"),
    ("Thionyl chlorid 99%", "thionyl chloride"),
    ("Potasium permanganate crystals", "potassium permanganate"),
])
def test_near_miss_name_is_fuzzy_review(engine, title, name):
    d = moderate(engine, title=title)
    v = rules(d)["chem.name_near_miss"]
    assert d.action == "allow" and d.review and v.points == 0
    assert v.detail["name"] == name and v.evidence[0].method == "fuzzy"
    assert v.detail["distance"] <= 2


@pytest.mark.parametrize("title", [
    "Pseudoephedxyz tablets",            # 3 edits: beyond the bound
    "Pseudoephedrine tablets",           # exact: a name hit, not a near miss
    "Thionyl chloride-free cleaner",      # the exact rules' "X-free" applies to near misses too
])
def test_no_near_miss(engine, title):
    assert "chem.name_near_miss" not in rules(moderate(engine, title=title))


def test_near_miss_not_reported_when_the_cas_identifies_the_substance(engine):
    d = moderate(engine, title="Pseudoephedrin", attributes={"CAS No.": "90-82-4"})
    assert "chem.prohibited" in rules(d) and "chem.name_near_miss" not in rules(d)


# ------------------------------------------------------------------------------- nicotine in e-liquid
def test_nicotine_named_in_an_e_liquid_is_judged_by_the_e_cig_rules(engine):
    for title in ("Premium e-liquid 尼古丁 50mg nic salt mango ice", "Nicotine salt e-liquid 30ml 50mg"):
        d = moderate(engine, title=title)
        r = rules(d)
        assert "ecig.e_liquid" in r and d.action == "block"
        assert not [v for v in d.violations if v.category == "hazardous_chemical"], title


def test_nicotine_as_a_chemical_is_prohibited_even_in_an_e_liquid(engine):
    # a declared CAS makes it a chemical identity again: both violations apply
    d = moderate(engine, title="Nicotine e-liquid base", attributes={"CAS No.": "54-11-5"})
    r = rules(d)
    assert {"ecig.e_liquid", "chem.prohibited"} <= set(r) and d.points.A >= 6
    # sold as a chemical (no e-cig wording): prohibited by name
    d = moderate(engine, title="尼古丁 99% 原料", category="Chemicals > Other")
    assert rules(d)["chem.prohibited"].detail["cas"] == "54-11-5"


# ------------------------------------------------------------------------------- one-digit CAS typos
def _listed() -> list[str]:
    out = []
    for name in ("prohibited.csv", "restricted.csv"):
        with (REPO_ROOT / "cas_lists" / name).open(encoding="utf-8", newline="") as fh:
            out += [r["cas"] for r in csv.DictReader(fh)]
    return sorted(out)


LISTED = _listed()


def _change(cas: str, pos: int, digit: int) -> str | None:
    body, check = cas[:-2].replace("-", ""), cas[-1]
    pos %= len(body) + 1
    if pos == len(body):                      # the check digit itself
        new_check = str(digit)
        return None if new_check == check else f"{body[:-2]}-{body[-2:]}-{new_check}"
    if body[pos] == str(digit) or (pos == 0 and digit == 0):
        return None
    v = body[:pos] + str(digit) + body[pos + 1:]
    return f"{v[:-2]}-{v[-2:]}-{check}"


def test_every_one_digit_change_of_every_listed_cas_is_caught_or_noted(engine):
    """Exhaustive, on the check's own data: a changed number fails its check digit, or is another
    listed CAS, or is in the near-miss table (so it is never a silent unlisted number)."""
    check = next(c for c in engine.snapshot.checks if c.name == "hazardous_chemical")
    listed = set(LISTED)
    silent, total, by_digit = [], 0, 0
    for cas in LISTED:
        for pos in range(len(cas) - 2):
            for digit in range(10):
                v = _change(cas, pos, digit)
                if v is None:
                    continue
                total += 1
                a, b, c = v.split("-")
                if cas_check(a, b, c)[1] is not None:
                    by_digit += 1
                elif v not in listed and check.cas_variants.get(v) is None:
                    silent.append((cas, v))
    assert total > 100_000 and silent == []
    assert 0.8 < by_digit / total < 0.95   # the check digit alone misses w*d = 0 (mod 10) changes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(idx=st.integers(0, len(LISTED) - 1), pos=st.integers(0, 9), digit=st.integers(0, 9))
def test_property_one_digit_typo_never_passes_silently(engine, idx, pos, digit):
    cas = LISTED[idx]
    typo = _change(cas, pos, digit)
    if typo is None:
        return
    d = moderate(engine, title="Industrial chemical", attributes={"CAS No.": typo}, category=CHEM_CAT)
    r = rules(d)
    a, b, c = typo.split("-")
    if cas_check(a, b, c)[1] is not None:
        assert "data.cas_invalid" in r and typo in r["data.cas_invalid"].message and d.action == "block"
    elif typo in set(LISTED):
        assert {"chem.prohibited", "chem.restricted_unqualified"} & set(r)
    else:
        v = r["chem.cas_near_miss"]
        assert d.review and v.detail["value"] == typo and v.detail["near"] == cas


# ------------------------------------------------------------------------------- through the HTTP API
def test_structure_and_mf_explained_through_the_api(engine):
    from fastapi.testclient import TestClient

    from app.api import create_app

    listing = {"listing_id": "api-chem", "title": "Acetone 99.5%", "category": CHEM_CAT, "as_of": AS_OF,
               "attributes": {"CAS No.": ACETONE, "SMILES": "C#N", "MF": "C2H6O"}, "seller": QUALIFIED}
    with TestClient(create_app(engine=engine)) as client:
        r = client.post("/v1/moderate", json=listing)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["action"] == "block" and body["review"] is True
        by_rule = {v["rule_id"]: v for v in body["violations"]}
        assert by_rule["chem.prohibited"]["evidence"][0]["method"] == "structure"
        mismatch = by_rule["chem.identity_mismatch"]["message"]
        assert "MF C2H6O is not the formula of CAS 67-64-1 (C3H6O)" in mismatch and "74-90-8" in mismatch
        assert any(k.endswith("structures.csv") for k in body["data_digests"])
        bad = dict(listing, attributes={"CAS No.": ACETONE, "SMILES": "C1CC("})
        v = {x["rule_id"]: x for x in client.post("/v1/moderate", json=bad).json()["violations"]}
        assert "attributes.SMILES" in v["data.structure_invalid"]["message"]
