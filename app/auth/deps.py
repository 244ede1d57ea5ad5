"""Authentication for the HTTP routes.

A key is sent as ``Authorization: Bearer mod_...`` or ``X-API-Key: mod_...``; the review UI uses a
cookie session opened by logging in with a key. Roles are ordered publisher < moderator < admin.

* ``/v1/review/*``, ``/v1/decisions/*``, ``/v1/sellers/*`` and the review UI need **moderator**
  (appeals: **publisher**, the platform files them for its sellers); ``/v1/admin/keys`` needs
  **admin**; ``/v1/admin/reload`` needs an **admin** key *or* a loopback client.
* ``/v1/moderate`` and ``/v1/moderate/batch`` stay open unless ``MODERATE_REQUIRE_PUBLISHER_KEY=on``
  (then: **publisher**), so existing publish pipelines keep working.
* ``MODERATE_AUTH=off`` turns every check off (local development only): requests act as
  ``anonymous`` admin, except ``/v1/admin/reload``, which stays loopback-only without a key.

401 = no key or an unknown/revoked key; 403 = a valid key whose role is too low. Both use the
standard error body.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from app.api.errors import ApiError
from app.auth.keys import role_allows, verify_key
from app.store.db import run_db


@dataclass(frozen=True)
class Principal:
    key_id: str | None
    role: str
    name: str
    via: str  # key | session | loopback | auth_off

    @property
    def actor(self) -> str:
        return f"{self.name} ({self.key_id})" if self.key_id else self.name


ANONYMOUS = Principal(None, "admin", "anonymous", "auth_off")


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        raise ApiError(401, "unauthorized", "the Authorization header must be `Bearer <API key>`",
                       "Authorization", headers={"WWW-Authenticate": "Bearer"})
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


async def authenticate(request: Request) -> Principal | None:
    """The principal of the key the request presents (None when it presents none); 401 for a key
    that is unknown or revoked."""
    plain = presented_key(request)
    if plain is None:
        return None
    row = await run_db(request.app.state.store, lambda s: _lookup(s, plain), read=True)
    if row is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked); "
                       "ask an admin for a key (`moderate keys create --role ...`)", "Authorization",
                       headers={"WWW-Authenticate": "Bearer"})
    return Principal(row[0], row[1], row[2], "key")


def _lookup(session, plain: str):
    row = verify_key(session, plain)
    return (row.key_id, row.role, row.name) if row is not None else None


def _forbidden(p: Principal, role: str) -> ApiError:
    return ApiError(403, "forbidden", f"this route needs the {role} role; the key {p.key_id} has the "
                    f"{p.role} role", None, required_role=role)


async def require_role(request: Request, role: str) -> Principal:
    if not request.app.state.settings.auth:
        return ANONYMOUS
    p = await authenticate(request)
    if p is None:
        raise ApiError(401, "unauthorized", f"this route needs an API key with the {role} role: send "
                       "`Authorization: Bearer mod_...` (an admin creates keys with "
                       f"`moderate keys create --role {role}`)", "Authorization",
                       headers={"WWW-Authenticate": "Bearer"})
    if not role_allows(p.role, role):
        raise _forbidden(p, role)
    return p


async def require_admin_or_loopback(request: Request, is_loopback) -> Principal:
    """``/v1/admin/reload``: an admin key from anywhere, or no key from a loopback client."""
    host = request.client.host if request.client else None
    p = await authenticate(request) if request.app.state.settings.auth else None
    if p is not None:
        if not role_allows(p.role, "admin"):
            raise _forbidden(p, "admin")
        return p
    if is_loopback(host):
        return Principal(None, "admin", "loopback", "loopback")
    raise ApiError(403, "forbidden",
                   "/v1/admin/ is only served to loopback clients or to requests with an admin API key "
                   f"(`Authorization: Bearer mod_...`); call it from the host itself or send a key (your address: {host})")
