"""A rescan run: read the catalogue in chunks, decide them in a process pool, checkpoint, merge.

Files, for ``-o out.jsonl``:

* ``out.jsonl.parts/`` — the work folder while the run is under way: ``manifest.json`` (the run's
  parameters and every committed chunk with its input range and counts), ``part-NNNNNN.jsonl`` and
  ``errors-NNNNNN.jsonl``. Removed when the run is complete.
* ``out.jsonl`` — every decision, in input order (the part files concatenated); each line is a
  Decision without ``data_digests`` (those are in the manifest).
* ``out.errors.jsonl`` — every bad row: ``{"line"|"row": n, "listing_id", "error": {...}}``.
* ``out.manifest.json`` — the final manifest (parameters, digests, totals, timings).
* ``out.diff.jsonl`` — with ``diff=PREVIOUS``: the listings whose decision changed.
* ``out.report.md`` / ``out.report.html`` — the summary (and the diff's, when there is one).

Exactly once: a chunk counts as done only when the manifest lists it, and the manifest lists it
only after its part files were renamed into place (:func:`app.rescan.worker.commit_chunk`). A
resumed run skips the listed chunks and redoes the rest, replacing any part file an interrupted
attempt left; the merge takes one part per chunk index, so each input position is decided once.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import shutil
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

from app.rescan.files import atomic_writer, default_errors_path, fsync_dir, sibling, write_json_atomic
from app.rescan.readers import InputError, Reader, open_reader
from app.rescan.worker import (WorkerConfig, WorkerStartError, errors_part_name, init_worker, merge_stats,
                               new_stats, part_name, run_chunk)

MANIFEST_FORMAT = 1
DEFAULT_CHUNK_SIZE = 2000


class RescanError(Exception):
    """A run that cannot start or finish; ``code`` is the CLI exit code (2 usage, 3 environment)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class ProgressSink(Protocol):
    def start(self, total_units: Optional[int], unit: str, done_units: int, done_records: int) -> None: ...
    def advance(self, units: int, decided: int, errors: int) -> None: ...


@dataclass
class RescanOptions:
    input: Path
    output: Path
    errors: Optional[Path] = None
    fmt: Optional[str] = None
    as_of: Optional[dt.date] = None
    workers: int = 0                       # 0 = all cores
    chunk_size: int = DEFAULT_CHUNK_SIZE
    resume: bool = False
    restart: bool = False
    ignore_columns: tuple[str, ...] = ()
    diff: Optional[Path] = None            # a previous run's output
    report: bool = True
    max_inflight: int = 0                  # chunks submitted and not done; 0 = 2 x workers
    store_url: Optional[str] = None        # record every decision in the audit store (app/store)


@dataclass
class RescanResult:
    output: Path
    errors_path: Path
    manifest_path: Path
    stats: dict[str, Any]
    elapsed: float                  # this attempt
    elapsed_total: float            # all attempts
    decided_now: int                # listings decided in this attempt
    resumed_chunks: int             # chunks kept from earlier attempts
    already_complete: bool = False
    report_paths: list[Path] = field(default_factory=list)
    diff_path: Optional[Path] = None
    diff_summary: Optional[dict[str, Any]] = None
    manifest: dict[str, Any] = field(default_factory=dict)


