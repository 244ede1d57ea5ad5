"""The work of one rescan worker process: build the engine once (pool initializer), then turn
chunks into part files.

A chunk's results are committed as two files in the run's work folder, each written to a temporary
file, fsynced and renamed: ``errors-NNNNNN.jsonl`` (only when the chunk has bad rows) and then
``part-NNNNNN.jsonl`` (the decisions, in input order). The parent records the chunk in the manifest
only after both exist; a chunk that is not in the manifest is done again and its files replaced,
so a kill at any moment loses at most the chunks in flight and never duplicates one.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

from app.rescan.files import atomic_writer
from app.rescan.records import decision_json, decode_json_line, error_line, error_record, row_to_listing

if TYPE_CHECKING:
    from app.engine import Engine
    from app.models import Decision, Listing

FIRST_ERRORS = 5  # error records kept per chunk for the report


@dataclass(frozen=True)
class WorkerConfig:
    work_dir: str
    fmt: str                         # jsonl | csv | parquet
    pos_key: str                     # line | row
    as_of: Optional[dt.date]         # --as-of: overrides every listing's as_of
    default_day: dt.date             # for listings without as_of when --as-of is absent (fixed per run)
    max_bytes: int                   # one listing's limit (Settings.max_body_bytes)
    header: Optional[tuple[str, ...]] = None  # CSV columns
    data_digests: Optional[dict[str, str]] = None  # the parent's: a worker with other data files refuses
    store_url: Optional[str] = None  # --store: record every decision in the audit store (app/store)
    run_id: Optional[str] = None     # the run's id: idempotency keys "rescan:<run_id>:<position>"


# ------------------------------------------------------------------------------------------ stats
def new_stats() -> dict[str, Any]:
    return {"records": 0, "blank": 0, "decided": 0, "errors": 0, "review": 0, "actions": {}, "categories": {},
            "rules": {}, "error_codes": {}, "first_errors": []}


def add_decision(stats: dict[str, Any], decision: "Decision") -> None:
    stats["decided"] += 1
    stats["review"] += bool(decision.review)
    a = stats["actions"]
    a[decision.action] = a.get(decision.action, 0) + 1
    if decision.violations:
        for c in {v.category for v in decision.violations}:
            stats["categories"][c] = stats["categories"].get(c, 0) + 1
        for r in {v.rule_id for v in decision.violations}:
            stats["rules"][r] = stats["rules"].get(r, 0) + 1


def add_error(stats: dict[str, Any], rec: dict[str, Any]) -> None:
    stats["errors"] += 1
    code = rec["error"]["code"]
    stats["error_codes"][code] = stats["error_codes"].get(code, 0) + 1
    if len(stats["first_errors"]) < FIRST_ERRORS:
        e = rec["error"]
        short = {k: v for k, v in rec.items() if k != "error"}
        short["error"] = {"code": e["code"], "message": e["message"][:300], "field": e.get("field")}
        stats["first_errors"].append(short)


def merge_stats(total: dict[str, Any], part: dict[str, Any], keep_errors: int = 20) -> dict[str, Any]:
    for k in ("records", "blank", "decided", "errors", "review"):
        total[k] += part.get(k, 0)
    for k in ("actions", "categories", "rules", "error_codes"):
        c = Counter(total[k])
        c.update(part.get(k, {}))
        total[k] = dict(c)
    room = keep_errors - len(total["first_errors"])
    if room > 0:
        total["first_errors"].extend(part.get("first_errors", [])[:room])
    return total


# ------------------------------------------------------------------------------------- moderation
def moderate(engine: "Engine", listing: "Listing", as_of: Optional[dt.date], default_day: dt.date) -> "Decision":
    """``--as-of`` wins; otherwise the listing's own ``as_of``; otherwise the run's day (fixed when
    the run started, so a resumed run decides as the first attempt would have)."""
    if as_of is not None:
        return engine.moderate(listing, as_of=as_of)
    return engine.moderate(listing, as_of=listing.as_of or default_day)


def iter_records(cfg: WorkerConfig, start: int, payload: Any) -> Iterator[tuple[int, Any]]:
    """``(position, Listing | error record | None)`` for every position of a chunk."""
    if cfg.fmt == "jsonl":
        for i, raw in enumerate(payload):
            yield start + i, decode_json_line(raw, start + i, cfg.max_bytes)
    elif cfg.fmt == "csv":
        header = cfg.header or ()
        for i, (line, item) in enumerate(payload):
            pos = start + i
            if item is None:
                yield pos, None
            elif isinstance(item, str):
                yield pos, error_record("row", pos, "bad_csv_row", item, None, None, line=line)
            else:
                parsed = row_to_listing(dict(zip(header, item)), pos, cfg.max_bytes)
                if isinstance(parsed, dict):
                    parsed["error"]["line"] = line
                yield pos, parsed
    else:  # parquet: a pyarrow RecordBatch
        for i, row in enumerate(payload.to_pylist()):
            yield start + i, row_to_listing(row, start + i, cfg.max_bytes)


def process_chunk(engine: "Engine", cfg: WorkerConfig, start: int, count: int, payload: Any, store=None
                  ) -> tuple[list[bytes], list[dict[str, Any]], dict[str, Any]]:
    """Decide every listing of a chunk: (decision lines, error records, stats). With ``store`` (an
    :class:`app.store.Store`), the chunk's decisions are recorded in one transaction first."""
    decided: list[tuple[int, "Listing", "Decision"]] = []
    errors: list[dict[str, Any]] = []
    stats = new_stats()
    stats["records"] = count
    for pos, parsed in iter_records(cfg, start, payload):
        if parsed is None:
            stats["blank"] += 1
            continue
        if isinstance(parsed, dict):
            errors.append(parsed)
            add_error(stats, parsed)
            continue
        try:
            decision = moderate(engine, parsed, cfg.as_of, cfg.default_day)
        except Exception as exc:  # noqa: BLE001 - an engine bug must not lose the rest of the catalogue
            rec = error_record(cfg.pos_key, pos, "internal_error", f"{type(exc).__name__}: {exc}", None,
                               parsed.listing_id)
            errors.append(rec)
            add_error(stats, rec)
            continue
        decided.append((pos, parsed, decision))
    if store is not None and decided:
        decisions = record_in_store(store, engine, cfg, decided)
    else:
        decisions = [d for _, _, d in decided]
    lines: list[bytes] = []
    for decision in decisions:
        lines.append(decision_json(decision))
        add_decision(stats, decision)
    return lines, errors, stats


