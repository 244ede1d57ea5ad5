"""The HTTP API against api.md: routes, the one error shape, limits, metrics, policy, reload.

The engine over the repository data comes from the session fixture ``engine`` (conftest.py); tests
that change data files build their own engine over a temporary copy of ``policy/`` and
``lexicons/``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from prometheus_client.parser import text_string_to_metric_families

from app.api import create_app
from app.api.main import is_loopback
from app.config import REPO_ROOT, Settings
from app.engine import Engine
from app.models import Decision

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BLOCK = {"listing_id": "l1", "title": "Mango e-liquid 60ml 50mg nic salt"}
ALLOW = {"listing_id": "l2", "title": "Cotton T-shirt"}
MASK = {"listing_id": "l3", "title": "Vape pen kit 1100mAh", "category": "Consumer Electronics > Electronic Cigarettes"}


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def app(engine):
    return create_app(engine=engine)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def copy_data(dest: Path, lexicons: list[str] | None = None) -> Path:
    """A private copy of the data files (``policy/`` and ``lexicons/``) under ``dest``."""
    shutil.copytree(REPO_ROOT / "policy", dest / "policy")
    if lexicons is None:
        shutil.copytree(REPO_ROOT / "lexicons", dest / "lexicons")
    else:
        (dest / "lexicons").mkdir()
        for name in lexicons:
            shutil.copy(REPO_ROOT / "lexicons" / name, dest / "lexicons" / name)
    return dest


def set_policy_version(root: Path, version: str) -> None:
    path = root / "policy" / "policy.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    idx = next(i for i, line in enumerate(lines) if line.startswith("version:"))
    lines[idx] = f'version: "{version}"\n'
    path.write_text("".join(lines), encoding="utf-8")


def assert_error(resp, status: int, code: str | None = None, field: object = ...) -> dict:
    """The exact error shape of api.md: {"error": {"code", "message", "field"}} (extra keys allowed)."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert list(body) == ["error"], body
    err = body["error"]
    assert {"code", "message", "field"} <= set(err), err
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and len(err["message"]) > 10
    assert err["field"] is None or isinstance(err["field"], str)
    if code is not None:
        assert err["code"] == code, err
    if field is not ...:
        assert err["field"] == field, err
    if isinstance(err["field"], str):  # the message names the field it blames
        assert err["field"] in err["message"], err
    return err


