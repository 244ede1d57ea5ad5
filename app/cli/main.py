"""``moderate``: the command line of the listing-moderation service.

Commands (``moderate COMMAND --help`` for the options):

* ``serve``  run the HTTP API (uvicorn on :func:`app.api.main.create_app`);
* ``check``  moderate one listing from a JSON file (``-`` = stdin);
* ``batch``  moderate a JSON-lines file, one decision per valid line, written atomically;
* ``rescan`` re-check a whole catalogue (JSONL/CSV/Parquet) on all cores, resumable, with a report;
* ``rescan-diff`` what changed between two runs, grouped by rule;
* ``policy`` the rules in force and the digests of the data files;
* ``reload`` ask a running server to reload its data files.
* ``keys``   API keys: ``keys create --role admin|moderator|publisher``, ``keys list``, ``keys revoke``.
* ``train``  rebuild the text classifier (models/classifier.skops, its card, the policy's
  ``classifier:`` section) from a listing directory, deterministically.

Exit codes (the same meaning in every command):

==== =====================================================================================
0    success: ``check`` decided allow / region_mask / restrict; ``batch`` decided every line
1    a negative outcome: ``check`` decided **block**; ``batch`` finished but some input lines
     were bad (see the errors file); ``reload`` was refused or failed on the server
2    invalid input or usage: unreadable file, malformed JSON, a listing that fails the schema
     (the field is named), bad option values
3    environment: the data files (policy, lexicons) do not load, the API package is missing,
     the server is unreachable, the output cannot be written
==== =====================================================================================

Nothing heavy happens at import time: the engine is built inside the commands that need it.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import signal
import stat
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Shared with ``moderate rescan`` and the Spark job (light: json + pydantic, no engine): one
# description of a bad input line, one atomic writer.
from app.rescan.files import atomic_writer, default_errors_path  # noqa: F401  (re-exported)
from app.rescan.records import decode_json_line, describe_validation_error, error_line, field_path  # noqa: F401
from app.rescan.records import error_record, parse_listing  # noqa: F401

if TYPE_CHECKING:  # imported lazily inside the commands
    from pydantic import ValidationError

    from app.engine import Engine
    from app.models import Decision, Listing

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_INVALID = 2
EXIT_ENVIRONMENT = 3

ACTIONS = ("allow", "region_mask", "restrict", "block")
ACTION_STYLE = {"allow": "green", "region_mask": "yellow", "restrict": "dark_orange", "block": "bold red"}
HIGHLIGHT = "bold black on yellow"

app = typer.Typer(
    name="moderate",
    help="Listing moderation: lexicons, lists and policy-as-data decisions with spans into the seller's text.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class LogLevel(str, enum.Enum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


# ---------------------------------------------------------------------------------------------- helpers
def _fail(code: int, message: str) -> typer.Exit:
    err.print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)  # paths stay whole
    return typer.Exit(code)


def _settings():
    from app.config import Settings

    return Settings()


def _engine() -> "Engine":
    """Build the engine (loads and compiles every data file); exit 3 naming the file on failure."""
    from app.engine import Engine

    try:
        return Engine(_settings())
    except Exception as exc:  # noqa: BLE001 - YAML, schema, I/O: all mean "fix the data files"
        raise _fail(EXIT_ENVIRONMENT, f"the data files do not load: {_explain(exc)}") from None


def _explain(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if isinstance(exc, (OSError, ValueError)) and text else f"{type(exc).__name__}: {text}"


def _as_of(value: Optional[dt.datetime]) -> Optional[dt.date]:
    return value.date() if value is not None else None


# ------------------------------------------------------------------------------------- rendering
def field_text(listing: "Listing", name: str) -> Optional[str]:
    """The original text of an evidence field (``title``, ``keywords[2]``, ``attributes.CAS No.``)."""
    if name in ("title", "description", "category"):
        return getattr(listing, name)
    if name.startswith("keywords[") and name.endswith("]"):
        try:
            return listing.keywords[int(name[9:-1])]
        except (ValueError, IndexError):
            return None
    if name.startswith("attribute_key."):
        key = name[len("attribute_key."):]
        return key if key in listing.attributes else None
    if name.startswith("attributes."):
        return listing.attributes.get(name[len("attributes."):])
    return None


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def highlight(text: str, spans: list[tuple[int, int]], context: int = 40, max_windows: int = 12) -> Text:
    """The text with ``spans`` highlighted; long texts are cut to windows around the spans."""
    flat = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")  # same length: offsets hold
    spans = _merge([(max(0, s), min(len(flat), e)) for s, e in spans if e > s])
    if len(flat) <= 3 * context + 40:
        windows = [(0, len(flat))]
    else:
        windows = _merge([(max(0, s - context), min(len(flat), e + context)) for s, e in spans])
    shown = windows[:max_windows]
    t = Text()
    for w_s, w_e in shown:
        if t:
            t.append(" ")
        if w_s > 0:
            t.append("…", style="dim")
        pos = w_s
        for s, e in spans:
            if e <= w_s or s >= w_e:
                continue
            s, e = max(s, w_s), min(e, w_e)
            t.append(flat[pos:s])
            t.append(flat[s:e], style=HIGHLIGHT)
            pos = e
        t.append(flat[pos:w_e])
        if w_e < len(flat):
            t.append("…", style="dim")
    if len(windows) > max_windows:
        t.append(f" (+{len(windows) - max_windows} more)", style="dim")
    return t


def render_decision(decision: "Decision", listing: "Listing", console: Console) -> None:
    action = Text(decision.action, style=ACTION_STYLE.get(decision.action, ""))
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("listing", Text(decision.listing_id))
    head.add_row("action", action)
    if decision.masked_regions:
        head.add_row("masked regions", Text(", ".join(decision.masked_regions)))
    if decision.restrictions:
        head.add_row("restrictions", Text(", ".join(decision.restrictions)))
    head.add_row("review", Text("yes" if decision.review else "no"))
    head.add_row("points", Text(f"A {decision.points.A}  B {decision.points.B}"))
    head.add_row("as of", Text(str(decision.as_of)))
    head.add_row("policy", Text(decision.policy_version))
    head.add_row("decision id", Text(decision.decision_id))
    console.print(head)
    if not decision.violations:
        console.print(Text("No violations.", style="green"))
        return

    table = Table(title="Violations", title_justify="left")
    table.add_column("rule id", style="bold", overflow="fold")
    table.add_column("category", overflow="fold")
    table.add_column("action", overflow="fold")
    table.add_column("class", justify="center")
    table.add_column("points", justify="right")
    table.add_column("review", justify="center")
    rows: dict[tuple, list[str]] = {}  # one evidence row per span, with the rules it supports
    for v in decision.violations:
        table.add_row(Text(v.rule_id), Text(v.category), Text(v.action, style=ACTION_STYLE.get(v.action, "")),
                      Text(v.violation_class or "–"), Text(str(v.points)), Text("yes" if v.review else ""))
        for e in v.evidence:
            key = (e.field, e.start, e.end, e.text, e.method, e.matched, tuple(e.transforms))
            rows.setdefault(key, []).append(v.rule_id)
    console.print(table)
    for v in decision.violations:
        console.print(Text(f"{v.rule_id}: ", style="bold") + Text(v.message))
    if not rows:
        return
    evidence = Table(title="Evidence", title_justify="left")
    evidence.add_column("field", overflow="fold")
    evidence.add_column("span", justify="right", no_wrap=True)
    evidence.add_column("text", overflow="fold")
    evidence.add_column("method", overflow="fold")
    evidence.add_column("rules", overflow="fold", style="dim")
    spans_by_field: dict[str, list[tuple[int, int]]] = {}
    for (fld, start, end, text, method, matched, transforms), rule_ids in rows.items():
        m = Text(method)
        if method in ("deobfuscated", "fuzzy", "normalized") and matched.casefold() != text.casefold():
            m.append(f" ≈ {matched}", style="dim")
        if transforms:
            m.append(f" ({', '.join(transforms)})", style="dim")
        evidence.add_row(Text(fld), Text(f"{start}:{end}"), Text(text, style=HIGHLIGHT), m,
                         Text(", ".join(rule_ids)))
        spans_by_field.setdefault(fld, []).append((start, end))
    console.print(evidence)
    console.print(Text("Evidence in the original text", style="bold"))
    for name, spans in spans_by_field.items():
        original = field_text(listing, name)
        line = Text(f"{name}: ", style="bold cyan")
        if original is None:
            line.append("(field text not available)", style="dim")
        else:
            line.append_text(highlight(original, spans))
        console.print(line)


def exit_code_for(action: str) -> int:
    return EXIT_NEGATIVE if action == "block" else EXIT_OK


# ---------------------------------------------------------------------------------------- serve
@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="interface to bind"),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port"),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=1,
        help="worker processes, each with its own engine (default 1; see app/api/server.py for when 2 pay)"),
    log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", case_sensitive=False),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log",
                                    help="log every request (off by default: /metrics counts them)"),
) -> None:
    """Run the HTTP API with uvicorn (the engine is built in the app's lifespan)."""
    try:
        import uvicorn  # noqa: F401  (fail early and clearly if it is missing)

        from app.api.main import create_app  # noqa: F401  (fail early and clearly if it is missing)
    except ImportError as exc:
        raise _fail(EXIT_ENVIRONMENT, f"the HTTP API cannot be imported: {exc}") from None
    from app.api.server import default_workers, run as run_server
    from app.policy import load_policy

    workers = workers or default_workers()
    settings = _settings()
    try:
        version = load_policy(settings.policy_path).version
    except Exception as exc:  # noqa: BLE001
        raise _fail(EXIT_ENVIRONMENT, f"the policy file does not load: {_explain(exc)}") from None
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}"
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    info.add_row("moderate serve", Text(url, style="bold green"))
    info.add_row("policy", Text(f"{version} ({settings.policy_path})"))
    info.add_row("docs", Text(f"{url}/docs (OpenAPI: {url}/openapi.json)"))
    info.add_row("workers", Text(str(workers)))
    info.add_row("reload", Text(f"moderate reload --url {url}" if workers == 1 else
                                f"kill -HUP {os.getpid()} (reloads every worker; a POST /v1/admin/reload "
                                "reaches one of them)"))
    admins = _store_banner(info, settings, url)
    out.print(info)
    if admins == 0:
        out.print(Text("No admin API key exists yet. Create the first one (shown once) with:\n"
                       "  moderate keys create --role admin --name \"your name\"\n"
                       "(same working directory or MODERATE_DATABASE_URL as this server), then create "
                       "moderator keys with --role moderator.", style="yellow"))
    sys.stdout.flush()
    run_server(host, port, workers, log_level.value, access_log)


