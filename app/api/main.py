"""The HTTP API (``../shared/spec/api.md``).

Run it with ``uvicorn --factory app.api.main:create_app`` (or ``uvicorn app.api.main:app``: the
module-level ``app`` is created on first access, so importing this module has no side effects). The
engine, which compiles the automata, is built in the lifespan at start-up unless one is passed to
:func:`create_app`.

Routes
    ``POST /v1/moderate``        one Listing -> one Decision
    ``POST /v1/moderate/batch``  ``{"listings": [...]}`` (1..Settings.max_batch) -> ``{"decisions": [...]}``;
                                 a listing that fails validation gets ``{"error": {...}}`` in its slot
    ``GET  /healthz``            the process is up
    ``GET  /readyz``             200 with the policy version and data digests once the data is
                                 loaded, 503 otherwise
    ``GET  /v1/policy``          every rule, whether a loaded check implements it and whether it is
                                 in force today, plus the data digests
    ``GET  /metrics``            Prometheus text format
    ``POST /v1/admin/reload``    re-read the policy and lexicons without a restart
    ``GET  /docs``, ``/openapi.json``

Errors always use the body of :mod:`app.api.errors`. Client input never causes a 500: bodies are
read with a size limit (Content-Length *and* counted bytes, so chunked uploads are stopped too),
decoded as strict UTF-8, parsed with orjson (which rejects lone surrogates, NaN and over-deep
nesting) and validated with the pydantic models.

Reload
    ``POST /v1/admin/reload`` and ``SIGHUP`` (installed when the server runs the app in the main
    thread, as uvicorn does) rebuild the engine snapshot from the data files. A broken file answers
    409 ``reload_failed`` naming the file, and the previous snapshot keeps serving. Requests in
    flight finish on the snapshot they started with (each handler reads ``engine.snapshot`` once).
    With ``uvicorn --workers N`` a POST reaches one worker only: send SIGHUP to every worker process
    (or SIGHUP the supervisor, which restarts the workers).

    **Access control:** ``/v1/admin/reload`` answers a request with an admin API key, or without a
    key a loopback client (127.0.0.0/8, ::1, IPv4-mapped loopback, and Starlette's TestClient host
    ``testclient``); any other client gets 403. Behind a reverse proxy on the same host every
    client looks like loopback, so do not expose ``/v1/admin/`` through such a proxy.

Store, review, auth (issue 8; ``app/store``, ``app/review``, ``app/auth``, docs/store-and-review.md)
    Every decision is stored before it is answered (``?store=false`` bypasses); review queue,
    verdicts, appeals, replay, seller points and API keys are routes of :mod:`app.review.api`,
    the review UI is ``/review/`` (:mod:`app.review.ui`).

``app.state``
    ``engine`` (:class:`~app.engine.Engine` or None until loaded), ``settings``, ``metrics``
    (:class:`~app.api.metrics.Metrics`, with its own ``registry``), ``load_error`` (str or None),
    ``reload_lock``, ``freeze_heap`` (see :func:`freeze_heap`).

Speed (issue 3; figures in bench/results/bench_http.md)
    The engine runs in the handler on the event loop thread (it is CPU-bound: a thread hop would
    only add latency). The store write goes to the store's group-commit writer
    (:mod:`app.store.writer`): concurrent requests share one transaction and each is answered once
    it is committed. Bodies are parsed with orjson and validated once; a Decision is serialised
    once, by pydantic-core, to the response bytes. After start-up the heap built so far is frozen
    out of the garbage collector's sight (:func:`freeze_heap`). ``moderate serve``
    (:mod:`app.api.server`) runs uvicorn with uvloop + httptools and no access log; one worker by
    default (``--workers 2`` and why it is not the default: see there).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import ipaddress
import logging
import signal
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import orjson
import yaml
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from app.api import errors
from app.api.errors import ApiError, json_response, json_type, validation_error
from app.api.metrics import Metrics, MetricsMiddleware
from app import review
from app.auth.deps import require_admin_or_loopback, require_role
from app.review.api import store_decisions
from app.api.schemas import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    Health,
    PolicyDocument,
    Ready,
    ReloadResult,
)
from app.config import Settings
from app.engine import Engine, Snapshot
from app.models import Decision, Listing

log = logging.getLogger("app.api")

API_VERSION = "1"
JSON = "application/json"
LOOPBACK_NAMES = frozenset({"testclient", "localhost"})
BATCH_SLICE_SECONDS = 0.002  # a batch yields to the event loop this often, so single requests interleave

_ERR = {"model": ErrorResponse}
_BODY_ERRORS = {
    400: {**_ERR, "description": "Malformed JSON, or a body that is not UTF-8"},
    413: {**_ERR, "description": "Body over the size limit"},
    422: {**_ERR, "description": "Schema violation; `error.field` names the field"},
    503: {**_ERR, "description": "The moderation data is not loaded"},
}


def _json_body(ref: str) -> dict[str, Any]:
    return {"requestBody": {"required": True,
                            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}}


# ----------------------------------------------------------------------------- request bodies

async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes: a declared Content-Length over the limit is refused
    before reading, and the bytes are counted while reading (chunked uploads have no length)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise ApiError(400, "bad_content_length",
                           f"the Content-Length header {declared[:40]!r} is not a byte count")
        length = int(declared)
        if length > limit:
            raise _too_large(limit, length)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, None)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "client_disconnected", "the client disconnected before the body was complete") from None
    return b"".join(chunks)


def _too_large(limit: int, length: int | None) -> ApiError:
    got = f" ({length:,} bytes sent)" if length is not None else ""
    return ApiError(413, "body_too_large",
                    f"the request body is over the limit of {limit:,} bytes for this route{got}; "
                    "send less (split a batch into smaller ones, shorten the description)",
                    None, limit=limit)


def parse_json(body: bytes) -> Any:
    """Strict UTF-8 and JSON, or a 400 saying where it broke."""
    if not body or body.isspace():
        raise ApiError(400, "empty_body", "the request body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = body[exc.start:exc.start + 1].hex()
        raise ApiError(400, "invalid_utf8",
                       f"the request body is not valid UTF-8 ({exc.reason}: byte 0x{bad} at offset {exc.start}); "
                       "send JSON encoded as UTF-8", None, offset=exc.start) from None
    if text.startswith("\ufeff"):  # a UTF-8 byte-order mark: harmless, tolerate it
        text = text[1:]
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        hint = ""
        if "surrogate" in exc.msg:
            hint = " (strings must be valid Unicode: a \\uD800-\\uDFFF escape must be a complete surrogate pair)"
        elif "depth" in exc.msg:
            hint = " (JSON nested deeper than 1,024 levels is refused)"
        elif "infinity" in exc.msg:
            hint = " (numbers must fit a 64-bit float)"
        raise ApiError(400, "malformed_json",
                       f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                       f"{hint}; fix the JSON", None, line=exc.lineno, column=exc.colno) from None


def _listing(data: Any, prefix: str | None = None) -> Listing:
    try:
        return Listing.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, prefix) from None


# ----------------------------------------------------------------------------- helpers

def _engine(request: Request) -> Engine:
    engine = request.app.state.engine
    if engine is None:
        reason = request.app.state.load_error or "start-up has not finished"
        raise ApiError(503, "not_ready", f"the moderation data is not loaded ({reason}); retry shortly",
                       None, headers={"Retry-After": "5"})
    return engine


def _decision_bytes(decision: Decision) -> bytes:
    return decision.__pydantic_serializer__.to_json(decision)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()  # the engine's "today" too


def policy_document(snap: Snapshot, today: dt.date) -> dict[str, Any]:
    pol = snap.policy
    active = snap.active_rule_ids()
    rules = []
    for r in pol.rules:
        cit = pol.citations[r.citation]
        rules.append({
            "id": r.id,
            "category": r.category,
            "violation_class": r.violation_class,
            "points": r.points,
            "points_default": r.points_default,
            "action": r.action,
            "regions": pol.expand(r.regions),
            "regions_declared": list(r.regions),
            "restrictions": list(r.restrictions),
            "review": r.review,
            "effective_from": r.effective_from,
            "effective_until": r.effective_until,
            "citation": {"id": r.citation, "title": cit.title, "date": cit.date, "source": cit.source},
            "message": r.message,
            "implemented": r.id in active,
            "in_force_today": r.in_force(today),
        })
    return {
        "policy_version": pol.version,
        "published": pol.published,
        "today": today,
        "data_digests": dict(snap.digests),
        "loaded_at": snap.loaded_at,
        "region_groups": {k: pol.expand([f"@{k}"]) for k in pol.region_groups},
        "circumvention": pol.circumvention.model_dump(),
        "seller_points": pol.seller_points.model_dump(mode="json"),
        "checks": [getattr(c, "name", type(c).__name__) for c in snap.checks],
        "rules": rules,
    }


# ----------------------------------------------------------------------------- reload

def _blame_file(exc: BaseException, settings: Settings) -> str | None:
    """The data file a load error is about, relative to the data root, if it can be told."""
    root = settings.data_root

    def rel(p: str | Path) -> str:
        p = Path(p)
        try:
            return str(p.resolve().relative_to(root.resolve()))
        except (ValueError, OSError):
            return p.name

    try:
        files = settings.data_files()
    except Exception:  # noqa: BLE001 - a missing directory: fall through to the message
        files = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        if isinstance(e, yaml.MarkedYAMLError) and mark is not None and getattr(mark, "name", None):
            return rel(mark.name)
        if isinstance(e, OSError) and e.filename:
            return rel(e.filename)
        msg = str(e)
        for p in files:
            if msg.startswith(f"{p.name}:") or str(p) in msg:
                return rel(p)
        e = e.__cause__ or e.__context__
    return None


def _reload_lock(state) -> asyncio.Lock:
    """One reload at a time. The lock belongs to the running loop (a TestClient used without
    ``with`` runs each request in a fresh loop)."""
    loop = asyncio.get_running_loop()
    held = state.reload_lock
    if held is None or held[0] is not loop:
        held = state.reload_lock = (loop, asyncio.Lock())
    return held[1]


async def reload_data(app: FastAPI, trigger: str) -> dict[str, Any]:
    """Rebuild the engine snapshot (or build the engine if start-up failed). Raises :class:`ApiError`
    409 naming the file on a broken data file; the previous snapshot stays in place."""
    state = app.state
    async with _reload_lock(state):
        engine: Engine | None = state.engine
        old: Snapshot | None = engine.snapshot if engine is not None else None
        started = time.perf_counter()
        try:
            if engine is None:
                engine = await anyio.to_thread.run_sync(Engine, state.settings)
                snap = engine.snapshot
            else:
                snap = await anyio.to_thread.run_sync(engine.reload)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal
            state.metrics.reloads.labels(trigger, "failure").inc()
            settings = engine.settings if engine is not None else state.settings
            file = _blame_file(exc, settings)
            detail = str(exc)
            if len(detail) > 2000:
                detail = detail[:2000] + "…"
            keeps = (f"the previous data (policy {old.version}) keeps serving" if old is not None
                     else "the service stays not ready")
            message = f"reload failed: {file + ': ' if file and file not in detail else ''}{detail} — fix the file and reload again; {keeps}"
            log.error("reload (%s) failed, %s: %s", trigger, keeps, exc)
            raise ApiError(409, "reload_failed", message, file, file=file,
                           policy_version=old.version if old is not None else None) from None
        if state.engine is None:
            state.engine = engine
        state.load_error = None
        if state.freeze_heap:
            freeze_heap(reload=True)
        state.metrics.reloads.labels(trigger, "success").inc()
        state.metrics.set_policy_version(snap.version)
        old_digests = old.digests if old is not None else {}
        changed = sorted(k for k in set(old_digests) | set(snap.digests) if old_digests.get(k) != snap.digests.get(k))
        log.info("reload (%s) ok in %.2fs: policy %s -> %s, changed files: %s", trigger,
                 time.perf_counter() - started, old.version if old else None, snap.version, changed or "none")
        return {
            "reloaded": True,
            "policy_version": snap.version,
            "previous_policy_version": old.version if old is not None else None,
            "data_digests": dict(snap.digests),
            "changed_files": changed,
            "reloads": engine.reloads,
        }


def freeze_heap(reload: bool = False) -> None:
    """Move what start-up built (the engine's automata, tables, the classifier: ~130k objects) out
    of the garbage collector's sight with ``gc.freeze()``. Without it every full collection walks
    all of them, a 15-20 ms pause that lands on whatever requests are in flight (a p99 spike). After
    a reload: unfreeze, collect once (frees the old snapshot's reference cycles; one pause, at
    reload time), freeze again."""
    if reload:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def _install_sighup(app: FastAPI):
    """SIGHUP -> reload, when this is the main thread of a process with a Unix event loop. Returns
    an uninstall function, or None when no handler was installed."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task] = set()

        async def run() -> None:
            try:
                await reload_data(app, "sighup")
            except ApiError:
                pass  # already logged by reload_data
            except Exception:  # noqa: BLE001
                log.exception("SIGHUP reload failed")

        def on_hup() -> None:
            log.info("SIGHUP received: reloading the data files")
            task = loop.create_task(run())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (AttributeError, NotImplementedError, RuntimeError, ValueError, OSError) as exc:
        log.debug("no SIGHUP handler: %s", exc)
        return None

    def uninstall() -> None:
        try:
            loop.remove_signal_handler(signal.SIGHUP)
        except Exception:  # noqa: BLE001
            pass

    return uninstall


# ----------------------------------------------------------------------------- the app

def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the API. ``engine`` is used as is (tests build one per module); otherwise it is built
    in the lifespan from ``settings`` (default: :class:`Settings` from the environment). Without an
    engine the body limits come from ``settings``, else from ``settings or engine.settings``."""
    settings = settings or (engine.settings if engine is not None else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.engine is None:
            try:
                app.state.engine = await anyio.to_thread.run_sync(Engine, settings)
                app.state.load_error = None
            except Exception as exc:  # noqa: BLE001 - stay up, not ready; fix the file and reload
                file = _blame_file(exc, settings)
                app.state.load_error = f"{file + ': ' if file and file not in str(exc) else ''}{exc}"
                log.error("could not load the moderation data; /readyz stays 503 until a reload "
                          "succeeds: %s", app.state.load_error)
        if app.state.engine is not None:
            app.state.metrics.set_policy_version(app.state.engine.snapshot.version)
        await review.startup(app)  # the store: alembic upgrade head (app/store/migrations)
        uninstall = _install_sighup(app)
        if uninstall is not None:  # the server's main thread (uvicorn), not a TestClient
            app.state.freeze_heap = True
            freeze_heap()
        try:
            yield
        finally:
            if uninstall:
                uninstall()
            app.state.store.dispose()  # the group writer commits what is queued, then stops
            if app.state.freeze_heap:
                app.state.freeze_heap = False
                gc.unfreeze()

    app = FastAPI(
        title="Listing moderation",
        version=API_VERSION,
        description="Decides whether a marketplace listing may be published (see api.md / policy.md).",
        lifespan=lifespan,
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = metrics
    app.state.load_error = None
    app.state.reload_lock = None  # created in the running loop (see _reload_lock)
    app.state.freeze_heap = False  # set at start-up under a server (see freeze_heap)
    if engine is not None:
        metrics.set_policy_version(engine.snapshot.version)
    errors.install(app)
    review.install(app, settings)  # store, auth, review queue + UI, seller points (app/review, app/auth)
    metrics.watch_store(app.state.store)
    fast_paths: dict[str, Any] = {}  # filled below, once the handlers exist
    app.add_middleware(FastPathMiddleware, fastapi_app=app, handlers=fast_paths)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    # ------------------------------------------------------------------ moderation
    @app.post("/v1/moderate", response_model=Decision, responses=_BODY_ERRORS, openapi_extra=_json_body("Listing"),
              summary="Moderate one listing", tags=["moderation"])
    async def moderate(request: Request) -> Response:
        """One Listing in, one Decision out. The body limit is ``Settings.max_body_bytes``."""
        if settings.require_publisher_key:
            await require_role(request, "publisher")
        engine = _engine(request)
        listing = _listing(parse_json(await read_body(request, settings.max_body_bytes)))
        snap = engine.snapshot  # once: the whole request decides on one snapshot
        decision = engine.moderate(listing, snap=snap)
        metrics.observe_decision(decision)
        # answered only once stored (or bypassed with store=false): see app/review/api.py
        (decision,), headers = await store_decisions(request, [(listing, decision)], snap.policy)
        return Response(_decision_bytes(decision), media_type=JSON, headers=headers)

    @app.post("/v1/moderate/batch", response_model=BatchResponse, responses=_BODY_ERRORS,
              openapi_extra=_json_body("BatchRequest"), summary="Moderate 1–1,000 listings", tags=["moderation"])
    async def moderate_batch(request: Request) -> Response:
        """``{"listings": [...]}`` in, ``{"decisions": [...]}`` out in the same order. Each listing is
        validated on its own: a bad one gets ``{"error": {...}}`` (field ``listings[i]....``) in its
        slot and the others are still decided. The body limit is ``Settings.max_batch_body_bytes``."""
        if settings.require_publisher_key:
            await require_role(request, "publisher")
        engine = _engine(request)
        data = parse_json(await read_body(request, settings.max_batch_body_bytes))
        items = _batch_items(data, settings.max_batch)
        snap = engine.snapshot  # once for the whole batch
        out: list[Any] = []
        decided: list[tuple[Listing, Decision]] = []
        slice_start = time.perf_counter()
        for i, item in enumerate(items):
            try:
                listing = Listing.model_validate(item)
            except ValidationError as exc:
                err = validation_error(exc, f"listings[{i}]")
                if isinstance(item, dict) and isinstance(item.get("listing_id"), str):
                    err.extra["listing_id"] = item["listing_id"]
                out.append(errors.dumps(err.body()))
                metrics.batch_slot_errors.inc()
            else:
                decision = engine.moderate(listing, snap=snap)
                metrics.observe_decision(decision)
                out.append(len(decided))  # its slot: serialised once stored
                decided.append((listing, decision))
            if time.perf_counter() - slice_start > BATCH_SLICE_SECONDS:
                await asyncio.sleep(0)  # let other requests run between slices
                slice_start = time.perf_counter()
        stored, headers = await store_decisions(request, decided, snap.policy, source="batch")
        out = [_decision_bytes(stored[x]) if isinstance(x, int) else x for x in out]
        return Response(b'{"decisions":[' + b",".join(out) + b"]}", media_type=JSON, headers=headers)

    fast_paths.update({"/v1/moderate": moderate, "/v1/moderate/batch": moderate_batch})
    if not settings_fast_path():
        fast_paths.clear()

    # ------------------------------------------------------------------ operations
    @app.get("/healthz", response_model=Health, tags=["operations"], summary="The process is up")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz", response_model=Ready, tags=["operations"], summary="The data is loaded",
             responses={503: {**_ERR, "description": "The data is not loaded"}})
    async def readyz(request: Request) -> Response:
        engine = request.app.state.engine
        if engine is None:
            reason = request.app.state.load_error or "start-up has not finished"
            return json_response(errors.error_body("not_ready", f"the moderation data is not loaded: {reason}",
                                                   None, status="not_ready"), 503, {"Retry-After": "5"})
        snap = engine.snapshot
        return json_response({
            "status": "ready",
            "policy_version": snap.version,
            "policy_published": snap.policy.published,
            "data_digests": dict(snap.digests),
            "loaded_at": snap.loaded_at,
            "reloads": engine.reloads,
            "checks": [getattr(c, "name", type(c).__name__) for c in snap.checks],
            "classifier": _classifier_status(request.app.state.settings, snap),
        })

    def _classifier_status(settings: Settings, snap) -> dict[str, Any]:
        """Whether the text classifier is loaded (issue 7), and which model file it runs."""
        check = next((c for c in snap.checks if getattr(c, "name", "") == "classifier"), None)
        if check is not None:
            return {"loaded": True, "model": snap.policy.classifier.model, "sha256": check.sha256,
                    "categories": sorted(check.thresholds)}
        if not settings.classifier:
            return {"loaded": False, "reason": "disabled (MODERATE_CLASSIFIER=off)"}
        return {"loaded": False, "reason": "the policy has no classifier: section"}

    policy_cache: dict[str, Any] = {}

    @app.get("/v1/policy", response_model=PolicyDocument, tags=["policy"], summary="The rules and data digests",
             responses={503: {**_ERR, "description": "The data is not loaded"}})
    async def policy(request: Request) -> Response:
        """Every rule of the loaded policy: regions expanded to member codes, ``implemented`` (a
        loaded check emits it) and ``in_force_today``."""
        snap = _engine(request).snapshot
        today = _today()
        if policy_cache.get("snap") is not snap or policy_cache.get("today") != today:
            policy_cache.update(snap=snap, today=today, body=errors.dumps(policy_document(snap, today)))
        return Response(policy_cache["body"], media_type=JSON)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    async def metrics_route() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.post("/v1/admin/reload", response_model=ReloadResult, tags=["admin"], summary="Reload the data files",
              responses={403: {**_ERR, "description": "Neither an admin API key nor a loopback client"},
                         409: {**_ERR, "description": "A data file is broken; the old data keeps serving"}})
    async def admin_reload(request: Request) -> Response:
        """Re-read the policy and lexicons and swap the snapshot atomically. An admin API key or a
        loopback client (see the module docstring). A broken file answers 409
        ``reload_failed`` with ``field`` naming the file; the previous snapshot keeps serving."""
        await require_admin_or_loopback(request, is_loopback)  # an admin key, or a loopback client
        return json_response(await reload_data(request.app, "http"))

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        _, defs = models_json_schema([(Listing, "validation"), (BatchRequest, "validation")],
                                     ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, sub in defs.get("$defs", {}).items():
            components.setdefault(name, sub)
        app.openapi_schema = schema
        return schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app


FAST_PATH_ENV = "MODERATE_FAST_PATH"


def settings_fast_path() -> bool:
    """``MODERATE_FAST_PATH=off`` sends the moderation routes through FastAPI's router too (the
    tests compare both)."""
    import os

    return os.environ.get(FAST_PATH_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


class FastPathMiddleware:
    """``POST /v1/moderate`` and ``POST /v1/moderate/batch`` straight to their handlers.

    The handlers read the raw body and answer a ready Response, so FastAPI's routing (matching ~40
    routes, twice), dependency solving and exception middleware add nothing but CPU: ~0.15 ms
    per request, a tenth of the engine. This calls the same handler functions with a Starlette
    Request; an :class:`ApiError` becomes the same error response as through
    :func:`errors.api_error_handler`; anything else propagates to :class:`MetricsMiddleware` (the
    standard 500). Every other method and path, and ``/docs``/OpenAPI, go through FastAPI."""

    def __init__(self, app, fastapi_app: FastAPI, handlers: dict[str, Any]):
        self.app = app
        self.fastapi_app = fastapi_app
        self.handlers = handlers
        self._routes: dict[str, Any] = {}

    async def __call__(self, scope, receive, send):
        handler = self.handlers.get(scope.get("path")) if scope["type"] == "http" else None
        if handler is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = self._routes.get(path)
        if route is None:
            route = self._routes[path] = next(
                (r for r in self.fastapi_app.routes if getattr(r, "path", None) == path), None)
        scope["app"] = self.fastapi_app
        scope["route"] = route  # the metrics label, as the router would set it
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except ApiError as exc:
            response = await errors.api_error_handler(request, exc)
        await response(scope, receive, send)


def _require_loopback(request: Request) -> None:
    host = request.client.host if request.client else None
    if not is_loopback(host):
        raise ApiError(403, "forbidden",
                       f"/v1/admin/ is only served to loopback clients until authentication lands; "
                       f"call it from the host itself (your address: {host})")


def _batch_items(data: Any, max_batch: int) -> list[Any]:
    shape = 'send {"listings": [Listing, ...]}'
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", f"the request body must be a JSON object; got {json_type(data)}: {shape}")
    unknown = sorted(k for k in data if k != "listings")
    if unknown:
        raise ApiError(422, "validation_error",
                       f"{unknown[0]} is not a field of the batch request (unknown fields are rejected); {shape}",
                       unknown[0])
    if "listings" not in data:
        raise ApiError(422, "validation_error", f"listings is required; {shape}", "listings")
    items = data["listings"]
    if not isinstance(items, list):
        raise ApiError(422, "validation_error",
                       f"listings must be a JSON array of 1 to {max_batch:,} listings; got {json_type(items)}",
                       "listings")
    if not items:
        raise ApiError(422, "validation_error", f"listings is empty; send 1 to {max_batch:,} listings", "listings")
    if len(items) > max_batch:
        raise ApiError(422, "validation_error",
                       f"listings has {len(items):,} entries; send at most {max_batch:,} per request (split the batch)",
                       "listings")
    return items


_default_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    """``app.api.main:app`` for ``uvicorn app.api.main:app``, created on first access only."""
    global _default_app
    if name == "app":
        if _default_app is None:
            _default_app = create_app()
        return _default_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
