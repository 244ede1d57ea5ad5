"""Request models follow api.md: unknown fields rejected, lengths enforced, attribute keys canonical."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.models import Listing, normalize_attribute_key


@pytest.mark.parametrize("a, b", [
    ("CAS No.", "cas_no"), ("CAS No.", "CAS Number"), ("cas no", "CAS_No"), ("CAS #", "cas no"),
    ("EINECS No.", "einecs number"), ("Device Class", "device_class"), ("FDA Product Code", "fda-product-code"),
])
def test_attribute_keys_match_case_and_punctuation_insensitively(a, b):
    assert normalize_attribute_key(a) == normalize_attribute_key(b)


@pytest.mark.parametrize("a, b", [("CAS No.", "CAS"), ("Brand Name", "Brand"), ("MF", "MW")])
def test_different_attribute_keys_stay_different(a, b):
    assert normalize_attribute_key(a) != normalize_attribute_key(b)


def test_attribute_lookup_uses_the_canonical_key():
    listing = Listing(listing_id="1", title="t", attributes={"CAS Number": "64-17-5"})
    assert listing.attribute("cas_no") == ("CAS Number", "64-17-5")
    assert listing.attribute("EINECS No.") is None


def test_two_spellings_of_one_key_are_rejected():
    with pytest.raises(ValidationError, match="name the same attribute"):
        Listing(listing_id="1", title="t", attributes={"CAS No.": "64-17-5", "cas_no": "67-64-1"})


@pytest.mark.parametrize("payload, field", [
    ({"listing_id": "1", "title": "t", "titel": "x"}, "titel"),
    ({"listing_id": "1", "title": "t", "seller": {"seller_id": "s", "contry": "CN"}}, "contry"),
    ({"listing_id": "1", "title": "t", "seller": {"seller_id": "s", "qualifications": [{"type": "business_license", "numbr": "1"}]}}, "numbr"),
])
def test_unknown_fields_are_rejected(payload, field):
    with pytest.raises(ValidationError) as err:
        Listing.model_validate(payload)
    assert field in str(err.value)


@pytest.mark.parametrize("payload", [
    {"listing_id": "", "title": "t"},
    {"listing_id": "x" * 129, "title": "t"},
    {"listing_id": "1", "title": ""},
    {"listing_id": "1", "title": "t" * 1001},
    {"listing_id": "1", "title": "t", "description": "d" * 200_001},
    {"listing_id": "1", "title": "t", "destinations": ["us"]},
    {"listing_id": "1", "title": "t", "destinations": ["USA"]},
    {"listing_id": "1", "title": "t", "seller": {"seller_id": "s", "country": "china"}},
    {"listing_id": "1", "title": "t", "seller": {"seller_id": "s", "business_type": "retailer"}},
    {"listing_id": "1", "title": "t", "seller": {"seller_id": "s", "qualifications": [{"type": "licence"}]}},
    {"listing_id": "1", "title": "t", "as_of": "2021-13-01"},
    {"listing_id": "1", "title": "t", "keywords": ["k"] * 101},
    {"listing_id": "1", "title": "t", "attributes": {"": "x"}},
    {"listing_id": "1", "title": "t", "attributes": {"CAS No.": 64175}},
    {"title": "t"},
])
def test_invalid_listings_are_rejected(payload):
    with pytest.raises(ValidationError):
        Listing.model_validate(payload)


def test_limits_are_inclusive():
    Listing.model_validate({"listing_id": "x" * 128, "title": "t" * 1000, "description": "d" * 200_000,
                            "keywords": ["k"] * 100, "destinations": ["US", "DE"], "as_of": "2021-12-01"})
