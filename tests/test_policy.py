"""The policy file and ``decide()``: properties (hypothesis) and the rules of policy.md §1-§2."""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.checks import Finding
from app.config import REPO_ROOT
from app.models import Listing
from app.models.decision import Evidence
from app.policy import SEVERITY, decide, load_policy

POLICY = load_policy(REPO_ROOT / "policy" / "policy.yaml")
RANK = {a: i for i, a in enumerate(SEVERITY)}
# classifier suspicions give way to a deterministic finding of their category (decide's one exception
# to "adding a finding never weakens"): their properties are in tests/test_classifier_policy.py
RULE_IDS = sorted(r.id for r in POLICY.rules if r.action != "inherit" and r.id not in POLICY.model_rule_ids)
EU27 = ["AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
        "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"]


# --------------------------------------------------------------------------- strategies
evidence_st = st.builds(
    Evidence,
    field=st.sampled_from(["title", "description", "keywords[0]", "attributes.CAS No."]),
    start=st.integers(0, 50),
    end=st.integers(51, 60),
    text=st.sampled_from(["vape", "v@pe", "e-liquid", "x"]),
    matched=st.sampled_from(["vape", "e-liquid", "term"]),
    method=st.sampled_from(["exact", "normalized", "deobfuscated", "fuzzy", "list", "rule"]),
    transforms=st.sampled_from([[], ["leet"], ["separator"]]),
    source=st.sampled_from([None, "t1", "t2"]),
)
finding_st = st.builds(
    Finding,
    rule_id=st.sampled_from(RULE_IDS),
    evidence=st.lists(evidence_st, max_size=3).map(tuple),
    detail=st.sampled_from([(), (("kinds", ["hardware"]),), (("cas", "50-00-0"),), (("cas", "7664-93-9"),)]),
    review=st.booleans(),
    circumvention=st.sampled_from([None, None, "misplaced_category"]),
)
dest_st = st.one_of(st.none(), st.lists(st.sampled_from(["US", "CN", "DE", "FR", "NO", "GB", "JP"]),
                                        unique=True, max_size=4))
date_st = st.dates(dt.date(2019, 1, 1), dt.date(2027, 12, 31))


def _listing(dests):
    return Listing(listing_id="L", title="t", destinations=dests)


def _dump(core):
    return (core.action, core.masked_regions, core.restrictions, core.review, core.points,
            [v.model_dump() for v in core.violations])


# --------------------------------------------------------------------------- properties
@settings(max_examples=300, deadline=None)
@given(st.lists(finding_st, max_size=8), dest_st, date_st, st.randoms(use_true_random=False))
def test_order_never_matters(findings, dests, as_of, rnd):
    shuffled = list(findings)
    rnd.shuffle(shuffled)
    a = decide(findings, _listing(dests), POLICY, as_of)
    b = decide(shuffled, _listing(dests), POLICY, as_of)
    assert _dump(a) == _dump(b)


@settings(max_examples=300, deadline=None)
@given(st.lists(finding_st, max_size=6), finding_st, dest_st, date_st)
def test_adding_a_finding_never_weakens(findings, extra, dests, as_of):
    before = decide(findings, _listing(dests), POLICY, as_of)
    after = decide([*findings, extra], _listing(dests), POLICY, as_of)
    assert RANK[after.action] >= RANK[before.action]
    assert set(after.masked_regions) >= set(before.masked_regions)
    assert set(after.restrictions) >= set(before.restrictions)
    assert after.review >= before.review
    assert after.points["A"] >= before.points["A"] and after.points["B"] >= before.points["B"]


@settings(max_examples=300, deadline=None)
@given(st.lists(finding_st, max_size=8), dest_st, date_st)
def test_points_and_unions_are_sums_over_violations(findings, dests, as_of):
    core = decide(findings, _listing(dests), POLICY, as_of)
    for cls in ("A", "B"):
        assert core.points[cls] == sum(v.points for v in core.violations if v.violation_class == cls)
    assert list(core.masked_regions) == sorted({r for v in core.violations for r in v.regions})
    assert list(core.restrictions) == sorted({r for v in core.violations for r in v.restrictions})
    assert core.action == max((v.action for v in core.violations), key=RANK.__getitem__, default="allow")
    ids = [v.rule_id for v in core.violations]
    assert len(ids) == len(set(ids)), "points are counted once per rule"
    if dests is not None:
        assert set(core.masked_regions) <= set(dests)


# --------------------------------------------------------------------------- rules of §1-§2
def _f(rule_id, method="exact", **kw):
    ev = Evidence(field="title", start=0, end=4, text="vape", matched="vape", method=method,
                  transforms=["leet"] if method == "deobfuscated" else [])
    return Finding(rule_id, (ev,), **kw)


TODAY = dt.date(2026, 11, 23)


def test_region_mask_outside_destinations_does_not_fire():
    core = decide([_f("ecig.hardware_us_mask")], _listing(["DE"]), POLICY, TODAY)
    assert core.action == "allow" and core.violations == ()
    core = decide([_f("ecig.hardware_us_mask")], _listing(["DE", "US"]), POLICY, TODAY)
    assert core.action == "region_mask" and core.masked_regions == ("US",)


