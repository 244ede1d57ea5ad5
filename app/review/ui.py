"""The review UI: server-rendered pages (Jinja2, autoescaped; a few lines of plain JavaScript for
the keyboard shortcuts; no build step, nothing loaded from elsewhere).

    /review/login            log in with an API key (moderator or admin) -> cookie session
    /review/queue            open items with filters (category, action, reason, age)
    /review/items/{id}       the listing with every evidence span highlighted, confirm / overturn
    /review/sellers/{id}     the seller's points and their history

The session cookie is HttpOnly and SameSite=Strict, forms carry a per-session CSRF token, and every
page is served with a Content-Security-Policy that allows only this server's own script and style.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from pathlib import Path
from typing import Any, get_args
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.auth import keys as authkeys
from app.auth.deps import Principal
from app.models.decision import Category
from app.review.highlight import highlight
from app.store import repo
from app.store.db import run_db

HERE = Path(__file__).resolve().parent
CATEGORIES = get_args(Category)
COOKIE = "moderate_session"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
AGES = {"": ("any age", None, None), "1h": ("< 1 hour", None, 1), "24h": ("< 24 hours", None, 24),
        "7d": ("< 7 days", None, 24 * 7), "old": ("≥ 7 days", 24 * 7, None)}

router = APIRouter(prefix="/review", include_in_schema=False)
env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)


class _Login(Exception):
    def __init__(self, target: str):
        self.target = target


def _page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    html = env.get_template(name).render(request=request, **ctx)
    return HTMLResponse(html, status, headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                               "Referrer-Policy": "same-origin", "Cache-Control": "no-store"})


def _fmt_age(when: dt.datetime | None, now: dt.datetime) -> str:
    if when is None:
        return ""
    s = (now - when).total_seconds()
    if s < 90:
        return f"{int(s)} s"
    if s < 5400:
        return f"{int(s // 60)} min"
    if s < 172800:
        return f"{int(s // 3600)} h"
    return f"{int(s // 86400)} d"


env.filters["age"] = lambda when: _fmt_age(when, repo.utcnow())
env.filters["ts"] = lambda when: f"{when:%Y-%m-%d %H:%M} UTC" if when else ""


async def _who(request: Request) -> tuple[Principal, str]:
    """The logged-in moderator and the session's CSRF token, or a redirect to the login page."""
    if not request.app.state.settings.auth:
        return Principal(None, "admin", "anonymous", "auth_off"), ""
    token = request.cookies.get(COOKIE)

    def look(s):
        got = authkeys.session_key(s, token)
        if got is None:
            return None
        sess, key = got
        return key.key_id, key.role, key.name, sess.csrf

    found = await run_db(request.app.state.store, look, read=True) if token else None
    if found is None or not authkeys.role_allows(found[1], "moderator"):
        raise _Login(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    return Principal(found[0], found[1], found[2], "session"), found[3]


def _check_csrf(form, csrf: str) -> None:
    if csrf and not hmac.compare_digest(str(form.get("csrf", "")), csrf):
        raise _Login("/review/queue")


def install_ui(app) -> None:
    from starlette.staticfiles import StaticFiles

    @app.exception_handler(_Login)
    async def _to_login(request: Request, exc: _Login) -> Response:
        return RedirectResponse(f"/review/login?next={quote(exc.target, safe='')}", 303)

    app.include_router(router)
    app.mount("/review/static", StaticFiles(directory=str(HERE / "static")), name="review-static")


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/review/") or target.startswith("//") or "\\" in target:
        return "/review/queue"
    return target


@router.get("")
@router.get("/")
async def root() -> Response:
    return RedirectResponse("/review/queue", 303)


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _page(request, "login.html", next=_safe_next(request.query_params.get("next")), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    key = str(form.get("key", ""))[:300]
    target = _safe_next(str(form.get("next", "")))

    def work(s):
        row = authkeys.verify_key(s, key)
        if row is None:
            return None, "That API key is not valid (unknown or revoked)."
        if not authkeys.role_allows(row.role, "moderator"):
            return None, f"The key {row.key_id} has the {row.role} role; the review UI needs moderator or admin."
        token, _ = authkeys.open_session(s, row)
        return token, None

    token, error = await run_db(request.app.state.store, work)
    if token is None:
        return _page(request, "login.html", 401, next=target, error=error)
    resp = RedirectResponse(target, 303)
    resp.set_cookie(COOKIE, token, max_age=authkeys.SESSION_HOURS * 3600, httponly=True, samesite="strict",
                    secure=request.url.scheme == "https", path="/review")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    await run_db(request.app.state.store, authkeys.close_session, token)
    resp = RedirectResponse("/review/login", 303)
    resp.delete_cookie(COOKIE, path="/review")
    return resp


@router.get("/queue")
async def queue(request: Request) -> Response:
    who, csrf = await _who(request)
    q = request.query_params
    age = q.get("age") or ""
    if age not in AGES:
        age = ""
    _, min_h, max_h = AGES[age]
    status = q.get("status") or "open"
    if status not in ("open", "confirmed", "overturned", "all"):
        status = "open"
    f = {"category": q.get("category") or None if q.get("category") in CATEGORIES else None,
         "action": q.get("action") if q.get("action") in repo.ACTIONS else None,
         "reason": q.get("reason") if q.get("reason") in repo.REASONS else None}
    items = await run_db(request.app.state.store, lambda s: repo.review_queue(
        s, status=status, min_age=dt.timedelta(hours=min_h) if min_h else None,
        max_age=dt.timedelta(hours=max_h) if max_h else None, limit=200, **f), read=True)
    return _page(request, "queue.html", who=who, csrf=csrf, items=items, filters={**f, "age": age, "status": status},
                 categories=CATEGORIES, actions=repo.ACTIONS, reasons=repo.REASONS, ages=AGES)


def _item_context(s, item_id: int) -> dict[str, Any]:
    item = repo.get_item(s, item_id)
    row = repo.get_decision(s, item.decision_id)
    violations = row.decision.get("violations", [])
    nxt = s.scalars(repo.select(repo.ReviewItem.id).where(repo.ReviewItem.status == "open",
                                                          repo.ReviewItem.id != item.id)
                    .order_by(repo.ReviewItem.created_at, repo.ReviewItem.id).limit(1)).first()
    return {"item": item, "row": row, "decision": row.decision, "listing": row.listing, "violations": violations,
            "fields": highlight(row.listing, violations), "events": repo.item_events(s, item.id),
            "next_id": nxt}


@router.get("/items/{item_id}")
async def item_page(request: Request, item_id: int) -> Response:
    who, csrf = await _who(request)
    try:
        ctx = await run_db(request.app.state.store, _item_context, item_id, read=True)
    except repo.NotFound:
        return _page(request, "message.html", 404, who=who, csrf=csrf, title="Not found",
                     message=f"There is no review item {item_id}.")
    return _page(request, "item.html", who=who, csrf=csrf, error=None, actions=repo.ACTIONS,
                 form_token=secrets.token_hex(12), **ctx)


@router.post("/items/{item_id}/verdict")
async def item_verdict(request: Request, item_id: int) -> Response:
    who, csrf = await _who(request)
    form = await request.form()
    _check_csrf(form, csrf)
    verdict = str(form.get("verdict", ""))
    reason = str(form.get("reason", ""))[:5000]
    action = str(form.get("action", "")) or None
    rule_ids = [r for r in str(form.get("rule_ids", "")).replace(",", " ").split() if r][:50]
    policy = request.app.state.engine.snapshot.policy if request.app.state.engine is not None else None
    if policy is None:
        return _page(request, "message.html", 503, who=who, csrf=csrf, title="Not ready",
                     message="The moderation data is not loaded yet; retry shortly.")
    token = str(form.get("token", ""))[:100] or None  # one per rendered form: a double submit is one verdict

    def work(s):
        repo.apply_verdict(s, item_id, verdict, actor=who.actor, reason=reason, policy=policy, action=action,
                           rule_ids=rule_ids, idempotency_key=f"ui:{token}" if token else None)

    try:
        await run_db(request.app.state.store, work)
    except repo.StoreError as exc:
        ctx = await run_db(request.app.state.store, _item_context, item_id)
        return _page(request, "item.html", exc.status, who=who, csrf=csrf, error=exc.message, actions=repo.ACTIONS,
                     form_token=secrets.token_hex(12), **ctx)
    return RedirectResponse(f"/review/items/{item_id}", 303)


@router.get("/sellers/{seller_id}")
async def seller_page(request: Request, seller_id: str) -> Response:
    who, csrf = await _who(request)
    raw = request.query_params.get("as_of")
    try:
        as_of = dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        as_of = None
    policy = request.app.state.engine.snapshot.policy if request.app.state.engine is not None else None
    if policy is None:
        return _page(request, "message.html", 503, who=who, csrf=csrf, title="Not ready",
                     message="The moderation data is not loaded yet; retry shortly.")
    pts = await run_db(request.app.state.store, repo.seller_points, seller_id, policy, as_of, read=True)
    items = await run_db(request.app.state.store, lambda s: repo.review_queue(s, status="all", seller_id=seller_id,
                                                                               limit=200), read=True)
    return _page(request, "seller.html", who=who, csrf=csrf, points=pts, items=items,
                 query=urlencode({"as_of": raw}) if raw else "")
