"""Input records -> :class:`~app.models.Listing` or an error record, the same way for every reader.

Shared by ``moderate batch`` (JSON lines), ``moderate rescan`` (JSON lines, CSV, Parquet) and the
Spark job, so that one bad row is described identically wherever it is met. An error record is

    {"line": 12, "listing_id": "abc" | null, "error": {"code", "message", "field", ...}}

with ``"row"`` instead of ``"line"`` for CSV and Parquet (the 1-based data row; the CSV header is
not a row). Codes: ``malformed_json``, ``validation_error`` (the field is named), ``too_large``,
``invalid_utf8``, ``bad_csv_row``, ``internal_error`` (an engine bug: that listing only).

Nothing here builds the engine; importing it imports pydantic and the models only.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from pydantic import ValidationError

    from app.models import Decision, Listing

# Listing fields whose CSV cells hold JSON (a list or an object); other cells are plain text.
JSON_COLUMNS = ("keywords", "attributes", "seller", "destinations")


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


def error_record(pos_key: str, pos: int, code: str, message: str, field: Optional[str] = None,
                 listing_id: Optional[str] = None, **extra: Any) -> dict[str, Any]:
    return {pos_key: pos, "listing_id": listing_id,
            "error": {"code": code, "message": message, "field": field, **extra}}


def error_line(rec: dict[str, Any]) -> bytes:
    """One errors-file line; ASCII so that it never fails on odd input."""
    return json.dumps(rec, ensure_ascii=True).encode() + b"\n"


def _id_of(obj: Any) -> Optional[str]:
    if isinstance(obj, dict) and isinstance(obj.get("listing_id"), str):
        return obj["listing_id"][:128]
    return None


def decode_json_line(raw: bytes, lineno: int, max_bytes: int) -> "Listing | dict[str, Any] | None":
    """One JSON line -> a Listing, an error record (``{"line": …}``), or ``None`` for a blank line.
    A byte-order mark is dropped from line 1; a line longer than ``max_bytes`` is refused unread."""
    from pydantic import ValidationError

    if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        return None
    if len(raw) > max_bytes:
        return error_record("line", lineno, "too_large", f"line is {len(raw):,} bytes; the limit is {max_bytes:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return error_record("line", lineno, "invalid_utf8", f"line is not UTF-8: {exc.reason} at byte {exc.start}")
    try:
        return parse_listing(text)
    except ValidationError as exc:
        p = describe_validation_error(exc)
        lid = None
        if p["code"] != "malformed_json":
            try:
                lid = _id_of(json.loads(text))
            except ValueError:
                pass
        return error_record("line", lineno, p["code"], p["message"], p["field"], lid, errors=p["errors"])


def _plain(value: Any) -> Any:
    """A cell value as plain Python: numpy arrays (pandas/Spark lists) -> lists, Arrow maps (lists of
    pairs) stay for the caller, NaN/None -> None."""
    if value is None:
        return None
    tolist = getattr(value, "tolist", None)
    if tolist is not None and not isinstance(value, (str, bytes)):
        value = tolist()
    if isinstance(value, float) and value != value:  # NaN: pandas' missing value
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def row_to_listing(row: dict[str, Any], rowno: int, max_bytes: int) -> "Listing | dict[str, Any]":
    """One CSV/Parquet/DataFrame row (column -> value) -> a Listing or an error record (``{"row": …}``).

    Empty cells and nulls are absent fields (so an empty title is "required field is missing").
    ``keywords``, ``attributes``, ``seller`` and ``destinations`` may be native lists/maps/structs
    (Parquet, Spark) or JSON text (CSV). A row larger than ``max_bytes`` (UTF-8, all cells) is refused
    like an over-long JSON line; texts over the schema's limits (description ≤ 200,000 characters)
    are validation errors naming the field."""
    from pydantic import ValidationError

    from app.models import Listing

    data: dict[str, Any] = {}
    size = 0
    lid = None
    for key, value in row.items():
        value = _plain(value)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            if not value.isascii():  # CSV cells are decoded with surrogateescape: find the bad bytes
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    return error_record("row", rowno, "invalid_utf8",
                                        f"{key}: not UTF-8 (byte {exc.start} of the cell)", key, _id_of(row))
            size += len(value)
            if key in JSON_COLUMNS:
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    return error_record("row", rowno, "validation_error",
                                        f"{key}: the cell is not JSON ({exc})", key, _id_of(row))
        elif key == "attributes" and isinstance(value, list):  # an Arrow map: [(key, value), ...]
            value = {k: v for k, v in value}
        if key == "listing_id" and isinstance(value, str):
            lid = value[:128]
        data[key] = value
    if size > max_bytes:
        return error_record("row", rowno, "too_large", f"row is about {size:,} characters; the limit is "
                            f"{max_bytes:,} bytes", None, lid)
    try:
        return Listing.model_validate(data)
    except ValidationError as exc:
        p = describe_validation_error(exc)
        return error_record("row", rowno, p["code"], p["message"], p["field"], lid, errors=p["errors"])


def decision_json(decision: "Decision") -> bytes:
    """A rescan output line: the Decision without ``data_digests`` (the same for every decision of a
    run; they are in the run's manifest and report)."""
    return decision.model_dump_json(exclude={"data_digests"}).encode() + b"\n"
