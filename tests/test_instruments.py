"""Controlled instruments (policy.md §3.1, §2, §6) through the whole engine: app/checks/instruments.py,
lexicons/controlled_instrument.yaml and policy/policy.yaml together. Expectations come from the spec."""

from __future__ import annotations

import datetime as dt

import pytest

from app.models import Listing

IN_FORCE = dt.date(2022, 3, 1)
CATEGORY = "controlled_instrument"
POINTS = {1: ("A", 6), 2: ("A", 6), 3: ("A", 6), 4: ("A", 6), 5: ("B", 2)}


def moderate(engine, title, as_of=IN_FORCE, **kw):
    return engine.moderate(Listing(listing_id="t", title=title, **kw), as_of=as_of)


def instrument(d):
    return [v for v in d.violations if v.category == CATEGORY and not v.rule_id.startswith("circumvention.")]


def blocked_class(d) -> int:
    vs = [v for v in instrument(d) if v.action == "block"]
    assert len(vs) == 1, [(v.rule_id, v.action) for v in d.violations]
    return vs[0].detail["instrument_class"]


# --------------------------------------------------------------------------- each class, its points
@pytest.mark.parametrize("title, cls", [
    ("Police handcuffs double lock steel", 1),
    ("警用手铐 不锈钢", 1),
    ("Leg irons with chain", 1),
    ("Algemas de metal policial", 1),
    ("Damascus steel dagger with double edge blade", 2),
    ("Benchmade OTF knife automatic", 2),
    ("蝴蝶刀 折叠", 2),
    ("Navaja automática acero", 2),
    ("Кинжал охотничий", 2),
    ("Stun gun 5000 mAh rechargeable", 3),
    ("Self defense pepper spray 60 ml", 3),
    ("Brass knuckles solid", 3),
    ("21 inch expandable baton", 3),
    ("防狼喷雾 女士", 3),
    ("Biber spreyi 50 ml", 3),
    ("Compound crossbow 185 lbs with bolts", 4),
    ("Toothpick crossbow keychain mini toy", 4),   # §6: mini/toothpick crossbows are class 4 even as toys
    ("十字弩 狩猎", 4),
    ("Арбалет блочный", 4),
    ("Black nunchucks steel chain", 5),
    ("Kubotan keychain", 5),
    ("双节棍 实战", 5),
    ("Cerbatana 120 cm con dardos", 5),
])
def test_each_class_blocks_with_its_points(engine, title, cls):
    d = moderate(engine, title)
    assert d.action == "block"
    (v,) = [v for v in instrument(d) if v.action == "block"]
    assert v.rule_id == f"instrument.class{cls}"
    assert v.detail["instrument_class"] == cls
    vclass, pts = POINTS[cls]
    assert (v.violation_class, v.points) == (vclass, pts)
    assert d.points.model_dump() == {"A": pts if vclass == "A" else 0, "B": pts if vclass == "B" else 0}
    assert v.evidence and v.message and v.citation


def test_class_points_come_from_the_policy(engine):
    check = next(c for c in engine.snapshot.checks if c.name == CATEGORY)
    policy = engine.snapshot.policy
    for n in range(1, 6):
        rule = policy.rule(f"instrument.class{n}")
        assert check.points[n] == rule.points == POINTS[n][1]
        assert rule.violation_class == POINTS[n][0]


# --------------------------------------------------------------------------- several classes at once
def test_stun_belt_is_one_violation_of_class_1(engine):
    # §6: a body-worn stun belt is class 1 and class 3 -> one violation, most points, tie -> lowest class
    d = moderate(engine, "Remote stun belt with stun gun module for prisoner transport")
    vs = instrument(d)
    assert [v.rule_id for v in vs] == ["instrument.class1"]
    assert vs[0].detail["instrument_class"] == 1
    assert d.points.A == 6 and d.points.B == 0


def test_class_3_beats_class_5(engine):
    d = moderate(engine, "Self defense set: nunchaku, pepper spray")
    assert [v.rule_id for v in instrument(d)] == ["instrument.class3"]
    assert d.points.A == 6 and d.points.B == 0


def test_class_2_and_4_tie_goes_to_class_2(engine):
    d = moderate(engine, "Outdoor set: dagger and pistol crossbow")
    assert [v.rule_id for v in instrument(d)] == ["instrument.class2"]


def test_spiked_mace_is_class_3_only(engine):
    for title in ("狼牙棒 实心 钢", "Spiked mace medieval steel", "Spiked baton steel"):
        assert blocked_class(moderate(engine, title)) == 3, title


