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


def _env_bool(name: str, default: bool) -> bool:
    v = os.environ.get(name)
    if not v:
        return default
    if v.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if v.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={v!r}: write one of on/off, true/false, 1/0")


@dataclass(frozen=True)
class Settings:
    data_root: Path = field(default_factory=lambda: _env_path("MODERATE_DATA_DIR", REPO_ROOT))
    policy_file: Path | None = None
    lexicon_dir: Path | None = None
    max_body_bytes: int = field(default_factory=lambda: _env_int("MODERATE_MAX_BODY_BYTES", 2 * 1024 * 1024))
    max_batch_body_bytes: int = field(
        default_factory=lambda: _env_int("MODERATE_MAX_BATCH_BODY_BYTES", 32 * 1024 * 1024))
    max_batch: int = 1000
    # --- store, auth and review (issue 8; see app/store, app/auth, app/review)
    # MODERATE_STATE_DIR: where the embedded SQLite database lives (created on first use);
    # MODERATE_DATABASE_URL overrides it (postgresql+psycopg://user@host/db for PostgreSQL).
    state_dir: Path = field(default_factory=lambda: _env_path("MODERATE_STATE_DIR", Path.cwd() / "moderate-data"))
    database_url: str | None = field(default_factory=lambda: os.environ.get("MODERATE_DATABASE_URL") or None)
    store_decisions: bool = field(default_factory=lambda: _env_bool("MODERATE_STORE", True))
    auth: bool = field(default_factory=lambda: _env_bool("MODERATE_AUTH", True))
    require_publisher_key: bool = field(default_factory=lambda: _env_bool("MODERATE_REQUIRE_PUBLISHER_KEY", False))
    # --- text classifier (issue 7; app/classifier): MODERATE_CLASSIFIER=off for lexicon-only moderation
    classifier: bool = field(default_factory=lambda: _env_bool("MODERATE_CLASSIFIER", True))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'moderate.sqlite3').resolve()}"

    @property
    def policy_path(self) -> Path:
        return self.policy_file or _env_path("MODERATE_POLICY", self.data_root / "policy" / "policy.yaml")

    @property
    def lexicon_path(self) -> Path:
        return self.lexicon_dir or _env_path("MODERATE_LEXICONS", self.data_root / "lexicons")

    @property
    def cas_lists_path(self) -> Path:
        return _env_path("MODERATE_CAS_LISTS", self.data_root / "cas_lists")

    @property
    def devices_file(self) -> Path:
        """FDA product codes with their class (devices/, built by scripts/build_devices.py)."""
        return _env_path("MODERATE_DEVICES", self.data_root / "devices" / "fda_product_codes.csv")

    @property
    def models_path(self) -> Path:
        """The classifier model files (built by ``moderate train``). Default: the repository's
        ``models/``, shipped with the code, whatever ``MODERATE_DATA_DIR`` says: the policy names the
        file and its sha256, so a data directory of its own needs no copy of the model."""
        return _env_path("MODERATE_MODELS", REPO_ROOT / "models")

    def data_files(self) -> list[Path]:
        """Every file a decision may depend on (their sha256 goes into each decision)."""
        return [self.policy_path, *sorted(self.lexicon_path.glob("*.yaml")),
                *sorted((self.lexicon_path / "data").glob("*.csv")),  # tables read by lexicons (forms_from)
                *sorted(self.cas_lists_path.glob("*.csv")),
                *([self.devices_file] if self.devices_file.is_file() else []),
                *(sorted(self.models_path.glob("*.skops")) if self.classifier else [])]
