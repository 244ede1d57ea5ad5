"""Models that exist for the OpenAPI document (and the tests): the handlers parse and serialise by
hand for speed, but the documented shapes are these."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.models import Decision, Listing

MAX_BATCH = 1000


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str = Field(description="machine-readable error code, e.g. `malformed_json`, `validation_error`")
    message: str = Field(description="what is wrong and how to fix it, naming the field")
    field: str | None = Field(description="path of the offending field (`title`, `listings[3].seller.country`, "
                                          "`attributes.CAS No.`) or null")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listings: Annotated[list[Listing], Field(min_length=1, max_length=MAX_BATCH)]


class BatchResponse(BaseModel):
    decisions: list[Decision | ErrorResponse] = Field(
        description="one entry per listing, in request order: a Decision, or `{\"error\": {...}}` for a "
                    "listing that failed validation (its `field` is prefixed with `listings[i]`)")


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str
    policy_version: str
    policy_published: dt.date
    data_digests: dict[str, str]
    loaded_at: float
    reloads: int
    checks: list[str]


class PolicyCitation(BaseModel):
    id: str
    title: str
    date: dt.date
    source: str


class PolicyRule(BaseModel):
    id: str
    category: str
    violation_class: str | None
    points: int
    points_default: bool
    action: str
    regions: list[str] = Field(description="region codes with groups expanded to member codes")
    regions_declared: list[str] = Field(description="regions as the policy file writes them (groups as `@EU`)")
    restrictions: list[str]
    review: bool
    effective_from: dt.date
    effective_until: dt.date | None
    citation: PolicyCitation
    message: str = Field(description="message template; `{placeholders}` are filled per decision")
    implemented: bool = Field(description="a loaded check can emit this rule")
    in_force_today: bool


class PolicyDocument(BaseModel):
    model_config = ConfigDict(extra="allow")
    policy_version: str
    published: dt.date
    today: dt.date
    data_digests: dict[str, str]
    loaded_at: float
    region_groups: dict[str, list[str]]
    circumvention: dict[str, str]
    seller_points: dict[str, Any]
    rules: list[PolicyRule]


class ReloadResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    reloaded: bool
    policy_version: str
    previous_policy_version: str | None
    data_digests: dict[str, str]
    changed_files: list[str]
    reloads: int
