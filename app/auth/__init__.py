"""API keys with roles (publisher < moderator < admin), stored hashed; see :mod:`app.auth.keys`
and the FastAPI dependencies in :mod:`app.auth.deps`."""

from app.auth.keys import ROLES, create_key, list_keys, revoke_key, role_allows, verify_key

__all__ = ["ROLES", "create_key", "list_keys", "revoke_key", "role_allows", "verify_key"]
