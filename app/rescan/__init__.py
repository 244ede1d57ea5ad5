"""Batch rescans of the whole catalogue, engine-agnostic of where they run.

* :mod:`app.rescan.records` — input record -> Listing or an error record (shared with ``moderate batch``);
* :mod:`app.rescan.readers` — JSONL / CSV / Parquet read in fixed-size chunks (memory flat in size);
* :mod:`app.rescan.worker` — a pool worker: engine built once (initializer), chunk -> part files;
* :mod:`app.rescan.runner` — the run: process pool, checkpoint manifest, ``resume``, merge;
* :mod:`app.rescan.diff` — what changed against a previous run, grouped by rule;
* :mod:`app.rescan.report` — Markdown and HTML (with a chart) summaries;
* :mod:`app.rescan.spark_job` — the same decisions as a PySpark ``mapInPandas`` job.

Nothing is built at import time.
"""
