"""The ``moderate`` command line: check, batch, policy, reload, serve (one end-to-end subprocess)."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.config import REPO_ROOT
from tests.support import free_port, moderate_command

runner = CliRunner()

BLOCKED = {"listing_id": "blk-1", "title": "Mango e-liquid 60ml nic salt 20mg",
           "description": "<p>Premium [vape] juice</p>", "keywords": ["v@pe juice"]}
ALLOWED = {"listing_id": "ok-1", "title": "Stainless steel garlic press", "description": "Dishwasher safe."}
HARDWARE = {"listing_id": "hw-1", "title": "Vape pen starter kit 1100mAh",
            "category": "Consumer Electronics > Electronic Cigarettes"}


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def flat(text: str) -> str:
    """Rich wraps at 80 columns under the test runner: compare on collapsed whitespace."""
    return " ".join(text.split())


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ check
def test_check_blocking_listing_exits_1_and_shows_the_evidence(tmp_path):
    r = run("check", str(write_json(tmp_path / "l.json", BLOCKED)))
    assert r.exit_code == 1, r.output
    text = flat(r.stdout)
    assert "block" in text and "ecig.e_liquid" in text
    assert "circumvention.keyword_distortion" in text  # the v@pe keyword
    assert "Evidence in the original text" in text
    assert "v@pe juice" in text and "Traceback" not in r.output


def test_check_allowed_listing_exits_0(tmp_path):
    r = run("check", str(write_json(tmp_path / "l.json", ALLOWED)))
    assert r.exit_code == 0, r.output
    assert "allow" in r.stdout and "No violations" in r.stdout


def test_check_region_mask_exits_0(tmp_path):
    r = run("check", "--json", str(write_json(tmp_path / "l.json", HARDWARE)))
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["action"] == "region_mask" and d["masked_regions"] == ["US"]


def test_check_json_is_the_decision_with_offsets_into_the_original_text(tmp_path):
    from app.models import Decision

    r = run("check", "--json", str(write_json(tmp_path / "l.json", BLOCKED)))
    assert r.exit_code == 1, r.output
    d = Decision.model_validate_json(r.stdout)
    assert d.action == "block" and d.listing_id == "blk-1"
    fields = {"title": BLOCKED["title"], "description": BLOCKED["description"],
              "keywords[0]": BLOCKED["keywords"][0]}
    evidence = [e for v in d.violations for e in v.evidence]
    assert evidence
    for e in evidence:
        assert fields[e.field][e.start:e.end] == e.text


def test_check_reads_stdin():
    r = run("check", "--json", "-", input=json.dumps(ALLOWED))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["listing_id"] == "ok-1"


def test_check_as_of_before_the_rule_took_effect_allows(tmp_path):
    # ecig.e_liquid is in force from 2021-12-09 (policy.yaml)
    path = write_json(tmp_path / "l.json", BLOCKED)
    before = run("check", "--json", "--as-of", "2021-12-08", str(path))
    after = run("check", "--json", "--as-of", "2021-12-09", str(path))
    assert (before.exit_code, after.exit_code) == (0, 1), (before.output, after.output)
    assert json.loads(before.stdout)["as_of"] == "2021-12-08"
    assert json.loads(before.stdout)["action"] == "allow"


@pytest.mark.parametrize("body, field", [
    ({"listing_id": "x", "title": "t", "seller": {"seller_id": "s", "country": "cn"}}, "seller.country"),
    ({"listing_id": "x"}, "title"),
    ({"listing_id": "x", "title": "t", "colour": "red"}, "colour"),
    ({"listing_id": "x", "title": "t", "keywords": ["a", 5]}, "keywords[1]"),
])
def test_check_invalid_listing_exits_2_naming_the_field(tmp_path, body, field):
    r = run("check", str(write_json(tmp_path / "bad.json", body)))
    assert r.exit_code == 2, r.output
    assert field in flat(r.stderr)
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_check_invalid_listing_json_mode_prints_the_api_error_shape(tmp_path):
    body = {"listing_id": "x", "title": "t", "seller": {"seller_id": "s", "country": "cn"}}
    r = run("check", "--json", str(write_json(tmp_path / "bad.json", body)))
    assert r.exit_code == 2
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "validation_error" and error["field"] == "seller.country"


def test_check_malformed_json_and_missing_file_exit_2(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{"listing_id": "x", "title": ', encoding="utf-8")
    r = run("check", str(p))
    assert r.exit_code == 2 and "malformed JSON" in flat(r.stderr)
    r = run("check", str(tmp_path / "absent.json"))
    assert r.exit_code == 2 and "cannot read" in r.stderr


def test_check_bad_date_is_a_usage_error(tmp_path):
    r = run("check", "--as-of", "2021-13-01", str(write_json(tmp_path / "l.json", ALLOWED)))
    assert r.exit_code == 2


def test_broken_data_files_exit_3_naming_the_file(tmp_path):
    (tmp_path / "policy").mkdir()
    (tmp_path / "lexicons").mkdir()
    (tmp_path / "policy" / "policy.yaml").write_text("version: [\n", encoding="utf-8")
    listing = write_json(tmp_path / "l.json", ALLOWED)
    for args in (["check", str(listing)], ["policy"]):
        r = runner.invoke(app, args, env={"MODERATE_DATA_DIR": str(tmp_path)})
        assert r.exit_code == 3, r.output
        assert "policy.yaml" in flat(r.stderr) and "Traceback" not in r.output


# ------------------------------------------------------------------------------------------ batch
def _batch_input(tmp_path: Path) -> Path:
    lines = [
        json.dumps(BLOCKED),                                   # 1
        json.dumps(ALLOWED),                                   # 2
        '{"listing_id": "broken", "title": ',                  # 3 malformed JSON
        "",                                                    # 4 blank: ignored
        json.dumps({"listing_id": "bad-2", "title": "t", "destinations": ["usa"]}),  # 5 schema error
        "   ",                                                 # 6 blank
        json.dumps(HARDWARE),                                  # 7
        json.dumps({**ALLOWED, "listing_id": "ok-2"}),         # 8
    ]
    p = tmp_path / "in.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_batch_reports_bad_lines_and_keeps_the_rest_in_order(tmp_path):
    src = _batch_input(tmp_path)
    out = tmp_path / "out.jsonl"
    r = run("batch", str(src), "-o", str(out))
    assert r.exit_code == 1, r.output  # finished, with bad lines
    decisions = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [d["listing_id"] for d in decisions] == ["blk-1", "ok-1", "hw-1", "ok-2"]
    assert [d["action"] for d in decisions] == ["block", "allow", "region_mask", "allow"]
    errors = [json.loads(x) for x in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [e["line"] for e in errors] == [3, 5]
    assert errors[0]["error"]["code"] == "malformed_json"
    assert errors[1]["error"]["field"] == "destinations[0]" and errors[1]["listing_id"] == "bad-2"
    text = flat(r.stdout)
    assert "line 3:" in text and "line 5:" in text and "destinations[0]" in text
    assert "│ block │ 1 │" in text and "│ errors │ 2 │" in text and "│ blank lines │ 2 │" in text
    assert not list(tmp_path.glob(".*.tmp"))


def test_batch_all_good_exits_0_with_an_explicit_errors_file(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ALLOWED) + "\n" + json.dumps(BLOCKED) + "\n", encoding="utf-8")
    out, errs = tmp_path / "d.jsonl", tmp_path / "e.jsonl"
    r = run("batch", str(src), "-o", str(out), "--errors", str(errs), "--as-of", "2021-12-08")
    assert r.exit_code == 0, r.output
    decisions = [json.loads(x) for x in out.read_text().splitlines()]
    assert [d["action"] for d in decisions] == ["allow", "allow"]  # e-liquid rule not yet in force
    assert {d["as_of"] for d in decisions} == {"2021-12-08"}
    assert errs.read_text() == ""


def test_batch_interrupted_run_leaves_no_partial_output(tmp_path, monkeypatch):
    import app.cli.main as cli

    src = _batch_input(tmp_path)
    out = tmp_path / "out.jsonl"
    out.write_text("previous run\n")
    real = cli._engine

    def engine_that_dies():
        eng = real()
        calls = {"n": 0}
        moderate = eng.moderate

        def dying(listing, as_of=None):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return moderate(listing, as_of=as_of)

        eng.moderate = dying
        return eng

    monkeypatch.setattr(cli, "_engine", engine_that_dies)
    r = run("batch", str(src), "-o", str(out))
    assert r.exit_code == 130, r.output
    assert out.read_text() == "previous run\n"  # untouched: no half file under the output name
    assert not (tmp_path / "out.errors.jsonl").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_batch_killed_process_never_leaves_a_half_file(tmp_path):
    src = tmp_path / "big.jsonl"
    line = json.dumps(BLOCKED) + "\n"
    src.write_text(line * 100_000, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "batch", str(src), "-o", str(out)],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until decisions are being written
            tmps = list(tmp_path.glob(".out.jsonl.*.tmp"))
            if tmps and tmps[0].stat().st_size > 0:
                break
            assert proc.poll() is None, "batch ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no decisions written within 60 s")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()


def test_batch_missing_input_is_a_usage_error(tmp_path):
    r = run("batch", str(tmp_path / "absent.jsonl"), "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 2 and "cannot read" in r.stderr
    r = run("batch", str(_batch_input(tmp_path)), "-o", str(tmp_path / "no" / "such" / "o.jsonl"))
    assert r.exit_code == 2


# ----------------------------------------------------------------------------------------- policy
def test_policy_json_lists_rules_checks_and_digests():
    r = run("policy", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    rules = {x["id"]: x for x in doc["rules"]}
    e = rules["ecig.e_liquid"]
    assert (e["category"], e["action"], e["violation_class"], e["points"]) == ("e_cigarette", "block", "B", 2)
    assert e["effective_from"] == "2021-12-09" and e["implemented"] is True and e["in_force"] is True
    assert rules["live.banned"]["implemented"] is True  # app/checks/live.py (issue 4)
    assert rules["live.removed"]["in_force"] is False          # expired 2021-11-30
    assert set(doc["data_digests"]) >= {"policy/policy.yaml", "lexicons/e_cigarette.yaml"}
    assert all(len(v) == 64 for v in doc["data_digests"].values())
    assert doc["policy_version"]


def test_policy_table():
    r = run("policy")
    assert r.exit_code == 0, r.output
    assert "ecig.e_liquid" in r.stdout and "policy/policy.yaml" in r.stdout


# ----------------------------------------------------------------------------------------- reload
class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.dumps({"error": {"code": "reload_failed", "message": "reload failed: lexicons/x.yaml: bad",
                                     "field": "lexicons/x.yaml"}}).encode()
        self.send_response(409)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_reload_failure_and_unreachable_server_exit_non_zero():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Refusing)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        r = run("reload", "--url", f"http://127.0.0.1:{server.server_port}")
        assert r.exit_code == 1, r.output
        assert "lexicons/x.yaml" in r.stderr
    finally:
        server.shutdown()
    r = run("reload", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert r.exit_code == 3 and "cannot reach" in r.stderr


# ---------------------------------------------------------------------------------- import cost
def test_importing_the_cli_builds_nothing():
    code = "import sys, app.cli.main; print(sorted(m for m in ('app.engine', 'app.api.main') if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------ serve
def test_serve_runs_the_api_and_reload_reaches_it(tmp_path):
    try:
        import app.api.main  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"app.api is not importable yet ({exc}); serve needs app.api.main.create_app")
    import httpx

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([*moderate_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "COLUMNS": "200"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"serve exited {proc.returncode}: {log.read_text()}"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no /healthz within 60 s: {log.read_text()}"
            time.sleep(0.1)
        resp = httpx.post(f"{base}/v1/moderate", json=BLOCKED, timeout=30)
        assert resp.status_code == 200, resp.text
        assert resp.json()["action"] == "block"
        r = run("reload", "--url", base)
        assert r.exit_code == 0, r.output
        assert "reloaded" in r.stdout
        banner = log.read_text()
        assert base in banner and "/docs" in banner and "policy" in banner
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
