"""The text classifier (issue 7): the shipped model, its card and policy section, the check's findings,
start-up refusal, the on/off switch and reproducible training."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from app.classifier import authored
from app.classifier import train as T
from app.classifier.card import CARD_JSON, CARD_MD
from app.classifier.check import ClassifierCheck, ModelFileError
from app.classifier.data import FILE_LABELS, bucket
from app.classifier.features import CATEGORIES, LABELS, listing_text
from app.config import REPO_ROOT, Settings
from app.engine import Engine
from app.engine.core import build_snapshot, prepare
from app.models import Listing
from app.policy import load_policy

MODELS = REPO_ROOT / "models"
POLICY = load_policy(REPO_ROOT / "policy" / "policy.yaml")


def _card() -> dict:
    return json.loads((MODELS / CARD_JSON).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def clf_engine() -> Engine:
    eng = Engine(Settings(classifier=True))
    assert any(c.name == "classifier" for c in eng.snapshot.checks), "the shipped policy must load the classifier"
    return eng


@pytest.fixture(scope="module")
def check(clf_engine) -> ClassifierCheck:
    return next(c for c in clf_engine.snapshot.checks if c.name == "classifier")


# --------------------------------------------------------------------------- the shipped artefact
def test_model_card_and_policy_agree_with_the_model_file():
    card = _card()
    model = MODELS / "classifier.skops"
    assert model.is_file()
    sha = T.sha256_file(model)
    assert sha == card["model"]["sha256"] == POLICY.classifier.sha256
    assert model.stat().st_size == card["model"]["bytes"] <= T.MAX_MODEL_BYTES
    for cat in CATEGORIES:
        pol = POLICY.classifier.categories[cat]
        crd = card["thresholds"]["categories"][cat]
        assert (pol.review, pol.block) == (crd["review"], crd["block"]), cat
    assert set(card["data_sources"]["files"]) == set(FILE_LABELS)
    assert all(len(f["sha256"]) == 64 for f in card["data_sources"]["files"].values())
    assert (MODELS / CARD_MD).read_text(encoding="utf-8").startswith("# Model card")
    # a block threshold only where the card shows held-out precision >= 99 %
    for cat, m in card["metrics"]["categories"].items():
        if POLICY.classifier.categories[cat].block is not None:
            assert m["block"]["precision"] >= T.BLOCK_PRECISION
            assert cat in T.BLOCK_ELIGIBLE


def test_two_families_compared_on_the_same_split():
    fams = _card()["selection"]["families"]
    assert set(fams) == set(T.families(0)) and len(fams) >= 2
    chosen = _card()["selection"]["chosen"]
    assert fams[chosen]["val"]["mean_average_precision"] == max(f["val"]["mean_average_precision"] for f in fams.values())


def test_model_file_loads_with_the_trusted_types_only(tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "evil.skops"
    sio.dump(FunctionTransformer(func=print), path)
    with pytest.raises(ValueError, match="not trusted"):
        T.load_model(path)


# --------------------------------------------------------------------------- the check
def test_findings_carry_score_ngrams_and_spans_into_the_original_text(check, clf_engine):
    listing = Listing(listing_id="c1", title="Einweg E-Zigarette 9000 Züge Mango Ice, Nikotinsalz 20mg",
                      description="<p>Disposable vape pen, prefilled, rechargeable</p>")
    item = prepare(listing, clf_engine.snapshot)
    item.families = {}  # the model on its own (where the lexicon fired, the check stays silent)
    findings = check.run(item)
    assert findings, "an obvious e-cigarette listing must score above the review threshold"
    f = next(f for f in findings if dict(f.detail)["classifier_category"] == "e_cigarette")
    detail = dict(f.detail)
    t = POLICY.classifier.categories["e_cigarette"]
    assert detail["score"] >= t.review and f.rule_id in (t.review_rule, t.block_rule)
    assert detail["model"] == POLICY.classifier.sha256[:12]
    assert detail["top_ngrams"] and all(g["weight"] > 0 for g in detail["top_ngrams"])
    assert f.evidence
    for e in f.evidence:
        assert e.method == "classifier"
        original = {"title": listing.title, "description": listing.description}[e.field]
        assert original[e.start:e.end] == e.text
        assert e.text.casefold().replace("-", " ").split() or e.text


def test_benign_listing_gives_no_finding(check, clf_engine):
    for title in ("Organic Whole Milk 1 gallon", "Bio Vollmilch 1 Liter", "纯棉T恤 男款 白色", "Stainless steel water bottle 750 ml"):
        assert check.run(prepare(Listing(listing_id="b", title=title), clf_engine.snapshot)) == [], title


def test_batch_scores_equal_single_scores(check):
    texts = [listing_text(t) for t in ("live monstera plant", "tomato seeds for planting", "usb cable 2m")]
    batch = check.scores(texts)
    for i, text in enumerate(texts):
        assert (abs(check.scores([text])[0] - batch[i]) < 1e-12).all()


def test_fast_single_listing_path_equals_the_pipeline(check):
    import numpy as np

    rows = authored.generate(5, per_template=2)
    texts = [listing_text(r.title, (), r.category, r.description) for r in rows] + ["", "  ", "<b>x</b>"]
    ref = check.model.predict_proba(texts)
    got = np.array([check.fast.proba(*check.fast.vector(t)) for t in texts])
    assert np.allclose(got, ref, rtol=0, atol=1e-9)


def test_decision_carries_the_model_digest(clf_engine):
    d = clf_engine.moderate(Listing(listing_id="d", title="usb cable"))
    assert d.data_digests["models/classifier.skops"] == POLICY.classifier.sha256


def test_lexicon_finding_takes_precedence_in_the_engine(clf_engine):
    d = clf_engine.moderate(Listing(listing_id="p", title="Disposable vape 5000 puffs mango ice 20mg nic salt"))
    rules = {v.rule_id for v in d.violations}
    assert any(r.startswith("ecig.") for r in rules)
    assert not any(r in POLICY.model_rule_ids for r in rules if POLICY.rule(r).category == "e_cigarette")


def test_classifier_is_silent_where_the_lexicon_family_fired(check, clf_engine):
    # an admitted epidemic-products manufacturer: the epidemic check allows it by emitting nothing;
    # the classifier must not turn that into a review
    listing = Listing(listing_id="e", title="Virus shut out disinfection card, wearable",
                      seller={"seller_id": "s1", "business_type": "manufacturer"})
    item = prepare(listing, clf_engine.snapshot)
    assert item.family("epidemic_prevention").fired, "the epidemic lexicon recognises a disinfection card"
    cats = {dict(f.detail)["classifier_category"] for f in check.run(item)}
    assert "epidemic_prevention" not in cats
    # the same text with the lexicon's view taken away: the model alone would flag it
    item.families.pop("epidemic_prevention")
    assert "epidemic_prevention" in {dict(f.detail)["classifier_category"] for f in check.run(item)}


def test_lexicon_misses_become_classifier_reviews(clf_engine):
    plain = Engine(Settings(classifier=False))
    candidates = ["Sterling Silver Tradescantia Pair in nursery pots", "Eve's bonsai starter kit with juniper",
                  "Venom .40 cal hunting blow pipe with 12 darts", "Roach powder with boric acid and lure",
                  "Rechargeable nano hearing amplifier, invisible", "Steamax TFV8 sextuple heads 0,2 ohm, 3 Stück"]
    seen = 0
    for title in candidates:
        listing = Listing(listing_id="m", title=title)
        if plain.moderate(listing).violations:
            continue  # the lexicons (which keep growing) catch it already
        d = clf_engine.moderate(listing)
        model = [v for v in d.violations if v.rule_id in POLICY.model_rule_ids]
        if not model:
            continue
        seen += 1
        for v in model:
            assert v.evidence and all(e.method == "classifier" for e in v.evidence)
            assert (v.action, v.review) in (("allow", True), ("block", False))
            assert "score" in v.detail and v.detail["top_ngrams"]
        assert d.review or d.action == "block"
    assert seen, "none of the candidates shows a classifier review on a lexicon miss"


def test_classifier_only_suspicion_is_review_not_block(clf_engine, check):
    # the rule the finding names decides the action; review rules are allow + review
    for cat, t in POLICY.classifier.categories.items():
        rule = POLICY.rule(t.review_rule)
        assert (rule.action, rule.review, rule.points) == ("allow", True, 0), cat
        if t.block_rule:
            assert POLICY.rule(t.block_rule).action == "block"


# --------------------------------------------------------------------------- start-up and switch
def _settings_with_models(tmp_path: Path, monkeypatch, model_bytes: bytes | None) -> Settings:
    d = tmp_path / "models"
    d.mkdir()
    if model_bytes is not None:
        (d / "classifier.skops").write_bytes(model_bytes)
    monkeypatch.setenv("MODERATE_MODELS", str(d))
    return Settings(classifier=True)


def test_missing_model_refuses_to_start(tmp_path, monkeypatch):
    settings = _settings_with_models(tmp_path, monkeypatch, None)
    with pytest.raises(ModelFileError, match="missing.*moderate train"):
        build_snapshot(settings)


def test_model_with_another_digest_refuses_to_start(tmp_path, monkeypatch):
    raw = bytearray((MODELS / "classifier.skops").read_bytes())
    raw[-1] ^= 1
    settings = _settings_with_models(tmp_path, monkeypatch, bytes(raw))
    with pytest.raises(ModelFileError, match="does not match"):
        build_snapshot(settings)


def test_classifier_off_runs_lexicons_only(monkeypatch):
    monkeypatch.setenv("MODERATE_CLASSIFIER", "off")
    settings = Settings()
    assert settings.classifier is False
    snap = build_snapshot(settings)
    assert all(c.name != "classifier" for c in snap.checks)
    assert not any(k.endswith(".skops") for k in snap.digests)
    monkeypatch.setenv("MODERATE_CLASSIFIER", "maybe")
    with pytest.raises(ValueError, match="MODERATE_CLASSIFIER"):
        Settings()


def test_readyz_says_the_model_is_loaded(clf_engine):
    from fastapi.testclient import TestClient

    from app.api.main import create_app

    with TestClient(create_app(engine=clf_engine)) as client:
        body = client.get("/readyz").json()
    assert body["classifier"]["loaded"] is True
    assert body["classifier"]["sha256"] == POLICY.classifier.sha256


# --------------------------------------------------------------------------- policy section
def test_policy_section_rewrite_is_idempotent_and_keeps_the_rest(tmp_path):
    p = tmp_path / "policy.yaml"
    shutil.copy(REPO_ROOT / "policy" / "policy.yaml", p)
    before = p.read_text(encoding="utf-8")
    cats = {c: T.CategoryResult(c, 0.5, None, "real", "", 0, 0) for c in CATEGORIES}
    section = T.policy_section("classifier.skops", "0" * 64, cats, 3)
    assert T.write_policy_section(p, section) is True
    assert T.write_policy_section(p, section) is False
    text = p.read_text(encoding="utf-8")
    assert text.count("\nclassifier:\n") == 1 and 'sha256: "' + "0" * 64 in text
    pol = load_policy(p)
    assert pol.classifier.top_ngrams == 3 and pol.rules == POLICY.rules
    assert text.replace(section, "") == before.replace(
        before[before.index(T.HEADER):before.index("\nrules:\n") + 1], "")


def _with_classifier(**changes) -> dict:
    from app.datafile import load_yaml

    data = load_yaml(REPO_ROOT / "policy" / "policy.yaml")
    data["classifier"]["categories"]["e_cigarette"].update(changes)
    return data


@pytest.mark.parametrize("changes,message", [
    ({"block": 0.001, "block_rule": "classifier.e_cigarette.block"}, "below the review threshold"),
    ({"block": 0.99, "block_rule": None}, "go together"),
    ({"review_rule": "classifier.controlled_instrument"}, "must have category e_cigarette"),
    ({"review_rule": "classifier.e_cigarette.block"}, "action allow"),
    ({"review_rule": "classifier.nope"}, "not defined"),
])
def test_bad_classifier_section_is_rejected(changes, message):
    from app.policy.model import Policy

    with pytest.raises(ValueError, match=message):
        Policy.model_validate(_with_classifier(**changes))


# --------------------------------------------------------------------------- authored data
def test_authored_rows_are_deterministic_and_cover_every_label():
    a, b = authored.generate(7), authored.generate(7)
    assert a == b and a != authored.generate(8)
    assert {r.label for r in a} == set(LABELS)
    assert all(r.title and "{" not in r.title for r in a)


def test_split_is_a_pure_function_of_seed_file_and_group():
    assert bucket(1, "vape.csv", "g") == bucket(1, "vape.csv", "g")
    spread = {bucket(1, "f", str(i)) for i in range(200)}
    assert spread == {"train", "val", "test"}


# --------------------------------------------------------------------------- reproducible training
def _write_listing_dir(d: Path) -> Path:
    """A listing directory built from authored rows only (in the repository), in the shape of
    ../shared/data/listings, so the reproducibility test runs on every clone."""
    d.mkdir()
    by_label: dict[str, list] = {}
    for r in authored.generate(99, per_template=6):
        by_label.setdefault(r.label, []).append(r)
    target = {"vape.csv": "e_cigarette", "knives_weapons.csv": "controlled_instrument",
              "live_plants.csv": "live_animals_plants", "medical_devices.csv": "medical_device",
              "pesticides.csv": "hazardous_chemical", "supplements.csv": "sexual_health_drug",
              "chemicals_cas.csv": None, "benign_titles.csv": "none", "hard_negatives.csv": "none"}
    for name, label in target.items():
        with (d / name).open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["title", "category", "description", "source"])
            for i, r in enumerate(by_label.get(label, []) if label else []):
                cat = "x | sexual-health claim" if name == "supplements.csv" else ""
                if name == "benign_titles.csv" and i % 2:
                    continue
                if name == "hard_negatives.csv" and not i % 2:
                    continue
                w.writerow([r.title, cat, r.description, "authored"])
    return d


@pytest.mark.slow
def test_training_is_reproducible_on_repo_data(tmp_path):
    data = _write_listing_dir(tmp_path / "listings")
    kw = dict(limit_per_file=None, authored_per_template=2, log=lambda m: None)
    a = T.train(data, seed=11, **kw)
    b = T.train(data, seed=11, **kw)
    assert a.metrics() == b.metrics()
    sa = T.dump_model(a.model, tmp_path / "a.skops")
    sb = T.dump_model(b.model, tmp_path / "b.skops")
    assert sa == sb, "same data + seed must give the same model file"
    c = T.train(data, seed=12, **kw)
    assert c.metrics() != a.metrics(), "another seed gives another split (so the comparison above can fail)"


@pytest.mark.shared
@pytest.mark.slow
def test_training_reproduces_on_a_real_slice(shared_dir, tmp_path):
    data = shared_dir / "data" / "listings"
    kw = dict(lists_dir=REPO_ROOT / "cas_lists", limit_per_file=400, authored_per_template=3, log=lambda m: None)
    a = T.train(data, seed=T.SEED, **kw)
    b = T.train(data, seed=T.SEED, **kw)
    assert a.metrics() == b.metrics()
    card_a = T.save(a, tmp_path / "m1", None, write_policy=False)
    card_b = T.save(b, tmp_path / "m2", None, write_policy=False)
    assert card_a["model"]["sha256"] == card_b["model"]["sha256"]
    assert (tmp_path / "m1" / CARD_JSON).read_bytes() == (tmp_path / "m2" / CARD_JSON).read_bytes()
    assert card_a["data_sources"]["files"] == _card()["data_sources"]["files"], \
        "the shipped card names the files of ../shared/data/listings with their sha256"
