"""Epidemic-prevention products (policy.md §3.6 and the §6 settled scope), run through the engine.

Only a manufacturer holding an owned, unexpired ``epidemic_prevention_admission`` may publish them;
anyone else: block, B 2. The lexicon's own examples (every language) run in test_lexicon_examples.py;
here: the admission gate, the scope boundaries of §6, evasions, and the HTTP API."""

from __future__ import annotations

import pytest

from app.models import Listing

AS_OF = "2022-03-01"
ADMISSION = {"type": "epidemic_prevention_admission", "number": "EPA-2021-0001", "valid_until": "2022-12-31"}


def moderate(engine, title, seller=None, **kw):
    base = {"listing_id": "e", "title": title, "as_of": AS_OF, "seller": seller}
    base.update(kw)
    return engine.moderate(Listing.model_validate(base))


def epi(d):
    """The epidemic rules' violations (a classifier suspicion of the same category is another system)."""
    return {v.rule_id: v for v in d.violations if v.rule_id.startswith("epidemic.")}


def seller(business_type="manufacturer", *quals):
    return {"seller_id": "s", "country": "CN", "business_type": business_type, "qualifications": list(quals)}


IN_SCOPE = [
    "Virus Shut Out air disinfection card lanyard",       # disinfection card
    "PEVA cadaver bag with zipper",                      # body bag
    "Body bag for funeral home, PEVA, zipper",
    "Blank vaccination record card",                     # vaccine card
    "Rapid antigen test cassette nasal swab 25 pcs",     # virus test kit
    "Anti Viral Face Mask With 2 Filters",               # a virus claim brings a mask into scope
    "Hand spray kills 99.9% of viruses",
    "裹尸袋 加厚 防水",
    "新冠抗原检测试剂盒 家用",
    "抗病毒口罩 三层",
    "Bolsa para cadáveres con cremallera",
    "Cartão de vacinação personalizado",
    "Test antigénique nasal",
    "Противовирусная маска",
    "كمامة مضاد للفيروسات",
    "Aşı kartı baskı",
    "疫苗接種卡 定制",                                     # traditional Chinese
]


@pytest.mark.parametrize("title", IN_SCOPE)
def test_in_scope_products_are_blocked_for_a_trader(engine, title):
    d = moderate(engine, title, seller("trading", ADMISSION))
    v = epi(d)["epidemic.not_admitted"]
    assert d.action == "block" and v.violation_class == "B" and v.points == 2
    assert any("manufacturer" in m for m in v.detail["missing"])
    for e in v.evidence:
        assert title[e.start:e.end] == e.text and e.field == "title"


@pytest.mark.parametrize("title", IN_SCOPE)
def test_in_scope_products_are_allowed_for_an_admitted_manufacturer(engine, title):
    d = moderate(engine, title, seller("manufacturer", ADMISSION))
    assert not epi(d), title


@pytest.mark.parametrize("quals, words", [
    ([], "epidemic-prevention admission"),
    ([{**ADMISSION, "owned": False}], "own name"),
    ([{**ADMISSION, "valid_until": "2022-02-28"}], "expired 2022-02-28"),
    ([{"type": "business_license", "number": "B-1"}], "epidemic-prevention admission"),
])
def test_manufacturer_without_a_valid_admission_is_blocked(engine, quals, words):
    d = moderate(engine, "PEVA cadaver bag with zipper", seller("manufacturer", *quals))
    v = epi(d)["epidemic.not_admitted"]
    assert d.action == "block" and words in v.message
    assert not any("manufacturer business type" in m for m in v.detail["missing"])


def test_no_seller_or_no_business_type(engine):
    d = moderate(engine, "PEVA cadaver bag with zipper")
    assert d.action == "block" and "manufacturer" in epi(d)["epidemic.not_admitted"].message
    d = moderate(engine, "PEVA cadaver bag with zipper", seller(None, ADMISSION))
    assert d.action == "block" and "unstated type" in epi(d)["epidemic.not_admitted"].message


