"""``moderate rescan``: JSONL/CSV/Parquet in, decisions out in input order, bad rows reported with
their line/row, checkpoints that survive SIGKILL (exactly once after --resume), diff and report."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.config import REPO_ROOT

runner = CliRunner()

TITLES = [
    ("Mango e-liquid 60ml nic salt 20mg", "<p>Premium [vape] juice</p>"),
    ("Stainless steel garlic press", "Dishwasher safe."),
    ("Vape pen starter kit 1100mAh", ""),
    ("Organic rolled oats 1kg", "Whole grain."),
    ("Automatic OTF knife, black blade", ""),
    ("Pizza cutter wheel", "Kitchen tool."),
    ("Nic salt 30ml strawberry e-juice", ""),
    ("Cotton socks, 6 pairs", ""),
]


def listings(n: int, prefix: str = "l") -> list[dict]:
    out = []
    for i in range(n):
        title, desc = TITLES[i % len(TITLES)]
        d = {"listing_id": f"{prefix}{i:06d}", "title": f"{title} #{i}"}
        if desc:
            d["description"] = desc
        if i % 5 == 0:
            d["keywords"] = ["gift", "sale"]
        if i % 7 == 0:
            d["attributes"] = {"Brand": "Acme"}
        if i % 11 == 0:
            d["seller"] = {"seller_id": f"s{i}", "country": "CN"}
        if i % 13 == 0:
            d["destinations"] = ["US", "DE"]
        out.append(d)
    return out


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def run(*args: str):
    return runner.invoke(app, list(args))


def expected(engine, rows: list[dict], as_of: dt.date | None = None) -> dict[str, tuple]:
    from app.models import Listing

    day = dt.datetime.now(dt.timezone.utc).date()
    out = {}
    for r in rows:
        d = engine.moderate(Listing.model_validate(r), as_of=as_of or day)
        out[d.listing_id] = (d.action, sorted(d.masked_regions), sorted(v.rule_id for v in d.violations))
    return out


def got(decisions: list[dict]) -> dict[str, tuple]:
    return {d["listing_id"]: (d["action"], sorted(d["masked_regions"]), sorted(v["rule_id"] for v in d["violations"]))
            for d in decisions}


# ------------------------------------------------------------------------------------------ JSONL
def test_jsonl_rescan_decides_in_input_order_and_reports_bad_rows(tmp_path, engine):
    good = listings(40)
    lines = [json.dumps(g).encode() for g in good[:10]]
    lines += [b'{"listing_id": "broken", "title": ',                                          # 11 malformed JSON
              json.dumps({"listing_id": "no-title", "description": "x"}).encode(),           # 12 missing title
              b"",                                                                          # 13 blank
              json.dumps({"listing_id": "huge", "title": "t", "description": "d" * 5_000_000}).encode(),  # 14 5 MB
              json.dumps({"listing_id": "long", "title": "t", "description": "d" * 200_001}).encode(),    # 15
              b'{"listing_id": "latin", "title": "caf\xe9"}']                               # 16 not UTF-8
    lines += [json.dumps(g).encode() for g in good[10:]]
    src = tmp_path / "cat.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    r = run("rescan", str(src), "-o", str(out), "--workers", "2", "--chunk-size", "7")
    assert r.exit_code == 1, r.output  # finished, with bad rows
    decisions = read_jsonl(out)
    assert [d["listing_id"] for d in decisions] == [g["listing_id"] for g in good]  # input order
    assert got(decisions) == expected(engine, good)
    assert all(not d.get("data_digests") for d in decisions)  # once in the manifest, not per line
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    by_line = {e["line"]: e for e in errors}
    assert [e["line"] for e in errors] == [11, 12, 14, 15, 16]
    assert by_line[11]["error"]["code"] == "malformed_json"
    assert by_line[12]["error"]["field"] == "title" and by_line[12]["listing_id"] == "no-title"
    assert by_line[14]["error"]["code"] == "too_large"
    assert by_line[15]["error"]["field"] == "description" and by_line[15]["listing_id"] == "long"
    assert by_line[16]["error"]["code"] == "invalid_utf8"
    text = " ".join(r.stdout.split())
    assert "line 11:" in text and "5 bad rows" in text
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["stats"]["records"] == len(lines) and manifest["stats"]["blank"] == 1
    assert manifest["ranges"] == [[1, len(lines)]]
    assert manifest["stats"]["decided"] == len(decisions) == 40
    assert manifest["data_digests"] == engine.snapshot.digests
    assert not (tmp_path / "out.jsonl.parts").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_jsonl_decisions_equal_the_engine(tmp_path, engine):
    rows = listings(60)
    src = write_jsonl(tmp_path / "cat.jsonl", rows)
    out = tmp_path / "out.jsonl"
    r = run("rescan", str(src), "-o", str(out), "--workers", "1", "--chunk-size", "16", "--no-report")
    assert r.exit_code == 0, r.output
    decisions = read_jsonl(out)
    assert [d["listing_id"] for d in decisions] == [x["listing_id"] for x in rows]
    assert got(decisions) == expected(engine, rows)
    assert {d["action"] for d in decisions} >= {"allow", "block"}
    assert not (tmp_path / "out.report.md").exists()


def test_report_has_counts_rules_errors_and_a_chart(tmp_path):
    rows = listings(24) + ['{"oops"']
    src = write_jsonl(tmp_path / "cat.jsonl", rows)
    r = run("rescan", str(src), "-o", str(tmp_path / "out.jsonl"), "--workers", "1")
    assert r.exit_code == 1, r.output
    md = (tmp_path / "out.report.md").read_text(encoding="utf-8")
    page = (tmp_path / "out.report.html").read_text(encoding="utf-8")
    decisions = read_jsonl(tmp_path / "out.jsonl")
    blocked = sum(d["action"] == "block" for d in decisions)
    assert f"| block | {blocked:,} |" in md
    assert "ecig.e_liquid" in md and "## Top rules" in md and "malformed_json" in md and "line 25" in md
    assert "e_cigarette" in md  # per category
    assert "<svg" in page and "ecig.e_liquid" in page and "<table>" in page
    assert "line 25" in page


def test_as_of_is_applied_and_the_diff_names_what_changed_by_rule(tmp_path, engine):
    rows = listings(48)
    src = write_jsonl(tmp_path / "cat.jsonl", rows)
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    r = run("rescan", str(src), "-o", str(before), "--as-of", "2021-12-01", "--workers", "1")
    assert r.exit_code == 0, r.output
    assert {d["as_of"] for d in read_jsonl(before)} == {"2021-12-01"}
    r = run("rescan", str(src), "-o", str(after), "--as-of", "2022-06-01", "--workers", "2", "--diff", str(before))
    assert r.exit_code == 0, r.output
    old = got(read_jsonl(before))
    new = got(read_jsonl(after))
    assert old == expected(engine, rows, dt.date(2021, 12, 1)) and new == expected(engine, rows, dt.date(2022, 6, 1))
    changed = {k for k in new if new[k] != old[k]}
    assert changed, "the e-liquid ban of 2021-12-09 must change some decisions"
    diff = read_jsonl(tmp_path / "after.diff.jsonl")
    assert {d["listing_id"] for d in diff} == changed
    newly_e_liquid = {k for k in changed if "ecig.e_liquid" in new[k][2] and "ecig.e_liquid" not in old[k][2]}
    summary = json.loads((tmp_path / "after.manifest.json").read_text())["diff"]["summary"]
    assert summary["rules"]["ecig.e_liquid"]["added"] == len(newly_e_liquid) > 0
    assert summary["changed"] == len(changed) and summary["unchanged"] == len(rows) - len(changed)
    assert summary["effects"]["blocked"] == sum(new[k][0] == "block" != old[k][0] for k in changed)
    assert "Changes grouped by rule" in (tmp_path / "after.report.md").read_text()
    # the standalone command gives the same summary
    r = run("rescan-diff", str(before), str(after), "-o", str(tmp_path / "d2.jsonl"), "--json")
    assert r.exit_code == 0, r.output
    alone = json.loads(r.stdout)
    assert {k: alone[k] for k in ("changed", "effects", "rules", "transitions")} == {
        k: summary[k] for k in ("changed", "effects", "rules", "transitions")}


def test_diff_in_buckets_equals_diff_in_memory(tmp_path):
    from app.rescan.diff import diff_runs

    def dec(lid, action, rules, regions=()):
        return {"listing_id": lid, "action": action, "masked_regions": list(regions), "restrictions": [],
                "violations": [{"rule_id": r, "points": 1, "regions": list(regions)} for r in rules]}

    old = [dec(f"x{i}", "allow", []) for i in range(300)] + [dec("gone", "block", ["a"])]
    new = ([dec(f"x{i}", "block", ["a"]) if i % 10 == 0 else
            dec(f"x{i}", "region_mask", ["b"], ["US"]) if i % 10 == 1 else dec(f"x{i}", "allow", []) for i in range(300)]
           + [dec("fresh", "allow", [])])
    write_jsonl(tmp_path / "old.jsonl", old)
    write_jsonl(tmp_path / "new.jsonl", new)
    one = diff_runs(tmp_path / "old.jsonl", tmp_path / "new.jsonl", tmp_path / "d1.jsonl")
    many = diff_runs(tmp_path / "old.jsonl", tmp_path / "new.jsonl", tmp_path / "d2.jsonl", bucket_bytes=2000)
    assert one["buckets"] == 1 and many["buckets"] > 4
    assert {k: v for k, v in one.items() if k != "buckets"} == {k: v for k, v in many.items() if k != "buckets"}
    assert sorted(read_jsonl(tmp_path / "d1.jsonl"), key=lambda d: d["listing_id"]) == sorted(
        read_jsonl(tmp_path / "d2.jsonl"), key=lambda d: d["listing_id"])
    assert one["changed"] == 60 and one["added"] == 1 and one["removed"] == 1
    assert one["effects"]["blocked"] == 30 and one["effects"]["masked_more"] == 30
    assert one["rules"]["a"] == {"added": 30, "removed": 1, "changed": 0}
    assert one["transitions"] == {"allow→block": 30, "allow→region_mask": 30}


# -------------------------------------------------------------------------------------- CSV, Parquet
def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _csv_cells(d: dict, header: list[str]) -> list[str]:
    return [json.dumps(d[h]) if h in ("keywords", "attributes", "seller", "destinations") and h in d
            else d.get(h, "") for h in header]


def test_csv_rescan_with_json_cells_bad_rows_and_row_numbers(tmp_path, engine):
    header = ["listing_id", "title", "description", "keywords", "attributes", "seller", "destinations", "source"]
    good = listings(30)
    rows = [_csv_cells(d, header) for d in good[:5]]
    rows.append(["short-row", "only three", "cells"])                        # row 6: wrong field count
    rows.append(["no-title", "", "x", "", "", "", "", "s"])                  # row 7: missing title
    rows.append(["bad-json", "t", "", "[not json", "", "", "", "s"])         # row 8: keywords cell not JSON
    rows.append(["huge", "t", "d" * 5_000_000, "", "", "", "", "s"])          # row 9: 5 MB description
    rows += [_csv_cells(d, header) for d in good[5:]]
    src = _csv(tmp_path / "cat.csv", header, rows)
    out = tmp_path / "out.jsonl"
    r = run("rescan", str(src), "-o", str(out), "--chunk-size", "4")
    assert r.exit_code == 2 and "source" in r.stderr  # an unknown column is named
    r = run("rescan", str(src), "-o", str(out), "--chunk-size", "4", "--ignore-column", "source", "--workers", "2")
    assert r.exit_code == 1, r.output
    decisions = read_jsonl(out)
    assert [d["listing_id"] for d in decisions] == [g["listing_id"] for g in good]
    assert got(decisions) == expected(engine, good)
    errors = {e["row"]: e for e in read_jsonl(tmp_path / "out.errors.jsonl")}
    assert set(errors) == {6, 7, 8, 9}
    assert errors[6]["error"]["code"] == "bad_csv_row" and errors[6]["error"]["line"] == 7
    assert errors[7]["error"]["field"] == "title" and errors[7]["listing_id"] == "no-title"
    assert errors[8]["error"]["field"] == "keywords"
    assert errors[9]["error"]["code"] in ("too_large", "validation_error") and errors[9]["listing_id"] == "huge"


def test_csv_without_a_title_column_is_a_usage_error(tmp_path):
    src = _csv(tmp_path / "c.csv", ["listing_id", "description"], [["a", "b"]])
    r = run("rescan", str(src), "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 2 and "'title'" in r.stderr


def test_parquet_with_native_nested_columns_equals_jsonl(tmp_path, engine):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = listings(45)
    schema = pa.schema([("listing_id", pa.string()), ("title", pa.string()), ("description", pa.string()),
                        ("keywords", pa.list_(pa.string())), ("attributes", pa.map_(pa.string(), pa.string())),
                        ("seller", pa.struct([("seller_id", pa.string()), ("country", pa.string())])),
                        ("destinations", pa.list_(pa.string()))])
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    cols["attributes"] = [list(a.items()) if a else None for a in cols["attributes"]]
    bad = {"listing_id": "p-bad", "title": None, "description": "no title", "keywords": None, "attributes": None,
           "seller": None, "destinations": None}
    for k, v in bad.items():
        cols[k].insert(20, v)
    table = pa.Table.from_pydict(cols, schema=schema)
    pq.write_table(table, tmp_path / "cat.parquet", row_group_size=13)  # row groups across chunk boundaries
    out = tmp_path / "out.jsonl"
    r = run("rescan", str(tmp_path / "cat.parquet"), "-o", str(out), "--chunk-size", "10", "--workers", "2")
    assert r.exit_code == 1, r.output
    decisions = read_jsonl(out)
    assert [d["listing_id"] for d in decisions] == [x["listing_id"] for x in rows]
    assert got(decisions) == expected(engine, rows)
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert [(e["row"], e["listing_id"], e["error"]["field"]) for e in errors] == [(21, "p-bad", "title")]


def test_parquet_reader_cuts_exact_chunks_across_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from app.rescan.readers import open_reader

    n = 103
    pq.write_table(pa.table({"listing_id": [f"i{i}" for i in range(n)], "title": ["t"] * n}),
                   tmp_path / "x.parquet", row_group_size=17)
    reader = open_reader(tmp_path / "x.parquet")
    chunks = list(reader.chunks(10))
    assert [c.start for c in chunks] == list(range(1, n + 1, 10))
    assert [c.count for c in chunks] == [10] * 10 + [3]
    assert [r["listing_id"] for c in chunks for r in c.payload.to_pylist()] == [f"i{i}" for i in range(n)]
    again = list(reader.chunks(10, skip={0, 3, 10}))
    assert [c.index for c in again] == [1, 2, 4, 5, 6, 7, 8, 9]
    assert again[2].payload.to_pylist()[0]["listing_id"] == "i40"


# --------------------------------------------------------------------------------------- resume
class Stop(Exception):
    pass


class StopAfter:
    """A progress sink that interrupts the run after ``n`` committed chunks (like a Ctrl-C)."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def start(self, *a):
        pass

    def advance(self, *a):
        self.seen += 1
        if self.seen == self.n:
            raise Stop