def metric_samples(text: str) -> dict[tuple, float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


# ----------------------------------------------------------------------------- moderation

@pytest.mark.parametrize("listing, action, masked, rule", [
    (BLOCK, "block", [], "ecig.e_liquid"),
    (ALLOW, "allow", [], None),
    (MASK, "region_mask", ["US"], "ecig.hardware_us_mask"),
])
def test_moderate_decides(client, engine, listing, action, masked, rule):
    r = client.post("/v1/moderate", json=listing)
    assert r.status_code == 200, r.text
    d = r.json()
    Decision.model_validate(d)  # the documented shape, extra fields forbidden
    assert d["listing_id"] == listing["listing_id"]
    assert d["action"] == action
    assert d["masked_regions"] == masked
    rules = [v["rule_id"] for v in d["violations"]]
    assert (rule in rules) if rule else rules == []
    assert d["policy_version"] == engine.snapshot.version
    assert d["data_digests"] == engine.snapshot.digests
    assert d["decision_id"]


def test_decision_ids_are_unique(client):
    ids = {client.post("/v1/moderate", json=ALLOW).json()["decision_id"] for _ in range(5)}
    assert len(ids) == 5


def test_json_body_with_another_content_type_is_accepted(client):
    r = client.post("/v1/moderate", content=json.dumps(BLOCK), headers={"content-type": "text/plain"})
    assert r.status_code == 200 and r.json()["action"] == "block"


def test_utf8_bom_is_tolerated(client):
    r = client.post("/v1/moderate", content=b"\xef\xbb\xbf" + json.dumps(ALLOW).encode())
    assert r.status_code == 200 and r.json()["listing_id"] == "l2"


def test_as_of_is_used(client):
    r = client.post("/v1/moderate", json={**ALLOW, "as_of": "2021-06-01"})
    assert r.status_code == 200 and r.json()["as_of"] == "2021-06-01"


def test_batch_keeps_order_and_isolates_a_bad_slot(client, engine):
    bad = {"listing_id": "bad", "title": "x", "seller": {"seller_id": "s1", "country": "cn"}}
    listings = [BLOCK, ALLOW, bad, MASK, {**ALLOW, "listing_id": "l5"}]
    r = client.post("/v1/moderate/batch", json={"listings": listings})
    assert r.status_code == 200, r.text
    out = r.json()["decisions"]
    assert len(out) == 5
    assert [d.get("action") for d in out] == ["block", "allow", None, "region_mask", "allow"]
    assert [d.get("listing_id") for d in out] == ["l1", "l2", None, "l3", "l5"]
    assert list(out[2]) == ["error"]
    err = out[2]["error"]
    assert err["field"] == "listings[2].seller.country"
    assert err["code"] == "validation_error" and "listings[2].seller.country" in err["message"]
    assert err["listing_id"] == "bad"
    for d in out[:2] + out[3:]:
        Decision.model_validate(d)
        assert d["policy_version"] == engine.snapshot.version


@pytest.mark.parametrize("item, field", [
    (42, "listings[1]"),
    ([], "listings[1]"),
    ({"listing_id": "x"}, "listings[1].title"),
    ({"listing_id": "x", "title": "t", "keywords": ["ok", 3]}, "listings[1].keywords[1]"),
    ({"listing_id": "x", "title": "t", "seller": {"seller_id": "s", "qualifications": [{"type": "nope"}]}},
     "listings[1].seller.qualifications[0].type"),
    ({"listing_id": "x", "title": "t", "attributes": {"CAS No.": 64}}, "listings[1].attributes.CAS No."),
])
def test_batch_slot_error_names_the_field(client, item, field):
    r = client.post("/v1/moderate/batch", json={"listings": [ALLOW, item, BLOCK]})
    assert r.status_code == 200
    out = r.json()["decisions"]
    assert out[0]["action"] == "allow" and out[2]["action"] == "block"
    assert out[1]["error"]["field"] == field
    assert field in out[1]["error"]["message"]


def test_batch_of_the_maximum_size_is_accepted(client):
    listings = [{"listing_id": f"b{i}", "title": "Cotton T-shirt"} for i in range(1000)]
    r = client.post("/v1/moderate/batch", json={"listings": listings})
    assert r.status_code == 200
    out = r.json()["decisions"]
    assert [d["listing_id"] for d in out] == [f"b{i}" for i in range(1000)]


@pytest.mark.parametrize("body, field, words", [
    ({"listings": [ALLOW] * 1001}, "listings", "1,001"),
    ({"listings": []}, "listings", "empty"),
    ({}, "listings", "required"),
    ({"listings": "l1"}, "listings", "array"),
    ({"listings": None}, "listings", "array"),
    ({"listings": [ALLOW], "dry_run": True}, "dry_run", "not a field"),
    ([ALLOW], None, "JSON object"),
    ("listings", None, "JSON object"),
])
def test_batch_envelope_errors_are_422(client, body, field, words):
    r = client.post("/v1/moderate/batch", json=body)
    err = assert_error(r, 422, "validation_error", field)
    assert words in err["message"]


# ----------------------------------------------------------------------------- error classes

@pytest.mark.parametrize("path", ["/v1/moderate", "/v1/moderate/batch"])
def test_malformed_json_is_400_with_line_and_column(client, path):
    r = client.post(path, content=b'{"listing_id": "x",\n "title": }')
    err = assert_error(r, 400, "malformed_json", None)
    assert "line 2 column" in err["message"]
    assert err["line"] == 2


@pytest.mark.parametrize("body", [b"\xff\xfe{}", b'{"title": "caf\xe9"}', b'{"t": "\xed\xa0\x80"}',
                                  '{"listing_id": "x"}'.encode("utf-16")])
def test_body_that_is_not_utf8_is_400(client, body):
    err = assert_error(client.post("/v1/moderate", content=body), 400, "invalid_utf8", None)
    assert "UTF-8" in err["message"]


def test_empty_body_is_400(client):
    assert_error(client.post("/v1/moderate", content=b""), 400, "empty_body", None)


def test_lone_surrogate_is_400(client):
    err = assert_error(client.post("/v1/moderate", content=b'{"listing_id": "x", "title": "a\\ud800b"}'),
                       400, "malformed_json", None)
    assert "surrogate" in err["message"]


@pytest.mark.parametrize("payload, field, words", [
    ({"title": "t"}, "listing_id", "required"),
    ({"listing_id": "x"}, "title", "required"),
    ({"listing_id": "x", "title": ""}, "title", "at least 1"),
    ({"listing_id": "x", "title": "t" * 1001}, "title", "at most 1000"),
    ({"listing_id": "x" * 129, "title": "t"}, "listing_id", "at most 128"),
    ({"listing_id": "x", "title": "t", "titel": "y"}, "titel", "not a field"),
    ({"listing_id": "x", "title": "t", "seller": {"seller_id": "s", "country": "cn"}}, "seller.country", "ISO 3166-1"),
    ({"listing_id": "x", "title": "t", "seller": {"seller_id": "s", "contry": "CN"}}, "seller.contry", "not a field"),
    ({"listing_id": "x", "title": "t", "destinations": ["US", "de"]}, "destinations[1]", "ISO 3166-1"),
    ({"listing_id": "x", "title": "t", "as_of": "2021-02-30"}, "as_of", "YYYY-MM-DD"),
    ({"listing_id": "x", "title": "t", "keywords": ["k"] * 5000}, "keywords", "at most 100"),
    ({"listing_id": "x", "title": "t", "attributes": {"CAS No.": "1", "cas_no": "2"}}, "attributes", "same attribute"),
    ({"listing_id": "x", "title": "t", "attributes": ["CAS"]}, "attributes", "JSON object"),
    ({"listing_id": "x", "title": "t", "seller": {"seller_id": "s", "qualifications": [
        {"type": "business_license", "valid_until": "someday"}]}}, "seller.qualifications[0].valid_until", "YYYY-MM-DD"),
    ({"listing_id": "x", "title": "t", "seller": {"seller_id": "s", "business_type": "broker"}},
     "seller.business_type", "manufacturer"),
    ({"listing_id": 7, "title": "t"}, "listing_id", "string"),
    (None, None, "JSON object"),
])
def test_schema_violations_are_422_naming_the_field(client, payload, field, words):
    err = assert_error(client.post("/v1/moderate", content=json.dumps(payload)), 422, "validation_error", field)
    assert words in err["message"]
    assert err["errors"][0]["field"] == field


def test_all_schema_errors_are_listed(client):
    r = client.post("/v1/moderate", json={"listing_id": "", "title": 5, "extra": 1})
    err = assert_error(r, 422, "validation_error")
    assert {e["field"] for e in err["errors"]} == {"listing_id", "title", "extra"}
    assert "more problems" in err["message"]


def test_unknown_route_is_404(client):
    err = assert_error(client.get("/v2/moderate"), 404, "not_found", None)
    assert "/v2/moderate" in err["message"]


@pytest.mark.parametrize("method, path", [("GET", "/v1/moderate"), ("PUT", "/v1/moderate/batch"),
                                          ("POST", "/healthz"), ("GET", "/v1/admin/reload")])
def test_wrong_method_is_405(client, method, path):
    r = client.request(method, path)
    err = assert_error(r, 405, "method_not_allowed", None)
    assert method in err["message"]
    assert r.headers.get("allow")


# ----------------------------------------------------------------------------- body limits

@pytest.fixture(scope="module")
def small_client(engine):
    with TestClient(create_app(Settings(max_body_bytes=300, max_batch_body_bytes=600), engine=engine)) as c:
        yield c


def _padded(size: int) -> bytes:
    base = json.dumps({"listing_id": "x", "title": "t", "description": ""}).encode()
    body = base[:-2] + b" " * (size - len(base)) + base[-2:]
    assert len(body) == size and json.loads(body)["title"] == "t"
    return body


@pytest.mark.parametrize("path, limit", [("/v1/moderate", 300), ("/v1/moderate/batch", 600)])
def test_body_just_over_the_limit_is_413(small_client, path, limit):
    err = assert_error(small_client.post(path, content=_padded(limit + 1)), 413, "body_too_large", None)
    assert f"{limit:,}" in err["message"]
    ok = small_client.post(path, content=_padded(limit))  # at the limit: read and judged on content
    assert ok.status_code != 413


def test_chunked_body_without_content_length_is_counted(small_client):
    sent = []

    def chunks():
        for _ in range(20):
            sent.append(1)
            yield b" " * 50

    r = small_client.post("/v1/moderate", content=chunks())
    assert_error(r, 413, "body_too_large", None)


def asgi_post(app, path: str, headers: list[tuple[bytes, bytes]], chunk: bytes, count: int):
    """Drive the ASGI app by hand: ``count`` body messages of ``chunk``. Returns (status, body, number
    of body messages the app pulled)."""
    consumed = 0
    messages = []

    async def receive():
        nonlocal consumed
        consumed += 1
        return {"type": "http.request", "body": chunk, "more_body": consumed < count}

    async def send(message):
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": [(b"host", b"x"), *headers],
             "client": ("127.0.0.1", 1), "server": ("x", 80)}
    asyncio.run(app(scope, receive, send))
    body = json.loads(b"".join(m.get("body", b"") for m in messages[1:]))
    return messages[0]["status"], body, consumed


