"""The work after the scan -- building findings, ``decide()``, the Decision -- gives exactly what the
plain computation gives.

The fast paths: ``outermost_hits`` and ``decide._prune`` without a key function per item (and
``_prune`` only ordering evidence that is pruned already), per-rule data worked out once per policy
(expanded regions, sorted restrictions, citation, split message template), Violation / Decision /
Points built without validating the engine's own values again, InChIKeys looked for only at dashes,
and decision ids from 16 random bytes without a UUID object. The plain computation is the code these
replaced, kept verbatim in ``tests/plain_post_scan.py``: validated models, ``app.matching.spans.outermost`` with key functions,
``json``-canonical detail merging, the message rendered by ``re.sub``, ``uuid.uuid4()``. Compared on
the lexicons' examples and counter-examples, on listings generated from them (seeded, so a failure
reproduces) and on hypothesis-generated findings.
"""

from __future__ import annotations

import datetime as dt
import importlib
import random
import re
import uuid
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.checks.base import Finding, outermost_hits
from app.checks.sexual_health import _INCHIKEY, inchikeys
from app.engine.core import new_decision_id
from app.matching import Hit
from app.models import Decision, Evidence, Listing
from app.models.decision import Action, Category, Points, Violation
from app.policy import SEVERITY, decide
from app.policy.decide import DecisionCore
from app.policy.model import CATEGORIES

from tests.plain_post_scan import (plain_decide, plain_finding_of, plain_merge_detail, plain_moderate,
                                   plain_outermost_hits, plain_prune, plain_render)
from tests.test_lexicon_examples import _cases, _listing
from tests.test_policy import POLICY, dest_st, date_st, finding_st

decide_mod = importlib.import_module("app.policy.decide")  # the module (app.policy.decide is the function)


# =========================================================================== helpers
def _core_dump(core: DecisionCore):
    return (core.action, core.masked_regions, core.restrictions, core.review, core.points,
            [v.model_dump() for v in core.violations], [v.model_fields_set for v in core.violations])


def _same_decision(fast: Decision, slow: Decision) -> None:
    assert fast.model_dump(exclude={"decision_id"}) == slow.model_dump(exclude={"decision_id"})
    assert fast.model_dump_json(exclude={"decision_id"}) == slow.model_dump_json(exclude={"decision_id"})
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.points.model_fields_set == slow.points.model_fields_set
    assert [v.model_fields_set for v in fast.violations] == [v.model_fields_set for v in slow.violations]
    assert Decision.model_validate_json(fast.model_dump_json()) == fast  # the fast one is a valid Decision


_WORDS = ["vape", "v@pe", "e-liquid", "50mg", "nic salt", "70/30 pg/vg", "disposable", "10000 puffs", "pod",
          "电子烟", "電子煙", "knife", "blade length 24 cm", "stun gun", "brass knuckles", "sildenafil", "Viagra",
          "139755-83-2", "BNRNXUUZRGQAQC-UHFFFAOYSA-N", "enhancement capsules", "live plant", "seeds for planting",
          "artificial", "covid test kit", "body bag", "coronary stent", "械注准20153130001", "kitchen", "table",
          "d.i.s.p.o.s.a.b.l.e", "ｖａｐｅ", "vａpe", "v a p e", "flavour", "strawberry", "mango", "cotton", "coil",
          "sulfuric acid", "7664-93-9", "CAS 50-00-0", "lamp", "wooden chair", "shackle", "cuff", "spray"]
_CATEGORIES = [None, "Consumer Electronics > Electronic Cigarettes", "Home & Garden > Plants", "Health > Medical",
               "Books", "Tools", "Chemicals", "Home & Garden > Live Plants"]
_ATTRS = [{}, {"CAS No.": "139755-83-2"}, {"Blade Length": "24 cm"}, {"Device Class": "III"},
          {"FDA Product Code": "DXY"}, {"Material": "steel"}]


