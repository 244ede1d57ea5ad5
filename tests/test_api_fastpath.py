"""The fast path of the moderation routes (``FastPathMiddleware`` in app/api/main.py) answers
exactly what FastAPI's router answers: the same status, headers and body for good requests and for
every kind of bad one, the same metrics label, stored the same way."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.api.main import FAST_PATH_ENV, FastPathMiddleware

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SELLER = {"seller_id": "s-fp", "country": "CN"}
BLOCK = {"listing_id": "fp-1", "title": "Mango e-liquid 60ml 50mg nic salt", "seller": SELLER}
ALLOW = {"listing_id": "fp-2", "title": "Cotton T-shirt, 100% organic"}
JSON = {"content-type": "application/json"}

REQUESTS = [
    ("/v1/moderate", {"json": BLOCK}),
    ("/v1/moderate", {"json": ALLOW}),
    ("/v1/moderate?store=false", {"json": BLOCK}),
    ("/v1/moderate?store=maybe", {"json": BLOCK}),
    ("/v1/moderate", {"json": BLOCK, "headers": {"Idempotency-Key": "fp-key"}}),
    ("/v1/moderate", {"json": BLOCK, "headers": {"Idempotency-Key": "fp-key"}}),  # replayed
    ("/v1/moderate", {"json": ALLOW, "headers": {"Idempotency-Key": "fp-key"}}),  # reused: 409
    ("/v1/moderate", {"content": b'{"listing_id": "x", "title": ', "headers": JSON}),  # malformed
    ("/v1/moderate", {"content": b'{"listing_id": "x", "title": "\xff"}', "headers": JSON}),  # not UTF-8
    ("/v1/moderate", {"content": b"", "headers": JSON}),
    ("/v1/moderate", {"json": {"listing_id": "x"}}),  # schema: title missing
    ("/v1/moderate", {"json": {**ALLOW, "colour": "red"}}),  # unknown field
    ("/v1/moderate", {"content": b"{" + b" " * (2 * 1024 * 1024 + 10) + b"}", "headers": JSON}),  # too large
    ("/v1/moderate", {"content": b"[1, 2]", "headers": {**JSON, "Content-Length": "abc"}}),
    ("/v1/moderate/batch", {"json": {"listings": [BLOCK, {"listing_id": "bad"}, ALLOW]}}),
    ("/v1/moderate/batch", {"json": {"listings": []}}),
    ("/v1/moderate/batch", {"json": {"listing": [ALLOW]}}),
    ("/v1/moderate/batch", {"json": [ALLOW]}),
]


def normalise(body):
    """Drop what differs between two runs by construction (decision ids)."""
    if isinstance(body, dict):
        return {k: normalise(v) for k, v in body.items() if k != "decision_id"}
    if isinstance(body, list):
        return [normalise(x) for x in body]
    return body


def answers(engine, tmp_path, monkeypatch, fast: bool, publisher_key: bool = False):
    monkeypatch.setenv(FAST_PATH_ENV, "on" if fast else "off")
    settings = dataclasses.replace(engine.settings, database_url=f"sqlite:///{tmp_path}/{fast}.sqlite3",
                                   require_publisher_key=publisher_key)
    app = create_app(settings=settings, engine=engine)
    out = []
    with TestClient(app) as c:
        for path, kw in REQUESTS:
            r = c.post(path, **kw)
            try:
                body = normalise(r.json())
            except ValueError:
                body = r.text
            headers = {k: v for k, v in r.headers.items() if k in ("content-type", "x-decision-stored",
                                                                    "idempotent-replayed", "retry-after")}
            out.append((path, r.status_code, headers, body))
        metrics = c.get("/metrics").text
        stored = app.state.store.writer.stats.jobs
    return out, metrics, stored, app


def test_the_fast_path_is_installed_and_can_be_turned_off(engine, tmp_path, monkeypatch):
    def handlers(app):
        node = app.build_middleware_stack()
        while node is not None and not isinstance(node, FastPathMiddleware):
            node = getattr(node, "app", None)
        assert node is not None
        return set(node.handlers)

    monkeypatch.delenv(FAST_PATH_ENV, raising=False)
    assert handlers(create_app(engine=engine)) == {"/v1/moderate", "/v1/moderate/batch"}
    monkeypatch.setenv(FAST_PATH_ENV, "off")
    assert handlers(create_app(engine=engine)) == set()


@pytest.mark.parametrize("publisher_key", [False, True])
def test_fast_and_routed_answers_are_identical(engine, tmp_path, monkeypatch, publisher_key):
    fast, fast_metrics, fast_stored, _ = answers(engine, tmp_path, monkeypatch, True, publisher_key)
    routed, routed_metrics, routed_stored, _ = answers(engine, tmp_path, monkeypatch, False, publisher_key)
    assert fast == routed
    statuses = [s for _, s, _, _ in fast]
    if publisher_key:
        assert set(statuses) == {401}
    else:
        assert statuses[:3] == [200, 200, 200] and 409 in statuses and 413 in statuses and 400 in statuses
        assert fast_stored == routed_stored > 0

    def route_counts(text):
        return sorted(line for line in text.splitlines()
                      if line.startswith("moderation_http_requests_total{") and "/v1/moderate" in line)

    assert route_counts(fast_metrics) == route_counts(routed_metrics)
    assert any('route="/v1/moderate"' in line for line in route_counts(fast_metrics))


def test_other_methods_and_paths_still_go_through_the_router(engine, monkeypatch):
    monkeypatch.delenv(FAST_PATH_ENV, raising=False)
    with TestClient(create_app(engine=engine)) as c:
        assert c.get("/v1/moderate").status_code == 405
        assert c.post("/v1/moderate/", json=ALLOW, follow_redirects=False).status_code in (307, 404)
        assert c.get("/healthz").json() == {"status": "ok"}
        assert "/v1/moderate" in c.get("/openapi.json").json()["paths"]
