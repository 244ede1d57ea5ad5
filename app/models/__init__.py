"""Request and response models of the HTTP contract (``../shared/spec/api.md``)."""

from app.models.listing import (
    BUSINESS_TYPES,
    QUALIFICATION_TYPES,
    Listing,
    Qualification,
    Seller,
    normalize_attribute_key,
)
from app.models.decision import Decision, Evidence, Points, Violation

__all__ = [
    "BUSINESS_TYPES",
    "QUALIFICATION_TYPES",
    "Decision",
    "Evidence",
    "Listing",
    "Points",
    "Qualification",
    "Seller",
    "Violation",
    "normalize_attribute_key",
]
