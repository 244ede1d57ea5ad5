"""The work after the scan computed the plain way: the code the fast paths of
``app/checks/base.py``, ``app/policy/decide.py``, ``app/engine/core.py`` and a few checks replaced,
kept verbatim as the reference they are compared with (``tests/test_post_scan_fast.py``) and timed
against (``bench/bench_post_scan.py``): validated models, ``app.matching.spans.outermost`` with key
functions, ``json``-canonical detail merging, messages rendered by ``re.sub``, ``uuid.uuid4()``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import uuid
from collections import defaultdict
from typing import Any, Iterable

from app.checks import instruments, live, meddev, sexual_health
from app.checks.base import Finding
from app.matching.spans import outermost
from app.models import Decision, Evidence, Listing
from app.models.decision import Violation
from app.policy import SEVERITY
from app.policy.decide import DecisionCore


_RANK = {a: i for i, a in enumerate(SEVERITY)}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def plain_outermost_hits(hits):
    return outermost(hits, lambda h: (h.fi, h.a_s, h.a_e), lambda h: (h.entry_id, h.matched))


def plain_evidence_of(hit):
    start, end, text, method, transforms = hit.resolve()
    return Evidence(field=hit.field, start=start, end=end, text=text, matched=hit.matched, method=method,
                    transforms=list(transforms), source=hit.entry_id)


def plain_finding_of(rule_id, hits=(), detail=None, review=False, circumvention=None):
    return Finding(rule_id, tuple(plain_evidence_of(h) for h in plain_outermost_hits(hits)),
                   tuple(sorted((detail or {}).items())), review, circumvention)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _ev_key(e: Evidence) -> tuple:
    return (e.field, e.start, e.end, e.matched, e.method, e.source or "", tuple(e.transforms), e.text)


def plain_prune(evidence: Iterable[Evidence]) -> list[Evidence]:
    return outermost(evidence, lambda e: (e.field, e.start, e.end),
                     lambda e: (e.method != "deobfuscated", *_ev_key(e)))


def plain_merge_detail(findings) -> dict[str, Any]:
    values: dict[str, dict[str, Any]] = defaultdict(dict)
    for f in findings:
        for k, v in f.detail:
            values[k][_canon(v)] = v
    out: dict[str, Any] = {}
    for k, vs in sorted(values.items()):
        ordered = [vs[c] for c in sorted(vs)]
        if len(ordered) == 1:
            out[k] = ordered[0]
        else:
            flat: dict[str, Any] = {}
            for v in ordered:
                for item in (v if isinstance(v, list) else [v]):
                    flat[_canon(item)] = item
            out[k] = [flat[c] for c in sorted(flat)]
    return out


def plain_render(template: str, detail: dict[str, Any], evidence: list[Evidence]) -> str:
    terms = []
    for e in evidence:
        t = f'"{e.text}"'
        if t not in terms:
            terms.append(t)
    extra = {"terms": ", ".join(terms[:5]) + (", ..." if len(terms) > 5 else "") or "no term"}

    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key in detail:
            v = detail[key]
            return ", ".join(map(str, v)) if isinstance(v, list) else str(v)
        return extra.get(key, "(unknown)")

    return _PLACEHOLDER.sub(sub, template)


def plain_violation(rule, policy, findings, dests, action=None, category=None, evidence=None, detail=None):
    regions = policy.expand(rule.regions)
    if dests is not None:
        regions = [r for r in regions if r in dests]
        if rule.action == "region_mask" and not regions:
            return None
    evs = plain_prune(evidence if evidence is not None else [e for f in findings for e in f.evidence])
    det = detail if detail is not None else plain_merge_detail(findings)
    return Violation(
        rule_id=rule.id, category=category or rule.category, violation_class=rule.violation_class,
        points=rule.points, action=action or rule.action, regions=regions,
        restrictions=sorted(set(rule.restrictions)), message=plain_render(rule.message, det, evs),
        citation=f"{policy.citations[rule.citation].title} [{rule.citation}]",
        review=rule.review or any(f.review for f in findings), evidence=evs, detail=det)


def _most_severe(vs):
    return min(vs, key=lambda v: (-_RANK[v.action], v.category, v.rule_id))


def plain_decide(findings, listing, policy, as_of) -> DecisionCore:
    dests = set(listing.destinations) if listing.destinations is not None else None
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        rule = policy.rule(f.rule_id)
        if rule.in_force(as_of):
            groups[f.rule_id].append(f)
    c = policy.classifier
    model_rules = frozenset(r for t in c.categories.values() for r in (t.review_rule, t.block_rule) if r) if c else ()
    if model_rules:
        decided = {policy.rule(rid).category for rid in groups if rid not in model_rules}
        for rid in [rid for rid in groups if rid in model_rules and policy.rule(rid).category in decided]:
            del groups[rid]
    violations = []
    for rule_id in sorted(groups):
        v = plain_violation(policy.rule(rule_id), policy, groups[rule_id], dests)
        if v is not None:
            violations.append(v)
    firing = [v for v in violations if v.action != "allow"]
    deobf = {v.rule_id: [e for f in groups[v.rule_id] for e in f.evidence if e.method == "deobfuscated"]
             for v in firing}
    distorted = [v for v in firing if deobf[v.rule_id]]
    if distorted:
        rule = policy.rule(policy.circumvention.keyword_distortion)
        if rule.in_force(as_of):
            evs = [e for v in distorted for e in deobf[v.rule_id]]
            top = _most_severe(distorted)
            transforms = sorted({t for e in evs for t in e.transforms})
            violations.append(plain_violation(
                rule, policy, [], dests, action=top.action, category=top.category, evidence=evs,
                detail={"triggered_by": sorted(x.rule_id for x in distorted), "transforms": transforms}))
    misplaced = [v for v in firing if any(f.circumvention == "misplaced_category" for f in groups[v.rule_id])]
    if misplaced:
        rule = policy.rule(policy.circumvention.misplaced_category)
        if rule.in_force(as_of):
            top = _most_severe(misplaced)
            det = plain_merge_detail([f for v in misplaced for f in groups[v.rule_id]])
            det = {"triggered_by": sorted(x.rule_id for x in misplaced),
                   "designated_category": det.get("designated_category", "the designated category"),
                   "listing_category": listing.category}
            evs = [e for v in misplaced for e in v.evidence]
            violations.append(plain_violation(rule, policy, [], dests, action=top.action, category=top.category,
                                              evidence=evs, detail=det))
    violations.sort(key=lambda v: (-_RANK[v.action], v.category, v.rule_id))
    action = max((v.action for v in violations), key=_RANK.__getitem__, default="allow")
    points = {"A": 0, "B": 0}
    for v in violations:
        if v.violation_class:
            points[v.violation_class] += v.points
    return DecisionCore(action=action,
                        masked_regions=tuple(sorted({r for v in violations for r in v.regions})),
                        restrictions=tuple(sorted({r for v in violations for r in v.restrictions})),
                        review=any(v.review for v in violations), violations=tuple(violations), points=points)


def plain_instrument_run(self, item):
    """``InstrumentCheck.run`` as it was: no early return when nothing fired."""
    fam = item.family(instruments.FAMILY)
    hits = {n: fam.hits(f"class{n}") for n in instruments.CLASSES if fam.has(f"class{n}")}
    review = list(fam.grey)
    verdict, length_ev = self._length_verdict(item, fam)
    if verdict == "class2":
        hits.setdefault(2, []).extend(length_ev)
    elif verdict == "review":
        review.extend(length_ev)
    if 2 in hits and fam.has("unsharpened"):
        review.extend(hits.pop(2) + fam.hits("unsharpened"))
    if hits:
        best = min(hits, key=lambda n: (-self.points[n], n))
        evidence = [h for n in sorted(hits) for h in hits[n]]
        return [Finding.of(f"instrument.class{best}", evidence, {"instrument_class": best})]
    if not review and fam.has("long_blade"):
        review = fam.hits("long_blade")
    if review:
        return [Finding.of("instrument.review", review, {"kinds": ["grey"]})]
    return []


def plain_live_run(self, item):
    """``LiveCheck.run`` as it was: one ``Finding.of`` per regime rule, no early return."""
    fam = item.family(live.FAMILY)
    kinds = [k for k in live.KINDS if fam.has(k)]
    if kinds and fam.has("not_live") and "closed_category" not in kinds:
        if fam.has("live_word"):
            return [Finding.of("live.review", fam.hits(*kinds, "not_live", "live_word"),
                               {"kinds": sorted({*kinds, "not_live"})})]
        return []
    if kinds:
        hits = fam.hits(*kinds)
        detail = {"kinds": kinds}
        return [Finding.of(rule, hits, detail) for rule in live.REGIME_RULES]
    if fam.grey:
        return [Finding.of("live.review", fam.grey, {"kinds": ["grey"]})]
    return []


@contextlib.contextmanager
def plain_checks():
    """Within: ``Finding.of`` and the checks changed for speed run their plain code."""
    patches = [(Finding, "of", staticmethod(plain_finding_of)),
               (meddev, "outermost_hits", plain_outermost_hits),
               (meddev, "evidence_of", plain_evidence_of),
               (instruments.InstrumentCheck, "run", plain_instrument_run),
               (live.LiveCheck, "run", plain_live_run),
               (sexual_health, "inchikeys", lambda text: list(sexual_health._INCHIKEY.finditer(text)))]
    saved = [(obj, name, obj.__dict__[name]) for obj, name, _ in patches]
    try:
        for obj, name, value in patches:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


def plain_moderate(engine, listing: Listing) -> Decision:
    """``Engine.moderate`` computed the plain way: the same checks, with plain findings (and the
    check code the fast paths replaced), the plain decide and validated models."""
    snap = engine.snapshot
    if listing.as_of is None:
        as_of = dt.datetime.now(dt.timezone.utc).date()
    else:
        as_of = listing.as_of
    with plain_checks():
        findings = engine.findings(listing, snap)
    core = plain_decide(findings, listing, snap.policy, as_of)
    return Decision(listing_id=listing.listing_id, action=core.action, masked_regions=list(core.masked_regions),
                    restrictions=list(core.restrictions), review=core.review, violations=list(core.violations),
                    points=core.points, policy_version=snap.version, decision_id=f"dec_{uuid.uuid4().hex}",
                    as_of=as_of, data_digests=dict(snap.digests))