def work_dir_for(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _input_identity(reader: Reader, path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "format": reader.fmt, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class _Manifest:
    """The work folder's manifest, rewritten atomically (at most about once a second, and at the end)."""

    def __init__(self, path: Path, doc: dict[str, Any]):
        self.path, self.doc = path, doc
        self.dirty = False
        self.last = 0.0

    def add(self, result: dict[str, Any], units: int) -> None:
        self.doc["chunks"][str(result["index"])] = {"start": result["start"], "count": result["count"],
                                                    "units": units, "stats": result["stats"]}
        self.dirty = True

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.dirty and (force or now - self.last >= 1.0):
            write_json_atomic(self.path, self.doc)
            self.dirty, self.last = False, now


def _check_resumable(doc: dict[str, Any], ident: dict[str, Any], opts: RescanOptions, digests: dict[str, str]
                     ) -> None:
    def refuse(why: str) -> RescanError:
        return RescanError(2, f"cannot resume: {why}; start over with --restart")

    if doc.get("format") != MANIFEST_FORMAT:
        raise refuse("the work folder was written by another version")
    old = doc["input"]
    if (old["path"], old["format"], old["size"], old["mtime_ns"]) != (ident["path"], ident["format"],
                                                                        ident["size"], ident["mtime_ns"]):
        raise refuse(f"the input changed since the interrupted run ({old['path']}, {old['size']:,} bytes)")
    if opts.as_of is not None and doc.get("as_of") != opts.as_of.isoformat():
        raise refuse(f"the interrupted run used --as-of {doc.get('as_of') or '(none)'}, not {opts.as_of}")
    if doc.get("data_digests") != digests:
        changed = sorted(k for k in set(doc.get("data_digests", {})) | set(digests)
                         if doc.get("data_digests", {}).get(k) != digests.get(k))
        raise refuse(f"the data files changed since the interrupted run ({', '.join(changed)})")
    if tuple(doc.get("ignore_columns", ())) != tuple(opts.ignore_columns):
        raise refuse("the interrupted run ignored other columns")
    if doc.get("store") != _safe_url(opts.store_url):
        raise refuse(f"the interrupted run stored its decisions in {doc.get('store') or '(no store)'}; "
                     "resume with the same --store")


def _safe_url(url: Optional[str]) -> Optional[str]:
    if not url:
        return None
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _snapshot_identity() -> tuple[str, dict[str, str], int]:
    """(policy version, data digests, max listing bytes) without compiling the automata."""
    import hashlib

    import app.engine  # noqa: F401  (app.policy needs app.checks imported first; nothing is built)
    from app.config import Settings
    from app.policy import load_policy

    settings = Settings()
    try:
        version = load_policy(settings.policy_path).version
        root = settings.data_root.resolve()
        digests = {}
        for p in settings.data_files():
            try:
                name = str(p.resolve().relative_to(root))
            except ValueError:
                name = p.name
            digests[name] = hashlib.sha256(p.read_bytes()).hexdigest()
    except Exception as exc:  # noqa: BLE001
        raise RescanError(3, f"the data files do not load: {exc}") from None
    return version, digests, settings.max_body_bytes


def _terminate(pool: ProcessPoolExecutor) -> None:
    procs = list(getattr(pool, "_processes", {}) .values())
    for p in procs:
        if p.is_alive():
            p.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.join(5)


def _merge(work: Path, doc: dict[str, Any], output: Path, errors_path: Path) -> None:
    """Concatenate the part files in chunk order; check each has as many lines as the manifest says."""
    n = doc["chunks_total"]
    chunks = doc["chunks"]
    missing = [i for i in range(n) if str(i) not in chunks]
    if missing:
        raise RescanError(3, f"internal: chunks {missing[:5]} are not done")
    pos = 1
    for i in range(n):
        c = chunks[str(i)]
        if c["start"] != pos:
            raise RescanError(3, f"internal: chunk {i} starts at {c['start']}, expected {pos}")
        pos += c["count"]
    with atomic_writer(output) as out, atomic_writer(errors_path) as err:
        for i in range(n):
            st = chunks[str(i)]["stats"]
            for name, fh, want in ((part_name(i), out, st["decided"]), (errors_part_name(i), err, st["errors"])):
                p = work / name
                if not p.exists():
                    if want:
                        raise RescanError(3, f"internal: {p} is missing")
                    continue
                lines = 0
                with open(p, "rb") as src:
                    while block := src.read(1 << 20):
                        lines += block.count(b"\n")
                        fh.write(block)
                if lines != want:
                    raise RescanError(3, f"internal: {p} has {lines} lines, the manifest says {want}")


def run_rescan(opts: RescanOptions, progress: Optional[ProgressSink] = None) -> RescanResult:
    """Run (or resume) a rescan. Raises :class:`RescanError` for usage/environment problems;
    KeyboardInterrupt and other exceptions leave the work folder in place for ``resume``."""
    started = time.perf_counter()
    output = Path(opts.output)
    errors_path = Path(opts.errors) if opts.errors else default_errors_path(output)
    for p in (output, errors_path):
        if not p.parent.is_dir():
            raise RescanError(2, f"directory {p.parent} does not exist (for {p})")
    if output.resolve() == errors_path.resolve():
        raise RescanError(2, "the output and errors files must differ")
    if opts.chunk_size < 1:
        raise RescanError(2, "--chunk-size must be at least 1")
    try:
        reader = open_reader(Path(opts.input), opts.fmt, tuple(opts.ignore_columns))
    except InputError as exc:
        raise RescanError(2, str(exc)) from None
    if Path(opts.input).resolve() in (output.resolve(), errors_path.resolve()):
        raise RescanError(2, "the input and output files must differ")
    ident = _input_identity(reader, Path(opts.input))
    policy_version, digests, max_bytes = _snapshot_identity()
    work = work_dir_for(output)
    manifest_path = work / "manifest.json"
    final_manifest = sibling(output, ".manifest.json")

    doc: Optional[dict[str, Any]] = None
    if work.is_dir() and manifest_path.exists():
        if opts.restart:
            shutil.rmtree(work)
        elif not opts.resume:
            import json

            old = json.loads(manifest_path.read_text(encoding="utf-8"))
            raise RescanError(2, f"an interrupted run of {output} is in {work} ({len(old.get('chunks', {}))} "
                                 "chunks done): pass --resume to finish it, or --restart to start over")
        else:
            import json

            doc = json.loads(manifest_path.read_text(encoding="utf-8"))
            _check_resumable(doc, ident, opts, digests)
    elif work.is_dir():
        shutil.rmtree(work)  # killed before its first manifest: nothing was committed
    elif opts.resume and not opts.restart and final_manifest.exists() and output.exists():
        import json

        fin = json.loads(final_manifest.read_text(encoding="utf-8"))
        if fin.get("input") == ident and fin.get("data_digests") == digests and (
                opts.as_of is None or fin.get("as_of") == opts.as_of.isoformat()):
            return RescanResult(output, errors_path, final_manifest, fin["stats"], time.perf_counter() - started,
                                fin.get("elapsed_total", 0.0), 0, fin.get("chunks_total", 0),
                                already_complete=True, manifest=fin)

    if doc is None:
        default_day = dt.datetime.now(dt.timezone.utc).date()
        doc = {"format": MANIFEST_FORMAT, "input": ident, "chunk_size": opts.chunk_size,
               "as_of": opts.as_of.isoformat() if opts.as_of else None, "default_day": default_day.isoformat(),
               "ignore_columns": list(opts.ignore_columns), "policy_version": policy_version,
               "data_digests": digests, "run_id": uuid.uuid4().hex, "store": _safe_url(opts.store_url),
               "chunks_total": None, "attempts": [], "chunks": {}}
        work.mkdir()
        write_json_atomic(manifest_path, doc)
        fsync_dir(work.parent)
    chunk_size = doc["chunk_size"]
    as_of = dt.date.fromisoformat(doc["as_of"]) if doc["as_of"] else None
    manifest = _Manifest(manifest_path, doc)
    attempt = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "workers": opts.workers or cpu_count(), "elapsed": None}
    doc["attempts"].append(attempt)
    manifest.dirty = True
    manifest.flush(force=True)

    done = {int(k) for k in doc["chunks"]}
    resumed = len(done)
    done_units = sum(c["units"] for c in doc["chunks"].values())
    done_records = sum(c["stats"]["decided"] for c in doc["chunks"].values())
    if progress:
        progress.start(reader.total_units, reader.unit, done_units, done_records)

    workers = opts.workers or cpu_count()
    if opts.store_url:
        try:
            from app.store import Store

            Store(opts.store_url).ready().dispose()  # migrate once, before the workers connect
        except Exception as exc:  # noqa: BLE001 - driver, network, migration: all mean "fix the store"
            raise RescanError(3, f"the store {_safe_url(opts.store_url)} is not usable: {exc}") from None
    cfg = WorkerConfig(work_dir=str(work), fmt=reader.fmt, pos_key=reader.pos_key, as_of=as_of,
                       default_day=dt.date.fromisoformat(doc["default_day"]), max_bytes=max_bytes,
                       header=tuple(reader.header) if reader.header else None, data_digests=digests,
                       store_url=opts.store_url, run_id=doc["run_id"])
    max_inflight = opts.max_inflight or 2 * workers
    decided_now = 0
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker, initargs=(cfg, os.getpid()))
    units_of: dict[Future, int] = {}
    n_chunks = 0
    clean = False

    def collect(fs) -> None:
        nonlocal decided_now
        for f in fs:
            units = units_of.pop(f)
            res = f.result()
            manifest.add(res, units)
            decided_now += res["stats"]["decided"]
            if progress:
                progress.advance(units, res["stats"]["decided"], res["stats"]["errors"])
        manifest.flush()

    try:
        for chunk in reader.chunks(chunk_size, skip=done):
            while len(units_of) >= max_inflight:
                finished, _ = wait(list(units_of), return_when=FIRST_COMPLETED)
                collect(finished)
            f = pool.submit(run_chunk, chunk.index, chunk.start, chunk.count, chunk.payload)
            units_of[f] = chunk.units
            n_chunks = max(n_chunks, chunk.index + 1)
        # the reader skipped the done chunks: the number of chunks is the highest index seen + 1
        n_chunks = max([n_chunks, *(i + 1 for i in done)]) if (done or n_chunks) else 0
        while units_of:
            finished, _ = wait(list(units_of), return_when=FIRST_COMPLETED)
            collect(finished)
        clean = True
    except WorkerStartError as exc:
        raise RescanError(3, f"a worker cannot start: {exc}") from None
    except BrokenProcessPool:
        raise RescanError(3, "a worker process died (out of memory? killed?); the finished chunks are kept: "
                             "run again with --resume") from None
    finally:
        attempt["elapsed"] = round(time.perf_counter() - started, 3)
        manifest.dirty = True
        try:
            manifest.flush(force=True)
        finally:
            if clean:
                pool.shutdown(wait=True)
            else:
                _terminate(pool)

    doc["chunks_total"] = n_chunks
    stats = new_stats()
    for i in range(n_chunks):
        c = doc["chunks"].get(str(i))
        if c is not None:
            merge_stats(stats, c["stats"])
    timings = {"decide": round(time.perf_counter() - started, 3)}
    t = time.perf_counter()
    _merge(work, doc, output, errors_path)
    timings["merge"] = round(time.perf_counter() - t, 3)
    elapsed = time.perf_counter() - started
    attempt["elapsed"] = round(elapsed, 3)
    final = {k: v for k, v in doc.items() if k != "chunks"}
    final["stats"] = stats
    final["elapsed_total"] = round(sum(a["elapsed"] or 0 for a in doc["attempts"]), 3)
    final["output"] = str(output.resolve())
    final["errors"] = str(errors_path.resolve())
    final["ranges"] = _ranges(doc)
    final["timings"] = timings  # this attempt, seconds
    result = RescanResult(output, errors_path, final_manifest, stats, elapsed, final["elapsed_total"], decided_now,
                          resumed, manifest=final)
    if opts.diff is not None:
        from app.rescan.diff import diff_runs

        result.diff_path = sibling(output, ".diff.jsonl")
        t = time.perf_counter()
        result.diff_summary = diff_runs(Path(opts.diff), output, result.diff_path)
        timings["diff"] = round(time.perf_counter() - t, 3)
        final["diff"] = {"previous": str(Path(opts.diff).resolve()), "path": str(result.diff_path.resolve()),
                         "summary": result.diff_summary}
    if opts.report:
        from app.rescan.report import write_reports

        t = time.perf_counter()
        result.report_paths = write_reports(output, final, result.diff_summary)
        timings["report"] = round(time.perf_counter() - t, 3)
    timings["total"] = round(time.perf_counter() - started, 3)
    write_json_atomic(final_manifest, final)
    shutil.rmtree(work)
    return result


def _ranges(doc: dict[str, Any]) -> list[list[int]]:
    """The committed input positions as merged ``[first, last]`` ranges (one range when complete)."""
    spans = sorted((c["start"], c["start"] + c["count"] - 1) for c in doc["chunks"].values())
    out: list[list[int]] = []
    for s, e in spans:
        if out and s == out[-1][1] + 1:
            out[-1][1] = e
        else:
            out.append([s, e])
    return out
