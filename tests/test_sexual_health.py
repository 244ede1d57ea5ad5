"""Sexual-health drugs and claims (policy.md §3.3) through the whole engine: app/checks/sexual_health.py,
lexicons/sexual_health.yaml, its table lexicons/data/pde5_ingredients.csv and policy/policy.yaml."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import re

import pytest

from app.checks.chemids import cas_check
from app.config import REPO_ROOT
from app.matching import load_lexicon
from app.models import Listing

FAMILY = "sexual_health_drug"
IN_FORCE = dt.date(2022, 3, 1)
TABLE = REPO_ROOT / "lexicons" / "data" / "pde5_ingredients.csv"


def moderate(engine, title, as_of=IN_FORCE, **kw):
    return engine.moderate(Listing(listing_id="t", title=title, **kw), as_of=as_of)


def rules(d) -> dict:
    return {v.rule_id: v for v in d.violations if not v.rule_id.startswith("classifier.")}


def family_blocks(d) -> list:
    return [v for v in d.violations if v.category == FAMILY and v.action != "allow"
            and not v.rule_id.startswith("classifier.")]


def table_rows() -> list[dict]:
    with TABLE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- ingredients (A 6)
@pytest.mark.parametrize("title", [
    "Sildenafil citrate 100mg tablets",          # English INN
    "Tadalafil raw powder 99%",
    "他达拉非 原料",                              # Chinese
    "西地那非片 100mg",
    "威而鋼 100mg",                               # traditional Chinese brand (TW)
    "Citrato de sildenafilo 50 mg",              # Spanish INN
    "Tadalafila 20 mg comprimidos",              # Portuguese INN
    "Силденафил 100 мг",                         # Russian
    "سيلدينافيل 100 ملغ",                        # Arabic
    "Dapoksetin 60 mg",                          # Turkish
    "Sildenafill 100mg blue",                    # common misspelling
    "Thiosildenafil 1g",                         # unapproved analogue (BJS 202405)
    "羟基硫代豪莫西地那非",
    "Yohimbine HCl 5mg",
    "Viagra 100mg",                              # brands
    "Kamagra oral jelly",
    "Cialis 20mg 4 pills",
    "Levitra 10 mg",
])
def test_ingredient_blocks_with_six_a_points(engine, title):
    d = moderate(engine, title)
    r = rules(d)
    assert d.action == "block", title
    v = r["sexual_health.drug_ingredient"]
    assert (v.category, v.violation_class, v.points, v.action) == (FAMILY, "A", 6, "block")
    assert v.detail["ingredients"] and v.evidence
    assert d.points.A >= 6


def test_ingredient_in_the_description_counts_unlabelled(engine):
    d = moderate(engine, "Herbal energy capsules for men", description="Ingredients: ginseng, tadalafil 10mg")
    v = rules(d)["sexual_health.drug_ingredient"]
    assert v.detail["ingredients"] == ["Tadalafil"]
    assert v.evidence[0].field == "description"
    ev = v.evidence[0]
    assert "Ingredients: ginseng, tadalafil 10mg"[ev.start:ev.end] == ev.text


def test_evidence_points_at_the_original_text(engine):
    title = "Premium  V1agra 100mg"
    d = moderate(engine, title)
    v = rules(d)["sexual_health.drug_ingredient"]
    ev = v.evidence[0]
    assert title[ev.start:ev.end] == ev.text == "V1agra"
    assert ev.method == "deobfuscated" and "leet" in ev.transforms
    dist = rules(d)["circumvention.keyword_distortion"]
    assert dist.category == FAMILY and dist.points == 1


def test_x_free_is_not_the_substance(engine):
    # policy.md §6: "X-free" describes a product that is not X
    assert not family_blocks(moderate(engine, "Sildenafil-free herbal tea"))
    # a plain negation never cancels a hit
    assert rules(moderate(engine, "Herbal tea, no sildenafil"))["sexual_health.drug_ingredient"]


# --------------------------------------------------------------------------- identifiers
def test_cas_attribute_of_a_listed_substance_blocks(engine):
    d = moderate(engine, "White powder 1kg", attributes={"CAS No.": "139755-83-2"})
    v = rules(d)["sexual_health.drug_ingredient"]
    assert v.detail["ingredients"] == ["Sildenafil"]
    ev = [e for e in v.evidence if e.method == "list"][0]
    assert ev.field == "attributes.CAS No." and ev.matched == "139755-83-2"


def test_labelled_cas_in_text_blocks(engine):
    title = "Research chemical CAS No. 171596-29-5 99%"
    d = moderate(engine, title)
    v = rules(d)["sexual_health.drug_ingredient"]
    assert v.detail["ingredients"] == ["Tadalafil"]
    ev = [e for e in v.evidence if e.method == "list"][0]
    assert title[ev.start:ev.end] == "171596-29-5"


def test_bare_cas_needs_a_chemicals_category(engine):
    # policy.md §6: an unlabelled number is a CAS number only in a chemicals category
    d = moderate(engine, "Powder 139755-83-2 wholesale")
    assert "sexual_health.drug_ingredient" not in rules(d)
    assert d.review and rules(d)["sexual_health.review"]
    d = moderate(engine, "Powder 139755-83-2 wholesale", category="Chemicals > Pharmaceutical Intermediates")
    assert rules(d)["sexual_health.drug_ingredient"]


def test_inchikey_of_a_listed_structure_blocks(engine):
    keys = {r["name_en"]: r["inchikey"] for r in table_rows() if r["inchikey"]}
    key = keys["Tadalafil"]
    d = moderate(engine, "Reference standard", description=f"InChIKey: {key}")
    v = rules(d)["sexual_health.drug_ingredient"]
    assert v.detail["ingredients"] == ["Tadalafil"]
    assert any(e.method == "structure" and e.text == key for e in v.evidence)


def test_analogue_found_by_inchikey_only(engine):
    rows = [r for r in table_rows() if r["group"] == "pde5_analogue" and r["inchikey"]]
    row = rows[0]
    d = moderate(engine, "Powder sample", description=f"Structure key {row['inchikey']}")
    assert rules(d)["sexual_health.drug_ingredient"].detail["ingredients"] == [row["name_en"]]


# --------------------------------------------------------------------------- claims (B 2)
@pytest.mark.parametrize("title", [
    "Male enhancement capsules 60 count",
    "Libido booster tablets for women",
    "Aphrodisiac candy for couples",
    "Maca coffee for men, boosts sexual stamina",
    "Wild honey for men, premature ejaculation",
    "Energy drink for harder erections",
    "Delay spray for men 10ml",
    "壮阳 咖啡 男士",
    "延时 喷剂 男用",
    "Cápsulas para disfunción eréctil",
    "Капсулы для потенции",
])
def test_claim_on_an_absorbable_product_blocks_with_two_b_points(engine, title):
    d = moderate(engine, title)
    r = rules(d)
    assert d.action == "block", title
    v = r["sexual_health.enhancement_claim"]
    assert (v.category, v.violation_class, v.points) == (FAMILY, "B", 2)
    assert "sexual_health.drug_ingredient" not in r


def test_claim_on_a_device_is_only_reviewed(engine):
    d = moderate(engine, "Male enhancement vacuum pump")
    assert d.action == "allow" and d.review
    assert rules(d)["sexual_health.review"].points == 0


def test_ingredient_and_claim_are_two_infringements(engine):
    d = moderate(engine, "Sildenafil 100mg male enhancement pills")
    r = rules(d)
    assert r["sexual_health.drug_ingredient"].points == 6 and r["sexual_health.enhancement_claim"].points == 2
    assert (d.points.A, d.points.B) == (6, 2)


# --------------------------------------------------------------------------- benign look-alikes
@pytest.mark.parametrize("title", [
    "Ultra thin latex condoms 12 pack",
    "Water-based personal lubricant 100ml",
    "Silicone lubricant gel, unscented",
    "Pregnancy test strips 25 pcs",
    "Ovulation test kit 50 strips",
    "Multivitamin for men 90 tablets",
    "Steel structure erection service",
    "Time delay relay 24V",
    "Photo enlargement print 30x40",
    "Long lasting lipstick",
    "延时继电器 220V",
    "增大容量 保温杯",
    "安全套 超薄 10只",
    "润滑液 水溶性",
    "验孕棒 早孕试纸",
])
def test_benign_look_alikes_pass(engine, title):
    d = moderate(engine, title)
    assert not [v for v in rules(d).values() if v.category == FAMILY], title


@pytest.mark.parametrize("title", [
    "Viagra: the little blue pill that changed the world (hardcover book)",
    "Cialis and the news: a history of lifestyle drugs, paperback",
    "伟哥 新闻 报道 合集 图书",
])
def test_book_or_news_naming_a_brand_is_review_at_most(engine, title):
    d = moderate(engine, title)
    assert not family_blocks(d), title
    assert d.review and "sexual_health.review" in rules(d)


def test_rule_not_in_force_before_the_announcement(engine):
    d = moderate(engine, "Viagra 100mg", as_of=dt.date(2021, 12, 20))
    assert not [v for v in rules(d).values() if v.category == FAMILY]


# --------------------------------------------------------------------------- the data table
def test_table_rows_have_sources_and_valid_cas():
    rows = table_rows()
    assert len(rows) >= 100
    seen = set()
    for r in rows:
        assert r["source"].strip(), r["name_en"]
        assert r["group"] in {"approved_pde5", "pde5_analogue", "other_sexual_drug"}
        if r["cas"]:
            m = re.fullmatch(r"(\d{2,7})-(\d{2})-(\d)", r["cas"])
            assert m, r["cas"]
            assert cas_check(*m.groups())[1] is None, r["cas"]
            assert r["cas"] not in seen, r["cas"]
            seen.add(r["cas"])
        if r["inchikey"]:
            assert re.fullmatch(r"[A-Z]{14}-[A-Z]{10}-[A-Z]", r["inchikey"]), r["inchikey"]


def test_every_table_name_is_a_lexicon_form():
    lx = load_lexicon(REPO_ROOT / "lexicons" / "sexual_health.yaml")
    forms = {f.casefold() for t in lx.terms for f in t.forms}
    for r in table_rows():
        for col in ("name_en", "synonyms", "other_names", "brands"):
            for name in filter(None, (x.strip() for x in r[col].split(";"))):
                assert name.casefold() in forms, (col, name)


def test_every_table_name_blocks(engine):
    """Every English name and first Chinese name of every row (except the review-only synthesis
    intermediate) blocks as a drug ingredient."""
    failures = []
    for r in table_rows():
        if r["name_en"] == "Tetrahydro-β-carboline":
            continue
        names = [r["name_en"], *[x for x in r["synonyms"].split(";")[:1] if x]]
        for name in names:
            d = moderate(engine, f"{name} 10g")
            if "sexual_health.drug_ingredient" not in rules(d):
                failures.append(name)
    assert not failures


@pytest.mark.shared
def test_table_is_a_faithful_copy_of_the_research_data(shared_dir):
    """scripts/build_pde5_table.py rebuilds the table from ../shared/data/pde5 exactly."""
    spec = importlib.util.spec_from_file_location("build_pde5_table", REPO_ROOT / "scripts" / "build_pde5_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.build(shared_dir / "data" / "pde5") == table_rows()
