"""E-cigarette rules (policy.md §3.2), driven by the signals of ``lexicons/e_cigarette.yaml``.

* any e-liquid signal (e-liquid, disposable, prefilled pod, e-liquid brand, a description of e-liquid
  such as nicotine strength / flavours / PG-VG, or a drug cartridge) -> ``ecig.e_liquid``; a drug
  (CBD/THC) cartridge asks for review as well (policy.md §6);
* hardware only: in the designated category -> ``ecig.hardware_us_mask``; elsewhere (or with no
  category) -> ``ecig.hardware_misplaced`` with the misplaced-category circumvention;
* grey wording (or a fuzzy near-miss of a brand) alone -> ``ecig.review``.

Other signals of the lexicon (``ohm_rating``, ``wattage``, ``pod_capacity``, ``bottle_pack``) are
device specifications: they only qualify ambiguous words as co-terms and never decide anything here.
"""

from __future__ import annotations

from typing import ClassVar

from app.checks.base import Finding, PreparedListing

LIQUID_SIGNALS = ("e_liquid", "disposable", "prefilled_pod", "liquid_brand", "description", "drug_cartridge")


def category_parts(category: str | None) -> list[str]:
    if not category:
        return []
    return [p.strip().casefold() for p in category.replace(">>", ">").split(">") if p.strip()]


class ECigaretteCheck:
    name: ClassVar[str] = "e_cigarette"
    families: ClassVar[tuple[str, ...]] = ("e_cigarette",)
    rule_ids: ClassVar[tuple[str, ...]] = (
        "ecig.e_liquid", "ecig.hardware_misplaced", "ecig.hardware_us_mask", "ecig.review")

    def __init__(self, designated_category: str):
        self.designated_category = designated_category
        self._designated = category_parts(designated_category)

    def category_signals(self, category: str) -> dict[str, list[str]]:
        """A listing in the designated category is e-cigarette hardware by its category alone (the
        context for flavour and nicotine wording too)."""
        return {"e_cigarette": ["hardware"]} if self.in_designated_category(category) else {}

    def in_designated_category(self, category: str | None) -> bool:
        parts = category_parts(category)
        return parts[: len(self._designated)] == self._designated

    def run(self, item: PreparedListing) -> list[Finding]:
        fam = item.family(self.name)
        findings: list[Finding] = []
        liquid = [s for s in LIQUID_SIGNALS if s in fam.fired]
        if liquid:
            # hardware hits are context evidence here (a distorted "v@pe" still earns its point)
            findings.append(Finding.of(
                "ecig.e_liquid", fam.hits(*liquid, "hardware"), {"kinds": sorted(liquid)},
                review="drug_cartridge" in liquid))
        hardware = fam.hits("hardware")
        if hardware and not liquid:
            if self.in_designated_category(item.listing.category):
                findings.append(Finding.of("ecig.hardware_us_mask", hardware, {"kinds": ["hardware"]}))
            else:
                findings.append(Finding.of(
                    "ecig.hardware_misplaced", hardware,
                    {"kinds": ["hardware"], "designated_category": self.designated_category},
                    circumvention="misplaced_category"))
        if not findings and fam.grey:
            findings.append(Finding.of("ecig.review", fam.grey, {"kinds": ["grey"]}))
        return findings
