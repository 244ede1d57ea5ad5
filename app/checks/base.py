"""What a check receives and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from app.matching import FamilyResult, FieldText, Hit
from app.matching.spans import outermost
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
        return Finding(rule_id, tuple(evidence_of(h) for h in outermost_hits(hits)),
                       tuple(sorted((detail or {}).items())), review, circumvention)


def outermost_hits(hits) -> list[Hit]:
    """View-A positions are monotone in the original, so containment there is containment in what
    the seller wrote; among hits on one span the smallest (entry id, matched) wins."""
    return outermost(hits, lambda h: (h.fi, h.a_s, h.a_e), lambda h: (h.entry_id, h.matched))


def evidence_of(hit: Hit) -> Evidence:
    start, end, text, method, transforms = hit.resolve()
    return Evidence.trusted(hit.field, start, end, text, hit.matched, method, list(transforms), hit.entry_id)


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
