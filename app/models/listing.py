"""Listing, Seller and Qualification exactly as ``api.md`` specifies them.

Unknown fields are rejected (a misspelt field must not silently change a decision), lengths are
enforced, and attribute keys are matched case- and punctuation-insensitively: ``CAS No.``,
``cas_no`` and ``CAS Number`` are one key (:func:`normalize_attribute_key`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

QUALIFICATION_TYPES = (
    "business_license",
    "hazchem_safety_production_permit",
    "industrial_product_production_permit",
    "hazchem_business_permit",
    "nmpa_registration",
    "fda_clearance",
    "fda_establishment_registration",
    "ce_certificate",
    "epidemic_prevention_admission",
)
BUSINESS_TYPES = ("manufacturer", "trading")

# Limits not fixed by api.md are generous and documented in the README.
MAX_KEYWORDS = 100
MAX_KEYWORD_CHARS = 500
MAX_ATTRIBUTES = 200
MAX_ATTRIBUTE_KEY_CHARS = 200
MAX_ATTRIBUTE_VALUE_CHARS = 10_000
MAX_QUALIFICATIONS = 100
MAX_DESTINATIONS = 250

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]

_KEY_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
# "CAS No.", "CAS Number", "CAS #", "CAS Nr" -> "casno"
_KEY_SUFFIX = re.compile(r"(number|num|nr|no)$")


def normalize_attribute_key(key: str) -> str:
    """The canonical form of an attribute key: case-folded, punctuation and spaces removed, and a
    trailing number word (``No``, ``Number``, ``Num``, ``Nr``, ``#``) written as ``no``."""
    folded = key.casefold().replace("#", " no ")
    compact = _KEY_PUNCT.sub("", folded)
    return _KEY_SUFFIX.sub("no", compact)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, frozen=False)


class Qualification(_Strict):
    type: Literal[QUALIFICATION_TYPES]  # type: ignore[valid-type]
    number: Annotated[str, StringConstraints(max_length=256)] | None = None
    scope: Annotated[list[Annotated[str, StringConstraints(max_length=256)]], Field(max_length=5000)] = []
    owned: bool = True
    valid_until: dt.date | None = None
    notified_body: Annotated[str, StringConstraints(max_length=16)] | None = None


class Seller(_Strict):
    seller_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    country: CountryCode | None = None
    business_type: Literal["manufacturer", "trading"] | None = None
    qualifications: Annotated[list[Qualification], Field(max_length=MAX_QUALIFICATIONS)] = []


class Listing(_Strict):
    listing_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    description: Annotated[str, StringConstraints(max_length=200_000)] = ""
    keywords: Annotated[
        list[Annotated[str, StringConstraints(max_length=MAX_KEYWORD_CHARS)]],
        Field(max_length=MAX_KEYWORDS),
    ] = []
    category: Annotated[str, StringConstraints(max_length=1000)] | None = None
    attributes: Annotated[
        dict[
            Annotated[str, StringConstraints(min_length=1, max_length=MAX_ATTRIBUTE_KEY_CHARS)],
            Annotated[str, StringConstraints(max_length=MAX_ATTRIBUTE_VALUE_CHARS)],
        ],
        Field(max_length=MAX_ATTRIBUTES),
    ] = {}
    seller: Seller | None = None
    destinations: Annotated[list[CountryCode], Field(max_length=MAX_DESTINATIONS)] | None = None
    as_of: dt.date | None = None

    @field_validator("attributes")
    @classmethod
    def _one_value_per_key(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for key in value:
            canon = normalize_attribute_key(key)
            if not canon:
                raise ValueError(f"attribute key {key!r} has no letters or digits")
            if canon in seen:
                raise ValueError(
                    f"attribute keys {seen[canon]!r} and {key!r} name the same attribute; send one"
                )
            seen[canon] = key
        return value

    def attribute(self, name: str) -> tuple[str, str] | None:
        """``(key as the seller wrote it, value)`` for an attribute, matched on the canonical key."""
        want = normalize_attribute_key(name)
        for key, val in self.attributes.items():
            if normalize_attribute_key(key) == want:
                return key, val
        return None
