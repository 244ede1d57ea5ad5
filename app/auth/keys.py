"""API keys: ``mod_<key id>_<secret>``; the store keeps only the sha256 of the whole key.

The secret is 32 random bytes (``secrets.token_urlsafe``), so a plain sha256 is enough (no
password stretching needed for a high-entropy key). The key id is a public handle used to find the
row; the hash is compared with :func:`hmac.compare_digest`, and an unknown or revoked id costs the
same comparison as a known one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.models import ApiKey, UiSession
from app.store.repo import Invalid, NotFound, utcnow

ROLES = ("publisher", "moderator", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}  # admin may do what a moderator may, a moderator what a publisher may
PREFIX = "mod_"
_KEY = re.compile(r"^mod_(k[0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
_DUMMY = hashlib.sha256(b"no such key").hexdigest()
SESSION_HOURS = 12


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    return RANK.get(role, -1) >= RANK[needed]


def create_key(session: Session, role: str, name: str = "", created_by: str | None = None,
               now: dt.datetime | None = None) -> tuple[ApiKey, str]:
    """A new key; returns the row and the plaintext key (shown once, never stored)."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {list(ROLES)}; got {role!r}", "role")
    key_id = "k" + secrets.token_hex(6)
    plain = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(key_id=key_id, name=(name or f"{role} key")[:200], role=role, key_hash=digest(plain),
                 created_at=now or utcnow(), created_by=created_by)
    session.add(row)
    session.flush()
    return row, plain


def verify_key(session: Session, plain: str) -> ApiKey | None:
    """The active key row for ``plain``, or None."""
    m = _KEY.match(plain.strip()) if plain else None
    row = session.get(ApiKey, m.group(1)) if m else None
    stored = row.key_hash if row is not None else _DUMMY
    ok = hmac.compare_digest(stored, digest(plain.strip() if plain else ""))
    if row is None or not ok or row.revoked_at is not None:
        return None
    return row


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.key_id)))


def revoke_key(session: Session, key_id: str, now: dt.datetime | None = None) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"there is no API key {key_id!r}", "key_id")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        for s in session.scalars(select(UiSession).where(UiSession.key_id == key_id)):
            s.expires_at = row.revoked_at
    session.flush()
    return row


def key_view(row: ApiKey) -> dict[str, Any]:
    return {"key_id": row.key_id, "name": row.name, "role": row.role, "created_at": row.created_at,
            "created_by": row.created_by, "revoked_at": row.revoked_at}


# ----------------------------------------------------------------------------- UI sessions

def open_session(session: Session, key: ApiKey, now: dt.datetime | None = None) -> tuple[str, UiSession]:
    """A login session for the review UI: returns the cookie token (only its sha256 is stored)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    row = UiSession(token_hash=digest(token), key_id=key.key_id, csrf=secrets.token_urlsafe(24),
                    created_at=now, expires_at=now + dt.timedelta(hours=SESSION_HOURS))
    session.add(row)
    session.flush()
    return token, row


def session_key(session: Session, token: str | None, now: dt.datetime | None = None) -> tuple[UiSession, ApiKey] | None:
    if not token or len(token) > 200:
        return None
    row = session.get(UiSession, digest(token))
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    key = session.get(ApiKey, row.key_id)
    if key is None or key.revoked_at is not None:
        return None
    return row, key


def close_session(session: Session, token: str | None) -> None:
    if token:
        row = session.get(UiSession, digest(token))
        if row is not None:
            session.delete(row)