def test_raw_asgi_body_without_content_length_is_stopped(engine):
    """No Content-Length at all, only body messages: the counter must stop it after the limit."""
    app = create_app(Settings(max_body_bytes=1000), engine=engine)
    status, body, consumed = asgi_post(app, "/v1/moderate", [(b"transfer-encoding", b"chunked")], b" " * 400, 1000)
    assert status == 413 and body["error"]["code"] == "body_too_large"
    assert consumed <= 4  # stopped right after the limit, not after 400 kB


def test_declared_length_over_the_limit_is_refused_before_reading(engine):
    app = create_app(Settings(max_body_bytes=1000), engine=engine)
    status, body, consumed = asgi_post(app, "/v1/moderate", [(b"content-length", b"5000")], b" " * 1000, 5)
    assert status == 413 and body["error"]["code"] == "body_too_large"
    assert "5,000 bytes" in body["error"]["message"]
    assert consumed == 0


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1e3", b"", b"1_0", b"+5", b" 5"])
def test_bad_content_length_is_400(engine, value):
    app = create_app(Settings(max_body_bytes=1000), engine=engine)
    status, body, _ = asgi_post(app, "/v1/moderate", [(b"content-length", value)], b"{}", 1)
    assert status == 400 and body["error"]["code"] == "bad_content_length"
    assert body["error"]["field"] is None


