"""How classifier findings combine with the others in ``decide()`` (issue 7): a lexicon or list finding
of the same category takes precedence; a classifier-only suspicion is review, or block above the
block threshold; suspicions of other categories stay."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from app.checks import Finding
from app.config import REPO_ROOT
from app.models import Listing
from app.models.decision import Evidence
from app.policy import SEVERITY, decide, load_policy

POLICY = load_policy(REPO_ROOT / "policy" / "policy.yaml")
RANK = {a: i for i, a in enumerate(SEVERITY)}
MODEL_RULES = sorted(POLICY.model_rule_ids)
OTHER_RULES = sorted(r.id for r in POLICY.rules if r.action != "inherit" and r.id not in POLICY.model_rule_ids)
AS_OF = dt.date(2022, 6, 1)
LISTING = Listing(listing_id="L", title="t")


def _model(rule_id: str, score: float = 0.9) -> Finding:
    ev = Evidence(field="title", start=0, end=4, text="vape", matched="vape (+1.000)", method="classifier",
                  source=f"classifier:{POLICY.rule(rule_id).category}")
    return Finding(rule_id, (ev,), (("score", score),), review=POLICY.rule(rule_id).action != "block")


def _lexicon(rule_id: str) -> Finding:
    ev = Evidence(field="title", start=0, end=4, text="vape", matched="vape", method="exact", source="t1")
    return Finding(rule_id, (ev,))


def test_the_policy_names_classifier_rules():
    assert "classifier.e_cigarette" in MODEL_RULES
    assert all(POLICY.rule(r).points == 0 for r in MODEL_RULES)


def test_classifier_only_suspicion_is_allow_with_review():
    core = decide([_model("classifier.e_cigarette")], LISTING, POLICY, AS_OF)
    assert (core.action, core.review) == ("allow", True)
    assert [v.rule_id for v in core.violations] == ["classifier.e_cigarette"]
    assert core.violations[0].evidence[0].method == "classifier"
    assert "0.9" in core.violations[0].message


def test_classifier_block_blocks_without_review_or_points():
    core = decide([_model("classifier.live_animals_plants.block")], LISTING, POLICY, AS_OF)
    assert (core.action, core.review, core.points) == ("block", False, {"A": 0, "B": 0})


def test_lexicon_finding_of_the_same_category_takes_precedence():
    # e-cig hardware in the designated category: region_mask, not the classifier's review
    core = decide([_model("classifier.e_cigarette"), _lexicon("ecig.hardware_us_mask")], LISTING, POLICY, AS_OF)
    assert [v.rule_id for v in core.violations] == ["ecig.hardware_us_mask"]
    assert (core.action, core.review) == ("region_mask", False)
    # even over a classifier block: the deterministic rule decides
    core = decide([_model("classifier.live_animals_plants.block"), _lexicon("live.review")], LISTING, POLICY, AS_OF)
    assert [v.rule_id for v in core.violations] == ["live.review"]
    assert core.action == "allow" and core.review


def test_suspicion_of_another_category_stays():
    core = decide([_model("classifier.medical_device"), _lexicon("ecig.e_liquid")], LISTING, POLICY, AS_OF)
    assert {v.rule_id for v in core.violations} == {"ecig.e_liquid", "classifier.medical_device"}
    assert core.action == "block" and core.review


def test_a_rule_not_in_force_does_not_silence_the_classifier():
    # live.removed is in force only 2021-11-23..2021-11-30
    core = decide([_model("classifier.live_animals_plants"), _lexicon("live.removed")], LISTING, POLICY,
                  dt.date(2022, 6, 1))
    assert [v.rule_id for v in core.violations] == ["classifier.live_animals_plants"]


model_st = st.builds(_model, st.sampled_from(MODEL_RULES), st.floats(0.01, 1.0))
other_st = st.builds(_lexicon, st.sampled_from(OTHER_RULES))
date_st = st.dates(dt.date(2019, 1, 1), dt.date(2027, 12, 31))


def _dump(core):
    return (core.action, core.masked_regions, core.restrictions, core.review, core.points,
            [v.model_dump() for v in core.violations])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(model_st, other_st), max_size=8), date_st, st.randoms(use_true_random=False))
def test_order_never_matters_with_classifier_findings(findings, as_of, rnd):
    shuffled = list(findings)
    rnd.shuffle(shuffled)
    assert _dump(decide(findings, LISTING, POLICY, as_of)) == _dump(decide(shuffled, LISTING, POLICY, as_of))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(model_st, other_st), max_size=6), model_st, date_st)
def test_adding_a_classifier_finding_never_weakens(findings, extra, as_of):
    before = decide(findings, LISTING, POLICY, as_of)
    after = decide([*findings, extra], LISTING, POLICY, as_of)
    assert RANK[after.action] >= RANK[before.action]
    assert after.review >= before.review
    assert after.points == before.points  # classifier rules carry no points


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(model_st, other_st), max_size=6), date_st)
def test_no_classifier_violation_where_a_deterministic_one_of_its_category_fired(findings, as_of):
    core = decide(findings, LISTING, POLICY, as_of)
    det = {v.category for v in core.violations if v.rule_id not in POLICY.model_rule_ids
           and not v.rule_id.startswith("circumvention.")}
    for v in core.violations:
        if v.rule_id in POLICY.model_rule_ids:
            assert v.category not in det
    # and the deterministic part equals the decision without any classifier finding
    plain = decide([f for f in findings if f.rule_id not in POLICY.model_rule_ids], LISTING, POLICY, as_of)
    assert [v for v in core.violations if v.rule_id not in POLICY.model_rule_ids] == list(plain.violations)
