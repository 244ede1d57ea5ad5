"""API keys and roles: hashed storage, verification, revocation, and the 401/403 answers of the
routes (standard error body), on a real SQLite store (and the key functions on PostgreSQL too)."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api import create_app
from app.auth.keys import ROLES, create_key, digest, list_keys, revoke_key, role_allows, verify_key
from app.store.models import ApiKey

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ALLOW = {"listing_id": "a-1", "title": "Cotton T-shirt"}


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert list(body) == ["error"] and {"code", "message", "field"} <= set(body["error"])
    assert body["error"]["code"] == code and len(body["error"]["message"]) > 20
    return body["error"]


# ----------------------------------------------------------------------------- keys in the store

def test_keys_are_stored_hashed_and_verified(db):
    row, plain = create_key(db, "moderator", "Ana")
    assert plain.startswith(f"mod_{row.key_id}_") and len(plain) > 50
    stored = db.scalars(select(ApiKey)).all()
    assert all(plain not in (k.key_hash, k.name, k.key_id) for k in stored)
    assert row.key_hash == digest(plain)
    assert verify_key(db, plain).key_id == row.key_id
    assert verify_key(db, plain + "x") is None
    assert verify_key(db, plain[:-1] + ("A" if plain[-1] != "A" else "B")) is None  # one character off
    assert verify_key(db, f"mod_{row.key_id}_" + "A" * 43) is None  # right id, wrong secret
    assert verify_key(db, "mod_kffffffffffff_" + "A" * 43) is None  # unknown id
    assert verify_key(db, "") is None and verify_key(db, "garbage") is None
    revoke_key(db, row.key_id)
    assert verify_key(db, plain) is None
    assert [k.key_id for k in list_keys(db)] == [row.key_id]


def test_roles_are_ordered():
    assert ROLES == ("publisher", "moderator", "admin")
    assert role_allows("admin", "moderator") and role_allows("moderator", "publisher")
    assert not role_allows("publisher", "moderator") and not role_allows("moderator", "admin")
    assert not role_allows("nobody", "publisher")


# ----------------------------------------------------------------------------- HTTP

@pytest.fixture
def app(engine, tmp_path):
    settings = dataclasses.replace(engine.settings, database_url=f"sqlite:///{tmp_path}/auth.sqlite3")
    return create_app(settings=settings, engine=engine)


def key(app, role: str) -> str:
    with app.state.store.begin() as s:
        return create_key(s, role, f"{role} test")[1]


def bearer(k: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {k}"}


def test_review_routes_need_a_moderator_key(app):
    with TestClient(app) as c:
        pub, mod = key(app, "publisher"), key(app, "moderator")
        for method, path in [("GET", "/v1/review/queue"), ("GET", "/v1/sellers/s1/points"),
                             ("GET", "/v1/decisions/dec_x"), ("POST", "/v1/decisions/dec_x/replay"),
                             ("POST", "/v1/review/items/1/verdict")]:
            err = assert_error(c.request(method, path), 401, "unauthorized")
            assert "moderator" in err["message"] and err["field"] == "Authorization"
            assert c.request(method, path).headers["www-authenticate"] == "Bearer"
            err = assert_error(c.request(method, path, headers=bearer(pub)), 403, "forbidden")
            assert "publisher" in err["message"]
            assert_error(c.request(method, path, headers={"Authorization": "Bearer mod_kbad_bad"}), 401, "unauthorized")
            assert_error(c.request(method, path, headers={"Authorization": "Basic abc"}), 401, "unauthorized")
        assert c.get("/v1/review/queue", headers=bearer(mod)).status_code == 200
        assert c.get("/v1/review/queue", headers={"X-API-Key": mod}).status_code == 200


def test_admin_manages_keys_and_a_revoked_key_stops_working(app):
    with TestClient(app) as c:
        admin, mod = key(app, "admin"), key(app, "moderator")
        assert_error(c.post("/v1/admin/keys", json={"role": "publisher"}, headers=bearer(mod)), 403, "forbidden")
        r = c.post("/v1/admin/keys", json={"role": "moderator", "name": "Bo"}, headers=bearer(admin))
        assert r.status_code == 201, r.text
        new = r.json()
        assert new["role"] == "moderator" and new["key"].startswith("mod_")
        assert c.get("/v1/review/queue", headers=bearer(new["key"])).status_code == 200
        listed = c.get("/v1/admin/keys", headers=bearer(admin)).json()["keys"]
        assert new["key_id"] in {k["key_id"] for k in listed}
        assert all("key" not in k and "key_hash" not in k for k in listed)
        assert c.delete(f"/v1/admin/keys/{new['key_id']}", headers=bearer(admin)).json()["revoked_at"]
        assert_error(c.get("/v1/review/queue", headers=bearer(new["key"])), 401, "unauthorized")
        assert_error(c.post("/v1/admin/keys", json={"role": "root"}, headers=bearer(admin)), 422, "validation_error")
        assert_error(c.delete("/v1/admin/keys/knope", headers=bearer(admin)), 404, "not_found")


def test_reload_takes_an_admin_key_or_a_loopback_client(app):
    admin, mod = key(app, "admin"), key(app, "moderator")
    with TestClient(app, client=("203.0.113.7", 4000)) as remote:
        err = assert_error(remote.post("/v1/admin/reload"), 403, "forbidden")
        assert "loopback" in err["message"] and "admin API key" in err["message"]
        assert_error(remote.post("/v1/admin/reload", headers=bearer(mod)), 403, "forbidden")
        assert_error(remote.post("/v1/admin/reload", headers=bearer("mod_k000000000000_" + "x" * 43)), 401,
                     "unauthorized")
        r = remote.post("/v1/admin/reload", headers=bearer(admin))
        assert r.status_code == 200 and r.json()["reloaded"] is True
    with TestClient(app, client=("127.0.0.1", 5000)) as local:
        assert local.post("/v1/admin/reload").status_code == 200


def test_moderate_is_open_by_default_and_needs_a_publisher_key_when_configured(engine, tmp_path):
    base = dataclasses.replace(engine.settings, database_url=f"sqlite:///{tmp_path}/p.sqlite3")
    with TestClient(create_app(settings=base, engine=engine)) as c:
        assert c.post("/v1/moderate", json=ALLOW).status_code == 200
    strict = create_app(settings=dataclasses.replace(base, require_publisher_key=True), engine=engine)
    with TestClient(strict) as c:
        assert_error(c.post("/v1/moderate", json=ALLOW), 401, "unauthorized")
        assert_error(c.post("/v1/moderate/batch", json={"listings": [ALLOW]}), 401, "unauthorized")
        pub = key(strict, "publisher")
        assert c.post("/v1/moderate", json=ALLOW, headers=bearer(pub)).status_code == 200
        assert c.post("/v1/moderate/batch", json={"listings": [ALLOW]}, headers=bearer(pub)).status_code == 200


def test_auth_off_opens_the_review_routes_but_not_remote_reload(engine, tmp_path):
    settings = dataclasses.replace(engine.settings, database_url=f"sqlite:///{tmp_path}/o.sqlite3", auth=False)
    app = create_app(settings=settings, engine=engine)
    with TestClient(app, client=("203.0.113.7", 4000)) as c:
        assert c.get("/v1/review/queue").status_code == 200
        assert_error(c.post("/v1/admin/reload"), 403, "forbidden")
