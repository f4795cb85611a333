"""Push end to end in Chromium: subscribe through the panel, an organizer publishes, the test
push service decrypts the alert, and the service worker shows it as a notification."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from tests import dbtools
from tests.live import live_server
from tests.pushservice import PushService
from tests.test_offline import wait_for_worker

pytestmark = pytest.mark.browser

STUB_PUSH_MANAGER = """
([subscription, key]) => {
  // Headless Chromium reaches no real push service: hand out a subscription made in the test
  // (a real P-256 key pair) that points at the test push service.
  let current = null;
  const make = () => ({
    endpoint: subscription.endpoint,
    expirationTime: null,
    options: { applicationServerKey: key },
    toJSON: () => subscription,
    unsubscribe: async () => { current = null; return true; },
  });
  PushManager.prototype.subscribe = async function (options) {
    window.__subscribeOptions = options;
    current = make();
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
}
"""


@pytest.fixture
def push():
    with PushService() as service:
        yield service


def open_with_stubbed_push(context, server, subscriber) -> tuple[Page, str]:
    """The home page under the service worker, its pushManager handing out `subscriber`;
    with the server's application server key."""
    page = context.new_page()
    page.goto(server.url + "/")
    wait_for_worker(page)
    key = page.evaluate("fetch('/api/v1/push/key').then(r => r.json())")["publicKey"]
    page.evaluate(STUB_PUSH_MANAGER, [subscriber.subscription_info(), key])
    return page, key


def get_alerts_for_oregon_and_urgent_calls(page: Page) -> None:
    page.get_by_label("Alerts for one state").select_option(label="Oregon")
    page.get_by_label("Urgent calls").check()
    page.get_by_role("button", name="Get alerts").click()
    expect(page.locator("#alerts-status")).to_contain_text("Oregon", timeout=10000)


def add_organizer(server, name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(VIGIL_DB=str(dbtools.target(server.db_path)), VIGIL_SECRET_KEY="x" * 40,
               VIGIL_VAPID_KEY=str(server.tmp / "vapid.pem"))
    subprocess.run([sys.executable, "-m", "server", "add-organizer", name, "--password-stdin"],
                   input="correct horse battery staple\n", text=True, check=True, env=env,
                   cwd=server.tmp, capture_output=True)


def test_subscribe_publish_deliver_and_show(tmp_path, browser, push):
    with live_server(tmp_path, VIGIL_PUSH_HOSTS=push.origin) as server:
        add_organizer(server, "ana")
        subscriber = push.new_subscription()
        visitor = browser.new_context(permissions=["notifications"])
        page, key = open_with_stubbed_push(visitor, server, subscriber)

        # The panel: no prompt on load, Oregon + urgent chosen, then Get alerts.
        assert page.get_by_role("button", name="Get alerts").is_visible()
        get_alerts_for_oregon_and_urgent_calls(page)
        # The page handed the server's key to pushManager.subscribe.
        sent_key = page.evaluate(
            "btoa(String.fromCharCode(...new Uint8Array(window.__subscribeOptions"
            ".applicationServerKey)))")
        assert base64.b64decode(sent_key) == base64.urlsafe_b64decode(key + "==")

        # An organizer publishes a vigil in Oregon through the admin pages.
        organizer = browser.new_context()
        admin = organizer.new_page()
        admin.goto(server.url + "/admin/login")
        admin.get_by_label("Username").fill("ana")
        admin.get_by_label("Password").fill("correct horse battery staple")
        admin.get_by_role("button", name="Sign in").click()
        admin.goto(server.url + "/admin/listings/new")
        admin.get_by_label("Title").fill("Vigil at the Portland ICE office")
        admin.get_by_label("Kind").select_option("vigil")
        admin.get_by_label("Address").fill("4310 SW Macadam Ave")
        admin.get_by_label("City").fill("Portland")
        admin.get_by_label("State").select_option("OR")
        admin.get_by_label("Starts").fill("2030-07-04T19:00")
        admin.get_by_label("Description", exact=True).fill("Candles and songs.")
        admin.get_by_role("button", name="Publish").click()
        admin.wait_for_url("**/edit?done=Published.*")

        message = push.wait_for(1, timeout=15)[0]
        payload = message.json()
        note = payload["notification"]
        assert note["title"] == "New vigil in Portland, OR: Vigil at the Portland ICE office"
        assert note["navigate"].startswith(server.url + "/listings/vigil-at-the-portland-ice")
        assert message.vapid_claims["aud"] == push.origin
        assert message.vapid_claims["sub"] == "mailto:test@example.invalid"

        # The same payload, delivered to the service worker, shows a notification.
        cdp = visitor.new_cdp_session(page)
        registrations = []
        cdp.on("ServiceWorker.workerRegistrationUpdated",
               lambda e: registrations.extend(e["registrations"]))
        cdp.send("ServiceWorker.enable")
        page.wait_for_timeout(300)
        registration_id = next(r["registrationId"] for r in registrations
                               if r["scopeURL"] == server.url + "/")
        cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": server.url, "registrationId": registration_id,
            "data": json.dumps(payload)})
        shown = None
        for _ in range(50):
            shown = page.evaluate(
                "navigator.serviceWorker.ready.then(r => r.getNotifications())"
                ".then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag,"
                " data: n.data})))")
            if shown:
                break
            page.wait_for_timeout(100)
        assert shown and shown[0]["title"] == note["title"]
        assert shown[0]["tag"] == note["tag"]
        assert shown[0]["data"]["url"] == note["navigate"]

        # Stop alerts: the server forgets the subscription; later listings reach no one.
        page.get_by_role("button", name="Stop alerts").click()
        expect(page.locator("#alerts-status")).to_contain_text("off", timeout=10000)
        conn = dbtools.connect(server.db_path)
        assert conn.execute("SELECT COUNT(*) FROM subscriptions").fetchone()[0] == 0
        conn.close()
        organizer.close()
        visitor.close()


