"""HTTP API of the moderation service: :func:`create_app` (see :mod:`app.api.main`)."""

from app.api.main import create_app

__all__ = ["create_app"]