def record_in_store(store, engine: "Engine", cfg: WorkerConfig, decided: list) -> list["Decision"]:
    """Record a chunk's decisions in the audit store in one transaction, each under the idempotency
    key ``rescan:<run_id>:<position>``: a chunk done again after a kill (stored, but not yet in the
    manifest) finds its keys and gets back the decisions stored the first time, so the store holds
    each listing of the run once and the output names the same decision ids."""
    from app.store import record_decision

    out = []
    with store.begin() as session:
        for pos, listing, decision in decided:
            rec = record_decision(session, listing, decision, engine.snapshot.policy, source="rescan",
                                  idempotency_key=f"rescan:{cfg.run_id}:{pos}")
            out.append(rec.decision)
    return out


def part_name(index: int) -> str:
    return f"part-{index:06d}.jsonl"


def errors_part_name(index: int) -> str:
    return f"errors-{index:06d}.jsonl"


def commit_chunk(work_dir: Path, index: int, lines: list[bytes], errors: list[dict[str, Any]]) -> None:
    """Errors part first, decisions part last: the decisions part's existence means both are whole."""
    err_path = work_dir / errors_part_name(index)
    if errors:
        with atomic_writer(err_path) as fh:
            fh.writelines(error_line(e) for e in errors)
    else:
        err_path.unlink(missing_ok=True)  # a leftover of an attempt killed before its manifest entry
    with atomic_writer(work_dir / part_name(index)) as fh:
        fh.writelines(lines)


# ------------------------------------------------------------------------------- pool entry points
_STATE: Optional[tuple["Engine", WorkerConfig, Any]] = None


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the parent dies (even by SIGKILL), so that no orphan keeps
    writing into the work folder while a resumed run starts."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class WorkerStartError(RuntimeError):
    """A worker could not build its engine (or connect to the store); the message says why."""


_START_ERROR: Optional[str] = None


def init_worker(cfg: WorkerConfig, parent_pid: int) -> None:
    """Pool initializer: the engine is built here, once per worker process. A failure is kept and
    raised by :func:`run_chunk`, so the parent gets the reason (a failing initializer would only
    break the pool)."""
    global _STATE, _START_ERROR
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        from app.config import Settings
        from app.engine import Engine

        engine = Engine(Settings())
        if cfg.data_digests is not None and engine.snapshot.digests != cfg.data_digests:
            raise ValueError("the data files changed while the rescan was starting (digests differ)")
        store = None
        if cfg.store_url:
            from app.store import Store

            store = Store(cfg.store_url, migrate=False).ready()  # the parent migrated it
    except Exception as exc:  # noqa: BLE001 - reported by run_chunk
        _START_ERROR = f"{type(exc).__name__}: {exc}"
        return
    _STATE = (engine, cfg, store)


def run_chunk(index: int, start: int, count: int, payload: Any) -> dict[str, Any]:
    if _STATE is None:
        raise WorkerStartError(_START_ERROR or "the worker's engine was not built (init_worker did not run)")
    engine, cfg, store = _STATE
    lines, errors, stats = process_chunk(engine, cfg, start, count, payload, store)
    commit_chunk(Path(cfg.work_dir), index, lines, errors)
    return {"index": index, "start": start, "count": count, "stats": stats, "pid": os.getpid()}
