"""Settings, read from the environment (``MODERATE_*``) with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_path(name: str, default: Path) -> Path:
    v = os.environ.get(name)
    return Path(v) if v else default


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v else default


@dataclass(frozen=True)
class Settings:
    data_root: Path = field(default_factory=lambda: _env_path("MODERATE_DATA_DIR", REPO_ROOT))
    policy_file: Path | None = None
    lexicon_dir: Path | None = None
    max_body_bytes: int = field(default_factory=lambda: _env_int("MODERATE_MAX_BODY_BYTES", 2 * 1024 * 1024))
    max_batch_body_bytes: int = field(
        default_factory=lambda: _env_int("MODERATE_MAX_BATCH_BODY_BYTES", 32 * 1024 * 1024))
    max_batch: int = 1000

    @property
    def policy_path(self) -> Path:
        return self.policy_file or _env_path("MODERATE_POLICY", self.data_root / "policy" / "policy.yaml")

    @property
    def lexicon_path(self) -> Path:
        return self.lexicon_dir or _env_path("MODERATE_LEXICONS", self.data_root / "lexicons")

    @property
    def cas_lists_path(self) -> Path:
        return _env_path("MODERATE_CAS_LISTS", self.data_root / "cas_lists")

    def data_files(self) -> list[Path]:
        """Every file a decision may depend on (their sha256 goes into each decision)."""
        return [self.policy_path, *sorted(self.lexicon_path.glob("*.yaml")),
                *sorted(self.cas_lists_path.glob("*.csv"))]
