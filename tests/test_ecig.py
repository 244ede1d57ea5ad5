"""The e-cigarette rules (policy.md §3.2, §2, §6) through the whole engine: app/checks/ecig.py, the
lexicon lexicons/e_cigarette.yaml and policy/policy.yaml together."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from app.models import Listing

DESIGNATED = "Consumer Electronics > Electronic Cigarettes"
ELSEWHERE = "Home & Garden > Kitchen"
IN_FORCE = dt.date(2022, 3, 1)  # after every e-cig rule date, before nothing relevant


def moderate(engine, title, as_of=IN_FORCE, **kw):
    return engine.moderate(Listing(listing_id="t", title=title, **kw), as_of=as_of)


def rules(d) -> dict:
    return {v.rule_id: v for v in d.violations}


# --------------------------------------------------------------------------- e-liquid rule
@pytest.mark.parametrize("title", [
    "Mango e-liquid 60ml",
    "Nic salt 30ml 20mg",
    "Disposable vape 6000 puffs",
    "0 mg nicotine disposable vape",           # §6: a seller's negation never cancels a hit
    "Vape pen kit, mango ice flavour",          # hardware + a flavour describes e-liquid
    "电子烟油 30ml 芒果味",
])
def test_e_liquid_blocks_with_two_b_points(engine, title):
    d = moderate(engine, title, category=ELSEWHERE)
    r = rules(d)
    assert d.action == "block"
    v = r["ecig.e_liquid"]
    assert (v.category, v.action, v.violation_class, v.points) == ("e_cigarette", "block", "B", 2)
    assert "ecig.hardware_misplaced" not in r and "circumvention.misplaced_category" not in r
    assert d.points.B == 2 and d.points.A == 0
    assert v.evidence and v.citation and v.message


def test_e_liquid_in_designated_category_is_still_blocked(engine):
    d = moderate(engine, "Mango e-liquid 60ml", category=DESIGNATED)
    r = rules(d)
    assert d.action == "block" and "ecig.e_liquid" in r
    assert "ecig.hardware_us_mask" not in r and d.masked_regions == []


def test_flavour_alone_in_designated_category_describes_e_liquid(engine):
    # the category says "e-cigarette"; a flavour then describes e-liquid (SEED: 口味)
    d = moderate(engine, "Mango ice 10 flavors", category=DESIGNATED)
    assert d.action == "block" and "ecig.e_liquid" in rules(d)


# --------------------------------------------------------------------------- hardware rule
@pytest.mark.parametrize("category", [ELSEWHERE, None, "Electronic Cigarettes"])
def test_hardware_outside_designated_category_blocks_with_misplaced_point(engine, category):
    d = moderate(engine, "Vape pen kit 1100mAh", category=category)
    r = rules(d)
    assert d.action == "block"
    hw = r["ecig.hardware_misplaced"]
    assert hw.action == "block" and hw.category == "e_cigarette" and hw.points == 0
    mis = r["circumvention.misplaced_category"]
    assert (mis.violation_class, mis.points, mis.action, mis.category) == ("B", 1, "block", "e_cigarette")
    assert mis.detail["designated_category"] == DESIGNATED
    assert mis.detail["listing_category"] == category
    assert "ecig.e_liquid" not in r
    assert d.points.B == 1 and d.points.A == 0


@pytest.mark.parametrize("category", [DESIGNATED, DESIGNATED + " > Pod Systems",
                                      "consumer electronics>>electronic cigarettes"])
def test_hardware_in_designated_category_is_masked_for_us(engine, category):
    d = moderate(engine, "Vape pen kit 1100mAh", category=category)
    r = rules(d)
    assert d.action == "region_mask"
    assert d.masked_regions == ["US"]
    assert set(r) == {"ecig.hardware_us_mask"}
    assert r["ecig.hardware_us_mask"].regions == ["US"]
    assert d.points.A == 0 and d.points.B == 0


def test_designated_category_with_destinations_outside_us_is_allowed(engine):
    d = moderate(engine, "Vape pen kit 1100mAh", category=DESIGNATED, destinations=["DE"])
    assert d.action == "allow"
    assert d.masked_regions == [] and d.violations == []


def test_designated_category_with_us_among_destinations_keeps_mask(engine):
    d = moderate(engine, "Vape pen kit 1100mAh", category=DESIGNATED, destinations=["DE", "US"])
    assert d.action == "region_mask" and d.masked_regions == ["US"]


def test_destinations_never_lift_a_block(engine):
    d = moderate(engine, "Mango e-liquid 60ml", category=DESIGNATED, destinations=["DE"])
    assert d.action == "block"
    d = moderate(engine, "Vape pen kit 1100mAh", category=ELSEWHERE, destinations=["DE"])
    assert d.action == "block"


def test_empty_pod_without_e_liquid_is_hardware(engine):
    # policy.md §6: "empty pod / no e-liquid included" is how hardware is correctly described
    d = moderate(engine, "Empty pod cartridge 2ml, no e-liquid included", category=DESIGNATED)
    assert d.action == "region_mask" and set(rules(d)) == {"ecig.hardware_us_mask"}
    d = moderate(engine, "Empty pod cartridge 2ml, no e-liquid included", category=ELSEWHERE)
    assert set(rules(d)) == {"ecig.hardware_misplaced", "circumvention.misplaced_category"}


def test_cbd_cartridge_is_e_liquid_with_review(engine):
    # policy.md §6: CBD/THC vaporiser cartridges are e-liquids, block with review
    d = moderate(engine, "Delta 8 THC vape cartridge 1ml", category=DESIGNATED)
    v = rules(d)["ecig.e_liquid"]
    assert d.action == "block" and d.review and v.review
    assert "drug_cartridge" in v.detail["kinds"]


def test_grey_wording_alone_asks_for_review(engine):
    d = moderate(engine, "Electronic atomizer stick rechargeable")
    assert d.action == "allow" and d.review
    assert set(rules(d)) == {"ecig.review"}


@pytest.mark.parametrize("title", [
    "Ultrasonic atomizer humidifier 300ml", "Aroma diffuser 500ml with remote", "Perfume atomizer 5ml refillable",
    "Medical nebulizer compressor kit for kids", "Spray nozzle brass atomizing 0.3mm", "Butane torch lighter",
    "Nicotine patch 21mg step 1", "Coffee pods 50 count", "Ink cartridge HP 301",
    "Propylene glycol USP 99.9% 25kg drum", "Vegetable glycerin 1 gallon food grade",
    "电子烟花 婚庆冷焰火", "电子烟灰缸 车载", "油烟油污净 厨房清洁剂", "Vitamin D-3 Liquid",
])
def test_benign_look_alikes_pass(engine, title):
    d = moderate(engine, title, category=ELSEWHERE)
    assert not [v for v in d.violations if v.category == "e_cigarette"], [v.rule_id for v in d.violations]


# --------------------------------------------------------------------------- dates
def test_e_liquid_rule_not_in_force_before_2021_12_09(engine):
    before = moderate(engine, "Mango e-liquid 60ml", as_of=dt.date(2021, 12, 8))
    assert "ecig.e_liquid" not in rules(before)
    assert before.action == "allow"
    on = moderate(engine, "Mango e-liquid 60ml", as_of=dt.date(2021, 12, 9))
    assert "ecig.e_liquid" in rules(on) and on.action == "block"


def test_us_mask_in_force_since_2019_10_10(engine):
    d = moderate(engine, "Vape pen kit", category=DESIGNATED, as_of=dt.date(2019, 10, 10))
    assert d.action == "region_mask" and d.masked_regions == ["US"]
    d = moderate(engine, "Vape pen kit", category=DESIGNATED, as_of=dt.date(2019, 10, 9))
    assert d.action == "allow" and d.violations == []


def test_decision_reports_as_of_and_policy_version(engine):
    d = moderate(engine, "Mango e-liquid 60ml", as_of=dt.date(2022, 1, 5))
    assert d.as_of == dt.date(2022, 1, 5)
    assert d.policy_version == engine.snapshot.version
    assert any(k.endswith("e_cigarette.yaml") for k in d.data_digests)


# --------------------------------------------------------------------------- distortion (policy.md §2)
@pytest.mark.parametrize("title, transform", [
    ("V@PE P3N kit 5000 puffs", "leet"),
    ("E-C1G atomizer kit, mango 1ce flavour", "leet"),
    ("e\u200bliquid 30ml 50mg", "zero_width"),
    ("v\u0430pe pod kit", "homoglyph"),
    ("电 子 烟 一次性 6000口", "separator"),
    ("dianziyan yanyou wholesale", "pinyin"),
])
def test_distortion_adds_one_point_naming_the_transform(engine, title, transform):
    d = moderate(engine, title, category=ELSEWHERE)
    r = rules(d)
    dist = r["circumvention.keyword_distortion"]
    assert dist.violation_class == "B" and dist.points == 1
    assert dist.category == "e_cigarette" and dist.action == "block"
    assert dist.detail["transforms"] == [transform]
    assert dist.evidence and all(e.method == "deobfuscated" and e.transforms == [transform] for e in dist.evidence)
    base = sum(v.points for v in d.violations if v.rule_id != "circumvention.keyword_distortion")
    assert d.points.B == base + 1


def test_leet_evidence_names_leet(engine):
    d = moderate(engine, "V@PE P3N kit 5000 puffs", category=ELSEWHERE)
    liquid = rules(d)["ecig.e_liquid"]
    leet = [e for e in liquid.evidence if e.method == "deobfuscated"]
    assert leet and leet[0].text == "V@PE P3N" and leet[0].transforms == ["leet"]
    assert d.points.B == 2 + 1


@pytest.mark.parametrize("title", [
    "電子菸 煙油 芒果冰",                        # t2s is normalisation, not distortion
    "atomizer kit / vapor pen, 2ml pod, 10 flavors",  # a euphemism, written plainly
    "ＶＡＰＥ pen kit",                            # full width is NFKC hygiene
])
def test_no_distortion_point_for_normalisation_or_euphemism(engine, title):
    d = moderate(engine, title, category=ELSEWHERE)
    assert d.action == "block"
    assert "circumvention.keyword_distortion" not in rules(d)


def test_a_plain_number_is_not_leetspeak(engine):
    # "D-3 Liquid" would read "e liquid" if a stand-alone digit were a letter
    d = moderate(engine, "Vitamin D-3 Liquid 30ml")
    assert d.violations == []


def test_distortion_point_is_counted_once(engine):
    d = moderate(engine, "V@PE P3N, e\u200bliquid, v\u0430pe", category=ELSEWHERE)
    dist = [v for v in d.violations if v.rule_id == "circumvention.keyword_distortion"]
    assert len(dist) == 1 and dist[0].points == 1
    assert set(dist[0].detail["transforms"]) == {"leet", "zero_width", "homoglyph"}


# --------------------------------------------------------------------------- evidence spans
def field_text(listing: Listing, name: str) -> str:
    if name in ("title", "description", "category"):
        return getattr(listing, name)
    m = re.fullmatch(r"keywords\[(\d+)\]", name)
    if m:
        return listing.keywords[int(m.group(1))]
    if name.startswith("attributes."):
        return listing.attributes[name[len("attributes."):]]
    if name.startswith("attribute_key."):
        return name[len("attribute_key."):]
    raise AssertionError(f"unknown evidence field {name!r}")


SPAN_LISTINGS = [
    Listing(listing_id="s1", title="V@PE P3N kit – mango 1ce",
            description="<p>Best <b>e-liquid</b> &amp; <i>nic&nbsp;salt</i> for your <span>vаpe</span></p>"
                        "<script>var vape = 1</script><p>Ｅ－ＬＩＱＵＩＤ 30ml 50mg &lt;3</p>",
            keywords=["", "disposable vape", "电 子 烟", "e\u200bliquid"],
            attributes={"Flavor": "Mango Ice", "Nicotine Strength": "5% nicotine", "Puffs": "6000 puffs"},
            category=ELSEWHERE),
    Listing(listing_id="s2", title="電子菸 煙油 芒果冰 😀 vape",
            description="&lt;b&gt;no html&lt;/b&gt; 尼古丁盐 <br/>一次性電子煙 6000口",
            keywords=["ＳＭＯＫ kit", "Uwell Caliburn"], attributes={"E-liquid Capacity": "2ml"}),
    Listing(listing_id="s3", title="Aspire Nautilus 0,4 Ohm Heads (5 Stück pro Packung)",
            description="Für E-Zigaretten: Verdampferköpfe 0,4&nbsp;Ohm", category=DESIGNATED),
]


@pytest.mark.parametrize("listing", SPAN_LISTINGS, ids=lambda l: l.listing_id)
def test_every_evidence_span_points_into_the_original_text(engine, listing):
    d = engine.moderate(listing, as_of=IN_FORCE)
    evidence = [e for v in d.violations for e in v.evidence]
    assert evidence
    fields = set()
    for e in evidence:
        text = field_text(listing, e.field)
        assert 0 <= e.start < e.end <= len(text), e
        assert text[e.start:e.end] == e.text, (e.field, e.start, e.end, e.text, text[e.start:e.end])
        fields.add(e.field.split("[")[0].split(".")[0])
    if listing.listing_id == "s1":
        assert {"title", "description", "keywords", "attributes"} <= fields


def test_html_description_spans_cover_markup(engine):
    listing = SPAN_LISTINGS[0]
    d = engine.moderate(listing, as_of=IN_FORCE)
    desc = [e for v in d.violations for e in v.evidence if e.field == "description"]
    texts = {e.text for e in desc}
    assert "e-liquid" in texts
    assert any("nic&nbsp;salt" == t for t in texts)       # the entity is part of the span
    script = (listing.description.index("<script>"), listing.description.index("</script>") + len("</script>"))
    for e in desc:  # script bodies are not text: no span starts or ends inside one
        assert not (script[0] < e.start < script[1] or script[0] < e.end < script[1]), e
    homoglyph = [e for e in desc if e.text.startswith("v\u0430pe")]
    assert homoglyph and homoglyph[0].method == "deobfuscated" and homoglyph[0].transforms == ["homoglyph"]


def test_category_is_structured_data_not_searched_text(engine):
    from app.models import Listing

    # a taxonomy path that merely contains "Vape" is not a vape listing
    d = engine.moderate(Listing(listing_id="c1", title="Essential Oil Diffuser 100ml",
                                category="Home > Essential Oil Vape"))
    assert d.action == "allow" and not d.violations
    # the designated category alone makes a listing e-cigarette hardware (masked for the US) ...
    d = engine.moderate(Listing(listing_id="c2", title="Mod kit 200W dual battery",
                                category="Consumer Electronics > Electronic Cigarettes"))
    assert d.action == "region_mask" and d.masked_regions == ["US"]
    ev = [e for v in d.violations for e in v.evidence if e.field == "category"]
    assert ev and ev[0].method == "rule" and ev[0].text == "Consumer Electronics > Electronic Cigarettes"
    # ... and the context in which flavour wording describes e-liquid
    d = engine.moderate(Listing(listing_id="c3", title="Mango ice 3 pack",
                                category="Consumer Electronics > Electronic Cigarettes"))
    assert d.action == "block" and any(v.rule_id == "ecig.e_liquid" for v in d.violations)


@pytest.mark.parametrize("text", ["Premium E-Liquid5% nicotine salt 30ml", "Refill Pod5000 puffs kit",
                                  "Mango Vape Juice50mg 60ml"])
def test_a_number_glued_to_a_word_is_not_leetspeak(engine, text):
    """Scraped text often runs a number into the word before it; that is no distortion."""
    from app.models import Listing

    d = engine.moderate(Listing(listing_id="g", title=text))
    assert d.action == "block"
    assert not any(v.rule_id == "circumvention.keyword_distortion" for v in d.violations), d.violations


@pytest.mark.parametrize("text", ["best vap3 kit", "e-c1g starter kit", "v4pe pen"])
def test_leetspeak_inside_or_ending_a_word_still_counts(engine, text):
    from app.models import Listing

    d = engine.moderate(Listing(listing_id="g", title=text))
    assert any(v.rule_id == "circumvention.keyword_distortion" for v in d.violations), d.violations
