"""Live animals, plants and seeds (policy.md §3.7) through the whole engine: app/checks/live.py,
lexicons/live_animals_plants.yaml and the three date regimes of policy/policy.yaml."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from app.config import REPO_ROOT, Settings
from app.engine import Engine
from app.models import Listing

FAMILY = "live_animals_plants"
BEFORE_REMOVAL = dt.date(2021, 11, 22)
REMOVAL_FIRST, REMOVAL_LAST = dt.date(2021, 11, 23), dt.date(2021, 11, 30)
BANNED = dt.date(2021, 12, 1)
LATER = dt.date(2023, 6, 1)


def moderate(engine, title, as_of=LATER, **kw):
    return engine.moderate(Listing(listing_id="t", title=title, **kw), as_of=as_of)


def family(d) -> dict:
    return {v.rule_id: v for v in d.violations if v.category == FAMILY and not v.rule_id.startswith("classifier.")}


# --------------------------------------------------------------------------- positives
@pytest.mark.parametrize("title", [
    "Live chickens for sale, 50 heads",
    "Day-old chicks Ross 308 broiler",
    "Golden retriever puppies for sale, vaccinated",
    "Koi fish live 20cm",
    "Live plant Monstera deliciosa in 6\" pot",
    "Costa Farms Anthurium Houseplant",
    "Rainbow Eucalyptus Tree",
    "Tulip bulbs 100 pcs for spring planting",
    "Vegetable seeds 50 varieties heirloom",
    "Meyer lemon tree 3 gallon",
    "Tradescantia Zebrina",
    "活体 锦鲤 15cm",
    "嫁接苗 苹果 果苗",
    "蔬菜种子 四季 阳台",
    "種子 播種 四季 蔬菜",               # traditional Chinese
    "Plantas vivas de interior",         # es
    "Mudas de plantas frutíferas",       # pt
    "Plantes vivantes d'intérieur",      # fr
    "Саженцы яблони",                    # ru
    "شتلات زيتون",                       # ar
    "Canlı bitki saksı ile",             # tr
])
def test_live_goods_are_banned_with_two_b_points(engine, title):
    d = moderate(engine, title)
    r = family(d)
    assert d.action == "block", title
    v = r["live.banned"]
    assert (v.violation_class, v.points, v.action) == ("B", 2, "block")
    assert set(r) == {"live.banned"}, r.keys()
    assert v.detail["kinds"]


# --------------------------------------------------------------------------- the three date regimes
@pytest.mark.parametrize("as_of, rule, action, review, points", [
    (BEFORE_REMOVAL, "live.review_before_removal", "allow", True, 0),
    (REMOVAL_FIRST, "live.removed", "block", False, 0),
    (REMOVAL_LAST, "live.removed", "block", False, 0),
    (BANNED, "live.banned", "block", False, 2),
    (LATER, "live.banned", "block", False, 2),
])
def test_date_regimes(engine, as_of, rule, action, review, points):
    d = moderate(engine, "Live plant Monstera deliciosa", as_of=as_of)
    r = family(d)
    assert set(r) == {rule}
    assert (d.action, r[rule].action, r[rule].points, d.review) == (action, action, points, review)
    assert (d.points.A, d.points.B) == (0, points)


def test_no_rule_before_the_announcement(engine):
    assert not family(moderate(engine, "Live plant Monstera deliciosa", as_of=dt.date(2021, 8, 2)))


def test_distortion_point_follows_the_regime(engine):
    # before 2021-11-23 the live rule only asks for review: nothing fires, so no distortion point
    d = moderate(engine, "L1ve pl@nt 6 inch pot", as_of=BEFORE_REMOVAL)
    assert "circumvention.keyword_distortion" not in {v.rule_id for v in d.violations}
    d = moderate(engine, "L1ve pl@nt 6 inch pot", as_of=LATER)
    dist = [v for v in d.violations if v.rule_id == "circumvention.keyword_distortion"][0]
    assert dist.category == FAMILY and dist.points == 1 and d.points.B == 3


def test_regime_dates_come_from_the_policy_file(tmp_path: Path):
    """Moving the dates in policy.yaml moves the regimes: the check holds no date."""
    data = yaml.safe_load((REPO_ROOT / "policy" / "policy.yaml").read_text(encoding="utf-8"))
    for r in data["rules"]:
        if r["id"] == "live.review_before_removal":
            r["effective_until"] = dt.date(2030, 1, 1)
        elif r["id"] == "live.removed":
            r["effective_from"], r["effective_until"] = dt.date(2030, 1, 2), dt.date(2030, 1, 31)
        elif r["id"] == "live.banned":
            r["effective_from"] = dt.date(2030, 2, 1)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    eng = Engine(Settings(policy_file=path))
    d = moderate(eng, "Live plant Monstera deliciosa", as_of=LATER)
    assert set(family(d)) == {"live.review_before_removal"} and d.action == "allow" and d.review
    d = moderate(eng, "Live plant Monstera deliciosa", as_of=dt.date(2030, 1, 15))
    assert set(family(d)) == {"live.removed"}


# --------------------------------------------------------------------------- categories
def test_closed_category_is_a_live_listing_by_itself(engine):
    cat = "Agriculture > Plant Seeds & Bulbs > Vegetable Seeds"
    d = moderate(engine, "Mixed pack 20 varieties", category=cat)
    v = family(d)["live.banned"]
    assert v.detail["kinds"] == ["closed_category"]
    assert v.evidence[0].field == "category"


def test_closed_category_is_not_cancelled_by_artificial(engine):
    d = moderate(engine, "Artificial look bonsai", category="Agriculture > Ornamental Plants > Bonsai")
    assert "live.banned" in family(d)


# --------------------------------------------------------------------------- benign look-alikes
@pytest.mark.parametrize("title", [
    "Artificial potted plant 60cm",
    "Fake plants artificial eucalyptus 6 pcs",
    "Nearly Natural Sedum and Eucalyptus Plant",
    "Ceramic plant pot with drainage 6 inch",
    "Plant pots set of 3",
    "Bonsai tool kit 14 pieces",
    "LEGO Bonsai Tree",
    "Chia seeds organic 1kg",
    "Roasted salted pumpkin seeds",
    "Mixed nuts and seeds 500g",
    "Sunflower seeds roasted 500g",
    "Seed beads 2mm glass 500g",
    "Puppy food 2kg chicken",
    "Kitten scratching post",
    "Dog leash nylon 1.5m",
    "Aquarium fish food flakes",
    "Koi print cushion cover",
    "LED bulb E27 9W",
    "Dried eucalyptus bundle for shower",
    "Tea tree & lavender shampoo",
    "仿真绿植 客厅 装饰",
    "多肉花盆 陶瓷",
    "狗粮 成犬 10kg",
    "葵花籽 原味 500g",
    "活体检测 人脸识别 模块",
])
def test_benign_look_alikes_pass(engine, title):
    d = moderate(engine, title)
    assert not [v for v in family(d).values() if v.action != "allow"], title


def test_artificial_that_calls_itself_live_asks_for_review(engine):
    d = moderate(engine, "Artificial live plant decor, real look")
    r = family(d)
    assert set(r) == {"live.review"} and d.review


def test_grey_wording_asks_for_review(engine):
    d = moderate(engine, "Plantable seed paper cards 10 pack")
    assert set(family(d)) == {"live.review"} and d.action == "allow" and d.review