def test_panel_is_localized_and_asks_nothing_on_load(tmp_path, browser):
    with live_server(tmp_path) as server:
        context = browser.new_context()
        asked = []
        page = context.new_page()
        page.add_init_script(
            "Notification.requestPermission = async () => { window.__asked = true; "
            "return 'default'; }")
        page.goto(server.url + "/es/alerts")
        page.wait_for_selector("#alerts-form:not([hidden])")
        assert page.get_by_role("button", name="Recibir alertas").is_visible()
        assert page.get_by_role("button", name="Detener alertas").is_visible()
        picker = page.get_by_label("Alertas de un estado")
        assert picker.get_by_role("option", name="Oregón", exact=True).count() == 1
        assert page.get_by_label("Todos los estados").count() >= 1
        assert page.get_by_label("Llamados urgentes").count() == 1
        assert not page.evaluate("Boolean(window.__asked)")
        page.get_by_role("button", name="Recibir alertas").click()
        expect(page.locator("#alerts-status")).to_contain_text("Elija")
        assert not asked
        context.close()


STUB_WORKER_PUSH_MANAGER = """
(subscription) => {
  // As on the page: the worker's pushManager hands out a subscription made in the test.
  PushManager.prototype.subscribe = async function () {
    return { endpoint: subscription.endpoint, toJSON: () => subscription };
  };
  return true;
}
"""


def subscriptions(server) -> dict[str, list[str]]:
    conn = dbtools.connect(server.db_path)
    try:
        rows = conn.execute(
            "SELECT s.endpoint, t.topic FROM subscriptions s "
            "JOIN subscription_topics t ON t.subscription_id = s.id ORDER BY t.topic").fetchall()
    finally:
        conn.close()
    found: dict[str, list[str]] = {}
    for endpoint, topic in rows:
        found.setdefault(endpoint, []).append(topic)
    return found


def test_worker_renews_a_changed_subscription_and_opens_only_this_site(tmp_path, browser, push):
    """pushsubscriptionchange re-subscribes with the topics the visitor chose and drops the
    old endpoint; a notification click opens its page in the app's own window, and a URL
    from anywhere else opens the home page instead."""
    with live_server(tmp_path, VIGIL_PUSH_HOSTS=push.origin) as server:
        first, renewed = push.new_subscription(), push.new_subscription()
        visitor = browser.new_context(permissions=["notifications"])
        page, _ = open_with_stubbed_push(visitor, server, first)
        get_alerts_for_oregon_and_urgent_calls(page)
        chosen = subscriptions(server)
        assert list(chosen) == [first.endpoint]

        worker = visitor.service_workers[0]
        worker.evaluate(STUB_WORKER_PUSH_MANAGER, renewed.subscription_info())
        worker.evaluate("endpoint => resubscribe({endpoint})", first.endpoint)
        assert subscriptions(server) == {renewed.endpoint: chosen[first.endpoint]}

        page.goto(server.url + "/legal")
        worker.evaluate("openFromNotification('/listings/portland-or-macadam')")
        page.wait_for_url(server.url + "/listings/portland-or-macadam")
        for foreign in ("https://evil.example/trap", "javascript:alert(1)", "//evil.example/"):
            page.goto(server.url + "/legal")
            worker.evaluate("href => openFromNotification(href)", foreign)
            page.wait_for_url(server.url + "/")
        visitor.close()
