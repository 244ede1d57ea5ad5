"""The engine snapshot: built from files, rejected whole when a file is broken, swapped on reload."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.config import REPO_ROOT, Settings
from app.engine import Engine, build_snapshot
from app.models import Listing


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    for sub in ("policy", "lexicons"):
        shutil.copytree(REPO_ROOT / sub, tmp_path / sub)
    return tmp_path


@pytest.mark.parametrize("target, mutate, named", [
    ("lexicons/e_cigarette.yaml", lambda t: t + "\n  - [unclosed", "e_cigarette.yaml"),
    ("lexicons/e_cigarette.yaml", lambda t: t.replace("strength: decisive", "strength: strong", 1), "e_cigarette.yaml"),
    ("policy/policy.yaml", lambda t: t.replace("id: ecig.e_liquid", "id: ecig.e_liquid_renamed"), "policy.yaml"),
    ("policy/policy.yaml", lambda t: t.replace("version:", "version: [", 1), "policy.yaml"),
])
def test_a_broken_file_is_rejected_naming_it_and_the_old_snapshot_serves(data_dir, target, mutate, named):
    engine = Engine(Settings(data_root=data_dir))
    before = engine.snapshot
    listing = Listing(listing_id="r", title="Mango e-liquid 60ml")
    assert engine.moderate(listing).action == "block"
    path = data_dir / target
    path.write_text(mutate(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        engine.reload()
    assert engine.snapshot is before
    d = engine.moderate(listing)
    assert d.action == "block" and d.policy_version == before.version


def test_reload_swaps_and_in_flight_work_keeps_its_snapshot(data_dir):
    engine = Engine(Settings(data_root=data_dir))
    old = engine.snapshot
    policy = data_dir / "policy" / "policy.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace('version: "', 'version: "reloaded-', 1), encoding="utf-8")
    new = engine.reload()
    assert new is engine.snapshot and new.version.startswith("reloaded-")
    listing = Listing(listing_id="r", title="Vape pen kit")
    assert engine.moderate(listing, snap=old).policy_version == old.version
    d = engine.moderate(listing)
    assert d.policy_version == new.version
    assert d.data_digests["policy/policy.yaml"] != old.digests["policy/policy.yaml"]


def test_digests_cover_every_data_file():
    snap = build_snapshot()
    names = set(snap.digests)
    assert "policy/policy.yaml" in names
    assert {f"lexicons/{p.name}" for p in (REPO_ROOT / "lexicons").glob("*.yaml")} <= names
    assert {f"cas_lists/{p.name}" for p in (REPO_ROOT / "cas_lists").glob("*.csv")} <= names
    assert all(len(v) == 64 for v in snap.digests.values())


def test_nothing_heavy_happens_at_import():
    import subprocess
    import sys

    code = ("import gc, sys, app, app.engine, app.api.main, app.cli.main, app.checks, app.policy;"
            "from app.engine import Snapshot; from app.matching import Matcher; from app.normalization import Normalizer;"
            "heavy = [o for o in gc.get_objects() if isinstance(o, (Snapshot, Matcher, Normalizer))];"
            "print(len(heavy), 'opencc' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "False"], "importing the package must not build a snapshot, automata or OpenCC"
