"""``moderate serve`` with several worker processes (app/api/server.py): the workers share one
SQLite store and every decision is stored; SIGHUP to the server reloads the data in every worker,
and a broken file is rejected by each worker while its old data keeps serving."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.api.server import default_workers
from tests.support import free_port, moderate_command

REPO_ROOT = Path(__file__).resolve().parents[1]
BLOCK = {"listing_id": "srv-1", "title": "Mango e-liquid 60ml 50mg nic salt",
         "seller": {"seller_id": "s-srv", "country": "CN"}}

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")


def set_version(path: Path, version: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    idx = next(i for i, line in enumerate(lines) if line.startswith("version:"))
    lines[idx] = f'version: "{version}"\n'
    path.write_text("".join(lines), encoding="utf-8")


def versions_seen(base: str, n: int = 24) -> set[tuple[int, str]]:
    """(status, policy version) of ``n`` /readyz answers, each on a new connection (so both
    workers answer some of them)."""
    import httpx

    out = set()
    for _ in range(n):
        r = httpx.get(f"{base}/readyz", timeout=10, headers={"Connection": "close"})
        out.add((r.status_code, r.json().get("policy_version")))
    return out


def wait_for(pred, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s; log: {log.read_text()[-3000:]}"
        time.sleep(0.2)


def test_the_default_is_one_worker():
    assert default_workers() == 1


def test_two_workers_share_the_store_and_sighup_reloads_both(tmp_path):
    import httpx

    policy = tmp_path / "policy.yaml"
    shutil.copy(REPO_ROOT / "policy" / "policy.yaml", policy)
    set_version(policy, "9999.1-two-workers")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {**os.environ, "COLUMNS": "200", "MODERATE_POLICY": str(policy), "MODERATE_CLASSIFIER": "off",
           "MODERATE_STATE_DIR": str(tmp_path / "state")}
    env.pop("MODERATE_DATABASE_URL", None)
    with log.open("wb") as fh:
        proc = subprocess.Popen([*moderate_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "2", "--log-level", "info"],
                                cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        def ready():
            assert proc.poll() is None, f"serve exited {proc.returncode}: {log.read_text()[-3000:]}"
            try:
                return versions_seen(base, 4) == {(200, "9999.1-two-workers")}
            except httpx.HTTPError:
                return False

        wait_for(ready, 120, "both workers ready", log)
        assert "kill -HUP" in log.read_text()  # the banner says how to reload every worker

        def post(i: int):
            with httpx.Client(base_url=base, timeout=60) as c:
                return c.post("/v1/moderate", json={**BLOCK, "listing_id": f"srv-{i}"},
                              headers={"Connection": "close"})

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(40)))
        assert all(r.status_code == 200 and r.headers["x-decision-stored"] == "true" for r in answers), \
            [r.text for r in answers if r.status_code != 200][:3]
        assert all(r.json()["action"] == "block" for r in answers)
        import sqlite3

        db = sqlite3.connect(tmp_path / "state" / "moderate.sqlite3")
        try:
            stored = {row[0] for row in db.execute("select decision_id from decisions")}
        finally:
            db.close()
        assert {r.json()["decision_id"] for r in answers} <= stored  # both workers wrote to the one file

        set_version(policy, "9999.2-reloaded")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: versions_seen(base) == {(200, "9999.2-reloaded")}, 60, "every worker reloaded", log)
        assert proc.poll() is None

        policy.write_text("version: [broken\n", encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: log.read_text().count("reload (sighup) failed") >= 2, 60,
                 "both workers refused the broken file", log)
        assert versions_seen(base) == {(200, "9999.2-reloaded")}  # the old data keeps serving everywhere
        assert proc.poll() is None
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
