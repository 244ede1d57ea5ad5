"""What a check receives and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from app.matching import FamilyResult, FieldText, Hit
from app.models import Listing
from app.models.decision import Evidence


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that a check says applies, with the evidence for it.

    ``circumvention`` names a structural circumvention (``misplaced_category``); keyword distortion
    is read from the evidence methods by the policy, not set by checks."""

    rule_id: str
    evidence: tuple[Evidence, ...] = ()
    detail: tuple[tuple[str, Any], ...] = ()
    review: bool = False
    circumvention: str | None = None

    @staticmethod
    def of(rule_id: str, hits: list[Hit] = (), detail: dict | None = None, review: bool = False,
           circumvention: str | None = None) -> "Finding":
        return Finding(rule_id, tuple(map(evidence_of, outermost_hits(hits))) if hits else (),
                       tuple(sorted(detail.items())) if detail else (), review, circumvention)


def outermost_hits(hits) -> list[Hit]:
    """View-A positions are monotone in the original, so containment there is containment in what
    the seller wrote; among hits on one span the smallest (entry id, matched) wins.

    What ``app.matching.spans.outermost(hits, lambda h: (h.fi, h.a_s, h.a_e), lambda h: (h.entry_id,
    h.matched))`` returns (tests/test_post_scan_fast.py), without a key function per hit: the span
    key holds the negated end, so the plain tuple order is the sweep order (start, longest first),
    and the spans kept come out in span order (one per start) with no second sort."""
    by_span: dict[tuple[int, int, int], Hit] = {}
    for h in hits:
        k = (h.fi, h.a_s, -h.a_e)
        cur = by_span.get(k)
        if cur is None:
            by_span[k] = h
        elif (h.entry_id, h.matched) < (cur.entry_id, cur.matched):
            by_span[k] = h
    if len(by_span) == 1:
        return list(by_span.values())
    kept: list[Hit] = []
    group, reach = -1, -1
    for k in sorted(by_span):
        if k[0] != group:
            group, reach = k[0], -1
        elif -k[2] <= reach:
            continue
        reach = -k[2]
        kept.append(by_span[k])
    return kept


def evidence_of(hit: Hit) -> Evidence:
    start, end, text, method, transforms = hit.resolve()
    return _trusted(hit.ft.name, start, end, text, hit.matched, method, list(transforms), hit.entry_id)


_trusted = Evidence.trusted


@dataclass(slots=True)
class PreparedListing:
    """The listing plus the work shared by all checks: normalised fields and one lexicon scan."""

    listing: Listing
    fields: list[FieldText]
    families: dict[str, FamilyResult] = field(default_factory=dict)

    def family(self, name: str) -> FamilyResult:
        return self.families.get(name) or FamilyResult(name)


class Check(Protocol):
    name: ClassVar[str]
    families: ClassVar[tuple[str, ...]]  # lexicon families it reads
    rule_ids: ClassVar[tuple[str, ...]]  # rules it can emit

    def run(self, item: PreparedListing) -> list[Finding]: ...