def test_declared_length_over_the_limit_through_the_client(small_client):
    r = small_client.post("/v1/moderate", content=b"{}", headers={"content-length": "999999999"})
    assert_error(r, 413, "body_too_large")


# ----------------------------------------------------------------------------- garbage never 500s

def _listing(**over):
    return json.dumps({"listing_id": "g", "title": "t", **over}).encode()


_WRONG_TYPES = [1, -1.5, True, None, [], {}, "x", [1], {"a": 1}, 10**30]
_FIELDS = ["listing_id", "title", "description", "keywords", "category", "attributes", "seller",
           "destinations", "as_of"]
_SELLER_FIELDS = ["seller_id", "country", "business_type", "qualifications"]
_QUAL_FIELDS = ["type", "number", "scope", "owned", "valid_until", "notified_body"]

GARBAGE: list[bytes] = [
    b"", b" ", b"\n", b"{", b"}", b"[", b'{"listing_id": "x", "title": "y"', b'{"listing_id": "x",}',
    b"[]", b"[1,2]", b"1", b"-0", b"1e999", b"-1e999", b'"str"', b'""', b"null", b"true", b"false",
    b"1" + b"0" * 5000, b"0." + b"1" * 5000, _listing(description=None)[:-1] + b', "n": ' + b"9" * 400 + b"}",
    b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b'{"listing_id": "x", "title": "a\x00b"}', b'{"listing_id": "x", "title": "a\\u0000b"}',
    b'{"listing_id": "x", "title": "\\ud800"}', b'{"listing_id": "x", "title": "\\udc00x"}',
    b'{"listing_id": "x", "title": "\\ud83d\\ude00 vape"}', b'{"listing_id": "x", "title": "\\ud800\\ud800"}',
    b'{"listing_id": "x", "title": "\xed\xa0\x80"}', b"\xff\xfe", b"\xfe\xff\x00{", b"\x00" * 64,
    b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf{}", '{"listing_id": "x", "title": "t"}'.encode("utf-16-le"),
    b'{"listing_id": NaN, "title": Infinity}', b'{"listing_id": "x", "title": "t", "title": "u"}',
    b"{'listing_id': 'x'}", b'{"listing_id": "x", "title": "t"} trailing', b'{"listing_id" "x"}',
    _listing(as_of="2021-02-30"), _listing(as_of="2021-13-01"), _listing(as_of="yesterday"), _listing(as_of=20210101),
    _listing(as_of="0000-01-01"), _listing(as_of="9999-12-31"), _listing(as_of="2021-01-01T10:00:00"),
    _listing(seller={"seller_id": "s", "country": "cn"}), _listing(destinations=["us", "DE"]),
    _listing(destinations=["USA"]), _listing(destinations=[]), _listing(destinations=None),
    _listing(keywords=["k"] * 5000), _listing(keywords=["k" * 501]), _listing(title="t" * 1001),
    _listing(title=""), _listing(title=" "), _listing(listing_id=""), _listing(description="d" * 200_001),
    _listing(attributes={"": "v"}), _listing(attributes={"!!!": "v"}), _listing(attributes={f"k{i}": "v" for i in range(201)}),
    _listing(attributes={"CAS No.": "64-17-5", "cas no": "64-17-5"}), _listing(attributes={"CAS No.": None}),
    _listing(unknown=1), _listing(seller={"seller_id": "s", "unknown": 1}),
    _listing(seller={"seller_id": "s", "qualifications": [{"type": "business_license", "unknown": 1}]}),
    _listing(seller={"seller_id": "s", "qualifications": [{"type": "business_license", "valid_until": "2021-02-30"}]}),
    _listing(seller={"seller_id": "s", "qualifications": [{"type": "business_license", "owned": "yes please"}]}),
    _listing(seller={"seller_id": "s", "qualifications": [{"type": "x"}] * 101}),
    # valid but odd: these must reach the engine and come back 200
    _listing(title="\u200bv\u200ba\u200bp\u200be j\u00fcice \u202e\u0645\u0631\u062d\u0628\u0627 \U0001f600" * 10),
    _listing(title="<script>alert(1)</script>", description="<p>e-liquid<br/>" * 500 + "<!-- ", keywords=["", " ", "\t"]),
    _listing(description="\u0000\u0001\u0002\ufffe\uffff" * 100, category=" > > >"),
    _listing(title="v" * 1000, description="\U0001f600" * 20_000, attributes={"CAS No.": "x" * 10_000}),
    _listing(title="烟油 电子烟花 ｅ－ｌｉｑｕｉｄ", keywords=["雾化液"] * 100, destinations=["US", "CN"], as_of="2019-01-01"),
]


