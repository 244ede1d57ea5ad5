"""JSON routes of the store, the review queue, the seller points ledger, replay and API keys, and
the hook that stores every decision of ``/v1/moderate`` before it is answered.

Routes (roles in :mod:`app.auth.deps`)
    ``GET  /v1/decisions/{id}``                   a stored decision, its listing, effective action, review history
    ``POST /v1/decisions/{id}/appeal``            the seller appeals a block: queue it (``{"reason": "..."}``)
    ``POST /v1/decisions/{id}/replay``            re-decide under the loaded policy at the original as_of and today
    ``GET  /v1/review/queue``                     open items (``category``, ``action``, ``reason``, ``min_age_hours``,
                                                  ``max_age_hours``, ``status``, ``seller_id``, ``limit``)
    ``GET  /v1/review/items/{id}``                one item with its decision, listing and history
    ``POST /v1/review/items/{id}/verdict``        ``{"verdict": "confirm"|"overturn", "reason", "action", "rule_ids"}``
    ``GET  /v1/sellers/{id}/points?as_of=``       balance, active deductions, consequence, history
    ``POST /v1/admin/keys``, ``GET /v1/admin/keys``, ``DELETE /v1/admin/keys/{key_id}``

Writes take an optional ``Idempotency-Key`` header: the same key returns the first answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from app.api.errors import ApiError, json_response, validation_error
from app.auth import keys as authkeys
from app.auth.deps import require_role
from app.models import Decision, Listing
from app.review.replay import replay as do_replay
from app.store import repo
from app.store.db import run_db

router = APIRouter()
_ERR = {"model": None}
MAX_KEY = 200


def _store(request: Request):
    return request.app.state.store


def _snapshot(request: Request):
    engine = request.app.state.engine
    if engine is None:
        raise ApiError(503, "not_ready", "the moderation data is not loaded; retry shortly", None,
                       headers={"Retry-After": "5"})
    return engine


def store_error(exc: repo.StoreError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.field, **exc.extra)


async def db(request: Request, fn, *args, **kwargs):
    try:
        return await run_db(_store(request), fn, *args, **kwargs)
    except repo.StoreError as exc:
        raise store_error(exc) from None


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY - 8:
        raise ApiError(422, "validation_error", f"Idempotency-Key must be 1 to {MAX_KEY - 8} characters",
                       "Idempotency-Key")
    return key


async def _body(request: Request, model: type[BaseModel], optional: bool = False):
    from app.api.main import parse_json, read_body  # late: app.api.main imports this module

    raw = await read_body(request, 64 * 1024)
    if optional and not raw.strip():
        return model()
    try:
        return model.model_validate(parse_json(raw))
    except ValidationError as exc:
        raise validation_error(exc) from None


# ----------------------------------------------------------------------------- storing decisions

def wants_store(request: Request) -> bool:
    """False when the store is off (``MODERATE_STORE=off``) or the request bypasses it explicitly
    (query ``store=false`` or header ``X-Moderate-Store: false``: pure-function use)."""
    if not request.app.state.settings.store_decisions:
        return False
    flag = request.query_params.get("store") or request.headers.get("x-moderate-store")
    if flag is None:
        return True
    flag = flag.strip().lower()
    if flag in ("false", "0", "no", "off"):
        return False
    if flag in ("true", "1", "yes", "on"):
        return True
    raise ApiError(422, "validation_error", f"store must be true or false; got {flag[:20]!r}", "store")


async def store_decisions(request: Request, pairs: list[tuple[Listing, Decision]], policy,
                          source: str = "api") -> tuple[list[Decision], dict[str, str]]:
    """Store the decisions in one transaction before they are answered. Returns the decisions to
    answer (a replayed Idempotency-Key answers the decision stored first) and response headers.
    The write goes through the store's group-commit writer (:mod:`app.store.writer`): concurrent
    requests share one transaction, and this returns only once it is committed."""
    if not pairs or not wants_store(request):
        return [d for _, d in pairs], {"X-Decision-Stored": "false"}
    key = idempotency_key(request)
    many = len(pairs) > 1 or source == "batch"

    def work(session):
        return [repo.record_decision(session, listing, decision, policy, source=source,
                                     idempotency_key=(f"{key}#{i}" if many else key) if key else None)
                for i, (listing, decision) in enumerate(pairs)]

    try:
        done = await _store(request).writer.run(work, listing_ids=[listing.listing_id for listing, _ in pairs],
                                                records=len(pairs))
    except repo.StoreError as exc:
        raise store_error(exc) from None
    except Exception as exc:  # noqa: BLE001 - the database is down: tell the client nothing was decided
        raise ApiError(503, "store_unavailable", f"the decision could not be stored ({type(exc).__name__}); "
                       "nothing was recorded: retry (with the same Idempotency-Key), or send store=false "
                       "for an unrecorded decision", None, headers={"Retry-After": "2"}) from exc
    headers = {"X-Decision-Stored": "true"}
    if key and not any(r.created for r in done):
        headers["Idempotent-Replayed"] = "true"
    return [r.decision for r in done], headers


# ----------------------------------------------------------------------------- decisions

@router.get("/v1/decisions/{decision_id}", tags=["review"], summary="A stored decision with its listing and history")
async def get_decision(request: Request, decision_id: str) -> Response:
    await require_role(request, "moderator")
    view = await db(request, lambda s: repo.decision_view(s, repo.get_decision(s, decision_id)), read=True)
    return json_response(view)


class AppealBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=5000, description="the seller's words")


@router.post("/v1/decisions/{decision_id}/appeal", tags=["review"], summary="The seller appeals a block")
async def appeal(request: Request, decision_id: str) -> Response:
    p = await require_role(request, "publisher")
    body = await _body(request, AppealBody, optional=True)

    def work(s):
        item, created = repo.appeal(s, decision_id, note=body.reason, actor=p.actor)
        return repo.item_view(s, item, with_decision=False), created

    view, created = await db(request, work)
    return json_response(view, 201 if created else 200)


@router.post("/v1/decisions/{decision_id}/replay", tags=["review"],
             summary="Re-decide a stored listing at its original as_of and today")
async def replay(request: Request, decision_id: str) -> Response:
    await require_role(request, "moderator")
    engine = _snapshot(request)
    row = await db(request, lambda s: (lambda r: (r.decision, r.listing))(repo.get_decision(s, decision_id)),
                   read=True)
    today = dt.datetime.now(dt.timezone.utc).date()
    return json_response(do_replay(engine, row[0], row[1], today))


# ----------------------------------------------------------------------------- review queue

def _hours(request: Request, name: str) -> dt.timedelta | None:
    v = request.query_params.get(name)
    if v is None or v == "":
        return None
    try:
        h = float(v)
        if h < 0 or h != h or h > 24 * 366 * 10:
            raise ValueError
    except ValueError:
        raise ApiError(422, "validation_error", f"{name} must be a number of hours ≥ 0; got {v[:20]!r}", name) from None
    return dt.timedelta(hours=h)


def queue_filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    status = q.get("status") or "open"
    if status not in ("open", "confirmed", "overturned", "all"):
        raise ApiError(422, "validation_error", "status must be open, confirmed, overturned or all", "status")
    action = q.get("action") or None
    if action is not None and action not in repo.ACTIONS:
        raise ApiError(422, "validation_error", f"action must be one of {list(repo.ACTIONS)}", "action")
    reason = q.get("reason") or None
    if reason is not None and reason not in repo.REASONS:
        raise ApiError(422, "validation_error", f"reason must be one of {list(repo.REASONS)}", "reason")
    try:
        limit = int(q.get("limit") or 100)
        if not 1 <= limit <= 1000:
            raise ValueError
    except ValueError:
        raise ApiError(422, "validation_error", "limit must be an integer from 1 to 1000", "limit") from None
    return {"status": status, "category": q.get("category") or None, "action": action, "reason": reason,
            "min_age": _hours(request, "min_age_hours"), "max_age": _hours(request, "max_age_hours"),
            "seller_id": q.get("seller_id") or None, "limit": limit}


@router.get("/v1/review/queue", tags=["review"], summary="Review items, oldest first")
async def queue(request: Request) -> Response:
    await require_role(request, "moderator")
    f = queue_filters(request)
    items = await db(request, lambda s: [repo.item_view(s, i, with_decision=False) for i in repo.review_queue(s, **f)],
                     read=True)
    return json_response({"items": items, "count": len(items)})


@router.get("/v1/review/items/{item_id}", tags=["review"], summary="One review item")
async def get_item(request: Request, item_id: int) -> Response:
    await require_role(request, "moderator")
    return json_response(await db(request, lambda s: repo.item_view(s, repo.get_item(s, item_id)), read=True))


class VerdictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["confirm", "overturn"]
    reason: str | None = Field(default=None, max_length=5000)
    action: Literal["allow", "region_mask", "restrict", "block"] | None = None
    rule_ids: list[str] = Field(default_factory=list, max_length=50)


@router.post("/v1/review/items/{item_id}/verdict", tags=["review"], summary="Confirm or overturn a review item")
async def verdict(request: Request, item_id: int) -> Response:
    p = await require_role(request, "moderator")
    body = await _body(request, VerdictBody)
    key = idempotency_key(request)
    policy = _snapshot(request).snapshot.policy

    def work(s):
        r = repo.apply_verdict(s, item_id, body.verdict, actor=p.actor, reason=body.reason, policy=policy,
                               action=body.action, rule_ids=body.rule_ids, idempotency_key=key)
        view = repo.item_view(s, r.item, with_decision=False)
        view["event"] = repo.event_view(r.event)
        view["replayed"] = r.replayed
        view["points_deducted"] = r.deducted
        view["points_reversed"] = r.reversed
        return view

    return json_response(await db(request, work))


# ----------------------------------------------------------------------------- sellers

def parse_as_of(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "validation_error", f"as_of must be a date written YYYY-MM-DD; got {value[:20]!r}",
                       "as_of") from None


@router.get("/v1/sellers/{seller_id}/points", tags=["review"], summary="A seller's points as of a date")
async def points(request: Request, seller_id: str) -> Response:
    await require_role(request, "moderator")
    as_of = parse_as_of(request.query_params.get("as_of"))
    policy = _snapshot(request).snapshot.policy
    return json_response(await db(request, repo.seller_points, seller_id, policy, as_of, read=True))


# ----------------------------------------------------------------------------- keys

class KeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["publisher", "moderator", "admin"]
    name: str = Field(default="", max_length=200)


@router.post("/v1/admin/keys", tags=["admin"], summary="Create an API key (shown once)")
async def create_key(request: Request) -> Response:
    p = await require_role(request, "admin")
    body = await _body(request, KeyBody)

    def work(s):
        row, plain = authkeys.create_key(s, body.role, body.name, created_by=p.actor)
        return {**authkeys.key_view(row), "key": plain}

    return json_response(await db(request, work), 201)


@router.get("/v1/admin/keys", tags=["admin"], summary="List API keys (never the keys themselves)")
async def list_keys(request: Request) -> Response:
    await require_role(request, "admin")
    return json_response({"keys": await db(request, lambda s: [authkeys.key_view(k) for k in authkeys.list_keys(s)],
                                           read=True)})


@router.delete("/v1/admin/keys/{key_id}", tags=["admin"], summary="Revoke an API key")
async def revoke_key(request: Request, key_id: str) -> Response:
    await require_role(request, "admin")
    return json_response(await db(request, lambda s: authkeys.key_view(authkeys.revoke_key(s, key_id))))