# ---------------------------------------------------------------------------------------- check
@app.command()
def check(
    file: str = typer.Argument(..., metavar="FILE.json", help="one listing as JSON; '-' reads stdin"),
    as_of: Optional[dt.datetime] = typer.Option(
        None, "--as-of", formats=["%Y-%m-%d"], metavar="DATE",
        help="evaluate the policy as of this date (overrides the listing's as_of; default today)"),
    as_json: bool = typer.Option(False, "--json", help="print the Decision JSON instead of tables"),
) -> None:
    """Moderate one listing. Exit 0 = allow/region_mask/restrict, 1 = block, 2 = invalid input."""
    from pydantic import ValidationError

    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise _fail(EXIT_INVALID, f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        listing = parse_listing(data)
    except ValidationError as exc:
        problem = describe_validation_error(exc)
        if as_json:
            typer.echo(json.dumps({"error": problem}, ensure_ascii=False))
        where = "stdin" if file == "-" else file
        raise _fail(EXIT_INVALID, f"invalid listing in {where}: {problem['message']}") from None
    engine = _engine()
    decision = engine.moderate(listing, as_of=_as_of(as_of))
    if as_json:
        typer.echo(decision.model_dump_json(indent=2))
    else:
        render_decision(decision, listing, out)
    raise typer.Exit(exit_code_for(decision.action))


# ---------------------------------------------------------------------------------------- batch
class _Terminated(Exception):
    pass


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into an exception so the temporary files are cleaned up."""
    def handler(signum, frame):  # noqa: ARG001
        raise _Terminated()

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _progress(total_bytes: Optional[int], eta: bool = False):
    """The progress bar of ``batch`` and ``rescan``: listings, errors, listings/s (of this run:
    field ``rate_n`` when it differs from ``listings``), elapsed time and, with ``eta``, time left."""
    from rich.progress import (BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            n = task.fields.get("rate_n", task.fields.get("listings", 0))
            el = task.elapsed or 0.0
            return Text(f"{n / el:,.0f}/s" if el > 0 else "–/s", style="cyan")

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=24) if total_bytes else TextColumn(""),
        TextColumn("{task.fields[listings]:,} listings, {task.fields[errors]:,} errors"),
        RateColumn(),
        TimeElapsedColumn(),
        *([TextColumn("ETA"), TimeRemainingColumn()] if eta and total_bytes else []),
        console=err,
        transient=False,
    )


@app.command()
def batch(
    input_: str = typer.Argument(..., metavar="IN.jsonl", help="one listing per line; '-' reads stdin"),
    output: Path = typer.Option(..., "-o", "--output", metavar="OUT.jsonl",
                                help="decisions, one JSON per valid input line, in input order"),
    as_of: Optional[dt.datetime] = typer.Option(
        None, "--as-of", formats=["%Y-%m-%d"], metavar="DATE",
        help="evaluate the policy as of this date (overrides each listing's as_of; default today)"),
    errors: Optional[Path] = typer.Option(
        None, "--errors", metavar="ERR.jsonl",
        help="bad lines as {line, listing_id, error}; default OUT.errors.jsonl"),
) -> None:
    """Moderate a JSON-lines file. Bad lines are reported (with their line number) and skipped;
    blank lines are ignored. Exit 0 = every line decided, 1 = some lines were bad, 2 = usage."""
    errors_path = errors or default_errors_path(output)
    for p in (output, errors_path):
        if not p.parent.is_dir():
            raise _fail(EXIT_INVALID, f"directory {p.parent} does not exist (for {p})")
    if output.resolve() == errors_path.resolve():
        raise _fail(EXIT_INVALID, "the output and errors files must differ")
    try:
        src = sys.stdin.buffer if input_ == "-" else open(input_, "rb")  # noqa: SIM115
    except OSError as exc:
        raise _fail(EXIT_INVALID, f"cannot read {input_}: {exc.strerror or exc}") from None
    st = os.fstat(src.fileno())
    total_bytes = st.st_size if stat.S_ISREG(st.st_mode) else None  # a pipe has no known size

    engine = _engine()
    settings = engine.settings
    day = _as_of(as_of)
    counts = {a: 0 for a in ACTIONS}
    stats = {"lines": 0, "blank": 0, "decided": 0, "errors": 0, "review": 0}
    first_errors: list[dict[str, Any]] = []
    started = time.perf_counter()

    def bad(fh_err, rec: dict[str, Any]) -> None:
        fh_err.write(error_line(rec))
        stats["errors"] += 1
        if len(first_errors) < 20:
            first_errors.append(rec)

    try:
        with _sigterm_raises(), src, atomic_writer(output) as fh_out, atomic_writer(errors_path) as fh_err, \
                _progress(total_bytes) as progress:
            task = progress.add_task("moderating", total=total_bytes, listings=0, errors=0)
            read = 0
            last = 0.0
            for lineno, raw in enumerate(src, start=1):
                stats["lines"] = lineno
                read += len(raw)
                listing = decode_json_line(raw, lineno, settings.max_body_bytes)
                if listing is None:
                    stats["blank"] += 1
                    continue
                if isinstance(listing, dict):  # an error record naming the line
                    bad(fh_err, listing)
                    continue
                try:
                    decision = engine.moderate(listing, as_of=day)
                except Exception as exc:  # an engine bug must not lose the rest of the file
                    bad(fh_err, error_record("line", lineno, "internal_error", f"{type(exc).__name__}: {exc}",
                                             None, listing.listing_id))
                    continue
                fh_out.write(decision.model_dump_json().encode() + b"\n")
                counts[decision.action] += 1
                stats["decided"] += 1
                stats["review"] += decision.review
                now = time.perf_counter()
                if now - last > 0.1:
                    last = now
                    progress.update(task, completed=read, listings=stats["decided"], errors=stats["errors"])
            progress.update(task, completed=read, listings=stats["decided"], errors=stats["errors"])
    except KeyboardInterrupt:
        raise _fail(130, f"interrupted: {output} was not written") from None
    except _Terminated:
        raise _fail(143, f"terminated: {output} was not written") from None
    except OSError as exc:
        raise _fail(EXIT_ENVIRONMENT, f"I/O error, {output} was not written: {exc}") from None

    elapsed = time.perf_counter() - started
    out.print(_summary_table("Batch summary", counts, stats["review"], stats["errors"],
                             [("blank lines", stats["blank"]), ("lines read", stats["lines"])]))
    rate = stats["decided"] / elapsed if elapsed > 0 else 0.0
    out.print(Text(f"{stats['decided']:,} decisions → {output}  ({elapsed:.1f} s, {rate:,.0f} listings/s)"))
    if stats["errors"]:
        _print_errors(first_errors, stats["errors"], errors_path, "lines")
        raise typer.Exit(EXIT_NEGATIVE)


def _summary_table(title: str, counts: dict[str, int], review: int, errors: int, extra: list[tuple[str, int]]
                   ) -> Table:
    summary = Table(title=title, title_justify="left")
    summary.add_column("")
    summary.add_column("count", justify="right")
    for a in ACTIONS:
        summary.add_row(Text(a, style=ACTION_STYLE[a]), str(counts.get(a, 0)))
    summary.add_row("review", str(review))
    summary.add_row(Text("errors", style="red" if errors else ""), str(errors))
    for name, n in extra:
        summary.add_row(name, str(n))
    return summary


def _print_errors(first_errors: list[dict[str, Any]], total: int, errors_path: Path, noun: str) -> None:
    out.print(Text(f"{total:,} bad {noun} → {errors_path}", style="red"))
    for rec in first_errors:
        e = rec["error"]
        where = f"line {rec['line']}" if "line" in rec else f"row {rec.get('row')}"
        out.print(Text(f"  {where}: ", style="bold") + Text(f"{e['code']}: {e['message']}"))
    if total > len(first_errors):
        out.print(Text(f"  … and {total - len(first_errors):,} more", style="dim"))


# ---------------------------------------------------------------------------------------- rescan
class _RichSink:
    """Feeds :func:`app.rescan.runner.run_rescan`'s progress into the rich bar."""

    def __init__(self, progress):
        self.progress, self.task = progress, None
        self.listings = self.errors = self.now = 0

    def start(self, total_units, unit, done_units, done_records):
        self.listings = done_records
        self.task = self.progress.add_task("rescanning", total=total_units, completed=done_units,
                                           listings=done_records, errors=0, rate_n=0)

    def advance(self, units, decided, errors):
        self.listings += decided
        self.now += decided
        self.errors += errors
        self.progress.update(self.task, advance=units, listings=self.listings, errors=self.errors, rate_n=self.now)


def _print_diff(summary: dict[str, Any], top: int = 15) -> None:
    t = Table(title="Changes since the previous run", title_justify="left")
    t.add_column("")
    t.add_column("listings", justify="right")
    for k in ("unchanged", "changed", "added", "removed"):
        t.add_row(k, f"{summary[k]:,}")
    for e, n in summary["effects"].items():
        if n:
            t.add_row(Text(f"  {e}", style="bold"), f"{n:,}")
    for tr, n in summary["transitions"].items():
        t.add_row(Text(f"  {tr}", style="dim"), f"{n:,}")
    out.print(t)
    if summary["rules"]:
        r = Table(title="Changes grouped by rule", title_justify="left")
        r.add_column("rule id", overflow="fold")
        r.add_column("newly violated", justify="right")
        r.add_column("no longer", justify="right")
        r.add_column("points/regions changed", justify="right")
        for rule, c in list(summary["rules"].items())[:top]:
            r.add_row(Text(rule), f"{c['added']:,}", f"{c['removed']:,}", f"{c['changed']:,}")
        out.print(r)
        if len(summary["rules"]) > top:
            out.print(Text(f"  … and {len(summary['rules']) - top} more rules (see the diff file)", style="dim"))


@app.command()
def rescan(
    input_: Path = typer.Argument(..., metavar="INPUT", help="the catalogue: .jsonl, .csv or .parquet (see --format)"),
    output: Path = typer.Option(..., "-o", "--output", metavar="OUT.jsonl",
                                help="decisions in input order (without data_digests: they are in the manifest)"),
    as_of: Optional[dt.datetime] = typer.Option(
        None, "--as-of", formats=["%Y-%m-%d"], metavar="DATE",
        help="evaluate the policy as of this date (overrides each listing's as_of; default: the listing's, "
             "else the day the run started)"),
    workers: int = typer.Option(0, "--workers", min=0,
                                help="worker processes, each building its own engine; 0 = all cores"),
    resume: bool = typer.Option(False, "--resume", help="finish an interrupted run of this output (or start one)"),
    restart: bool = typer.Option(False, "--restart", help="discard an interrupted run's work and start over"),
    diff: Optional[Path] = typer.Option(
        None, "--diff", metavar="PREVIOUS.jsonl",
        help="compare with a previous run's output: OUT.diff.jsonl and a section of the report"),
    errors: Optional[Path] = typer.Option(
        None, "--errors", metavar="ERR.jsonl", help="bad rows as {line|row, listing_id, error}; default OUT.errors.jsonl"),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="FORMAT",
                                      help="jsonl, csv or parquet (default: from the extension)"),
    chunk_size: int = typer.Option(2000, "--chunk-size", min=1, help="listings per checkpointed chunk"),
    ignore_column: list[str] = typer.Option(
        [], "--ignore-column", metavar="NAME", help="a CSV/Parquet column that is no Listing field (repeatable)"),
    report: bool = typer.Option(True, "--report/--no-report", help="write OUT.report.md and OUT.report.html"),
    store: bool = typer.Option(False, "--store", help="also record every decision in the audit store "
                               "(MODERATE_DATABASE_URL, else the SQLite file in MODERATE_STATE_DIR); once per "
                               "listing even across --resume"),
) -> None:
    """Re-check a whole catalogue on all cores, with checkpoints: killed at any moment (even SIGKILL),
    the same command with --resume finishes it, each listing decided exactly once. Bad rows go to
    the errors file with their line/row number. Exit 0 = every row decided, 1 = some rows were bad,
    2 = usage, 3 = data files / I/O / a worker died."""
    from app.rescan.runner import RescanError, RescanOptions, run_rescan, work_dir_for

    if diff is not None and not diff.is_file():
        raise _fail(EXIT_INVALID, f"cannot read {diff} (--diff): it does not exist")
    opts = RescanOptions(input=input_, output=output, errors=errors, fmt=fmt, as_of=_as_of(as_of), workers=workers,
                         chunk_size=chunk_size, resume=resume, restart=restart, ignore_columns=tuple(ignore_column),
                         diff=diff, report=report, store_url=_settings().db_url if store else None)
    work = work_dir_for(output)
    try:
        with _sigterm_raises(), _progress(1, eta=True) as progress:
            result = run_rescan(opts, _RichSink(progress))
    except RescanError as exc:
        raise _fail(exc.code, str(exc)) from None
    except KeyboardInterrupt:
        raise _fail(130, f"interrupted: the finished chunks are kept in {work}; run again with --resume") from None
    except _Terminated:
        raise _fail(143, f"terminated: the finished chunks are kept in {work}; run again with --resume") from None
    except OSError as exc:
        raise _fail(EXIT_ENVIRONMENT, f"I/O error: {exc}; finished chunks are kept in {work} (--resume)") from None

    st = result.stats
    if result.already_complete:
        out.print(Text(f"nothing to resume: {output} is complete ({st['decided']:,} decisions)", style="green"))
    out.print(_summary_table("Rescan summary", st["actions"], st["review"], st["errors"],
                             [("blank lines", st["blank"]), ("input rows", st["records"])]))
    if not result.already_complete:
        rate = result.decided_now / result.elapsed if result.elapsed > 0 else 0.0
        resumed = f"; resumed after {result.resumed_chunks:,} chunks" if result.resumed_chunks else ""
        out.print(Text(f"{st['decided']:,} decisions → {output}  ({result.elapsed:.1f} s, {rate:,.0f} listings/s"
                       f"{resumed})"))
    for p in result.report_paths:
        out.print(Text(f"report → {p}"))
    if result.diff_summary is not None:
        _print_diff(result.diff_summary)
        out.print(Text(f"diff → {result.diff_path}"))
    if st["errors"]:
        _print_errors(st["first_errors"], st["errors"], result.errors_path, "rows")
        raise typer.Exit(EXIT_NEGATIVE)


