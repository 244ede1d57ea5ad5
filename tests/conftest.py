"""Shared fixtures. The engine is built once per session: it compiles every lexicon (about a second)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.config import REPO_ROOT

SHARED = Path(os.environ.get("MODERATE_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def engine():
    from app.engine import Engine

    return Engine()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is absent ({SHARED}): the shared research data is not redistributed with the repo")
    return SHARED
