"""The rescan as a PySpark job, for catalogues beyond one machine: ``mapInPandas`` over a DataFrame
of listings, the same parsing (:mod:`app.rescan.records`) and the same engine as ``moderate rescan``.

The engine is built once per Python worker process (the first batch a worker sees builds it and
keeps it in a module-level cache; with ``spark.python.worker.reuse`` — Spark's default — every
later task of that worker reuses it). Nothing is built when the module is imported. Each worker
checks that its data files have the driver's digests, so a cluster never mixes two policies.

Input: Parquet (columns named like Listing fields, nested ones native or JSON text), JSON lines
(read as text, one listing per line, parsed exactly as ``moderate rescan`` does) or CSV (header;
Spark's CSV reader, ``multiLine``). Output folder::

    OUT/results/   Parquet: kind ("decision" | "error"), listing_id, action, masked_regions,
                   restrictions, review, rule_ids, points_a, points_b, decision (the Decision JSON,
                   without data_digests), error (the error record JSON), partition, index
    OUT/summary.json  counts per action and errors, policy version, data digests

Bad rows are ``kind = "error"`` with the same error record as the local rescan; their position is
``partition``/``index`` (the Spark partition and the row within it), since Spark has no global line
numbers without an extra pass.

Run it (the package installed on every node, or shipped with ``--py-files``; the data files —
``policy/``, ``lexicons/``, ``cas_lists/`` — present on every node under MODERATE_DATA_DIR)::

    spark-submit --master 'local[*]' \\
        --conf spark.pyspark.python=$PWD/.venv/bin/python \\
        --conf spark.executorEnv.MODERATE_DATA_DIR=$PWD \\
        app/rescan/spark_job.py catalogue.parquet out_spark/ --as-of 2026-11-23

On a cluster use ``--master yarn`` (or ``k8s://…``), ``--archives data.tar.gz#data`` with
``spark.executorEnv.MODERATE_DATA_DIR=./data``, and ``--py-files dist/listing_moderation.zip``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any, Iterator, Optional

OUTPUT_SCHEMA = ("kind string, listing_id string, action string, masked_regions array<string>, "
                 "restrictions array<string>, review boolean, rule_ids array<string>, points_a int, points_b int, "
                 "decision string, error string, partition int, index long")
DIAGNOSTIC_SCHEMA = OUTPUT_SCHEMA + ", worker_pid int, engine_builds int"

# Per Python worker process: filled by the first batch, never at import time.
_ENGINE: Any = None
_BUILDS = 0


def _worker_engine(digests: Optional[dict[str, str]]):
    global _ENGINE, _BUILDS
    if _ENGINE is None:
        from app.config import Settings
        from app.engine import Engine

        engine = Engine(Settings())
        if digests is not None and engine.snapshot.digests != digests:
            differ = sorted(k for k in set(digests) | set(engine.snapshot.digests)
                            if digests.get(k) != engine.snapshot.digests.get(k))
            raise RuntimeError(f"this executor's data files differ from the driver's: {', '.join(differ)} "
                               "(set spark.executorEnv.MODERATE_DATA_DIR to the same files)")
        _ENGINE = engine
        _BUILDS += 1
    return _ENGINE


def moderate_batches(batches: Iterator[Any], *, source: str, as_of: Optional[str], default_day: str,
                     max_bytes: int, digests: Optional[dict[str, str]] = None, diagnostics: bool = False
                     ) -> Iterator[Any]:
    """The ``mapInPandas`` function: pandas DataFrames of listings in, of results out.
    ``source`` is ``"rows"`` (one column per Listing field) or ``"jsonl"`` (a ``value`` text column)."""
    import pandas as pd
    from pyspark import TaskContext

    from app.rescan.records import decision_json, decode_json_line, error_record, row_to_listing
    from app.rescan.worker import moderate

    engine = _worker_engine(digests)
    day = dt.date.fromisoformat(default_day)
    fixed = dt.date.fromisoformat(as_of) if as_of else None
    ctx = TaskContext.get()
    part = ctx.partitionId() if ctx is not None else -1
    index = 0
    pid = os.getpid()
    for pdf in batches:
        out: list[dict[str, Any]] = []
        records = pdf.to_dict("records")
        for rec in records:
            index += 1
            if source == "jsonl":
                value = rec.get("value")
                # position 1: a byte-order mark is dropped on every line (Spark splits files anywhere)
                parsed = decode_json_line((value or "").encode("utf-8", "surrogateescape"), 1, max_bytes)
                if isinstance(parsed, dict):
                    parsed.pop("line", None)
            else:
                parsed = row_to_listing(rec, index, max_bytes)
                if isinstance(parsed, dict):
                    parsed.pop("row", None)
            row: dict[str, Any] = {"partition": part, "index": index - 1}
            if parsed is None:
                continue  # a blank line
            if not isinstance(parsed, dict):
                try:
                    d = moderate(engine, parsed, fixed, day)
                except Exception as exc:  # noqa: BLE001 - one listing, not the job
                    parsed = error_record("row", 0, "internal_error", f"{type(exc).__name__}: {exc}", None,
                                          parsed.listing_id)
                    parsed.pop("row")
                else:
                    row.update(kind="decision", listing_id=d.listing_id, action=d.action,
                               masked_regions=list(d.masked_regions), restrictions=list(d.restrictions),
                               review=bool(d.review), rule_ids=[v.rule_id for v in d.violations],
                               points_a=d.points.A, points_b=d.points.B,
                               decision=decision_json(d).decode().rstrip("\n"), error=None)
            if isinstance(parsed, dict):
                row.update(kind="error", listing_id=parsed.get("listing_id"), action=None, masked_regions=None,
                           restrictions=None, review=None, rule_ids=None, points_a=None, points_b=None,
                           decision=None, error=json.dumps({"partition": part, "index": index - 1, **parsed},
                                                           ensure_ascii=True))
            if diagnostics:
                row.update(worker_pid=pid, engine_builds=_BUILDS)
            out.append(row)
        columns = [c.split(" ")[0] for c in (DIAGNOSTIC_SCHEMA if diagnostics else OUTPUT_SCHEMA).split(", ")]
        yield pd.DataFrame(out, columns=columns)


def _run_identity() -> tuple[dict[str, str], int]:
    """The driver's data digests and listing size limit (no automata compiled)."""
    from app.rescan.runner import _snapshot_identity

    _, digests, max_bytes = _snapshot_identity()
    return digests, max_bytes


