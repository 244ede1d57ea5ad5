"""The store behind the HTTP API: every decision stored before it is answered (or bypassed
explicitly), idempotent retries, appeals, verdicts, seller points and replay, over a real SQLite
store."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.auth.keys import create_key

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SELLER = {"seller_id": "s-api", "country": "CN"}
BLOCK = {"listing_id": "b-1", "title": "Mango e-liquid 60ml 50mg nic salt", "seller": SELLER}
STUN = {"listing_id": "b-2", "title": "Stun gun flashlight 1000kV", "seller": SELLER}
REVIEW = {"listing_id": "r-1", "title": "Nunchaku foam training", "seller": SELLER}
ALLOW = {"listing_id": "a-1", "title": "Cotton T-shirt", "seller": SELLER}


def assert_error(resp, status, code, field=...):
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code and len(err["message"]) > 15
    if field is not ...:
        assert err["field"] == field, err
    return err


@pytest.fixture
def app(engine, tmp_path):
    settings = dataclasses.replace(engine.settings, database_url=f"sqlite:///{tmp_path}/api.sqlite3")
    return create_app(settings=settings, engine=engine)


@pytest.fixture
def c(app):
    with TestClient(app) as client:
        with app.state.store.begin() as s:
            client.mod = {"Authorization": f"Bearer {create_key(s, 'moderator', 'Mo')[1]}"}
            client.pub = {"Authorization": f"Bearer {create_key(s, 'publisher', 'Pub')[1]}"}
        yield client


def test_a_decision_is_answered_once_stored_and_can_be_read_back(c):
    r = c.post("/v1/moderate", json=BLOCK)
    assert r.status_code == 200 and r.headers["x-decision-stored"] == "true"
    d = r.json()
    got = c.get(f"/v1/decisions/{d['decision_id']}", headers=c.mod)
    assert got.status_code == 200
    body = got.json()
    assert body["decision"] == d and body["listing"]["title"] == BLOCK["title"]
    assert body["effective_action"] == "block" and body["source"] == "api"
    assert_error(c.get("/v1/decisions/dec_nope", headers=c.mod), 404, "not_found", "decision_id")


def test_store_false_bypasses_the_store(c):
    for r in (c.post("/v1/moderate?store=false", json=BLOCK),
              c.post("/v1/moderate", json=BLOCK, headers={"X-Moderate-Store": "false"})):
        assert r.status_code == 200 and r.headers["x-decision-stored"] == "false"
        assert c.get(f"/v1/decisions/{r.json()['decision_id']}", headers=c.mod).status_code == 404
    assert_error(c.post("/v1/moderate?store=maybe", json=BLOCK), 422, "validation_error", "store")
    assert c.get("/v1/sellers/s-api/points", headers=c.mod).json()["balance"]["total"] == 0


def test_a_retry_with_the_same_idempotency_key_gets_the_stored_decision(c):
    h = {"Idempotency-Key": "publish-b-1-attempt"}
    first = c.post("/v1/moderate", json=BLOCK, headers=h)
    again = c.post("/v1/moderate", json=BLOCK, headers=h)
    assert again.json()["decision_id"] == first.json()["decision_id"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert_error(c.post("/v1/moderate", json=ALLOW, headers=h), 409, "idempotency_key_reused", "Idempotency-Key")
    assert c.get("/v1/sellers/s-api/points", headers=c.mod).json()["balance"] == {"A": 0, "B": 2, "total": 2}


def test_batch_decisions_are_stored_and_bad_slots_are_not(c):
    r = c.post("/v1/moderate/batch", json={"listings": [BLOCK, {"listing_id": "bad"}, STUN]})
    assert r.status_code == 200 and r.headers["x-decision-stored"] == "true"
    out = r.json()["decisions"]
    assert "error" in out[1]
    for d in (out[0], out[2]):
        assert c.get(f"/v1/decisions/{d['decision_id']}", headers=c.mod).json()["source"] == "batch"
    assert c.get("/v1/sellers/s-api/points", headers=c.mod).json()["balance"]["total"] == 8


def test_when_the_store_is_down_no_decision_is_answered(engine, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    settings = dataclasses.replace(engine.settings, database_url=f"sqlite:///{blocker}/sub/x.sqlite3")
    app = create_app(settings=settings, engine=engine)
    c = TestClient(app)  # no lifespan: the store fails on first use
    err = assert_error(c.post("/v1/moderate", json=BLOCK), 503, "store_unavailable")
    assert "store=false" in err["message"]
    assert c.post("/v1/moderate?store=false", json=BLOCK).status_code == 200


def test_appeal_queue_overturn_and_points(c):
    stun = c.post("/v1/moderate", json=STUN).json()
    c.post("/v1/moderate", json=BLOCK)
    pts = c.get("/v1/sellers/s-api/points", headers=c.mod).json()
    assert pts["balance"] == {"A": 6, "B": 2, "total": 8}
    assert pts["consequence"] == {"points": 6, "consequence": "severe_warning"}
    assert [d["rule_id"] for d in pts["active_deductions"]] == ["instrument.class3", "ecig.e_liquid"]
    allow = c.post("/v1/moderate", json=ALLOW).json()
    assert_error(c.post(f"/v1/decisions/{allow['decision_id']}/appeal", headers=c.pub), 409, "not_blocked")
    assert_error(c.post(f"/v1/decisions/{stun['decision_id']}/appeal"), 401, "unauthorized")
    r = c.post(f"/v1/decisions/{stun['decision_id']}/appeal", json={"reason": "it is a torch"}, headers=c.pub)
    assert r.status_code == 201 and r.json()["reason"] == "appeal"
    item_id = r.json()["id"]
    assert c.post(f"/v1/decisions/{stun['decision_id']}/appeal", headers=c.pub).status_code == 200  # once
    q = c.get("/v1/review/queue?reason=appeal", headers=c.mod).json()
    assert [i["id"] for i in q["items"]] == [item_id]
    assert c.get("/v1/review/queue?category=e_cigarette", headers=c.mod).json()["count"] == 0
    assert_error(c.post(f"/v1/review/items/{item_id}/verdict", json={"verdict": "overturn"}, headers=c.mod),
                 422, "validation_error", "reason")
    assert_error(c.post(f"/v1/review/items/{item_id}/verdict", json={"verdict": "nah"}, headers=c.mod),
                 422, "validation_error", "verdict")
    assert_error(c.post(f"/v1/review/items/{item_id}/verdict", content=b"{", headers=c.mod), 400, "malformed_json")
    h = {**c.mod, "Idempotency-Key": "verdict-1"}
    v = c.post(f"/v1/review/items/{item_id}/verdict", json={"verdict": "overturn", "reason": "LED torch"}, headers=h)
    assert v.status_code == 200, v.text
    assert v.json()["status"] == "overturned" and len(v.json()["points_reversed"]) == 1
    again = c.post(f"/v1/review/items/{item_id}/verdict", json={"verdict": "overturn", "reason": "LED torch"}, headers=h)
    assert again.json()["replayed"] is True and again.json()["event"]["id"] == v.json()["event"]["id"]
    assert_error(c.post(f"/v1/review/items/{item_id}/verdict", json={"verdict": "confirm"}, headers=c.mod),
                 409, "already_resolved")
    got = c.get(f"/v1/decisions/{stun['decision_id']}", headers=c.mod).json()
    assert got["effective_action"] == "allow" and got["decision"]["action"] == "block"
    assert [e["kind"] for e in got["review_items"][0]["history"]] == ["appealed", "overturned"]
    pts = c.get("/v1/sellers/s-api/points", headers=c.mod).json()
    assert pts["balance"] == {"A": 0, "B": 2, "total": 2} and pts["consequence"] is None
    future = (dt.date.today() + dt.timedelta(days=365)).isoformat()
    assert c.get(f"/v1/sellers/s-api/points?as_of={future}", headers=c.mod).json()["balance"]["total"] == 0
    assert_error(c.get("/v1/sellers/s-api/points?as_of=yesterday", headers=c.mod), 422, "validation_error", "as_of")
    assert_error(c.get("/v1/review/queue?action=delete", headers=c.mod), 422, "validation_error", "action")
    assert_error(c.get("/v1/review/queue?max_age_hours=-1", headers=c.mod), 422, "validation_error", "max_age_hours")
    assert_error(c.get("/v1/review/items/999", headers=c.mod), 404, "not_found")


def test_review_flagged_decisions_reach_the_queue(c):
    d = c.post("/v1/moderate", json=REVIEW).json()
    assert d["review"] is True
    items = c.get("/v1/review/queue", headers=c.mod).json()["items"]
    assert [(i["decision_id"], i["reason"]) for i in items] == [(d["decision_id"], "review_flag")]
    one = c.get(f"/v1/review/items/{items[0]['id']}", headers=c.mod).json()
    assert one["decision"]["decision_id"] == d["decision_id"] and one["listing"]["title"] == REVIEW["title"]
    v = c.post(f"/v1/review/items/{items[0]['id']}/verdict", headers=c.mod,
               json={"verdict": "overturn", "reason": "real nunchaku", "action": "block",
                     "rule_ids": ["instrument.class5"]})
    assert v.status_code == 200, v.text
    assert c.get("/v1/sellers/s-api/points", headers=c.mod).json()["balance"] == {"A": 0, "B": 2, "total": 2}


def test_replay_reproduces_the_stored_decision_and_shows_what_changed_since(c):
    old = {**BLOCK, "listing_id": "old-1", "as_of": "2021-06-01"}  # before the e-liquid rule (2021-12-09)
    d = c.post("/v1/moderate", json=old).json()
    assert d["action"] == "allow"
    r = c.post(f"/v1/decisions/{d['decision_id']}/replay", headers=c.mod)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["same_data"] is True and body["changed_files"] == []
    assert body["at_original_as_of"]["as_of"] == "2021-06-01"
    assert body["at_original_as_of"]["differences_from_stored"] == {}  # replayable exactly
    today = body["today"]
    assert today["action"] == "block" and today["as_of"] == dt.datetime.now(dt.timezone.utc).date().isoformat()
    assert today["differences_from_original_as_of"]["action"] == {"from": "allow", "to": "block"}
    assert "ecig.e_liquid" in today["differences_from_original_as_of"]["rules_added"]
    assert today["differences_from_stored"]["points"]["to"]["B"] >= 2
    assert_error(c.post("/v1/decisions/dec_nope/replay", headers=c.mod), 404, "not_found")


def test_replay_after_a_reload_names_the_changed_files(engine, tmp_path):
    import shutil

    from app.config import REPO_ROOT, Settings
    from app.engine import Engine

    root = tmp_path / "data"
    shutil.copytree(REPO_ROOT / "policy", root / "policy")
    shutil.copytree(REPO_ROOT / "lexicons", root / "lexicons")
    if (REPO_ROOT / "cas_lists").is_dir():
        shutil.copytree(REPO_ROOT / "cas_lists", root / "cas_lists")
    settings = Settings(data_root=root, database_url=f"sqlite:///{tmp_path}/r.sqlite3")
    app = create_app(settings=settings, engine=Engine(settings))
    with TestClient(app, client=("127.0.0.1", 1)) as c:
        with app.state.store.begin() as s:
            mod = {"Authorization": f"Bearer {create_key(s, 'moderator')[1]}"}
        d = c.post("/v1/moderate", json=BLOCK).json()
        path = root / "policy" / "policy.yaml"
        text = path.read_text(encoding="utf-8")
        text = text.replace('version: "', 'version: "replay-test-', 1)
        text = text.replace("id: ecig.e_liquid\n    category: e_cigarette\n    violation_class: B\n    points: 2",
                            "id: ecig.e_liquid\n    category: e_cigarette\n    violation_class: B\n    points: 3", 1)
        path.write_text(text, encoding="utf-8")
        assert c.post("/v1/admin/reload").status_code == 200
        body = c.post(f"/v1/decisions/{d['decision_id']}/replay", headers=mod).json()
        assert body["same_data"] is False and body["changed_files"] == ["policy/policy.yaml"]
        assert body["policy_version_now"].startswith("replay-test-")
        diff = body["at_original_as_of"]["differences_from_stored"]
        assert diff["points"] == {"from": {"A": 0, "B": 2}, "to": {"A": 0, "B": 3}}
