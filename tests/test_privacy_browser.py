"""Privacy, checked in a real browser: a visitor's phone talks to this server only, gets no
cookie, and leaves no client address in the database or the logs."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import dbtools
from tests.live import live_server
from tests.pushservice import PushService
from tests.test_offline import wait_for_worker
from tests.test_push_browser import STUB_PUSH_MANAGER

pytestmark = pytest.mark.browser

# The server listens on 127.0.0.3 and the push service on 127.0.0.4, so the browser's own
# address (127.0.0.1, chosen by the kernel) appears nowhere unless the server recorded it.
SERVER_HOST = "127.0.0.3"
CLIENT_ADDRESS = "127.0.0.1"


def test_a_whole_visit_stays_on_this_origin_sets_no_cookie_and_stores_no_address(
    tmp_path, browser
):
    with PushService(host="127.0.0.4") as push, live_server(
        tmp_path, host=SERVER_HOST, VIGIL_PUSH_HOSTS=push.origin
    ) as server:
        context = browser.new_context(
            geolocation={"latitude": 45.5, "longitude": -122.6},
            permissions=["geolocation", "notifications", "clipboard-read", "clipboard-write"],
        )
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        page = context.new_page()
        server.sql("UPDATE listings SET status = 'active' WHERE slug = 'portland-or-macadam'")
        page.goto(server.url + "/")
        wait_for_worker(page)
        urls = page.evaluate("fetch('/offline-manifest.json').then(r => r.json())")["urls"]
        for url in [u for u in urls if not u.startswith("/static/")]:
            page.goto(server.url + url)
        # Features: near me, search, share, alerts.
        page.goto(server.url + "/")
        page.click("#near-me")
        page.wait_for_selector("#nearest:not([hidden]) li")
        page.goto(server.url + "/es/search?q=detencion")
        page.wait_for_selector("#results li")
        page.goto(server.url + "/listings/portland-or-macadam")
        page.click("button.share")
        page.goto(server.url + "/")
        sub = push.new_subscription()
        key = page.evaluate("fetch('/api/v1/push/key').then(r => r.json())")["publicKey"]
        page.evaluate(STUB_PUSH_MANAGER, [sub.subscription_info(), key])
        page.get_by_label("Alerts for one state").select_option(label="Oregon")
        page.get_by_role("button", name="Get alerts").click()
        expect(page.locator("#alerts-status")).to_contain_text("Oregon", timeout=10000)
        page.goto(server.url + "/suggest")
        page.get_by_label("Title").fill("Vigil at the Tacoma NWDC")
        page.get_by_label("Details").fill("Every night at 8 pm, bring candles.")
        page.get_by_label("City").fill("Tacoma")
        page.wait_for_timeout(3100)  # the form's minimum fill time
        page.get_by_role("button", name="Send suggestion").click()
        page.wait_for_load_state()
        context.set_offline(True)
        page.goto(server.url + "/es/legal")
        context.set_offline(False)
        page.goto(server.url + "/rights")

        assert any(u.endswith("/offline-manifest.json") for u in requests), \
            "the service worker's own requests are recorded too"
        foreign = [u for u in requests
                   if not u.startswith(server.url + "/") and not u.startswith(("data:", "blob:"))]
        assert foreign == [], foreign
        assert context.cookies() == []
        context.close()

        dump = dbtools.stored_bytes(server.db_path).decode("utf-8", "replace")
        conn = dbtools.connect(server.db_path)
        columns = [r[0] for r in conn.execute(dbtools.table_columns_sql, ("subscriptions",))]
        stored = conn.execute("SELECT * FROM subscriptions").fetchall()
        suggestions = conn.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0]
        conn.close()
        assert CLIENT_ADDRESS not in dump
        assert columns == ["id", "endpoint", "p256dh", "auth", "created", "lang", "refusals"]
        assert len(stored) == 1
        assert suggestions == 1
        logs = server.logs()
        assert '"GET /' in logs, "the access log is on"
        assert CLIENT_ADDRESS not in logs
        assert "HeadlessChrome" not in logs and "Mozilla" not in logs