@app.command("rescan-diff")
def rescan_diff(
    old: Path = typer.Argument(..., metavar="OLD.jsonl", help="the previous run's decisions"),
    new: Path = typer.Argument(..., metavar="NEW.jsonl", help="the new run's decisions"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="DIFF.jsonl",
                                          help="one line per changed listing; default NEW.diff.jsonl"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """The listings whose action, masked regions, restrictions or violations changed between two
    runs (joined on listing_id), grouped by rule, with counts. Exit 0, or 2 if a file is unreadable."""
    from app.rescan.diff import diff_runs
    from app.rescan.files import sibling

    for p in (old, new):
        if not p.is_file():
            raise _fail(EXIT_INVALID, f"cannot read {p}: it does not exist")
    target = output or sibling(new, ".diff.jsonl")
    if not target.parent.is_dir():
        raise _fail(EXIT_INVALID, f"directory {target.parent} does not exist (for {target})")
    try:
        summary = diff_runs(old, new, target)
    except ValueError as exc:
        raise _fail(EXIT_INVALID, str(exc)) from None
    except OSError as exc:
        raise _fail(EXIT_ENVIRONMENT, f"I/O error: {exc}") from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    _print_diff(summary)
    out.print(Text(f"diff → {target}"))


# ---------------------------------------------------------------------------------------- policy
def policy_document(engine: "Engine", today: Optional[dt.date] = None) -> dict[str, Any]:
    snap = engine.snapshot
    pol = snap.policy
    today = today or dt.datetime.now(dt.timezone.utc).date()
    active = snap.active_rule_ids()
    rules = []
    for r in pol.rules:
        c = pol.citations[r.citation]
        rules.append({
            "id": r.id, "category": r.category, "action": r.action, "violation_class": r.violation_class,
            "points": r.points, "points_default": r.points_default, "regions": pol.expand(r.regions),
            "restrictions": list(r.restrictions), "review": r.review,
            "effective_from": r.effective_from.isoformat(),
            "effective_until": r.effective_until.isoformat() if r.effective_until else None,
            "in_force": r.in_force(today), "implemented": r.id in active,
            "citation": {"id": r.citation, "title": c.title, "date": c.date.isoformat(), "source": c.source},
        })
    return {
        "policy_version": pol.version,
        "published": pol.published.isoformat(),
        "as_of": today.isoformat(),
        "rules": rules,
        "checks": [{"name": c.name, "families": list(c.families), "rule_ids": list(c.rule_ids)} for c in snap.checks],
        "lexicons": [{"family": lx.family, "version": lx.version, "last_reviewed": lx.last_reviewed,
                      "terms": len(lx.terms), "patterns": len(lx.patterns)} for lx in snap.lexicons.values()],
        "data_digests": dict(snap.digests),
    }


@app.command()
def policy(as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables")) -> None:
    """The rules (id, category, action, class, points, dates, whether a check implements them) and
    the digests of the data files."""
    doc = policy_document(_engine())
    if as_json:
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    out.print(Text(f"policy {doc['policy_version']} (published {doc['published']})", style="bold"))
    t = Table(box=box.SIMPLE_HEAD, padding=(0, 1))
    t.add_column("rule id", overflow="fold", min_width=14)
    t.add_column("category", overflow="fold", min_width=11)
    t.add_column("action", overflow="fold", min_width=7)
    t.add_column("class", no_wrap=True)
    t.add_column("effective", overflow="fold", min_width=12)
    t.add_column("now", justify="center", no_wrap=True)
    t.add_column("check", justify="center", no_wrap=True)
    for r in doc["rules"]:
        pts = f"{r['violation_class'] or '–'} {r['points']}{'*' if r['points_default'] else ''}"
        dates = f"{r['effective_from']} → {r['effective_until'] or ''}".rstrip()
        t.add_row(Text(r["id"]), Text(r["category"]), Text(r["action"], style=ACTION_STYLE.get(r["action"], "")),
                  Text(pts), Text(dates),
                  Text("yes" if r["in_force"] else "no", style="" if r["in_force"] else "dim"),
                  Text("yes" if r["implemented"] else "no", style="green" if r["implemented"] else "dim"))
    out.print(t)
    implemented = sum(r["implemented"] for r in doc["rules"])
    out.print(Text(f"{implemented} of {len(doc['rules'])} rules have a check; class = violation class and "
                   "points (* = a configurable default); now = in force today",
                   style="dim"))
    d = Table(title="Data files", title_justify="left")
    d.add_column("file", overflow="fold")
    d.add_column("sha256", overflow="fold")
    for name, digest in doc["data_digests"].items():
        d.add_row(Text(name), Text(digest))
    out.print(d)
    for lx in doc["lexicons"]:
        out.print(Text(f"lexicon {lx['family']} {lx['version']}: {lx['terms']} terms, {lx['patterns']} patterns "
                       f"(reviewed {lx['last_reviewed']})"))


# ---------------------------------------------------------------------------------------- reload
@app.command()
def reload(
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="base URL of the running server"),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="seconds"),
    as_json: bool = typer.Option(False, "--json", help="print the server's JSON answer as is"),
) -> None:
    """Ask a running server to reload its data files (POST /v1/admin/reload: from the server's host,
    or from anywhere with MODERATE_API_KEY set to an admin key).
    With several workers a POST reaches one of them: send SIGHUP to each worker instead.
    Exit 0 = reloaded, 1 = the server refused or failed (a broken file is named), 3 = unreachable."""
    import httpx

    endpoint = url.rstrip("/") + "/v1/admin/reload"
    try:
        key = os.environ.get("MODERATE_API_KEY")  # an admin key: reload from another host
        resp = httpx.post(endpoint, timeout=timeout, headers={"Authorization": f"Bearer {key}"} if key else None)
    except httpx.HTTPError as exc:
        raise _fail(EXIT_ENVIRONMENT, f"cannot reach {endpoint}: {exc or type(exc).__name__}") from None
    try:
        body: Any = resp.json()
    except ValueError:
        body = resp.text
    if as_json:
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False) if not isinstance(body, str) else body)
    if resp.is_success:
        if not as_json:
            out.print(Text(f"reloaded: {endpoint} answered {resp.status_code}", style="green"))
            if isinstance(body, dict):
                t = Table.grid(padding=(0, 2))
                t.add_column(style="bold")
                t.add_column()
                prev, new = body.get("previous_policy_version"), body.get("policy_version")
                t.add_row("policy", Text(f"{prev} → {new}" if prev and prev != new else str(new)))
                changed = body.get("changed_files")
                if changed is not None:
                    t.add_row("changed files", Text(", ".join(changed) or "none"))
                for name, digest in (body.get("data_digests") or {}).items():
                    t.add_row(Text(name), Text(str(digest)))
                out.print(t)
        return
    error = body.get("error") if isinstance(body, dict) else None
    msg = error.get("message") if isinstance(error, dict) else None
    err.print(Text(f"reload failed: {endpoint} answered {resp.status_code}", style="bold red"))
    err.print(Text(msg or (body if isinstance(body, str) else json.dumps(body, ensure_ascii=False))[:2000]))
    raise typer.Exit(EXIT_NEGATIVE)


