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
from operator import attrgetter
from typing import Any, Iterable

from app.checks.base import Finding
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
    """``json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)``: one encoder kept, and
    a string (most detail values) encoded straight away, as that encoder would."""
    if type(value) is str:
        return _encode_str(value)
    return _ENCODER.encode(value)


_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)
_encode_str = json.encoder.encode_basestring


def _ev_key(e: Evidence) -> tuple:
    return (e.field, e.start, e.end, e.matched, e.method, e.source or "", tuple(e.transforms), e.text)


def _ev_rank(e: Evidence) -> tuple:
    return (e.method != "deobfuscated", *_ev_key(e))


def _prune(evidence: Iterable[Evidence]) -> list[Evidence]:
    """One piece of evidence per span and none inside a longer span of the same field; on one span
    de-obfuscated evidence is kept first (it is what the seller needs to see).

    What ``app.matching.spans.outermost(evidence, lambda e: (e.field, e.start, e.end), _ev_rank)``
    returns (tests/test_post_scan_fast.py). Evidence that is pruned already -- one run per field,
    each in increasing start and end (what ``Finding.of`` gives) -- is only put in field order;
    otherwise the rank is worked out only where two pieces share a span, and there is one sort: the
    span key holds the negated end, so the plain tuple order is the sweep order (start, longest
    first), and the spans kept come out in span order with no second sort."""
    evs = evidence if isinstance(evidence, list) else list(evidence)
    clean = _pruned_already(evs)
    if clean is not None:
        return clean
    by_span: dict[tuple[str, int, int], Evidence] = {}
    for e in evs:
        k = (e.field, e.start, -e.end)
        cur = by_span.get(k)
        if cur is None:
            by_span[k] = e
        elif _ev_rank(e) < _ev_rank(cur):
            by_span[k] = e
    kept: list[Evidence] = []
    group, reach = None, -1
    for k in sorted(by_span):
        if k[0] != group:
            group, reach = k[0], -1
        if -k[2] <= reach:
            continue
        reach = -k[2]
        kept.append(by_span[k])
    return kept


def _pruned_already(evs: list[Evidence]) -> list[Evidence] | None:
    """``evs`` in (field, start) order when nothing in it would be pruned: runs of one field each,
    every run in strictly increasing start and end (so no two share a span and none lies inside
    another). ``None`` when ``evs`` is not like that."""
    runs: dict[str, int] = {}  # field -> index where its run starts
    field = None
    last_start = reach = -1
    for i, (f, start, end) in enumerate(map(_SPAN, evs)):
        if f == field:
            if start <= last_start or end <= reach:
                return None
        else:
            if f in runs or end <= -1:
                return None  # a field in two runs (or an end no sweep keeps)
            runs[f] = i
            field = f
        last_start, reach = start, end
    if len(runs) <= 1:
        return list(evs)
    bounds = [*runs.values(), len(evs)]
    slices = {f: evs[bounds[k]:bounds[k + 1]] for k, f in enumerate(runs)}
    return [e for f in sorted(slices) for e in slices[f]]


_SPAN = attrgetter("field", "start", "end")


def _merge_detail(findings: list[Finding]) -> dict[str, Any]:
    if len(findings) == 1:
        # one finding: each key has one value, kept as it is (what the general merge gives)
        detail = findings[0].detail
        if not detail:
            return {}
        out = dict(detail)
        if len(out) == len(detail):
            return {k: out[k] for k in sorted(out)} if len(out) > 1 else out
    values: dict[str, dict[str, Any]] = defaultdict(dict)
    for f in findings:
        for k, v in f.detail:
            values[k][_canon(v)] = v
    out = {}
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


def _terms(evidence: list[Evidence]) -> str:
    """The first five distinct quoted texts of ``evidence``, and ", ..." when there are more."""
    terms: dict[str, None] = {}
    for e in evidence:
        terms[f'"{e.text}"'] = None
        if len(terms) > 5:
            break
    listed = list(terms)
    return ", ".join(listed[:5]) + (", ..." if len(listed) > 5 else "") or "no term"


