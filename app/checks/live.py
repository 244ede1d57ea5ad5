"""Live animals, plants and seeds for planting (policy.md §3.7), driven by the signals of
``lexicons/live_animals_plants.yaml``.

* a live animal, live plant or planting-seed signal, or a listing still in one of the categories the
  2021-08-03 announcement closed (``settings.closed_categories``) -> the live rules. The check says
  *what* the listing is; *which* consequence applies is a matter of dates, so it reports the finding
  under each of the three regime rules and the policy keeps the one in force on ``as_of``
  (``live.review_before_removal`` before 2021-11-23: allow + review; ``live.removed`` from 2021-11-23:
  block without points; ``live.banned`` from 2021-12-01: block, B 2). No date is written here.
* ``not_live`` (artificial, fake, dried, toy, print ...) cancels a text hit: artificial plants, toys and
  prints pass; when the listing also calls itself live (``live_word``) it asks for review instead. A
  closed category is not cancelled (the listing sits where live goods were sold).
* grey wording alone (seed paper, grow kits, mushroom spawn) -> ``live.review``.

Plant pots, edible seeds and nuts, seed beads and pet food and supplies are exclusions and co-term
rules of the lexicon: they raise no signal here.
"""

from __future__ import annotations

from typing import ClassVar

from app.checks.base import Finding, PreparedListing

FAMILY = "live_animals_plants"
KINDS = ("animal", "plant", "seed", "closed_category")
REGIME_RULES = ("live.review_before_removal", "live.removed", "live.banned")


def category_parts(category: str | None) -> list[str]:
    if not category:
        return []
    return [p.strip().casefold() for p in category.replace(">>", ">").split(">") if p.strip()]


class LiveCheck:
    name: ClassVar[str] = FAMILY
    families: ClassVar[tuple[str, ...]] = (FAMILY,)
    rule_ids: ClassVar[tuple[str, ...]] = (*REGIME_RULES, "live.review")

    def __init__(self, settings: dict):
        self.closed = [category_parts(str(c)) for c in settings.get("closed_categories", [])]

    def category_signals(self, category: str) -> dict[str, list[str]]:
        parts = category_parts(category)
        if any(c and parts[: len(c)] == c for c in self.closed):
            return {FAMILY: ["closed_category"]}
        return {}

    def run(self, item: PreparedListing) -> list[Finding]:
        fam = item.family(FAMILY)
        fired = fam.fired
        if not fired:
            return [Finding.of("live.review", fam.grey, {"kinds": ["grey"]})] if fam.grey else []
        kinds = [k for k in KINDS if k in fired]
        if kinds and fam.has("not_live") and "closed_category" not in kinds:
            if fam.has("live_word"):
                return [Finding.of("live.review", fam.hits(*kinds, "not_live", "live_word"),
                                   {"kinds": sorted({*kinds, "not_live"})})]
            return []
        if kinds:
            hits = fam.hits(*kinds)
            detail = {"kinds": kinds}
            # one finding per regime rule, on the same evidence (worked out once)
            first = Finding.of(REGIME_RULES[0], hits, detail)
            return [first] + [Finding(rule, first.evidence, first.detail) for rule in REGIME_RULES[1:]]
        if fam.grey:
            return [Finding.of("live.review", fam.grey, {"kinds": ["grey"]})]
        return []