# ---------------------------------------------------------------------------------------------- train
@app.command()
def train(
    data: Optional[Path] = typer.Option(None, "--data", help="directory of the listing CSV files "
                                        "[default: ../shared/data/listings next to the repository]"),
    seed: Optional[int] = typer.Option(None, help="split and model seed [default: the card's seed, 20261123]"),
    models: Optional[Path] = typer.Option(None, help="where to write classifier.skops and the card "
                                          "[default: $MODERATE_MODELS or models/]"),
    write_policy: bool = typer.Option(True, "--write-policy/--no-write-policy",
                                      help="rewrite the classifier: section of the policy file"),
    limit_per_file: Optional[int] = typer.Option(None, min=1, help="use only the first N rows of each file "
                                                 "(a quick, still deterministic run)"),
    authored_per_template: Optional[int] = typer.Option(None, min=1, help="authored rows per template"),
    family: Optional[str] = typer.Option(None, help="train only this model family"),
) -> None:
    """Train the text classifier: split, two model families side by side, thresholds from held-out
    rows, metrics on the test rows; writes the model, models/MODEL_CARD.md + model_card.json and the
    policy's classifier: section. Same data + seed -> the same files."""
    from app.config import REPO_ROOT

    settings = _settings()
    data_dir = data or REPO_ROOT.parent / "shared" / "data" / "listings"
    if not data_dir.is_dir():
        raise _fail(EXIT_INVALID, f"--data {data_dir}: not a directory (the listing CSV files, see "
                                  "models/MODEL_CARD.md for the files and their sha256)")
    from app.classifier import train as T
    from app.classifier.card import CARD_JSON

    if family is not None and family not in T.families(0):
        raise _fail(EXIT_INVALID, f"--family {family!r}: one of {sorted(T.families(0))}")
    models_dir = models or settings.models_path
    previous: dict[str, Any] = {}
    if (models_dir / CARD_JSON).is_file():
        try:
            previous = json.loads((models_dir / CARD_JSON).read_text(encoding="utf-8"))
        except ValueError:
            previous = {}
    seed = seed if seed is not None else previous.get("split", {}).get("seed", T.SEED)
    try:
        result = T.train(data_dir, seed=seed, lists_dir=settings.cas_lists_path, limit_per_file=limit_per_file,
                         authored_per_template=authored_per_template, family=family,
                         log=lambda m: err.print(Text(m)))
    except FileNotFoundError as exc:
        raise _fail(EXIT_INVALID, str(exc))
    old_files = previous.get("data_sources", {}).get("files", {})
    for name, sha in sorted(result.dataset.files.items()):
        before = old_files.get(name, {}).get("sha256")
        if before and before != sha:
            err.print(Text(f"note: {name} differs from the file the previous card was trained on "
                           f"({before[:12]}… -> {sha[:12]}…)", style="yellow"))
    try:
        card = T.save(result, models_dir, settings.policy_path if write_policy else None,
                      write_policy=write_policy)
    except (OSError, ValueError) as exc:
        raise _fail(EXIT_ENVIRONMENT, f"cannot write the model: {exc}")
    t = Table(title=f"classifier: {result.chosen} (seed {seed})", box=box.SIMPLE)
    for col in ("category", "review", "block", "test pos", "AP", "review P", "review R", "block P", "block R"):
        t.add_column(col)
    for cat, r in result.categories.items():
        m = r.test
        b = m.get("block", {})
        t.add_row(cat, str(r.review), str(r.block if r.block is not None else "–"), str(m["positives"]),
                  str(m.get("average_precision", "–")), f"{m['review']['precision']:.3f}",
                  f"{m['review']['recall']:.3f}", f"{b['precision']:.3f}" if b else "–",
                  f"{b['recall']:.3f}" if b else "–")
    out.print(t)
    out.print(Text(f"model {card['model']['file']} {card['model']['bytes'] / 1e6:.1f} MB sha256 "
                   f"{card['model']['sha256']}"))
    if card.get("policy_changed"):
        out.print(Text("policy.yaml classifier: section changed: bump the policy version", style="yellow"))