def rescan_dataframe(df, *, source: str = "rows", as_of: Optional[dt.date] = None,
                     default_day: Optional[dt.date] = None, diagnostics: bool = False):
    """The lazy result DataFrame (see :data:`OUTPUT_SCHEMA`) of a DataFrame of listings.
    ``source="jsonl"``: ``df`` has one string column ``value`` (``spark.read.text``)."""
    from functools import partial

    digests, max_bytes = _run_identity()
    day = default_day or dt.datetime.now(dt.timezone.utc).date()
    if source == "rows":
        from app.rescan.readers import LISTING_FIELDS

        unknown = [c for c in df.columns if c not in LISTING_FIELDS]
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}: Listing fields are {', '.join(LISTING_FIELDS)}")
    fn = partial(moderate_batches, source=source, as_of=as_of.isoformat() if as_of else None,
                 default_day=day.isoformat(), max_bytes=max_bytes, digests=digests, diagnostics=diagnostics)
    return df.mapInPandas(fn, DIAGNOSTIC_SCHEMA if diagnostics else OUTPUT_SCHEMA)


def read_listings(spark, path: str, fmt: str):
    """(DataFrame, source) for a Parquet, JSON-lines or CSV catalogue."""
    if fmt == "parquet":
        return spark.read.parquet(path), "rows"
    if fmt == "jsonl":
        return spark.read.text(path), "jsonl"
    if fmt == "csv":
        return spark.read.option("header", True).option("multiLine", True).option("escape", '"').csv(path), "rows"
    raise ValueError(f"unknown format {fmt!r}: parquet, jsonl or csv")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="spark_job.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="catalogue: a file or a folder of files")
    parser.add_argument("output", help="output folder (must not exist)")
    parser.add_argument("--format", choices=("parquet", "jsonl", "csv"), default=None,
                        help="default: from the extension")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--partitions", type=int, default=0, help="repartition the input (0 = as read)")
    parser.add_argument("--master", default=None, help="e.g. local[4] when not run by spark-submit")
    args = parser.parse_args(argv)
    fmt = args.format
    if fmt is None:
        from app.rescan.readers import detect_format
        from pathlib import Path

        fmt = detect_format(Path(args.input.rstrip("/")))

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    builder = SparkSession.builder.appName("moderate-rescan")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    df, source = read_listings(spark, args.input, fmt)
    if args.partitions:
        df = df.repartition(args.partitions)
    day = dt.datetime.now(dt.timezone.utc).date()
    results = os.path.join(args.output, "results")
    rescan_dataframe(df, source=source, as_of=args.as_of, default_day=day).write.parquet(results)
    written = spark.read.parquet(results)
    counts = {r["k"]: r["n"] for r in written.select(F.coalesce("action", "kind").alias("k"))
              .groupBy("k").agg(F.count("*").alias("n")).collect()}
    digests, _ = _run_identity()
    summary = {"input": args.input, "format": fmt, "as_of": args.as_of.isoformat() if args.as_of else None,
               "default_day": day.isoformat(), "counts": counts, "data_digests": digests}
    with open(os.path.join(args.output, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1)
    print(json.dumps(summary["counts"]))
    spark.stop()
    return 0


if __name__ == "__main__":
    # run by spark-submit as a script: call the *module*'s main so that the functions shipped to the
    # executors are pickled by reference (app.rescan.spark_job) and its engine cache is per process
    from app.rescan.spark_job import main as _main

    sys.exit(_main())