def _wrong_type_bodies() -> list[bytes]:
    out = []
    for value in _WRONG_TYPES:
        for f in _FIELDS:
            out.append(_listing(**{f: value}))
        for f in _SELLER_FIELDS:
            out.append(_listing(seller={"seller_id": "s", f: value}))
        for f in _QUAL_FIELDS:
            out.append(_listing(seller={"seller_id": "s", "qualifications": [{"type": "fda_clearance", f: value}]}))
    return out


def _check_no_500(client, path: str, body: bytes):
    r = client.post(path, content=body)
    assert r.status_code < 500, (body[:200], r.status_code, r.text[:500])
    if r.status_code >= 400:
        assert_error(r, r.status_code)
    elif path.endswith("/batch"):
        for slot in r.json()["decisions"]:
            if "error" in slot:
                assert {"code", "message", "field"} <= set(slot["error"])
            else:
                Decision.model_validate(slot)
    else:
        Decision.model_validate(r.json())
    return r


def test_garbage_never_answers_500(app, client):
    before = app.state.metrics.unhandled._value.get()
    statuses = set()
    bodies = GARBAGE + _wrong_type_bodies()
    for body in bodies:
        statuses.add(_check_no_500(client, "/v1/moderate", body).status_code)
        # the same thing as a batch slot, and as a whole batch body
        try:
            slot = json.loads(body)
        except (ValueError, RecursionError):
            slot = None
        if slot is not None:
            _check_no_500(client, "/v1/moderate/batch", json.dumps({"listings": [ALLOW, slot]}).encode())
        _check_no_500(client, "/v1/moderate/batch", body)
    assert {200, 400, 422} <= statuses  # the corpus reaches every stage: parse, validate, engine
    assert app.state.metrics.unhandled._value.get() == before


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25)

_field_values = st.fixed_dictionaries({}, optional={
    "listing_id": _json_values | st.text(max_size=130), "title": _json_values | st.text(max_size=50),
    "description": _json_values | st.text(), "keywords": _json_values | st.lists(st.text(max_size=20), max_size=5),
    "category": _json_values, "attributes": _json_values | st.dictionaries(st.text(max_size=10), st.text(max_size=10)),
    "seller": _json_values | st.fixed_dictionaries({"seller_id": st.text(max_size=5)}, optional={
        "country": st.text(max_size=3), "business_type": st.text(max_size=12), "qualifications": _json_values}),
    "destinations": _json_values | st.lists(st.text(max_size=3), max_size=3),
    "as_of": _json_values | st.dates().map(str) | st.text(max_size=12),
})


@hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=200) | _json_values.map(lambda v: json.dumps(v).encode())
       | _field_values.map(lambda v: json.dumps(v).encode()))
def test_fuzzed_bodies_never_answer_500(client, body):
    _check_no_500(client, "/v1/moderate", body)


@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(slots=st.lists(_field_values | _json_values, min_size=1, max_size=5))
def test_fuzzed_batches_never_answer_500(client, slots):
    r = _check_no_500(client, "/v1/moderate/batch", json.dumps({"listings": slots}).encode())
    assert r.status_code == 200 and len(r.json()["decisions"]) == len(slots)


