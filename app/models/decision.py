"""Decision, Violation and Evidence as ``api.md`` specifies them (plus documented extra fields)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["allow", "region_mask", "restrict", "block"]
Category = Literal[
    "controlled_instrument",
    "e_cigarette",
    "sexual_health_drug",
    "hazardous_chemical",
    "medical_device",
    "epidemic_prevention",
    "live_animals_plants",
    "listing_data",
]
Method = Literal["exact", "normalized", "deobfuscated", "fuzzy", "structure", "list", "rule", "classifier"]


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(description="listing field, e.g. `title`, `keywords[2]`, `attributes.CAS No.`")
    start: int = Field(description="start offset in the original field text (Python str index)")
    end: int = Field(description="end offset (exclusive) in the original field text")
    text: str = Field(description="original text of the span, exactly as the seller wrote it")
    matched: str = Field(description="the lexicon term / pattern / list entry that matched")
    method: Method
    transforms: list[str] = Field(default_factory=list, description="the de-obfuscation passes that revealed the match")
    source: str | None = Field(default=None, description="lexicon entry id that matched")

    @classmethod
    def trusted(cls, field: str, start: int, end: int, text: str, matched: str, method: str,
                transforms: list[str], source: str | None) -> "Evidence":
        """An Evidence built from the engine's own values without validating them again: the
        engine builds tens of these per listing, and validation was a tenth of its time. Equal to
        ``Evidence(...)`` with the same values (tests/test_fast_paths.py)."""
        obj = _new(cls)
        _set_dict(obj, {"field": field, "start": start, "end": end, "text": text, "matched": matched,
                        "method": method, "transforms": transforms, "source": source})
        _set_fields(obj, set(_EVIDENCE_FIELDS))
        _set_extra(obj, None)
        _set_private(obj, None)
        return obj


# The slots every pydantic model instance carries, set through their descriptors (no
# ``BaseModel.__setattr__``): what ``trusted`` constructors need to make an instance that is
# indistinguishable from a validated one.
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_setattr = object.__setattr__
_EVIDENCE_FIELDS = frozenset(Evidence.model_fields)


class Violation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule_id: str
    category: Category
    violation_class: Literal["A", "B"] | None
    points: int
    action: Action
    regions: list[str] = []
    restrictions: list[str] = []
    message: str
    citation: str | None = None
    review: bool = False
    evidence: list[Evidence] = []
    detail: dict[str, Any] = {}

    @classmethod
    def trusted(cls, rule_id: str, category: str, violation_class: str | None, points: int, action: str,
                regions: list[str], restrictions: list[str], message: str, citation: str | None, review: bool,
                evidence: list[Evidence], detail: dict[str, Any]) -> "Violation":
        """A Violation from values ``decide()`` computed from a validated policy and engine-built
        Evidence, without validating them again. Equal to ``Violation(...)`` given every field
        (tests/test_post_scan_fast.py). The caller hands over fresh lists and dict: they are kept
        as they are (validation would copy them)."""
        obj = _new(cls)
        _set_dict(obj, {"rule_id": rule_id, "category": category, "violation_class": violation_class,
                        "points": points, "action": action, "regions": regions, "restrictions": restrictions,
                        "message": message, "citation": citation, "review": review, "evidence": evidence,
                        "detail": detail})
        _set_fields(obj, set(_VIOLATION_FIELDS))
        _set_extra(obj, None)
        _set_private(obj, None)
        return obj


_VIOLATION_FIELDS = frozenset(Violation.model_fields)


class Points(BaseModel):
    A: int = 0
    B: int = 0

    @classmethod
    def trusted(cls, A: int, B: int) -> "Points":
        """Equal to ``Points(A=A, B=B)`` (and to ``Points.model_validate({"A": A, "B": B})``)."""
        obj = _new(cls)
        _set_dict(obj, {"A": A, "B": B})
        _set_fields(obj, {"A", "B"})
        _set_extra(obj, None)
        _set_private(obj, None)
        return obj


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listing_id: str
    action: Action
    masked_regions: list[str] = []
    restrictions: list[str] = []
    review: bool = False
    violations: list[Violation] = []
    points: Points = Points()
    policy_version: str
    decision_id: str
    as_of: dt.date
    data_digests: dict[str, str] = Field(default_factory=dict, description="sha256 of every data file that decided")

    @classmethod
    def trusted(cls, listing_id: str, action: str, masked_regions: list[str], restrictions: list[str], review: bool,
                violations: list[Violation], points: Points, policy_version: str, decision_id: str,
                as_of: dt.date, data_digests: dict[str, str]) -> "Decision":
        """A Decision from the engine's own values (a validated listing and policy, ``decide()``'s
        result) without validating them again. Equal to ``Decision(...)`` given every field
        (tests/test_post_scan_fast.py); ``as_of`` must be a ``datetime.date`` (not a datetime). The
        caller hands over fresh lists and dict: they are kept as they are."""
        obj = _new(cls)
        _set_dict(obj, {"listing_id": listing_id, "action": action, "masked_regions": masked_regions,
                        "restrictions": restrictions, "review": review, "violations": violations,
                        "points": points, "policy_version": policy_version, "decision_id": decision_id,
                        "as_of": as_of, "data_digests": data_digests})
        _set_fields(obj, set(_DECISION_FIELDS))
        _set_extra(obj, None)
        _set_private(obj, None)
        return obj


_DECISION_FIELDS = frozenset(Decision.model_fields)
