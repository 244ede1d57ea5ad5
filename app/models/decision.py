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
        obj = cls.__new__(cls)
        _setattr(obj, "__dict__", {"field": field, "start": start, "end": end, "text": text, "matched": matched,
                                  "method": method, "transforms": transforms, "source": source})
        _setattr(obj, "__pydantic_fields_set__", set(_EVIDENCE_FIELDS))
        _setattr(obj, "__pydantic_extra__", None)
        _setattr(obj, "__pydantic_private__", None)
        return obj


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


class Points(BaseModel):
    A: int = 0
    B: int = 0


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