def _generated(n: int, seed: int) -> list[Listing]:
    rng = random.Random(seed)
    examples = [p.values[2] for p in _cases("examples") + _cases("counter_examples")]
    out = []
    for i in range(n):
        ex = rng.choice(examples)
        words = [rng.choice(_WORDS) for _ in range(rng.randint(0, 12))]
        other = rng.choice(examples)
        desc = " ".join([*(words[: len(words) // 2]), other.title, other.description or "", *words[len(words) // 2:]])
        dests = rng.choice([None, None, ["US"], ["DE", "FR"], ["CN", "US", "NO"], ["JP"]])
        as_of = rng.choice([None, dt.date(2021, 11, 1), dt.date(2021, 11, 25), dt.date(2022, 1, 1),
                            dt.date(2026, 6, 1)])
        out.append(Listing(listing_id=f"gen-{i}", title=(ex.title + " " + rng.choice(_WORDS))[:300],
                           description=desc, keywords=rng.sample(_WORDS, rng.randint(0, 3)),
                           category=rng.choice([ex.category, *_CATEGORIES]), destinations=dests,
                           attributes=rng.choice(_ATTRS), as_of=as_of))
    return out


# =========================================================================== whole decisions
@pytest.mark.parametrize("kind", ["examples", "counter_examples"])
def test_moderate_equals_the_plain_computation_on_lexicon_examples(engine, kind):
    seen = 0
    for param in _cases(kind):
        listing = _listing(param.values[2])
        fast, slow = engine.moderate(listing), plain_moderate(engine, listing)
        _same_decision(fast, slow)
        seen += len(fast.violations)
    assert seen > 0


def test_moderate_equals_the_plain_computation_on_generated_listings(engine):
    evidence = circumvention = 0
    for listing in _generated(600, seed=20261123):
        fast, slow = engine.moderate(listing), plain_moderate(engine, listing)
        _same_decision(fast, slow)
        evidence += sum(len(v.evidence) for v in fast.violations)
        circumvention += any(v.rule_id.startswith("circumvention.") for v in fast.violations)
    assert evidence > 1000 and circumvention > 20  # the listings do exercise the evidence paths


def test_moderate_with_a_datetime_as_of_still_goes_through_the_model(engine):
    """A caller's ``as_of`` is not validated by the listing: a datetime reaches the Decision model,
    which turns midnight into a date and refuses a time of day, as before (the trusted path takes
    only a date)."""
    listing = Listing(listing_id="d", title="wooden kitchen table")
    fast = engine.moderate(listing, as_of=dt.datetime(2026, 1, 1))
    assert type(fast.as_of) is dt.date
    _same_decision(fast, plain_moderate(engine, listing.model_copy(update={"as_of": dt.datetime(2026, 1, 1)})))
    with pytest.raises(ValueError):
        engine.moderate(listing, as_of=dt.datetime(2026, 1, 1, 12, 30))


# =========================================================================== decide() alone
@settings(max_examples=400, deadline=None)
@given(st.lists(finding_st, max_size=8), dest_st, date_st)
def test_decide_equals_the_plain_decide(findings, dests, as_of):
    listing = Listing(listing_id="L", title="t", destinations=dests, category="Tools")
    assert _core_dump(decide(findings, listing, POLICY, as_of)) == _core_dump(plain_decide(findings, listing, POLICY, as_of))


def test_decide_on_a_copied_policy_uses_the_copy(engine):
    """Per-rule data are cached on the policy object; a ``model_copy`` that changes the rules works
    its own out (the copy carries the original's cache in its ``__dict__``)."""
    f = [Finding("ecig.e_liquid", (Evidence.trusted("title", 0, 4, "vape", "vape", "exact", [], "x"),))]
    listing = Listing(listing_id="L", title="vape")
    decide(f, listing, POLICY, dt.date(2026, 1, 1))  # fills the cache
    rules = [r.model_copy(update={"message": "changed {terms}", "regions": ["@EU"]}) if r.id == "ecig.e_liquid" else r
             for r in POLICY.rules]
    other = POLICY.model_copy(update={"rules": rules})
    got = decide(f, listing, other, dt.date(2026, 1, 1)).violations[0]
    assert got.message == 'changed "vape"' and "DE" in got.regions
    assert _core_dump(decide(f, listing, other, dt.date(2026, 1, 1))) == _core_dump(
        plain_decide(f, listing, other, dt.date(2026, 1, 1)))


def _ev(rng: random.Random, field: str | None = None) -> Evidence:
    s = rng.randint(0, 12)
    return Evidence(field=field or rng.choice(["title", "description", "keywords[0]"]), start=s,
                    end=s + rng.randint(0, 5), text=rng.choice(["a", "b", "v@pe"]), matched=rng.choice(["x", "y"]),
                    method=rng.choice(["exact", "deobfuscated", "normalized"]), transforms=rng.choice([[], ["leet"]]),
                    source=rng.choice([None, "", "s1", "s2"]))


def test_prune_equals_outermost():
    rng = random.Random(17)
    for _ in range(20_000):
        evs = [_ev(rng) for _ in range(rng.randint(0, 10))]
        assert decide_mod._prune(evs) == plain_prune(evs)
        assert [id(e) for e in decide_mod._prune(evs)] == [id(e) for e in plain_prune(evs)]


def test_prune_of_evidence_pruned_already_only_orders_it():
    rng = random.Random(18)
    fast_path = 0
    for _ in range(5_000):
        runs = []
        for field in rng.sample(["title", "description", "keywords[0]", "keywords[1]"], rng.randint(1, 3)):
            start, run = 0, []
            for _ in range(rng.randint(1, 5)):
                start += rng.randint(0, 3)
                e = _ev(rng, field)
                run.append(e.model_copy(update={"start": start, "end": start + rng.randint(0, 4)}))
            runs.append(run)
        evs = [e for run in runs for e in run]
        fast_path += decide_mod._pruned_already(evs) is not None
        got = decide_mod._prune(evs)
        assert [id(e) for e in got] == [id(e) for e in plain_prune(evs)]
    assert fast_path > 500  # both the shortcut and the general way were exercised


def test_rendered_messages_equal_re_sub():
    rng = random.Random(19)
    templates = [r.message for r in POLICY.rules] + ["{terms}{terms} {x}", "{", "{}", "{a b} {terms", "", "no keys"]
    details = [{}, {"x": [1, "b"]}, {"terms": "mine"}, {"kinds": ["a"], "cas": "50-00-0", "missing": ["x", "y"]}]
    for _ in range(3_000):
        t = rng.choice(templates)
        d = rng.choice(details)
        evs = [_ev(rng) for _ in range(rng.randint(0, 9))]
        evs = [e.model_copy(update={"text": rng.choice("abcdefgh")}) for e in evs]
        assert decide_mod._Template(t).render(d, evs) == plain_render(t, d, evs) == decide_mod._render(t, d, evs)


def test_merge_detail_equals_the_general_merge():
    rng = random.Random(20)
    values = [1, True, "a", ["a", "b"], ["b"], {"k": 1}, None, 2.5]
    for _ in range(5_000):
        fs = [Finding("r.x", (), tuple(sorted({k: rng.choice(values) for k in rng.sample("abcd", rng.randint(0, 4))}
                                              .items())))
              for _ in range(rng.randint(1, 3))]
        assert decide_mod._merge_detail(fs) == plain_merge_detail(fs)
    dup = [Finding("r.x", (), (("a", 1), ("a", True)))]  # a hand-built detail naming a key twice
    assert decide_mod._merge_detail(dup) == plain_merge_detail(dup)


# =========================================================================== the pieces
def test_outermost_hits_equals_outermost():
    rng = random.Random(21)
    for _ in range(20_000):
        hits = []
        for _ in range(rng.randint(0, 12)):
            s = rng.randint(0, 10)
            hits.append(Hit("f", rng.choice(["e1", "e2", "e3"]), "sig", "decisive", rng.choice(["a", "b"]), None,
                            rng.randint(0, 2), s, s + rng.randint(0, 4)))
        assert [id(h) for h in outermost_hits(hits)] == [id(h) for h in plain_outermost_hits(hits)]


def test_finding_of_equals_the_plain_finding_of(engine):
    from app.engine.core import prepare
    for listing in _generated(150, seed=5):
        item = prepare(listing, engine.snapshot)
        for res in item.families.values():
            hits = [h for hs in res.fired.values() for h in hs] + list(res.grey)
            detail = {"kinds": sorted(res.fired), "n": len(hits)} if hits else None
            assert Finding.of("r.x", hits, detail, True) == plain_finding_of("r.x", hits, detail, True)


def test_inchikeys_equal_finditer():
    rng = random.Random(22)
    key = "BNRNXUUZRGQAQC-UHFFFAOYSA-N"
    pieces = [key, key[:-1] + "NX", "A" + key, key + key, key + "-" + key, "-", "--", "ABCDEFGHIJKLMN-", "x", " ",
              "UHFFFAOYSA-N", "é", "Q" * 20 + "-" + "Q" * 10 + "-Q"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        assert [(m.span(), m.groups()) for m in inchikeys(text)] == \
               [(m.span(), m.groups()) for m in _INCHIKEY.finditer(text)], text


def test_decision_ids_are_uuid4_hex():
    rng = random.Random(23)
    for _ in range(2_000):
        raw = rng.randbytes(16)
        assert new_decision_id(raw) == "dec_" + uuid.UUID(bytes=raw, version=4).hex
    ids = {new_decision_id() for _ in range(1_000)}
    assert len(ids) == 1_000
    assert all(re.fullmatch(r"dec_[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}", i) for i in ids)


def test_trusted_violation_points_and_decision_equal_validated_ones():
    ev = Evidence.trusted("title", 0, 4, "v@pe", "vape", "deobfuscated", ["leet"], "ecig.term.vape")
    vkw = dict(rule_id="ecig.e_liquid", category="e_cigarette", violation_class="A", points=6, action="block",
               regions=["US"], restrictions=["x"], message="m", citation="c [c]", review=True, evidence=[ev],
               detail={"kinds": ["e_liquid"]})
    fast, slow = Violation.trusted(**vkw), Violation(**vkw)
    assert fast == slow and fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set
    p_fast, p_slow = Points.trusted(6, 2), Points.model_validate({"A": 6, "B": 2})
    assert p_fast == p_slow and p_fast.model_fields_set == p_slow.model_fields_set
    dkw = dict(listing_id="L", action="block", masked_regions=["US"], restrictions=[], review=True,
               violations=[fast], policy_version="v", decision_id="dec_1", as_of=dt.date(2026, 1, 1),
               data_digests={"policy/policy.yaml": "0" * 64})
    d_fast = Decision.trusted(**dict(dkw, points=p_fast))
    d_slow = Decision(**dict(dkw, violations=[slow], points={"A": 6, "B": 2}))
    assert d_fast == d_slow and d_fast.model_dump_json() == d_slow.model_dump_json()
    assert d_fast.model_fields_set == d_slow.model_fields_set
    d_fast.violations[0].review = False  # assignment works as on a validated model
    assert d_fast.violations[0].model_fields_set == slow.model_fields_set


def test_policy_values_are_what_the_decision_model_accepts():
    """``Violation.trusted`` takes a rule's category and action as they are: the policy's literals
    must be the decision model's (``inherit`` is resolved by ``decide`` or sent to validation)."""
    assert set(get_args(Category)) == set(CATEGORIES)
    assert set(get_args(Action)) == set(SEVERITY)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12)


@settings(max_examples=1500, deadline=None)
@given(value=_json_values | st.dates() | st.tuples(st.text(max_size=4), st.integers()))
def test_canonical_form_equals_json_dumps(value):
    """Detail values are merged by their canonical JSON; the kept encoder (and strings encoded
    directly) give what ``json.dumps(..., sort_keys=True, ensure_ascii=False, default=str)`` gives:
    escapes, control characters, surrogates, NaN, dates through ``default`` included."""
    import json

    assert decide_mod._canon(value) == json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
