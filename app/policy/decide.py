"""``decide()``: a pure function of (findings, listing, policy, as_of).

* the action is the most severe action of the violations that fired;
* ``masked_regions`` and ``restrictions`` are unions (regions filtered by ``destinations``; a
  ``region_mask`` rule whose regions all fall outside the destinations does not fire);
* points are counted once per rule per listing and summed by class;
* one circumvention point when a firing violation's evidence was only found after de-obfuscation,
  and one for a misplaced category;
* nothing depends on the order of findings, and adding a finding never weakens the decision --
  except for the one precedence rule below, which policy.md §1 asks for;
* **precedence of deterministic findings over the text classifier**: a finding of a rule the policy's
  ``classifier:`` section names (a model suspicion) is dropped when an in-force finding of any other
  rule exists for the same category: the lexicon or list finding decides, and a suspicion a
  deterministic rule confirmed is no review case (policy.md §1). Suspicions of other categories stay.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from app.checks.base import Finding
from app.matching.spans import outermost
from app.models import Listing
from app.models.decision import Evidence, Violation
from app.policy.model import SEVERITY, Policy, Rule

_RANK = {a: i for i, a in enumerate(SEVERITY)}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class DecisionCore:
    action: str
    masked_regions: tuple[str, ...]
    restrictions: tuple[str, ...]
    review: bool
    violations: tuple[Violation, ...]
    points: dict[str, int]


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _ev_key(e: Evidence) -> tuple:
    return (e.field, e.start, e.end, e.matched, e.method, e.source or "", tuple(e.transforms), e.text)


def _prune(evidence: Iterable[Evidence]) -> list[Evidence]:
    """One piece of evidence per span and none inside a longer span of the same field; on one span
    de-obfuscated evidence is kept first (it is what the seller needs to see)."""
    return outermost(evidence, lambda e: (e.field, e.start, e.end),
                     lambda e: (e.method != "deobfuscated", *_ev_key(e)))


def _merge_detail(findings: list[Finding]) -> dict[str, Any]:
    values: dict[str, dict[str, Any]] = defaultdict(dict)
    for f in findings:
        for k, v in f.detail:
            values[k][_canon(v)] = v
    out: dict[str, Any] = {}
    for k, vs in sorted(values.items()):
        ordered = [vs[c] for c in sorted(vs)]
        if len(ordered) == 1:
            out[k] = ordered[0]
        else:  # several findings disagree: keep them all, flattened and sorted
            flat: dict[str, Any] = {}
            for v in ordered:
                for item in (v if isinstance(v, list) else [v]):
                    flat[_canon(item)] = item
            out[k] = [flat[c] for c in sorted(flat)]
    return out


def _render(template: str, detail: dict[str, Any], evidence: list[Evidence]) -> str:
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


def _violation(rule: Rule, policy: Policy, findings: list[Finding], dests: set[str] | None,
               action: str | None = None, category: str | None = None,
               evidence: Iterable[Evidence] | None = None, detail: dict | None = None) -> Violation | None:
    regions = policy.expand(rule.regions)
    if dests is not None:
        regions = [r for r in regions if r in dests]
        if rule.action == "region_mask" and not regions:
            return None
    evs = _prune(evidence if evidence is not None else [e for f in findings for e in f.evidence])
    det = detail if detail is not None else _merge_detail(findings)
    return Violation(
        rule_id=rule.id,
        category=category or rule.category,
        violation_class=rule.violation_class,
        points=rule.points,
        action=action or rule.action,
        regions=regions,
        restrictions=sorted(set(rule.restrictions)),
        message=_render(rule.message, det, evs),
        citation=f"{policy.citations[rule.citation].title} [{rule.citation}]",
        review=rule.review or any(f.review for f in findings),
        evidence=evs,
        detail=det,
    )


def _most_severe(vs: list[Violation]) -> Violation:
    return min(vs, key=lambda v: (-_RANK[v.action], v.category, v.rule_id))


def decide(findings: Iterable[Finding], listing: Listing, policy: Policy, as_of: dt.date) -> DecisionCore:
    dests = set(listing.destinations) if listing.destinations is not None else None
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        rule = policy.rule(f.rule_id)  # KeyError: a check emitted a rule the policy lacks
        if rule.in_force(as_of):
            groups[f.rule_id].append(f)
    model_rules = policy.model_rule_ids
    if model_rules:
        decided = {policy.rule(rid).category for rid in groups if rid not in model_rules}
        for rid in [rid for rid in groups if rid in model_rules and policy.rule(rid).category in decided]:
            del groups[rid]

    violations: list[Violation] = []
    for rule_id in sorted(groups):
        v = _violation(policy.rule(rule_id), policy, groups[rule_id], dests)
        if v is not None:
            violations.append(v)

    firing = [v for v in violations if v.action != "allow"]
    # read from the findings' own evidence, before pruning: a plain match on the same span must not
    # hide a distorted one (adding a finding never weakens the decision)
    deobf = {v.rule_id: [e for f in groups[v.rule_id] for e in f.evidence if e.method == "deobfuscated"]
             for v in firing}
    distorted = [v for v in firing if deobf[v.rule_id]]
    if distorted:
        rule = policy.rule(policy.circumvention.keyword_distortion)
        if rule.in_force(as_of):
            evs = [e for v in distorted for e in deobf[v.rule_id]]
            top = _most_severe(distorted)
            transforms = sorted({t for e in evs for t in e.transforms})
            v = _violation(rule, policy, [], dests, action=top.action, category=top.category, evidence=evs,
                           detail={"triggered_by": sorted(x.rule_id for x in distorted), "transforms": transforms})
            violations.append(v)
    misplaced = [v for v in firing if any(f.circumvention == "misplaced_category" for f in groups[v.rule_id])]
    if misplaced:
        rule = policy.rule(policy.circumvention.misplaced_category)
        if rule.in_force(as_of):
            top = _most_severe(misplaced)
            det = _merge_detail([f for v in misplaced for f in groups[v.rule_id]])
            det = {"triggered_by": sorted(x.rule_id for x in misplaced),
                   "designated_category": det.get("designated_category", "the designated category"),
                   "listing_category": listing.category}
            evs = [e for v in misplaced for e in v.evidence]
            v = _violation(rule, policy, [], dests, action=top.action, category=top.category,
                           evidence=evs, detail=det)
            violations.append(v)

    violations.sort(key=lambda v: (-_RANK[v.action], v.category, v.rule_id))
    action = max((v.action for v in violations), key=_RANK.__getitem__, default="allow")
    points = {"A": 0, "B": 0}
    for v in violations:
        if v.violation_class:
            points[v.violation_class] += v.points
    return DecisionCore(
        action=action,
        masked_regions=tuple(sorted({r for v in violations for r in v.regions})),
        restrictions=tuple(sorted({r for v in violations for r in v.restrictions})),
        review=any(v.review for v in violations),
        violations=tuple(violations),
        points=points,
    )