# --------------------------------------------------------------------------- blade length (GT2007, §6)
@pytest.mark.parametrize("title, attrs, expected", [
    ("Hunting knife, blade length 149 mm", {}, "allow"),
    ("Hunting knife, blade length 151 mm", {}, "block"),
    ("Hunting knife, blade length 221 mm", {}, "block"),
    ("Chef knife, blade length 149 mm", {}, "allow"),
    ("Chef knife, blade length 151 mm", {}, "review"),     # §6 kitchen 150-220 -> allow + review
    ("Chef knife, blade length 221 mm", {}, "block"),      # any knife > 220 mm
    ("Knife, blade length 221 mm", {}, "block"),
    ("Tactical knife 15.1 cm blade", {}, "block"),
    ("Tactical knife 14.9 cm blade", {}, "allow"),
    ("Bowie knife 9.5 inch blade", {}, "block"),           # 241 mm
    ("Bowie knife 5.9 inch blade", {}, "allow"),           # 150 mm exactly is not over
    ("Combat knife 6.5″ blade", {}, "block"),              # 165 mm, pointed type
    ("户外直刀 刃长 230mm", {}, "block"),
    ("猎刀 刃长160mm", {}, "block"),
    ("菜刀 刃长 180mm", {}, "review"),
    ("10\" chef knife, blade length 254 mm", {}, "block"),  # notes §5.2
    ("10\" chef knife", {}, "review"),                     # a size, not necessarily the blade
    ("Kitchen knife", {"Blade Length": "24 cm"}, "block"),
    ("Hunting knife", {"Blade Length": "16 cm"}, "block"),
    ("Chef knife", {"Blade Length": "16 cm"}, "review"),
    ("Hunting knife", {"Blade length (mm)": "140"}, "allow"),
    ("Wiper blade, blade length 24 inch", {}, "allow"),    # not a knife
    ("Stage prop sword, unsharpened, blade length 80 cm", {}, "review"),  # §6 / GT2007 二
])
def test_blade_length_table(engine, title, attrs, expected):
    d = moderate(engine, title, attributes=attrs)
    vs = instrument(d)
    if expected == "block":
        assert d.action == "block" and blocked_class(d) == 2, title
    elif expected == "review":
        assert d.action == "allow" and d.review and [v.rule_id for v in vs] == ["instrument.review"], title
    else:
        assert not vs, (title, [v.rule_id for v in vs])


def test_blade_length_evidence_cites_the_attribute(engine):
    d = moderate(engine, "Kitchen knife", attributes={"Blade Length": "24 cm"})
    (v,) = instrument(d)
    assert any(e.field == "attributes.Blade Length" and e.text == "24 cm" for e in v.evidence)


# --------------------------------------------------------------------------- distortion (§2)
@pytest.mark.parametrize("title, cls, transform", [
    ("n.u.n.c.h.a.k.u steel", 5, "separator"),
    ("nunch@ku wood", 5, "leet"),
    ("5tun gun flashlight", 3, "leet"),
    ("cr0ssbow pistol 80lbs", 4, "leet"),
    ("h4ndcuffs steel", 1, "leet"),
    ("d a g g e r double edge", 2, "separator"),
    ("电 击 器 防身", 3, "separator"),
])
def test_distortion_adds_one_b_point_and_names_the_transform(engine, title, cls, transform):
    d = moderate(engine, title)
    assert blocked_class(d) == cls
    (c,) = [v for v in d.violations if v.rule_id == "circumvention.keyword_distortion"]
    assert c.category == CATEGORY and c.points == 1 and c.violation_class == "B"
    assert transform in c.detail["transforms"]
    base_a, base_b = (6, 0) if cls != 5 else (0, 2)
    assert (d.points.A, d.points.B) == (base_a, base_b + 1)


def test_pinyin_counts_as_distortion(engine):
    d = moderate(engine, "shuangjiegun steel")
    assert blocked_class(d) == 5
    (c,) = [v for v in d.violations if v.rule_id == "circumvention.keyword_distortion"]
    assert "pinyin" in c.detail["transforms"]


def test_masked_vowels_block(engine):
    d = moderate(engine, "st*n g*n 50,000,000V flashlight")
    assert blocked_class(d) == 3


def test_masked_vowels_earn_the_distortion_point(engine):
    d = moderate(engine, "st*n g*n 50,000,000V flashlight")
    dist = [v for v in d.violations if v.rule_id == "circumvention.keyword_distortion"]
    assert dist and "masked" in dist[0].detail["transforms"]


def test_genuine_turkish_earns_no_distortion_point(engine):
    d = moderate(engine, "Biber gazı 40 ml")
    assert blocked_class(d) == 3
    assert not any(v.rule_id == "circumvention.keyword_distortion" for v in d.violations)