def _moderate() -> list[str]:
    return [sys.executable, "-m", "app.cli.main"]


def test_sigkilled_rescan_resumes_with_every_listing_decided_exactly_once(tmp_path, engine):
    rows = listings(30_000, prefix="k")  # long enough (~10 s) to be killed mid-run on an idle machine
    rows.insert(777, '{"listing_id": "bad-json"')  # a bad row survives the resume too (line 778)
    src = write_jsonl(tmp_path / "cat.jsonl", rows)
    out = tmp_path / "out.jsonl"
    work = tmp_path / "out.jsonl.parts"
    cmd = [*_moderate(), "rescan", str(src), "-o", str(out), "--workers", "2", "--chunk-size", "50"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline:  # wait until about a third of the chunks are committed
            try:
                done = len(json.loads((work / "manifest.json").read_text())["chunks"])
            except (OSError, ValueError, KeyError):
                done = 0
            if done >= 25:
                break
            assert proc.poll() is None, "the rescan ended before it could be killed"
            time.sleep(0.02)
        else:
            pytest.fail("no chunks committed within 120 s")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.5)  # the workers die with their parent (PR_SET_PDEATHSIG)
    assert not out.exists(), "a killed run must not leave an output file"
    manifest = json.loads((work / "manifest.json").read_text())
    committed = {int(k) for k in manifest["chunks"]}
    n_chunks = -(-len(rows) // 50)
    assert 0 < len(committed) < n_chunks
    # a part file the manifest does not list (killed between the rename and the manifest write) is redone
    stray = min(set(range(n_chunks)) - committed)
    (work / f"part-{stray:06d}.jsonl").write_text('{"listing_id": "stray"}\n')

    r = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--resume" in r.stderr  # never silently starts over
    r = subprocess.run([*cmd, "--resume"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr  # 1: one bad row
    decisions = read_jsonl(out)
    ids = [d["listing_id"] for d in decisions]
    good = [x for x in rows if isinstance(x, dict)]
    assert ids == [x["listing_id"] for x in good]  # every listing once, in input order, no stray
    assert len(set(ids)) == len(ids)
    assert [e["line"] for e in read_jsonl(tmp_path / "out.errors.jsonl")] == [778]
    sample = good[::41]
    by_id = got(decisions)
    assert {x["listing_id"]: by_id[x["listing_id"]] for x in sample} == expected(engine, sample)
    final = json.loads((tmp_path / "out.manifest.json").read_text())
    assert len(final["attempts"]) == 2 and final["ranges"] == [[1, len(rows)]]
    assert final["stats"]["decided"] == len(good) and final["stats"]["errors"] == 1
    assert not work.exists()
    # resuming a finished run is a no-op
    r = subprocess.run([*cmd, "--resume"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "nothing to resume" in r.stdout


def test_resume_refuses_a_changed_input_and_restart_starts_over(tmp_path):
    from app.rescan.runner import RescanError, RescanOptions, run_rescan

    src = write_jsonl(tmp_path / "cat.jsonl", listings(30))
    out = tmp_path / "out.jsonl"
    work = tmp_path / "out.jsonl.parts"

    opts = RescanOptions(input=src, output=out, workers=1, chunk_size=5, max_inflight=1)
    with pytest.raises(Stop):
        run_rescan(opts, StopAfter(2))
    assert len(json.loads((work / "manifest.json").read_text())["chunks"]) == 2
    write_jsonl(src, listings(31))  # the catalogue changed
    with pytest.raises(RescanError, match="input changed"):
        run_rescan(RescanOptions(input=src, output=out, workers=1, chunk_size=5, resume=True))
    with pytest.raises(RescanError, match="as-of"):
        write_jsonl(src, listings(30))
        os.utime(src, ns=(0, 0))
        doc = json.loads((work / "manifest.json").read_text())
        doc["input"]["mtime_ns"] = 0
        (work / "manifest.json").write_text(json.dumps(doc))
        run_rescan(RescanOptions(input=src, output=out, workers=1, chunk_size=5, resume=True,
                                 as_of=dt.date(2020, 1, 1)))
    res = run_rescan(RescanOptions(input=src, output=out, workers=1, chunk_size=5, resume=True))
    assert res.resumed_chunks == 2 and len(read_jsonl(out)) == 30
    res = run_rescan(RescanOptions(input=src, output=out, workers=1, chunk_size=5, restart=True))
    assert res.resumed_chunks == 0 and len(read_jsonl(out)) == 30


def test_missing_input_and_bad_format_are_usage_errors(tmp_path):
    r = run("rescan", str(tmp_path / "absent.jsonl"), "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 2 and "does not exist" in r.stderr
    (tmp_path / "x.txt").write_text("{}")
    r = run("rescan", str(tmp_path / "x.txt"), "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 2 and "--format" in r.stderr
    r = run("rescan", str(tmp_path / "x.txt"), "-o", str(tmp_path / "no" / "o.jsonl"), "--format", "jsonl")
    assert r.exit_code == 2 and "does not exist" in r.stderr


# ---------------------------------------------------------------------------------------- store
def test_store_records_each_listing_once_across_a_resume(tmp_path):
    pytest.importorskip("sqlalchemy", reason="the audit store needs SQLAlchemy")
    from sqlalchemy import func, select

    from app.rescan.runner import RescanOptions, run_rescan
    from app.store import Store
    from app.store.models import DecisionRow

    rows = listings(30)
    src = write_jsonl(tmp_path / "cat.jsonl", rows)
    out = tmp_path / "out.jsonl"
    work = tmp_path / "out.jsonl.parts"
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"

    opts = dict(input=src, output=out, workers=1, chunk_size=5, store_url=url)
    with pytest.raises(Stop):
        run_rescan(RescanOptions(**opts, max_inflight=1), StopAfter(3))
    # forget a stored chunk, as if killed between the store's commit and the manifest's
    doc = json.loads((work / "manifest.json").read_text())
    assert len(doc["chunks"]) == 3
    del doc["chunks"]["1"]
    (work / "manifest.json").write_text(json.dumps(doc))
    res = run_rescan(RescanOptions(**opts, resume=True))
    assert res.resumed_chunks == 2
    decisions = read_jsonl(out)
    assert [d["listing_id"] for d in decisions] == [r["listing_id"] for r in rows]
    store = Store(url, migrate=False)
    with store.begin() as s:
        assert s.scalar(select(func.count()).select_from(DecisionRow)) == len(rows)
        stored = dict(s.execute(select(DecisionRow.decision_id, DecisionRow.source)).all())
    assert set(stored) == {d["decision_id"] for d in decisions}  # the output names the stored decisions
    assert set(stored.values()) == {"rescan"}
    store.dispose()


def test_broken_data_files_exit_3_naming_the_file(tmp_path, monkeypatch):
    import shutil

    from app.config import REPO_ROOT as root

    data = tmp_path / "data"
    for name in ("policy", "lexicons", "cas_lists", "devices", "models"):
        if (root / name).is_dir():
            shutil.copytree(root / name, data / name)
    (data / "lexicons" / "e_cigarette.yaml").write_text("terms: [unclosed", encoding="utf-8")
    monkeypatch.setenv("MODERATE_DATA_DIR", str(data))
    src = write_jsonl(tmp_path / "cat.jsonl", listings(5))
    r = run("rescan", str(src), "-o", str(tmp_path / "out.jsonl"), "--workers", "1")
    assert r.exit_code == 3, r.output
    assert "e_cigarette.yaml" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "out.jsonl").exists()