class _BrokenEngine(Engine):
    def moderate(self, listing, as_of=None, snap=None):
        raise RuntimeError("engine bug: secret internals")


def test_unexpected_engine_error_is_a_logged_500_in_the_standard_shape(engine, caplog):
    app = create_app(engine=_BrokenEngine(engine.settings, snapshot=engine.snapshot))
    with TestClient(app) as c, caplog.at_level(logging.ERROR, logger="app.api"):
        r = c.post("/v1/moderate", json=ALLOW)
        err = assert_error(r, 500, "internal_error", None)
        assert "secret internals" not in r.text
        assert c.get("/healthz").status_code == 200  # and the server goes on
    assert any("engine bug" in (rec.exc_text or "") or "engine bug" in str(rec.exc_info) for rec in caplog.records)
    assert app.state.metrics.unhandled._value.get() == 1
    assert err["message"]


# ----------------------------------------------------------------------------- operations

def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_reports_the_loaded_data(client, engine):
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert body["policy_version"] == engine.snapshot.version
    assert body["data_digests"] == engine.snapshot.digests
    assert any(k.startswith("lexicons/") for k in body["data_digests"])


def test_readyz_is_503_until_the_data_loads(tmp_path):
    root = copy_data(tmp_path)
    policy = root / "policy" / "policy.yaml"
    good = policy.read_text(encoding="utf-8")
    policy.write_text(good.replace("rules:", "rules: [", 1), encoding="utf-8")  # YAML syntax error
    app = create_app(Settings(data_root=root))
    with TestClient(app) as c:  # the lifespan tries to build the engine and fails
        assert app.state.engine is None
        err = assert_error(c.get("/readyz"), 503, "not_ready", None)
        assert "policy.yaml" in err["message"]
        assert c.get("/healthz").status_code == 200
        assert_error(c.post("/v1/moderate", json=ALLOW), 503, "not_ready")
        assert_error(c.post("/v1/admin/reload"), 409, "reload_failed", "policy/policy.yaml")
        policy.write_text(good, encoding="utf-8")
        r = c.post("/v1/admin/reload")
        assert r.status_code == 200, r.text
        assert c.get("/readyz").status_code == 200
        assert c.post("/v1/moderate", json=BLOCK).json()["action"] == "block"


def test_lifespan_builds_the_engine_when_none_is_given(tmp_path):
    app = create_app(Settings(data_root=copy_data(tmp_path)))
    assert app.state.engine is None  # nothing heavy at creation
    with TestClient(app) as c:
        assert isinstance(app.state.engine, Engine)
        assert c.post("/v1/moderate", json=MASK).json()["masked_regions"] == ["US"]


@pytest.fixture(scope="module")
def ecig_only_engine(tmp_path_factory):
    """Only the e-cigarette lexicon loaded: the instrument rules exist in the policy but no loaded
    check emits them (whatever checks the repository gains later)."""
    return Engine(Settings(data_root=copy_data(tmp_path_factory.mktemp("ecig"), ["e_cigarette.yaml"])))


def test_policy_lists_every_rule(ecig_only_engine):
    snap = ecig_only_engine.snapshot
    with TestClient(create_app(engine=ecig_only_engine)) as c:
        r = c.get("/v1/policy")
    assert r.status_code == 200
    doc = r.json()
    assert doc["policy_version"] == snap.version
    assert doc["published"] == str(snap.policy.published)
    assert doc["data_digests"] == snap.digests
    rules = {x["id"]: x for x in doc["rules"]}
    assert list(rules) == [r.id for r in snap.policy.rules]
    assert rules["ecig.e_liquid"]["implemented"] is True
    assert rules["live.banned"]["implemented"] is False  # no check for that family yet
    assert rules["live.banned"]["category"] == "live_animals_plants"
    e = rules["ecig.e_liquid"]
    assert (e["category"], e["violation_class"], e["points"], e["points_default"], e["action"]) == \
        ("e_cigarette", "B", 2, True, "block")
    assert e["citation"]["title"] and e["citation"]["source"]
    assert "{terms}" in e["message"]
    assert e["in_force_today"] is True
    assert rules["live.removed"]["in_force_today"] is False  # 2021-11-23..2021-11-30 only
    assert rules["live.removed"]["effective_until"] == "2021-11-30"
    eea = rules["meddev.no_ce_eea"]["regions"]
    assert "@EEA" not in eea and {"DE", "FR", "NO", "IS", "LI"} <= set(eea) and len(eea) == 30
    assert eea == sorted(eea)
    assert rules["meddev.no_ce_eea"]["regions_declared"] == ["@EEA"]
    assert rules["ecig.hardware_us_mask"]["regions"] == ["US"]
    assert rules["chem.restricted_qualified"]["restrictions"] == ["no_online_trade"]