def test_the_admission_is_read_on_as_of(engine):
    quals = seller("manufacturer", {**ADMISSION, "valid_until": "2022-01-31"})
    assert moderate(engine, "Vaccine passport printing", quals, as_of="2022-01-31").action == "allow"
    assert moderate(engine, "Vaccine passport printing", quals, as_of="2022-02-01").action == "block"
    # before the 2021-11-17 announcement the rule is not in force
    assert not epi(moderate(engine, "Vaccine passport printing", seller("trading"), as_of="2021-11-16"))


@pytest.mark.parametrize("title", [
    "Nike Sportswear Essentials Crossbody Bag", "Cross-body bag women leather with zipper",
    "Cotton face mask 2 ply", "Nitrile examination gloves powder free", "Isolation gown disposable",
    "Infrared forehead thermometer", "Norton AntiVirus software license", "Computer virus removal guide",
    "Rapid Result Pregnancy Test Kit", "Corona Extra beer 6 pack", "消毒柜 嵌入式 家用", "斜挎包 女 真皮",
    "Neosporin 24 Hour Infection Protection First Aid Antibiotic Ointment",
])
def test_out_of_scope_look_alikes(engine, title):
    assert not [v for v in epi(moderate(engine, title, seller("trading"))).values() if v.action != "allow"], title


def test_keywords_count_like_the_title_and_distortion_earns_the_point(engine):
    d = moderate(engine, "Face mask 3 ply", seller("trading"), keywords=["cotton", "anti v1ral"])
    assert d.action == "block" and epi(d)["epidemic.not_admitted"].evidence[0].field == "keywords[1]"
    d = moderate(engine, "C0VID-19 antigen rapid test cassette", seller("trading"))
    rules = {v.rule_id: v for v in d.violations}
    assert "circumvention.keyword_distortion" in rules and d.points.B == 3
    assert rules["circumvention.keyword_distortion"].category == "epidemic_prevention"
    d = moderate(engine, "ｃａｄａｖｅｒ ｂａｇ PEVA", seller("trading"))   # full-width
    assert d.action == "block"


def test_grey_wording_asks_for_review(engine):
    d = moderate(engine, "防疫物资 批发", seller("trading"))
    assert d.action == "allow" and d.review and "epidemic.review" in epi(d)
    d = moderate(engine, "Vaccine card holder 4x3 clear plastic", seller("trading"))
    assert d.action == "allow" and d.review and "epidemic.review" in epi(d)


def test_a_listing_can_be_both_epidemic_and_medical_device(engine):
    d = moderate(engine, "Rapid antigen test kit", seller("trading"),
                 attributes={"Device Class": "III"}, destinations=["US"])
    cats = {v.category for v in d.violations}
    assert {"epidemic_prevention", "medical_device"} <= cats


@pytest.fixture(scope="module")
def client(engine):
    from fastapi.testclient import TestClient

    from app.api import create_app

    with TestClient(create_app(engine=engine)) as c:
        yield c


def test_http_admission(client):
    body = {"listing_id": "h", "title": "PEVA cadaver bag with zipper", "as_of": AS_OF}
    r = client.post("/v1/moderate", json={**body, "seller": seller("trading", ADMISSION)})
    assert r.status_code == 200 and r.json()["action"] == "block"
    v = r.json()["violations"][0]
    assert v["category"] == "epidemic_prevention" and v["points"] == 2 and "manufacturer" in v["message"]
    r = client.post("/v1/moderate", json={**body, "seller": seller("manufacturer", ADMISSION)})
    assert r.status_code == 200 and r.json()["action"] == "allow"
    r = client.post("/v1/moderate", json={**body, "seller": {"seller_id": "s", "business_type": "factory"}})
    assert 400 <= r.status_code < 500 and "business_type" in r.text
