"""The one error shape of the API and the handlers that produce it.

Every 4xx (and the rare 5xx) body is::

    {"error": {"code": "...", "message": "...", "field": "..." | null, ...extra keys}}

``message`` is a sentence a person can act on and names the field; ``field`` is the path of the
offending field (``title``, ``seller.country``, ``listings[3].keywords[0]``, ``attributes.CAS No.``)
or ``null`` when no single field is at fault (a 404, malformed JSON). Schema violations also carry
``errors``: every problem found, each ``{field, code, message}`` (at most :data:`MAX_ERRORS`).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("app.api")

MAX_ERRORS = 50
_INPUT_PREVIEW = 60

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "not_ready",
}


class ApiError(Exception):
    """Raise from a handler to answer with the standard error body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.field, **self.extra)


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, "field": field}
    err.update(extra)
    return {"error": err}


def dumps(obj: Any) -> bytes:
    """JSON bytes; never fails on text the client sent (lone surrogates are escaped, not raised)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=True, default=str).encode("ascii")


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj), status_code=status, headers=headers, media_type="application/json")


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return json_response(error_body(code, message, field, **extra), status, headers)


# ----------------------------------------------------------------------------- validation errors

def field_path(loc: Iterable[Any], prefix: str | None = None) -> str | None:
    """``('seller', 'qualifications', 0, 'type')`` -> ``seller.qualifications[0].type``.

    Dict keys are joined with a dot like field names (``attributes.CAS No.``, the form evidence
    uses); pydantic's ``[key]`` marker (the error is in the key, not the value) is dropped."""
    out = prefix or ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None


def _preview(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= _INPUT_PREVIEW else value[:_INPUT_PREVIEW] + "…"
        return json.dumps(text, ensure_ascii=True)  # surrogates and control characters escaped
    if isinstance(value, (list, dict)):
        return f"a JSON {'array' if isinstance(value, list) else 'object'}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= _INPUT_PREVIEW else text[:_INPUT_PREVIEW] + "…"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def describe_error(err: dict[str, Any], field: str | None) -> str:
    """One actionable sentence for one pydantic error."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    value = err.get("input")
    name = field or "the request body"
    in_key = "[key]" in (err.get("loc") or ())
    if kind == "missing":
        return f"{name} is required; add it"
    if kind == "extra_forbidden":
        return (f"{name} is not a field of this object; remove it or correct its spelling "
                "(unknown fields are rejected so that a misspelt field cannot change a decision)")
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == r"^[A-Z]{2}$":
        return (f"{name} must be an ISO 3166-1 alpha-2 country code in upper case, e.g. \"CN\" or "
                f"\"US\"; got {_preview(value)}")
    if kind == "string_too_long":
        what = "the key of " if in_key else ""
        return (f"{what}{name} is too long: at most {ctx.get('max_length')} characters, "
                f"got {len(value) if isinstance(value, str) else '?'}; shorten it")
    if kind == "string_too_short":
        what = "the key of " if in_key else ""
        return f"{what}{name} is too short: at least {ctx.get('min_length')} character(s); fill it in"
    if kind == "too_long":
        return (f"{name} has too many items: at most {ctx.get('max_length')}, got "
                f"{ctx.get('actual_length', len(value) if hasattr(value, '__len__') else '?')}; send fewer")
    if kind == "too_short":
        return f"{name} needs at least {ctx.get('min_length')} item(s)"
    if kind == "model_type" or kind == "dict_type":
        return f"{name} must be a JSON object, got {json_type(value)}"
    if kind == "list_type":
        return f"{name} must be a JSON array, got {json_type(value)}"
    if kind == "string_type":
        return f"{name} must be a string, got {json_type(value)}"
    if kind == "bool_type" or kind == "bool_parsing":
        return f"{name} must be true or false, got {_preview(value)}"
    if kind == "literal_error":
        return f"{name} must be one of {ctx.get('expected')}; got {_preview(value)}"
    if kind.startswith("date_") or kind.startswith("datetime_"):
        return f"{name} must be a date written YYYY-MM-DD ({err.get('msg', '')}); got {_preview(value)}"
    if kind == "value_error":
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        return f"{name}: {msg}"
    return f"{name}: {err.get('msg', 'invalid value')}; got {_preview(value)}"


def validation_error(exc: ValidationError | RequestValidationError, prefix: str | None = None,
                     status: int = 422, **extra: Any) -> ApiError:
    """The standard error for a schema violation: the first error names the field, ``errors`` has
    them all."""
    raw = exc.errors(include_url=False) if isinstance(exc, ValidationError) else list(exc.errors())
    items = []
    for err in raw[:MAX_ERRORS]:
        loc = err.get("loc") or ()
        if isinstance(exc, RequestValidationError) and loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        f = field_path(loc, prefix)
        items.append({"field": f, "code": err.get("type", "invalid"), "message": describe_error(err, f)})
    if not items:  # cannot happen with pydantic, but never answer with an empty error
        items.append({"field": prefix, "code": "invalid", "message": f"{prefix or 'the request body'} is invalid"})
    first = items[0]
    message = first["message"]
    if len(raw) > 1:
        message += f" ({len(raw) - 1} more problem{'s' if len(raw) > 2 else ''} in `errors`)"
    return ApiError(status, "validation_error", message, first["field"], errors=items, **extra)


# ----------------------------------------------------------------------------- handlers

async def api_error_handler(request: Request, exc: ApiError) -> Response:
    return json_response(exc.body(), exc.status, exc.headers)


async def http_exception_handler(request: Request, exc: StarletteHTTPException) -> Response:
    status = exc.status_code
    code = _STATUS_CODES.get(status, "http_error")
    method, path = request.method, request.url.path
    if status == 404:
        message = f"there is no route {path}; see /docs for the routes of this API"
    elif status == 405:
        allow = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow") or ""
        message = f"{method} is not allowed on {path}; use {allow or 'another method'}"
    else:
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
    return error_response(status, code, message, None, headers=dict(exc.headers or {}) or None)


async def request_validation_handler(request: Request, exc: RequestValidationError) -> Response:
    err = validation_error(exc)
    return json_response(err.body(), err.status)


def install(app) -> None:
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
