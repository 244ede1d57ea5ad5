"""Epidemic-prevention products (policy.md §3.6 and the §6 settled question on its scope).

Driven by ``lexicons/epidemic_prevention.yaml``: any fired signal (disinfection card, body bag, vaccine
card, virus test kit, COVID-19 name, virus/infection claim) makes the listing an epidemic-prevention
product. Only a manufacturer (``business_type: manufacturer``) holding the platform's
``epidemic_prevention_admission`` -- in its own name and in date on ``as_of``, checked by the shared
qualification machinery (``app/checks/qualifications.py``) -- may publish it; otherwise
``epidemic.not_admitted`` (block, B 2 by default) with ``detail.missing`` naming each missing element.
Grey wording alone (防疫, "epidemic prevention" with no product claim, a vaccine-card holder) ->
``epidemic.review``.
"""

from __future__ import annotations

from typing import ClassVar

from app.checks import qualifications
from app.checks.base import Finding, PreparedListing

FAMILY = "epidemic_prevention"
SIGNALS = ("disinfection_card", "body_bag", "vaccine_card", "test_kit", "covid", "virus_claim")
ADMISSION = "epidemic_prevention_admission"
ADMISSION_LABEL = "the platform's epidemic-prevention admission (epidemic_prevention_admission)"


class EpidemicCheck:
    name: ClassVar[str] = FAMILY
    families: ClassVar[tuple[str, ...]] = (FAMILY,)
    rule_ids: ClassVar[tuple[str, ...]] = ("epidemic.not_admitted", "epidemic.review")

    def run(self, item: PreparedListing) -> list[Finding]:
        fam = item.family(FAMILY)
        fired = [s for s in SIGNALS if s in fam.fired]
        if not fired:
            if fam.grey:
                return [Finding.of("epidemic.review", fam.grey, {"kinds": ["grey"]})]
            return []
        listing = item.listing
        missing = admission_missing(listing)
        if not missing:
            return []
        return [Finding.of("epidemic.not_admitted", fam.hits(*fired), {"kinds": fired, "missing": missing})]


def admission_missing(listing) -> list[str]:
    """What the seller lacks to publish epidemic-prevention products; empty = admitted."""
    seller = listing.seller
    if seller is None:
        return ["a seller account that is a manufacturer", ADMISSION_LABEL]
    missing = []
    if seller.business_type != "manufacturer":
        missing.append(f"the manufacturer business type (the seller is {seller.business_type or 'of unstated type'})")
    got = qualifications.find(seller.qualifications, ADMISSION, qualifications.check_date(listing.as_of),
                              ADMISSION_LABEL)
    if not got.ok:
        missing.append(got.problem)
    return missing