def test_policy_implemented_follows_the_loaded_checks(client, engine):
    rules = client.get("/v1/policy").json()["rules"]
    active = engine.snapshot.active_rule_ids()
    assert {x["id"] for x in rules if x["implemented"]} == active
    assert "ecig.e_liquid" in active


def test_metrics_count_requests_decisions_and_violations(engine):
    app = create_app(engine=engine)
    other = create_app(engine=engine)  # a second registry in the same process
    with TestClient(app) as c, TestClient(other) as c2:
        for listing in (BLOCK, BLOCK, ALLOW, MASK):
            assert c.post("/v1/moderate", json=listing).status_code == 200
        c.post("/v1/moderate/batch", json={"listings": [BLOCK, {"listing_id": "x"}]})
        c.post("/v1/moderate", content=b"{")
        c.get("/nope")
        r = c.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        m = metric_samples(r.text)
        m2 = metric_samples(c2.get("/metrics").text)

    def req(route, method, status):
        return m.get(("moderation_http_requests_total",
                      (("method", method), ("route", route), ("status", status))), 0)

    assert req("/v1/moderate", "POST", "200") == 4
    assert req("/v1/moderate", "POST", "400") == 1
    assert req("/v1/moderate/batch", "POST", "200") == 1
    assert req("<unmatched>", "GET", "404") == 1
    assert m[("moderation_http_request_duration_seconds_count", (("route", "/v1/moderate"),))] == 5
    assert m[("moderation_decisions_total", (("action", "block"),))] == 3
    assert m[("moderation_decisions_total", (("action", "allow"),))] == 1
    assert m[("moderation_decisions_total", (("action", "region_mask"),))] == 1
    assert m[("moderation_violations_total", (("category", "e_cigarette"), ("rule_id", "ecig.e_liquid")))] == 3
    assert m[("moderation_violations_total", (("category", "e_cigarette"), ("rule_id", "ecig.hardware_us_mask")))] == 1
    assert m[("moderation_batch_slot_errors_total", ())] == 1
    assert m[("moderation_policy_info", (("version", engine.snapshot.version),))] == 1
    assert not any(k[0] == "moderation_decisions_total" for k in m2)  # nothing leaked into the other app


def test_docs_and_openapi(client):
    assert client.get("/docs").status_code == 200 and "swagger" in client.get("/docs").text.lower()
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/v1/moderate", "/v1/moderate/batch", "/healthz", "/readyz", "/v1/policy", "/metrics",
            "/v1/admin/reload"} <= set(paths)
    mod = paths["/v1/moderate"]["post"]
    assert mod["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Listing"}
    assert mod["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Decision")
    assert mod["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    batch = paths["/v1/moderate/batch"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/BatchRequest")
    schemas = spec["components"]["schemas"]
    listing = schemas["Listing"]
    assert listing["additionalProperties"] is False
    assert set(listing["required"]) == {"listing_id", "title"}
    assert schemas["BatchRequest"]["properties"]["listings"]["maxItems"] == 1000
    assert {"Seller", "Qualification", "Decision", "Violation", "Evidence"} <= set(schemas)
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[-1])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec)
    assert refs <= set(schemas)  # every reference resolves


# ----------------------------------------------------------------------------- admin / reload

@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True), ("testclient", True),
    ("10.0.0.1", False), ("192.168.1.1", False), ("::ffff:10.0.0.1", False), ("2001:db8::1", False),
    ("example.com", False), ("", False), (None, False),
])
def test_loopback_detection(host, ok):
    assert is_loopback(host) is ok


def test_admin_is_forbidden_to_remote_clients(app):
    with TestClient(app, client=("203.0.113.7", 4000)) as c:
        err = assert_error(c.post("/v1/admin/reload"), 403, "forbidden", None)
        assert "loopback" in err["message"]
        assert c.post("/v1/moderate", json=ALLOW).status_code == 200  # only admin is restricted