def test_restrict_keeps_restrictions_but_drops_masks_outside_destinations():
    f = Finding("chem.restricted_qualified", detail=(("cas", "7664-93-9"),))
    core = decide([f], _listing(["DE"]), POLICY, TODAY)
    assert core.action == "restrict"
    assert core.restrictions == ("no_online_trade",) and core.masked_regions == ()
    core = decide([f], _listing(None), POLICY, TODAY)
    assert core.masked_regions == ("CN",)


def test_eea_group_expands_to_member_codes():
    core = decide([Finding("meddev.no_ce_eea")], _listing(None), POLICY, TODAY)
    assert list(core.masked_regions) == sorted(EU27 + ["IS", "LI", "NO"])
    core = decide([Finding("meddev.no_ce_eea")], _listing(["FR", "US"]), POLICY, TODAY)
    assert core.masked_regions == ("FR",)


def test_keyword_distortion_point_once_per_listing_and_names_transform():
    core = decide([_f("ecig.e_liquid", "deobfuscated"), _f("instrument.class3", "deobfuscated")],
                  _listing(None), POLICY, TODAY)
    circ = [v for v in core.violations if v.rule_id == "circumvention.keyword_distortion"]
    assert len(circ) == 1 and circ[0].points == 1 and circ[0].violation_class == "B"
    assert circ[0].action == "block" and circ[0].category == "controlled_instrument"  # the A-class one
    assert "leet" in circ[0].message and circ[0].detail["transforms"] == ["leet"]
    assert core.points == {"A": 6, "B": 2 + 1}


def test_distortion_in_a_review_only_finding_costs_nothing():
    core = decide([_f("ecig.review", "deobfuscated")], _listing(None), POLICY, TODAY)
    assert core.action == "allow" and core.review and core.points == {"A": 0, "B": 0}


def test_misplaced_category_point():
    core = decide([_f("ecig.hardware_misplaced", circumvention="misplaced_category")], _listing(None), POLICY, TODAY)
    assert core.action == "block" and core.points == {"A": 0, "B": 1}
    circ = [v for v in core.violations if v.rule_id == "circumvention.misplaced_category"][0]
    assert "Consumer Electronics" not in circ.message or "Electronic Cigarettes" in circ.message


def test_rules_follow_their_dates():
    f = [_f("live.review_before_removal"), _f("live.removed"), _f("live.banned")]
    assert decide(f, _listing(None), POLICY, dt.date(2021, 11, 22)).action == "allow"
    assert decide(f, _listing(None), POLICY, dt.date(2021, 11, 22)).review
    c = decide(f, _listing(None), POLICY, dt.date(2021, 11, 25))
    assert c.action == "block" and c.points == {"A": 0, "B": 0}
    c = decide(f, _listing(None), POLICY, dt.date(2021, 12, 1))
    assert c.action == "block" and c.points == {"A": 0, "B": 2}
    assert decide([_f("ecig.e_liquid")], _listing(None), POLICY, dt.date(2021, 12, 8)).action == "allow"


def test_unknown_rule_is_an_error():
    with pytest.raises(KeyError):
        decide([Finding("no.such_rule")], _listing(None), POLICY, TODAY)


def test_messages_have_no_unfilled_placeholders():
    for rule in POLICY.rules:
        if rule.action == "inherit":
            continue
        core = decide([_f(rule.id)], _listing(None), POLICY, rule.effective_from)
        for v in core.violations:
            assert "{" not in v.message and v.message.strip(), (rule.id, v.message)


# --------------------------------------------------------------------------- the file itself
def test_policy_file_covers_every_category_of_policy_md():
    cats = {r.category for r in POLICY.rules}
    assert cats >= {"controlled_instrument", "e_cigarette", "sexual_health_drug", "hazardous_chemical",
                    "medical_device", "epidemic_prevention", "live_animals_plants", "listing_data"}
    for r in POLICY.rules:
        assert r.citation in POLICY.citations


def test_instrument_points_match_policy_md():
    pts = {r.id: (r.violation_class, r.points) for r in POLICY.rules if r.category == "controlled_instrument"}
    for c in (1, 2, 3, 4):
        assert pts[f"instrument.class{c}"] == ("A", 6)
    assert pts["instrument.class5"] == ("B", 2)


@pytest.mark.parametrize("mutation, message", [
    (lambda t: t.replace("citation: SEED-ECIG-2021-12-09", "citation: NOPE", 1), "unknown citation"),
    (lambda t: t.replace('EEA: ["@EU", IS, LI, "NO"]', 'EEA: ["@EU", IS, LI, "NOR"]'), "bad region code"),
    (lambda t: t.replace("  - id: ecig.review", "  - id: ecig.e_liquid", 1), "duplicate rule ids"),
    (lambda t: t.replace("action: region_mask\n    regions: [US]", "action: region_mask", 1), "region_mask without regions"),
])
def test_broken_policy_is_rejected_with_a_reason(tmp_path: Path, mutation, message):
    text = (REPO_ROOT / "policy" / "policy.yaml").read_text(encoding="utf-8")
    bad = mutation(text)
    assert bad != text
    p = tmp_path / "policy.yaml"
    p.write_text(bad, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_policy(p)