def test_plain_term_earns_no_distortion_point(engine):
    d = moderate(engine, "Stun gun flashlight")
    assert not any(v.rule_id == "circumvention.keyword_distortion" for v in d.violations)


# --------------------------------------------------------------------------- negation (§6)
@pytest.mark.parametrize("title, cls", [
    ("Stun gun - not a weapon, for display only", 3),
    ("Dagger, not a weapon, decoration only", 2),
    ("NOT a taser: electronic self defense device", 3),
    ("非武器 甩棍 三节", 3),
])
def test_negation_never_cancels(engine, title, cls):
    assert blocked_class(moderate(engine, title)) == cls


# --------------------------------------------------------------------------- look-alikes (§3.1, §6)
@pytest.mark.parametrize("title", [
    "Fruit knife stainless steel 10 cm",
    "Kitchen knife 8 inch blade",
    "Utility knife 18mm snap-off blades",
    "Victorinox Swiss Army knife Spartan",
    "Non-locking pocket knife slip joint",
    "Scalpel handle no. 4 with 10 blades",
    "D shackle 1/2\" galvanized rigging",
    "Bow shackle 316 stainless",
    "卸扣 D型 镀锌 索具",
    "Steering knuckle for Toyota Corolla",
    "转向节 丰田 原厂",
    "Gold cufflinks with gift box",
    "Dartboard set with 6 steel tip darts",
    "Steel tip darts 24g tungsten",
    "Personal alarm keychain 130dB",
    "防狼报警器 女生",
    "LED tactical flashlight rechargeable 1000 lumens",
    "强光手电 充电",
    "Slingshot with 100 steel balls",
    "Perfume atomizer 5ml refillable",
    "Pizza cutter wheel stainless",
    "Knife sharpener 3-stage",
    "Brass knuckle ring 14mm",
    "Gothic dagger earrings silver",
    "Garmin Xero X1i Crossbow Scope",
    "Plano Manta Crossbow Case",
    "Fuzzy handcuffs pink plush",
    "Relay baton aluminium",
    "Nintendo Wii Nunchuck Controller",
    "Prevost 1/4\" NPT Blow Gun",
    "Crossbody bag women",
    "Compound bow 70 lbs with arrows",
])
def test_benign_look_alikes_are_allowed(engine, title):
    d = moderate(engine, title)
    assert d.action == "allow", (title, [(v.rule_id, [e.text for e in v.evidence]) for v in d.violations])


@pytest.mark.parametrize("title", ["Fuzzy handcuffs pink plush", "Garmin Xero X1i Crossbow Scope",
                                   "Gothic dagger earrings silver", "Training butterfly knife"])
def test_novelty_and_accessories_ask_for_review(engine, title):
    d = moderate(engine, title)
    assert d.action == "allow" and d.review
    assert [v.rule_id for v in instrument(d)] == ["instrument.review"]


@pytest.mark.parametrize("title", ["Hand cuff", "Knuckle", "Baton", "Spray bottle 500ml", "Dart", "刀",
                                   "Butterfly", "Shackle", "Cuff"])
def test_ambiguous_words_alone_do_not_block(engine, title):
    assert moderate(engine, title).action != "block" or title == "Hand cuff"


def test_hand_cuff_is_not_ambiguous(engine):
    # "hand cuff(s)" names the restraint itself (policy §3.1: handcuffs are class 1)
    assert blocked_class(moderate(engine, "Hand cuff steel")) == 1


# --------------------------------------------------------------------------- evidence (§5)
@pytest.mark.parametrize("title, description", [
    ("Ｓｔｕｎ ｇｕｎ ＋ pepper spray", ""),
    ("n.u.n.c.h.a.k.u steel", ""),
    ("Outdoor knife", "Very sharp. Blade length: 24 cm, double edge."),
    ("電擊器 防身 自衛器", ""),
    ("cr0ssbow &amp; bolts", ""),
])
def test_evidence_spans_equal_the_original_text(engine, title, description):
    d = moderate(engine, title, description=description)
    vs = instrument(d)
    assert vs
    fields = {"title": title, "description": description}
    for v in vs:
        for e in v.evidence:
            assert fields[e.field][e.start:e.end] == e.text, (e.field, e.start, e.end, e.text)


def test_keywords_count_like_title(engine):
    d = moderate(engine, "Outdoor gift set", keywords=["camping", "taser"])
    assert blocked_class(d) == 3
    assert any(e.field == "keywords[1]" for v in instrument(d) for e in v.evidence)


def test_not_in_force_before_the_announcement(engine):
    d = moderate(engine, "Stun gun", as_of=dt.date(2021, 6, 1))
    assert not instrument(d)
