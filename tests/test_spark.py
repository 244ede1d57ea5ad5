"""The PySpark job (``app/rescan/spark_job.py``) in Spark local mode: several partitions, the engine
built once per Python worker, and the same decisions as the local ``moderate rescan``."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys

import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[test]')")

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime: Spark needs Java 17")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("test-rescan")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .config("spark.driver.memory", "1g").getOrCreate())
    yield session
    session.stop()


def _catalogue(n: int) -> list[dict]:
    from tests.test_rescan import listings

    rows = listings(n, prefix="s")
    rows[100] = {"listing_id": "s-no-title", "description": "no title here"}
    rows[n * 5 // 8] = {"listing_id": "s-long", "title": "t", "description": "d" * 200_001}
    return rows


def test_spark_job_decides_like_the_local_rescan(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from app.rescan.runner import RescanOptions, run_rescan
    from app.rescan.spark_job import read_listings, rescan_dataframe

    rows = _catalogue(4000)
    as_of = dt.date(2026, 11, 23)
    cols = ["listing_id", "title", "description", "keywords", "attributes", "seller", "destinations"]
    table = pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows])
    path = tmp_path / "cat.parquet"
    pq.write_table(table, path, row_group_size=500)

    local = run_rescan(RescanOptions(input=path, output=tmp_path / "local.jsonl", workers=2, chunk_size=700,
                                     as_of=as_of, report=False))
    want = {}
    for line in (tmp_path / "local.jsonl").read_text().splitlines():
        d = json.loads(line)
        want[d["listing_id"]] = (d["action"], sorted(d["masked_regions"]),
                                 sorted(v["rule_id"] for v in d["violations"]), d["points"]["A"], d["points"]["B"])
    local_errors = {json.loads(x)["listing_id"]: json.loads(x)["error"]["field"]
                    for x in (tmp_path / "local.errors.jsonl").read_text().splitlines()}
    assert local.stats["errors"] == 2 and len(want) == 3998

    df, source = read_listings(spark, str(path), "parquet")
    df = df.repartition(5)
    assert df.rdd.getNumPartitions() >= 4
    result = rescan_dataframe(df, source=source, as_of=as_of, diagnostics=True).collect()
    decisions = [r for r in result if r["kind"] == "decision"]
    got = {r["listing_id"]: (r["action"], sorted(r["masked_regions"]), sorted(r["rule_ids"]), r["points_a"],
                             r["points_b"]) for r in decisions}
    assert len(decisions) == len(got) == 3998  # each listing once
    assert got == want
    assert {a for a, *_ in got.values()} >= {"allow", "block"}
    errors = {r["listing_id"]: json.loads(r["error"])["error"]["field"] for r in result if r["kind"] == "error"}
    assert errors == local_errors == {"s-no-title": "title", "s-long": "description"}
    # the decision JSON is the local rescan's line (same schema, same evidence)
    sample = json.loads(decisions[0]["decision"])
    assert sample["listing_id"] == decisions[0]["listing_id"] and "data_digests" not in sample
    # the engine was built once per Python worker process, however many partitions it served
    partitions_per_pid: dict[int, set[int]] = {}
    for r in result:
        assert r["engine_builds"] == 1, "the engine must be cached per worker, not rebuilt per partition"
        partitions_per_pid.setdefault(r["worker_pid"], set()).add(r["partition"])
    assert sum(len(p) for p in partitions_per_pid.values()) == 5
    assert len(partitions_per_pid) < 5  # workers were reused across partitions


def test_spark_job_main_reads_jsonl_and_writes_results(spark, tmp_path):
    from app.rescan.spark_job import main

    rows = _catalogue(600)
    src = tmp_path / "cat.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"listing_id": "broken"\n', encoding="utf-8")
    out = tmp_path / "out"
    assert main([str(src), str(out), "--as-of", "2026-11-23", "--partitions", "4"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert sum(v for k, v in summary["counts"].items() if k != "error") == 598
    assert summary["counts"]["error"] == 3  # no title, too long, malformed JSON
    assert summary["data_digests"]
