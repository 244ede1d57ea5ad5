"""The review UI in a real headless browser: Playwright driving Debian's chromium against a real
``moderate serve`` process with its own SQLite store. Log in with a key made by ``moderate keys
create``, open the queue, see the highlighted evidence spans, overturn with the keyboard, and see
the seller's points change; seller text with <script> markup renders inert. Screenshots the listing
page (to the test's temporary directory; to docs/review-listing.png, the README's picture, when
MODERATE_UPDATE_SCREENSHOT=1)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from app.config import REPO_ROOT
from tests.support import free_port, moderate_command

pytest.importorskip("playwright", reason="playwright is not installed (pip install playwright pytest-playwright)")
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.slow]

SELLER = {"seller_id": "seller-42", "country": "CN"}
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
LISTINGS = {
    "stun": {"listing_id": "ui-stun", "title": "Stun gun flashlight 1000kV with holster", "seller": SELLER,
             "description": "Rechargeable LED torch.\nSelf-defense stun gun, 1000kV.", "keywords": ["stun gun", "torch"]},
    "vape": {"listing_id": "ui-vape", "title": "V@PE P3N kit 5000 puffs, mango ice", "seller": SELLER,
             "category": "Home & Garden > Household Merchandise", "keywords": ["disposable", "e-liquid 20mg"],
             "description": "<p>Disposable pod, 5000 puffs.</p>\nFlavours: mango ice, grape. Nic salt 20mg, PG/VG 50/50."},
    "xss": {"listing_id": "ui-xss", "title": XSS + " Mango e-liquid 60ml nic salt", "seller": SELLER,
            "description": "</textarea><b>bold?</b>" + XSS},
    "review": {"listing_id": "ui-nunchaku", "title": "Nunchaku foam training", "seller": SELLER},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import httpx

    tmp = tmp_path_factory.mktemp("ui")
    env = {**os.environ, "MODERATE_STATE_DIR": str(tmp / "state"), "COLUMNS": "200"}
    env.pop("MODERATE_DATABASE_URL", None)
    port = free_port()
    log = tmp / "serve.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([*moderate_command(), "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=tmp, env=env,
                                stdout=fh, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        banner = log.read_text()
        assert "moderate keys create --role admin" in banner and "/review/" in banner

        def key(role: str) -> str:
            r = subprocess.run([*moderate_command(), "keys", "create", "--role", role, "--name", f"ui {role}", "--json"],
                               cwd=tmp, env=env, capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout)["key"]

        keys = {"moderator": key("moderator"), "publisher": key("publisher")}
        pub = {"Authorization": f"Bearer {keys['publisher']}"}
        decisions = {}
        for name, listing in LISTINGS.items():
            r = httpx.post(f"{base}/v1/moderate", json=listing, timeout=30)
            assert r.status_code == 200, r.text
            decisions[name] = r.json()
        for name in ("stun", "vape", "xss"):
            assert decisions[name]["action"] == "block", decisions[name]
            r = httpx.post(f"{base}/v1/decisions/{decisions[name]['decision_id']}/appeal", headers=pub,
                           json={"reason": "please look again"}, timeout=30)
            assert r.status_code == 201, r.text
        assert decisions["review"]["review"] is True
        yield {"base": base, "keys": keys, "decisions": decisions, "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def login(page, server) -> None:
    page.goto(f"{server['base']}/review/queue")
    assert "/review/login" in page.url  # not logged in: sent to the login page
    page.fill("#key", "mod_k000000000000_" + "x" * 43)
    page.click("button[type=submit]")
    assert "not valid" in page.inner_text(".error")
    page.fill("#key", server["keys"]["moderator"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/review/queue$"))


def item_id(page, listing_id: str) -> str:
    row = page.locator("tr.row", has_text=listing_id)
    return row.locator("a.open").inner_text()


def test_moderator_works_the_queue_in_a_browser(page, server, tmp_path):
    page.set_viewport_size({"width": 1280, "height": 1000})
    login(page, server)
    rows = page.locator("tr.row")
    assert rows.count() == 4
    assert page.locator("td", has_text="ui-nunchaku").count() == 1
    # filters: category and action
    page.select_option("select[name=category]", "controlled_instrument")
    page.click("#filters button")
    assert sorted(page.locator("tr.row td:nth-child(2)").all_inner_texts()) == ["ui-nunchaku", "ui-stun"]
    page.select_option("select[name=action]", "block")
    page.click("#filters button")
    assert page.locator("tr.row td:nth-child(2)").all_inner_texts() == ["ui-stun"]
    page.select_option("select[name=age]", "old")
    page.click("#filters button")
    assert page.locator("tr.row").count() == 0  # nothing has waited a week

    # the e-cigarette listing: every evidence span highlighted with its rule; the screenshot
    page.goto(f"{server['base']}/review/queue")
    page.goto(f"{server['base']}/review/items/{item_id(page, 'ui-vape')}")
    marks = page.locator("mark.ev")
    assert marks.count() >= 5
    title_marks = page.locator("[data-field=title] mark.ev")
    texts = [t.split("\n")[0] for t in title_marks.all_inner_texts()]
    assert any(t.startswith("V@PE P3N") for t in texts) and any(t.startswith("mango ice") for t in texts)
    rules = " ".join(title_marks.evaluate_all("els => els.map(e => e.dataset.rules)"))
    assert "ecig.e_liquid" in rules and "circumvention.keyword_distortion" in rules
    assert "E-liquids" in (title_marks.first.get_attribute("title") or "")
    shot = (REPO_ROOT / "docs" if os.environ.get("MODERATE_UPDATE_SCREENSHOT") == "1" else tmp_path) / "review-listing.png"
    shot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000  # a rendered page, not an empty image

    # the stun gun: points before, overturn with the keyboard, points after
    page.goto(f"{server['base']}/review/queue")
    stun = item_id(page, "ui-stun")
    page.goto(f"{server['base']}/review/items/{stun}")
    ev = page.locator("[data-field=title] mark.ev").first
    assert ev.inner_text().startswith("Stun") and "instrument.class3" in ev.get_attribute("data-rules")
    page.click("#seller-link")
    before = int(page.get_attribute("#balance", "data-total"))
    assert before == 6 + 2 + 1 + 2  # stun gun A6, the e-liquid listings B2 + B1 and B2
    assert "restriction_7_days" not in page.inner_text("#consequence")
    page.goto(f"{server['base']}/review/items/{stun}")
    page.keyboard.press("o")  # focuses the overturn reason
    page.keyboard.type("LED torch only, no electrodes (checked photos)")
    page.keyboard.press("Enter")
    page.wait_for_selector("#status.status-overturned")
    assert "overturned" in page.inner_text("#status") and page.inner_text("#effective") == "allow"
    assert "LED torch only" in page.inner_text("#history")
    page.keyboard.press("s")  # the seller's page
    page.wait_for_url(re.compile(r".*/review/sellers/seller-42$"))
    assert int(page.get_attribute("#balance", "data-total")) == before - 6
    assert page.locator("tr.entry-reversed", has_text="instrument.class3").count() == 1
    assert page.locator("tr.entry-reversal", has_text="ui-stun").count() == 1

    # the review-flagged listing: confirm with "c"
    page.goto(f"{server['base']}/review/queue")
    nun = item_id(page, "ui-nunchaku")
    page.goto(f"{server['base']}/review/items/{nun}")
    page.keyboard.press("c")
    page.wait_for_selector("#status.status-confirmed")


def test_seller_text_renders_inert(page, server):
    import httpx

    login(page, server)
    xss = item_id(page, "ui-xss")
    page.goto(f"{server['base']}/review/items/{xss}")
    page.wait_for_load_state("load")
    assert page.evaluate("window.__pwned") is None  # no script ran, no onerror fired
    assert page.locator("main script, main img").count() == 0  # no element was made of seller text
    title = page.inner_text("[data-field=title] .ftext")
    assert title.startswith("<script>window.__pwned=1</script><img src=x")  # shown as text
    assert "</textarea><b>bold?</b>" in page.inner_text("[data-field=description] .ftext")
    assert page.locator("[data-field=title] mark.ev").count() >= 1
    page.goto(f"{server['base']}/review/queue")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("td.title", has_text="<script>").count() == 1
    # the same page fetched raw: escaped markup, and a CSP that allows only this server's scripts
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    r = httpx.get(f"{server['base']}/review/items/{xss}", cookies=cookies)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in r.text and "<script>window" not in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