def test_reload_keeps_the_old_snapshot_on_a_broken_file_and_swaps_on_a_good_one(tmp_path):
    root = copy_data(tmp_path)
    engine = Engine(Settings(data_root=root))
    old_version, old_digests = engine.snapshot.version, dict(engine.snapshot.digests)
    app = create_app(engine=engine)
    lexicon = root / "lexicons" / "e_cigarette.yaml"
    good = lexicon.read_text(encoding="utf-8")
    with TestClient(app, client=("127.0.0.1", 5000)) as c:
        assert c.post("/v1/moderate", json=BLOCK).json()["policy_version"] == old_version

        lexicon.write_text(good + "\nterms: [unclosed\n", encoding="utf-8")  # a YAML syntax error
        err = assert_error(c.post("/v1/admin/reload"), 409, "reload_failed", "lexicons/e_cigarette.yaml")
        assert old_version in err["message"]
        d = c.post("/v1/moderate", json=BLOCK).json()
        assert (d["action"], d["policy_version"], d["data_digests"]) == ("block", old_version, old_digests)
        assert c.get("/readyz").json()["data_digests"] == old_digests

        lexicon.write_text(good.replace("family: e_cigarette", "family: [e_cigarette"), encoding="utf-8")
        assert_error(c.post("/v1/admin/reload"), 409, "reload_failed", "lexicons/e_cigarette.yaml")

        lexicon.write_text(good, encoding="utf-8")
        set_policy_version(root, "9999.1-test")
        r = c.post("/v1/admin/reload")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["policy_version"] == "9999.1-test"
        assert body["previous_policy_version"] == old_version
        assert body["changed_files"] == ["policy/policy.yaml"]
        d = c.post("/v1/moderate", json=BLOCK).json()
        assert d["policy_version"] == "9999.1-test" and d["action"] == "block"
        assert d["data_digests"]["policy/policy.yaml"] != old_digests["policy/policy.yaml"]
        assert d["data_digests"]["lexicons/e_cigarette.yaml"] == old_digests["lexicons/e_cigarette.yaml"]
        assert c.get("/v1/policy").json()["policy_version"] == "9999.1-test"

        # a policy that parses but does not validate names the policy file
        policy = root / "policy" / "policy.yaml"
        policy.write_text(policy.read_text(encoding="utf-8").replace("points: 2", "points: two", 1), encoding="utf-8")
        assert_error(c.post("/v1/admin/reload"), 409, "reload_failed", "policy/policy.yaml")
        assert c.post("/v1/moderate", json=ALLOW).json()["policy_version"] == "9999.1-test"
        m = metric_samples(c.get("/metrics").text)
        assert m[("moderation_reloads_total", (("outcome", "failure"), ("trigger", "http")))] == 3
        assert m[("moderation_reloads_total", (("outcome", "success"), ("trigger", "http")))] == 1
        assert m[("moderation_policy_info", (("version", "9999.1-test"),))] == 1


class _SwapMidway(Engine):
    """Simulates a reload landing while a request is being decided."""

    def __init__(self, base: Engine, other):
        super().__init__(base.settings, snapshot=base.snapshot)
        self.other = other
        self.snaps = []

    def moderate(self, listing, as_of=None, snap=None):
        self.snaps.append(snap)
        d = super().moderate(listing, as_of, snap)
        self._snapshot = self.other
        return d


def test_a_request_finishes_on_the_snapshot_it_started_with(engine):
    base = engine.snapshot
    other = dataclasses.replace(base, policy=base.policy.model_copy(update={"version": "other"}))
    spy = _SwapMidway(engine, other)
    with TestClient(create_app(engine=spy)) as c:
        out = c.post("/v1/moderate/batch", json={"listings": [BLOCK, ALLOW, MASK]}).json()["decisions"]
        assert [d["policy_version"] for d in out] == [base.version] * 3
        assert all(s is base for s in spy.snaps)
        assert c.post("/v1/moderate", json=ALLOW).json()["policy_version"] == "other"
        assert spy.snaps[-1] is other


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_reloads(tmp_path, caplog):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    root = copy_data(tmp_path)
    engine = Engine(Settings(data_root=root))
    app = create_app(engine=engine)
    set_policy_version(root, "9999.2-hup")

    async def scenario():
        async with app.router.lifespan_context(app):
            # never send SIGHUP unless our handler is in place: the default action ends the process
            assert signal.getsignal(signal.SIGHUP) not in (signal.SIG_DFL, signal.SIG_IGN, None)
            os.kill(os.getpid(), signal.SIGHUP)
            deadline = time.monotonic() + 20
            while engine.snapshot.version != "9999.2-hup" and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        return signal.getsignal(signal.SIGHUP)

    with caplog.at_level(logging.INFO, logger="app.api"):
        after = asyncio.run(scenario())
    assert engine.snapshot.version == "9999.2-hup"
    assert after == signal.SIG_DFL  # the handler is removed at shutdown
    assert any("sighup" in rec.getMessage().lower() for rec in caplog.records)