# ------------------------------------------------------------------------------ store and keys
def _store_banner(info: Table, settings, url: str) -> Optional[int]:
    """Migrate the store (creating its SQLite directory) and add its rows to the serve banner;
    returns the number of active admin keys (None when the store is unreachable)."""
    from sqlalchemy import func, select
    from sqlalchemy.engine import make_url

    from app.store import Store
    from app.store.models import ApiKey

    shown = make_url(settings.db_url).render_as_string(hide_password=True)
    try:
        store = Store(settings.db_url)
        with store.begin() as s:
            admins = s.scalar(select(func.count()).select_from(ApiKey)
                              .where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None)))
        store.dispose()
    except Exception as exc:  # noqa: BLE001 - the server reports it again at start-up
        info.add_row("store", Text(f"{shown}: {_explain(exc)}", style="bold red"))
        return None
    info.add_row("store", Text(shown + ("" if settings.store_decisions else " (decisions not stored: MODERATE_STORE=off)")))
    info.add_row("review UI", Text(f"{url}/review/ (log in with a moderator key)"))
    info.add_row("auth", Text("on: review and admin routes need API keys" if settings.auth else
                              "OFF (MODERATE_AUTH=off): review and admin routes are open", style=None if settings.auth else "bold red"))
    return admins


keys_app = typer.Typer(help="API keys (roles: publisher < moderator < admin), stored hashed in the store.",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _key_store():
    from app.store import Store

    settings = _settings()
    try:
        return Store(settings.db_url).ready(), settings
    except Exception as exc:  # noqa: BLE001
        raise _fail(EXIT_ENVIRONMENT, f"the store {settings.db_url} cannot be opened: {_explain(exc)}") from None


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., "--role", help="publisher, moderator or admin"),
    name: str = typer.Option("", "--name", help="who or what uses the key"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Create a key and print it once (only its sha256 is stored)."""
    from app.auth.keys import ROLES, create_key, key_view

    if role not in ROLES:
        raise _fail(EXIT_INVALID, f"--role must be one of {', '.join(ROLES)}; got {role!r}")
    store, settings = _key_store()
    with store.begin() as s:
        row, plain = create_key(s, role, name, created_by="cli")
        view = key_view(row)
    store.dispose()
    if as_json:
        typer.echo(json.dumps({**view, "key": plain}, default=str))
        return
    out.print(Text(f"created {role} key {view['key_id']} ({view['name']}) in {settings.db_url}", style="green"))
    out.print(Text("the key (shown once; send it as 'Authorization: Bearer <key>' or log in to /review/ with it):"))
    typer.echo(plain)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, name, role, created, revoked (never the key itself)."""
    from app.auth.keys import key_view, list_keys

    store, _ = _key_store()
    with store.begin() as s:
        rows = [key_view(k) for k in list_keys(s)]
    store.dispose()
    t = Table("key id", "name", "role", "created", "revoked", box=box.SIMPLE)
    for k in rows:
        t.add_row(k["key_id"], k["name"], k["role"], f"{k['created_at']:%Y-%m-%d %H:%M}",
                  f"{k['revoked_at']:%Y-%m-%d %H:%M}" if k["revoked_at"] else "")
    out.print(t)


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="the key id (kXXXXXXXXXXXX)")) -> None:
    """Revoke a key (its review-UI sessions end too)."""
    from app.auth.keys import revoke_key
    from app.store import NotFound

    store, _ = _key_store()
    try:
        with store.begin() as s:
            revoke_key(s, key_id)
    except NotFound as exc:
        raise _fail(EXIT_INVALID, exc.message) from None
    finally:
        store.dispose()
    out.print(Text(f"revoked {key_id}", style="green"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