def _render(template: str, detail: dict[str, Any], evidence: list[Evidence]) -> str:
    extra = {"terms": _terms(evidence)}

    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key in detail:
            v = detail[key]
            return ", ".join(map(str, v)) if isinstance(v, list) else str(v)
        return extra.get(key, "(unknown)")

    return _PLACEHOLDER.sub(sub, template)


class _Template:
    """A message template split once at policy load: literal text and placeholder names."""

    __slots__ = ("parts",)

    def __init__(self, template: str):
        self.parts: list[str] = _PLACEHOLDER.split(template)  # literal, key, literal, key, ..., literal

    def render(self, detail: dict[str, Any], evidence: list[Evidence]) -> str:
        """What ``_render(template, detail, evidence)`` gives."""
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        out = list(parts)
        terms = None
        for i in range(1, len(parts), 2):
            key = parts[i]
            if key in detail:
                v = detail[key]
                out[i] = ", ".join(map(str, v)) if isinstance(v, list) else str(v)
            elif key == "terms":
                if terms is None:
                    terms = _terms(evidence)
                out[i] = terms
            else:
                out[i] = "(unknown)"
        return "".join(out)


class _RuleStatics:
    """What ``_violation`` derives from a rule and the policy alone, worked out once per policy."""

    __slots__ = ("rule", "regions", "restrictions", "citation", "template", "mask")

    def __init__(self, rule: Rule, policy: Policy):
        self.rule = rule
        self.regions: tuple[str, ...] = tuple(policy.expand(rule.regions))
        self.restrictions: tuple[str, ...] = tuple(sorted(set(rule.restrictions)))
        self.citation = f"{policy.citations[rule.citation].title} [{rule.citation}]"
        self.template = _Template(rule.message)
        self.mask = rule.action == "region_mask"


def _statics(policy: Policy) -> dict[str, _RuleStatics]:
    """The per-rule data of ``policy`` (cached on it; the last policy asked for is looked up first)."""
    last = _last_statics
    if last[0] is policy:
        return last[1]
    got = policy.derived("decide.rules", lambda: {r.id: _RuleStatics(r, policy) for r in policy.rules})
    globals()["_last_statics"] = (policy, got)  # one tuple, swapped whole: safe across threads
    return got


_last_statics: tuple = (None, None)


def _violation(rule: Rule, policy: Policy, findings: list[Finding], dests: set[str] | None,
               action: str | None = None, category: str | None = None,
               evidence: Iterable[Evidence] | None = None, detail: dict | None = None,
               statics: _RuleStatics | None = None) -> Violation | None:
    st = statics or _statics(policy)[rule.id]
    if dests is not None:
        regions = [r for r in st.regions if r in dests]
        if st.mask and not regions:
            return None
    else:
        regions = list(st.regions)
    evs = _prune(evidence if evidence is not None else [e for f in findings for e in f.evidence])
    det = detail if detail is not None else _merge_detail(findings)
    category = category or rule.category
    action = action or rule.action
    review = rule.review or any(f.review for f in findings)
    message = st.template.render(det, evs)
    if category == "inherit" or action == "inherit" or (evs and set(map(type, evs)) != _EVIDENCE_ONLY):
        # not something decide() builds from a valid policy and engine evidence: let the model say why
        return Violation(rule_id=rule.id, category=category, violation_class=rule.violation_class,
                         points=rule.points, action=action, regions=regions, restrictions=list(st.restrictions),
                         message=message, citation=st.citation, review=review, evidence=evs, detail=det)
    return Violation.trusted(rule.id, category, rule.violation_class, rule.points, action, regions,
                             list(st.restrictions), message, st.citation, review, evs, dict(det))


_EVIDENCE_ONLY = {Evidence}


def _sort_key(v: Violation) -> tuple:
    return (-_RANK[v.action], v.category, v.rule_id)


