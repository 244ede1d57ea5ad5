"""Schema and loader of ``policy/policy.yaml``. A file that does not validate is rejected whole."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Callable, Literal

from app.datafile import load_yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

SEVERITY = ("allow", "region_mask", "restrict", "block")
CATEGORIES = ("controlled_instrument", "e_cigarette", "sexual_health_drug", "hazardous_chemical",
              "medical_device", "epidemic_prevention", "live_animals_plants", "listing_data")
_REGION = re.compile(r"^[A-Z]{2}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Strict):
    title: str
    date: dt.date
    source: str


class Threshold(_Strict):
    points: int = Field(gt=0)
    consequence: str


class SellerPoints(_Strict):
    retention_days: int = Field(gt=0)
    thresholds: list[Threshold]


class Circumvention(_Strict):
    keyword_distortion: str
    misplaced_category: str


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
    category: Literal[CATEGORIES + ("inherit",)]  # type: ignore[valid-type]
    violation_class: Literal["A", "B"] | None
    points: int = Field(ge=0)
    points_default: bool = False
    action: Literal[SEVERITY + ("inherit",)]  # type: ignore[valid-type]
    regions: list[str] = []
    restrictions: list[str] = []
    review: bool = False
    effective_from: dt.date
    effective_until: dt.date | None = None
    citation: str
    message: str

    @model_validator(mode="after")
    def _sane(self):
        if self.points and self.violation_class is None:
            raise ValueError(f"rule {self.id}: points without a violation class")
        if self.effective_until and self.effective_until < self.effective_from:
            raise ValueError(f"rule {self.id}: effective_until before effective_from")
        if self.action == "region_mask" and not self.regions:
            raise ValueError(f"rule {self.id}: region_mask without regions")
        return self

    def in_force(self, as_of: dt.date) -> bool:
        return self.effective_from <= as_of and (self.effective_until is None or as_of <= self.effective_until)


class ClassifierThreshold(_Strict):
    """Scores of one category from which the text classifier asks for review and, where held-out
    precision allowed it, blocks (written by ``moderate train``)."""
    review: float = Field(gt=0, le=1)
    block: float | None = Field(default=None, gt=0, le=1)
    review_rule: str
    block_rule: str | None = None

    @model_validator(mode="after")
    def _sane(self):
        if (self.block is None) != (self.block_rule is None):
            raise ValueError("block and block_rule go together")
        if self.block is not None and self.block < self.review:
            raise ValueError("block threshold below the review threshold")
        return self


class Classifier(_Strict):
    """The ``classifier:`` section: which model file, its sha256 and the per-category thresholds."""
    model: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    top_ngrams: int = Field(default=5, ge=0, le=20)
    categories: dict[str, ClassifierThreshold]


class Policy(_Strict):
    version: str
    published: dt.date
    severity: list[str]
    region_groups: dict[str, list[str]]
    citations: dict[str, Citation]
    seller_points: SellerPoints
    circumvention: Circumvention
    classifier: Classifier | None = None
    rules: list[Rule]

    @model_validator(mode="after")
    def _consistent(self):
        if tuple(self.severity) != SEVERITY:
            raise ValueError(f"severity must be {list(SEVERITY)}")
        ids = [r.id for r in self.rules]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate rule ids: {dup}")
        for r in self.rules:
            if r.citation not in self.citations:
                raise ValueError(f"rule {r.id}: unknown citation {r.citation!r}")
            self.expand(r.regions)  # raises on a bad code or group
        for rid in (self.circumvention.keyword_distortion, self.circumvention.misplaced_category):
            if rid not in ids:
                raise ValueError(f"circumvention rule {rid!r} is not defined")
        if self.classifier is not None:
            by_id = {r.id: r for r in self.rules}
            for cat, t in self.classifier.categories.items():
                for rid, action in ((t.review_rule, "allow"), (t.block_rule, "block")):
                    if rid is None:
                        continue
                    rule = by_id.get(rid)
                    if rule is None:
                        raise ValueError(f"classifier.categories.{cat}: rule {rid!r} is not defined")
                    if rule.category != cat or rule.action != action:
                        raise ValueError(f"classifier.categories.{cat}: rule {rid!r} must have category {cat} "
                                         f"and action {action}")
        return self

    def expand(self, regions: list[str]) -> list[str]:
        """Region codes with groups (``@EU``, ``@EEA``) expanded to member codes, sorted."""
        out: set[str] = set()

        def walk(code: str, depth: int) -> None:
            if depth > 5:
                raise ValueError(f"region group cycle at {code}")
            if code.startswith("@"):
                if code[1:] not in self.region_groups:
                    raise ValueError(f"unknown region group {code}")
                for c in self.region_groups[code[1:]]:
                    walk(c, depth + 1)
            elif _REGION.match(code):
                out.add(code)
            else:
                raise ValueError(f"bad region code {code!r}")

        for code in regions:
            walk(code, 0)
        return sorted(out)

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    @property
    def model_rule_ids(self) -> frozenset[str]:
        """The rules the text classifier emits (named in the ``classifier:`` section): suspicions that a
        lexicon or list finding of the same category overrides (see ``decide``)."""
        return self.derived("model_rule_ids", self._model_rule_ids)

    def _model_rule_ids(self) -> frozenset[str]:
        c = self.classifier
        if c is None:
            return frozenset()
        return frozenset(r for t in c.categories.values() for r in (t.review_rule, t.block_rule) if r)

    @property
    def _by_id(self) -> dict[str, Rule]:
        return self.derived("rules_by_id", lambda: {r.id: r for r in self.rules})

    def derived(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, worked out once per policy object (a frozen model: its fields never change).
        The cache names the object it belongs to, so a ``model_copy`` (which copies ``__dict__``, the
        cache with it, but may change fields) works its own out again."""
        cache = self.__dict__.get("_derived")
        if cache is None or cache[0] != id(self):
            cache = (id(self), {})
            object.__setattr__(self, "_derived", cache)  # frozen model: cache by hand
        got = cache[1].get(key, _MISSING)
        if got is _MISSING:
            got = cache[1][key] = build()
        return got


_MISSING = object()


def load_policy(path: Path) -> Policy:
    data = load_yaml(path)
    try:
        return Policy.model_validate(data)
    except Exception as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
