"""``moderate``: the command line of the listing-moderation service.

Commands (``moderate COMMAND --help`` for the options):

* ``serve``  run the HTTP API (uvicorn on :func:`app.api.main.create_app`);
* ``check``  moderate one listing from a JSON file (``-`` = stdin);
* ``batch``  moderate a JSON-lines file, one decision per valid line, written atomically;
* ``policy`` the rules in force and the digests of the data files;
* ``reload`` ask a running server to reload its data files.

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
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

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


def field_path(loc: tuple) -> str:
    """A pydantic error location as a field path: ``seller.qualifications[0].type``,
    ``attributes.CAS No.`` (the notation of the API's errors and of evidence fields)."""
    out_ = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the error is in the dict key"
            continue
        if isinstance(part, int):
            out_ += f"[{part}]"
        else:
            out_ += ("." if out_ else "") + str(part)
    return out_


def _short(value: Any, limit: int = 60) -> str:
    s = json.dumps(value, ensure_ascii=True, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def describe_validation_error(exc: "ValidationError") -> dict[str, Any]:
    """``{"code", "message", "field", "errors"}``, the shape of the API's error body: ``code`` is
    ``malformed_json`` or ``validation_error``; ``field`` the first offending field (``None`` for
    malformed JSON); ``message`` every problem as ``field: what is wrong``; ``errors`` one
    ``{field, code, message}`` per problem."""
    errors = exc.errors(include_url=False)
    bad_json = [e for e in errors if e["type"] == "json_invalid"]
    if bad_json:
        detail = bad_json[0].get("ctx", {}).get("error") or bad_json[0]["msg"]
        return {"code": "malformed_json", "message": f"malformed JSON: {detail}", "field": None, "errors": []}
    items = []
    for e in errors:
        path = field_path(e["loc"]) or "(listing)"
        if e["type"] == "extra_forbidden":
            msg = "unknown field (not in the Listing schema; check the spelling)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif not e["loc"] and e["type"] in ("model_type", "model_attributes_type", "dict_type"):
            msg = f"expected one listing object, got {_short(e.get('input'))}"
        else:
            msg = e["msg"]
            if "input" in e and e["type"] != "string_too_long":
                msg += f" (got {_short(e['input'])})"
        items.append({"field": path, "code": e["type"], "message": f"{path}: {msg}"})
    return {"code": "validation_error", "message": "; ".join(i["message"] for i in items),
            "field": items[0]["field"] if items else None, "errors": items}


def parse_listing(data: str | bytes) -> "Listing":
    from app.models import Listing

    return Listing.model_validate_json(data)


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
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes (each builds its own engine)"),
    log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", case_sensitive=False),
) -> None:
    """Run the HTTP API with uvicorn (the engine is built in the app's lifespan)."""
    try:
        import uvicorn

        from app.api.main import create_app  # noqa: F401  (fail early and clearly if it is missing)
    except ImportError as exc:
        raise _fail(EXIT_ENVIRONMENT, f"the HTTP API cannot be imported: {exc}") from None
    from app.policy import load_policy

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
                                "send SIGHUP to each worker (a POST /v1/admin/reload reaches one of them)"))
    out.print(info)
    sys.stdout.flush()
    uvicorn.run("app.api.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level.value)


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
def default_errors_path(output: Path) -> Path:
    name = output.name
    stem = name[: -len(".jsonl")] if name.endswith(".jsonl") else name
    return output.with_name(stem + ".errors.jsonl")


@contextmanager
def atomic_writer(path: Path) -> Iterator[Any]:
    """A binary file that appears under ``path`` only when the block completes: written to a
    temporary file in the same directory, fsynced and renamed. On any exception (Ctrl-C,
    SIGTERM) the temporary file is removed and ``path`` is left as it was."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; the result should look like any new file
        with os.fdopen(fd, "wb", buffering=1 << 16) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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


def _progress(total_bytes: Optional[int]):
    from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            n = task.fields.get("listings", 0)
            el = task.elapsed or 0.0
            return Text(f"{n / el:,.0f}/s" if el > 0 else "–/s", style="cyan")

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=24) if total_bytes else TextColumn(""),
        TextColumn("{task.fields[listings]:,} listings, {task.fields[errors]:,} errors"),
        RateColumn(),
        TimeElapsedColumn(),
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
    from pydantic import ValidationError

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

    def bad(fh_err, lineno: int, code: str, message: str, field: Optional[str], listing_id=None,
            **extra: Any) -> None:
        rec = {"line": lineno, "listing_id": listing_id,
               "error": {"code": code, "message": message, "field": field, **extra}}
        fh_err.write(json.dumps(rec, ensure_ascii=True).encode() + b"\n")  # ASCII: never fails on odd input
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
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    stats["blank"] += 1
                    continue
                if len(raw) > settings.max_body_bytes:
                    bad(fh_err, lineno, "too_large",
                        f"line is {len(raw):,} bytes; the limit is {settings.max_body_bytes:,}", None)
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad(fh_err, lineno, "invalid_utf8", f"line is not UTF-8: {exc.reason} at byte {exc.start}", None)
                    continue
                try:
                    listing = parse_listing(text)
                except ValidationError as exc:
                    p = describe_validation_error(exc)
                    lid = None
                    try:
                        obj = json.loads(text)
                        if isinstance(obj, dict) and isinstance(obj.get("listing_id"), str):
                            lid = obj["listing_id"]
                    except ValueError:
                        pass
                    bad(fh_err, lineno, p["code"], p["message"], p["field"], lid, errors=p["errors"])
                    continue
                try:
                    decision = engine.moderate(listing, as_of=day)
                except Exception as exc:  # an engine bug must not lose the rest of the file
                    bad(fh_err, lineno, "internal_error", f"{type(exc).__name__}: {exc}", None, listing.listing_id)
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
    summary = Table(title="Batch summary", title_justify="left")
    summary.add_column("")
    summary.add_column("count", justify="right")
    for a in ACTIONS:
        summary.add_row(Text(a, style=ACTION_STYLE[a]), str(counts[a]))
    summary.add_row("review", str(stats["review"]))
    summary.add_row(Text("errors", style="red" if stats["errors"] else ""), str(stats["errors"]))
    summary.add_row("blank lines", str(stats["blank"]))
    summary.add_row("lines read", str(stats["lines"]))
    out.print(summary)
    rate = stats["decided"] / elapsed if elapsed > 0 else 0.0
    out.print(Text(f"{stats['decided']:,} decisions → {output}  ({elapsed:.1f} s, {rate:,.0f} listings/s)"))
    if stats["errors"]:
        out.print(Text(f"{stats['errors']:,} bad lines → {errors_path}", style="red"))
        for rec in first_errors:
            e = rec["error"]
            out.print(Text(f"  line {rec['line']}: ", style="bold") + Text(f"{e['code']}: {e['message']}"))
        if stats["errors"] > len(first_errors):
            out.print(Text(f"  … and {stats['errors'] - len(first_errors):,} more", style="dim"))
        raise typer.Exit(EXIT_NEGATIVE)


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
    """Ask a running server to reload its data files (POST /v1/admin/reload; loopback clients only).
    With several workers a POST reaches one of them: send SIGHUP to each worker instead.
    Exit 0 = reloaded, 1 = the server refused or failed (a broken file is named), 3 = unreachable."""
    import httpx

    endpoint = url.rstrip("/") + "/v1/admin/reload"
    try:
        resp = httpx.post(endpoint, timeout=timeout)
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