def _most_severe(vs: list[Violation]) -> Violation:
    return min(vs, key=_sort_key)


def decide(findings: Iterable[Finding], listing: Listing, policy: Policy, as_of: dt.date) -> DecisionCore:
    dests = set(listing.destinations) if listing.destinations is not None else None
    statics = _statics(policy)
    groups: dict[str, list[Finding]] = {}
    in_force: dict[str, bool] = {}
    for f in findings:
        rid = f.rule_id
        ok = in_force.get(rid)
        if ok is None:
            ok = in_force[rid] = statics[rid].rule.in_force(as_of)  # KeyError: a rule the policy lacks
        if ok:
            g = groups.get(rid)
            if g is None:
                groups[rid] = [f]
            else:
                g.append(f)
    model_rules = policy.model_rule_ids
    if model_rules and not model_rules.isdisjoint(groups):
        decided = {statics[rid].rule.category for rid in groups if rid not in model_rules}
        for rid in [rid for rid in groups if rid in model_rules and statics[rid].rule.category in decided]:
            del groups[rid]

    violations: list[Violation] = []
    for rule_id in sorted(groups):
        st = statics[rule_id]
        v = _violation(st.rule, policy, groups[rule_id], dests, statics=st)
        if v is not None:
            violations.append(v)

    firing = [v for v in violations if v.action != "allow"]
    if firing:
        # read from the findings' own evidence, before pruning: a plain match on the same span must not
        # hide a distorted one (adding a finding never weakens the decision)
        deobf = {v.rule_id: [e for f in groups[v.rule_id] for e in f.evidence if e.method == "deobfuscated"]
                 for v in firing}
        distorted = [v for v in firing if deobf[v.rule_id]]
        if distorted:
            st = statics[policy.circumvention.keyword_distortion]
            if st.rule.in_force(as_of):
                evs = [e for v in distorted for e in deobf[v.rule_id]]
                top = _most_severe(distorted)
                transforms = sorted({t for e in evs for t in e.transforms})
                v = _violation(st.rule, policy, [], dests, action=top.action, category=top.category, evidence=evs,
                               detail={"triggered_by": sorted(x.rule_id for x in distorted),
                                       "transforms": transforms}, statics=st)
                violations.append(v)
        misplaced = [v for v in firing if any(f.circumvention == "misplaced_category" for f in groups[v.rule_id])]
        if misplaced:
            st = statics[policy.circumvention.misplaced_category]
            if st.rule.in_force(as_of):
                top = _most_severe(misplaced)
                det = _merge_detail([f for v in misplaced for f in groups[v.rule_id]])
                det = {"triggered_by": sorted(x.rule_id for x in misplaced),
                       "designated_category": det.get("designated_category", "the designated category"),
                       "listing_category": listing.category}
                evs = [e for v in misplaced for e in v.evidence]
                v = _violation(st.rule, policy, [], dests, action=top.action, category=top.category,
                               evidence=evs, detail=det, statics=st)
                violations.append(v)

    if len(violations) > 1:
        violations.sort(key=_sort_key)
    points = {"A": 0, "B": 0}
    if not violations:
        return _core("allow", (), (), False, (), points)
    action = max((v.action for v in violations), key=_RANK.__getitem__)
    for v in violations:
        if v.violation_class:
            points[v.violation_class] += v.points
    return _core(action, tuple(sorted({r for v in violations for r in v.regions})),
                 tuple(sorted({r for v in violations for r in v.restrictions})),
                 any(v.review for v in violations), tuple(violations), points)


def _core(action: str, masked_regions: tuple[str, ...], restrictions: tuple[str, ...], review: bool,
          violations: tuple[Violation, ...], points: dict[str, int]) -> DecisionCore:
    """``DecisionCore(...)`` without the frozen dataclass's ``object.__setattr__`` per field."""
    core = _new(DecisionCore)
    core.__dict__.update(action=action, masked_regions=masked_regions, restrictions=restrictions, review=review,
                         violations=violations, points=points)
    return core


_new = object.__new__
