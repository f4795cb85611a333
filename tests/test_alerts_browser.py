"""Alerts in Chromium: a first visit subscribes within seconds even when the offline bundle
is flaky; an approved alert reaches the banners and the Alerts page in both languages, and
the phone's offline copy; a retraction takes it down; a Spanish subscriber's notification
is a declarative push message in Spanish; the panel on a 360 px phone and on an iPhone."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from server.push import check_declarative
from tests import dbtools
from tests.admin_support import hidden_fields, sign_in
from tests.live import live_server
from tests.pushservice import PushService
from tests.test_offline import BUNDLE_COMPLETE, eventually, wait_for_worker
from tests.test_push_browser import STUB_PUSH_MANAGER, STUB_WORKER_PUSH_MANAGER, add_organizer

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
SHOTS = Path("/tmp/vigil-screenshots")


@pytest.fixture
def push():
    with PushService() as service:
        yield service


def stubbed_phone(browser, subscriber, **options):
    """A phone-sized context whose pages hand out `subscriber` from pushManager from the
    first script on: a first-time visitor can tap at once."""
    context = browser.new_context(viewport=PHONE, permissions=["notifications"], **options)
    context.add_init_script(
        f"({STUB_PUSH_MANAGER})({json.dumps([subscriber.subscription_info(), None])})")
    return context


def subscriptions(server) -> list[tuple[str, str, str]]:
    conn = dbtools.connect(server.db_path)
    try:
        return conn.execute(
            "SELECT s.endpoint, s.lang, t.topic FROM subscriptions s "
            "JOIN subscription_topics t ON t.subscription_id = s.id ORDER BY t.topic").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("flaky", [False, True], ids=["steady", "one-in-five-fails"])
def test_a_first_visit_subscribes_within_5_seconds(tmp_path, browser, push, flaky):
    with live_server(tmp_path, VIGIL_PUSH_HOSTS=push.origin) as server:
        subscriber = push.new_subscription()
        context = stubbed_phone(browser, subscriber)
        seen, failed = [0], []

        def one_in_five(route):
            request = route.request
            if request.service_worker is not None and not request.url.endswith("/sw.js"):
                seen[0] += 1
                if seen[0] % 5 == 0:
                    failed.append(request.url)
                    route.abort("connectionreset")
                    return
            route.continue_()

        if flaky:
            context.route("**/*", one_in_five)
        page = context.new_page()
        page.goto(server.url + "/alerts", wait_until="load")
        started = time.monotonic()
        page.get_by_label("Alerts for one state").select_option(label="Oregon")
        page.get_by_label("Urgent calls").check()
        page.get_by_role("button", name="Get alerts").click()
        expect(page.locator("#alerts-status")).to_contain_text(
            "Alerts are on for: Oregon, Urgent calls", timeout=5000)
        assert time.monotonic() - started < 5.0
        assert subscriptions(server) == [(subscriber.endpoint, "en", "state:OR"),
                                         (subscriber.endpoint, "en", "urgent")]
        # The offline bundle still arrives whole: failed URLs are fetched again.
        eventually(page, BUNDLE_COMPLETE, timeout=60)
        if flaky:
            assert failed, "the route failed nothing: the test proved nothing"
        context.close()


def organizer(server, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=server.url)
    return client, sign_in(client, name)


def wait_for(page, check, timeout: float, what: str) -> None:
    """Poll a Python condition; each round trip to the page lets Playwright deliver the
    events (CDP included) that the condition looks at."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        page.evaluate("new Promise((resolve) => requestAnimationFrame(resolve))")


def manifest_revision(server) -> str:
    with urllib.request.urlopen(server.url + "/offline-manifest.json") as res:
        return json.load(res)["revision"]


SAVED_REVISION = """async () => {
  const name = (await caches.keys()).find((n) => n.startsWith("vigil-content-"));
  const saved = name && await (await caches.open(name)).match("/__vigil/bundle");
  return saved ? (await saved.json()) : null;
}"""


def test_an_approved_alert_shows_everywhere_and_offline_and_a_retraction_removes_it(
        tmp_path, browser, push):
    with live_server(tmp_path, VIGIL_PUSH_HOSTS=push.origin) as server:
        add_organizer(server, "ana")
        add_organizer(server, "ben")
        phone = browser.new_context(viewport=PHONE)
        page = phone.new_page()
        page.goto(server.url + "/")
        wait_for_worker(page)  # the phone visited once, and has the offline bundle

        ana, ana_csrf = organizer(server, "ana")
        res = ana.post("/admin/alerts/new", data={
            "csrf": ana_csrf, "title": "Raid reported at the Portland ICE office",
            "message": "Legal observers needed now.", "title_es": "Redada en la oficina de ICE",
            "message_es": "Se necesitan observadores legales ahora.", "link": "/legal",
            "states": ["OR"], "urgent": "on", "expires": "4", "action": "send"})
        assert res.status_code == 303 and "Waiting" in res.headers["location"]
        alert_url = res.headers["location"].split("?")[0]
        ben, ben_csrf = organizer(server, "ben")
        approval = hidden_fields(ben.get(alert_url).text, alert_url + "/approve")
        assert ben.post(alert_url + "/approve", data=approval).status_code == 303
        approved = time.monotonic()

        for path, text in (("/", "Raid reported at the Portland ICE office"),
                           ("/es/", "Redada en la oficina de ICE"),
                           ("/alerts", "Raid reported at the Portland ICE office"),
                           ("/es/alerts", "Redada en la oficina de ICE")):
            page.goto(server.url + path)
            expect(page.locator("main")).to_contain_text(text, timeout=5000)
        assert time.monotonic() - approved < 5.0
        expect(page.locator(".alerts-current .alert-card")).to_contain_text("Urgente")
        page.goto(server.url + "/listings/portland-or-macadam")
        expect(page.locator("#alert-banner")).to_contain_text("Legal observers needed now.")

        # Offline: the pages the phone keeps now carry the alert, with its age.
        revision = manifest_revision(server)
        eventually(page, f"""async () => {{
          const saved = await ({SAVED_REVISION})();
          return saved && saved.complete && saved.revision === {json.dumps(revision)};
        }}""", timeout=30)
        phone.set_offline(True)
        offline = phone.new_page()
        for path, text, age in (("/es/alerts", "Redada en la oficina de ICE", "Enviada"),
                                ("/?state=OR", "Raid reported at the Portland ICE office",
                                 "Sent")):
            offline.goto(server.url + path)
            card = offline.locator(".alert-card").first
            expect(card).to_contain_text(text)
            expect(card).to_contain_text(re.compile(age + r" (hace|just now|justo ahora|\d+)"))
        phone.set_offline(False)

        # One organizer's retraction: at once, every banner says the alert is being checked
        # (one account alone can neither send an alert nor silence a true one).
        res = ana.post(alert_url + "/retract", data={"csrf": ana_csrf})
        assert res.status_code == 303
        for path, text in (("/", "being checked"), ("/es/", "se está revisando"),
                           ("/listings/portland-or-macadam", "being checked")):
            page.goto(server.url + path)
            expect(page.locator("#alert-banner")).to_contain_text(text, timeout=5000)
        # A second organizer confirms: at once, off every banner, marked on the Alerts page.
        res = ben.post(alert_url + "/confirm-retraction", data={"csrf": ben_csrf})
        assert res.status_code == 303
        retracted = time.monotonic()
        for path in ("/", "/es/", "/listings/portland-or-macadam"):
            page.goto(server.url + path)
            expect(page.locator("#alert-banner")).to_have_count(0, timeout=5000)
        page.goto(server.url + "/alerts")
        expect(page.locator(".alerts-recent")).to_contain_text("Retracted")
        expect(page.locator(".alerts-current")).to_contain_text("No current alerts.")
        assert time.monotonic() - retracted < 5.0
        ana.close()
        ben.close()
        phone.close()


def test_a_spanish_subscriber_gets_a_declarative_push_message_in_spanish(
        tmp_path, browser, push):
    with live_server(tmp_path, VIGIL_PUSH_HOSTS=push.origin) as server:
        add_organizer(server, "ana")
        subscriber = push.new_subscription()
        phone = stubbed_phone(browser, subscriber)
        page = phone.new_page()
        page.goto(server.url + "/es/alerts?state=WA")
        picker = page.get_by_label("Alertas de un estado")
        expect(picker).to_have_value("state:WA")
        page.get_by_role("button", name="Recibir alertas").click()
        expect(page.locator("#alerts-status")).to_contain_text("Washington", timeout=5000)
        assert subscriptions(server) == [(subscriber.endpoint, "es", "state:WA")]

        ana, csrf = organizer(server, "ana")
        res = ana.post("/admin/alerts/new", data={
            "csrf": csrf, "title": "Vigil moved to the park", "message": "Same time.",
            "title_es": "La vigilia se trasladó al parque", "message_es": "A la misma hora.",
            "link": "", "states": ["WA"], "urgent": "on", "expires": "4", "action": "send"})
        alert_url = res.headers["location"].split("?")[0]
        (message,) = push.wait_for(1, timeout=15)
        payload = message.json()
        check_declarative(payload)
        assert payload["web_push"] == 8030 and payload["mutable"] is True
        note = payload["notification"]
        assert (note["title"], note["body"], note["lang"]) == (
            "La vigilia se trasladó al parque", "A la misma hora.", "es")
        assert note["navigate"] == server.url + "/es/" and note["requireInteraction"] is True
        assert message.headers["Urgency"] == "high"
        assert 4 * 3600 - 60 <= int(message.headers["TTL"]) <= 4 * 3600

        # The worker shows that JSON; the correction replaces it (same tag).
        ana.post(alert_url + "/correct", data={
            "csrf": csrf, "title": "Vigil moved to the park at 7", "message": "At 7 pm.",
            "title_es": "La vigilia se trasladó al parque a las 7", "message_es": "A las 19 h.",
            "link": ""})
        correction = push.wait_for(2, timeout=15)[1].json()
        assert correction["notification"]["tag"] == note["tag"]
        cdp = phone.new_cdp_session(page)
        registrations = []
        cdp.on("ServiceWorker.workerRegistrationUpdated",
               lambda e: registrations.extend(e["registrations"]))
        cdp.send("ServiceWorker.enable")
        wait_for(page, lambda: any(r["scopeURL"] == server.url + "/" for r in registrations), 5,
                 "the worker's registration")
        registration_id = next(r["registrationId"] for r in registrations
                               if r["scopeURL"] == server.url + "/")
        shown_js = ("navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => "
                    "ns.map(n => ({title: n.title, body: n.body, tag: n.tag, lang: n.lang, "
                    "sticky: n.requireInteraction, url: n.data.url})))")
        for sent in (payload, correction):
            cdp.send("ServiceWorker.deliverPushMessage", {
                "origin": server.url, "registrationId": registration_id,
                "data": json.dumps(sent)})
            title = sent["notification"]["title"]
            shown = eventually(page, f"{shown_js}.then(ns => ns.some(n => n.title === "
                                     f"{json.dumps(title)}) && ns)", timeout=10)
        assert shown == [{"title": "Actualización: La vigilia se trasladó al parque a las 7",
                          "body": "A las 19 h.", "tag": note["tag"], "lang": "es",
                          "sticky": True, "url": server.url + "/es/"}]
        ana.close()
        phone.close()


def test_the_panel_on_a_360px_phone_in_both_languages(tmp_path, browser):
    SHOTS.mkdir(exist_ok=True)
    with live_server(tmp_path) as server:
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        page = context.new_page()
        for path, label, state in (("/alerts", "Alerts for one state", "Oregon"),
                                   ("/es/alerts", "Alertas de un estado", "Oregón")):
            page.goto(server.url + path)
            page.wait_for_selector("#alerts-form:not([hidden])")
            picker = page.get_by_label(label)
            picker.select_option(label=state)
            expect(picker).to_have_value("state:OR")
            for name in ("All states", "Urgent calls") if path == "/alerts" else (
                    "Todos los estados", "Llamados urgentes"):
                box = page.get_by_label(name, exact=True)
                box.check()
                assert box.bounding_box()["width"] >= 20  # a target a thumb can hit
            assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
            panel = page.locator("#alerts")
            panel.scroll_into_view_if_needed()
            box = panel.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360
            page.screenshot(path=str(SHOTS / f"alerts-{path.strip('/').replace('/', '-')}.png"))
        context.close()


def test_on_an_iphone_not_installed_the_panel_explains_installing_first(tmp_path, browser):
    iphone = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_4 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/18.4 Mobile/15E148 Safari/604.1")
    with live_server(tmp_path) as server:
        context = browser.new_context(viewport=PHONE, user_agent=iphone, is_mobile=True)
        page = context.new_page()
        page.goto(server.url + "/alerts")
        expect(page.locator("#alerts-ios")).to_be_visible()
        expect(page.locator("#alerts-ios")).to_contain_text("add Vigil to your Home Screen first")
        expect(page.locator("#alerts-form")).to_be_hidden()
        page.goto(server.url + "/es/alerts")
        expect(page.locator("#alerts-ios")).to_contain_text("pantalla de inicio")
        context.close()


def test_a_setup_that_never_finishes_says_so_and_offers_a_retry(tmp_path, browser, push):
    """The worker script never arrives (lie-fi): after the set-up timeout the panel says so
    and offers Try again, instead of waiting forever in silence."""
    with live_server(tmp_path, VIGIL_PUSH_HOSTS=push.origin) as server:
        subscriber = push.new_subscription()
        context = stubbed_phone(browser, subscriber)
        hanging = []

        def hold(route):  # never answered until the test lets it go
            hanging.append(route)

        context.route("**/sw.js", hold)
        page = context.new_page()
        page.clock.install()
        page.goto(server.url + "/alerts")
        page.get_by_label("Urgent calls").check()
        page.get_by_role("button", name="Get alerts").click()
        status = page.locator("#alerts-status")
        expect(status).to_have_text("Setting up alerts…")
        expect(page.get_by_role("button", name="Try again")).to_be_hidden()
        page.clock.run_for(21_000)
        expect(status).to_contain_text("taking long on this connection")
        expect(page.get_by_role("button", name="Try again")).to_be_visible()
        assert subscriptions(server) == []
        assert hanging
        context.unroute("**/sw.js")  # lets the held request through
        page.get_by_role("button", name="Try again").click()
        expect(status).to_contain_text("Alerts are on for: Urgent calls", timeout=10000)
        context.close()


def test_a_renewed_subscription_keeps_its_language(tmp_path, browser, push):
    with live_server(tmp_path, VIGIL_PUSH_HOSTS=push.origin) as server:
        first, renewed = push.new_subscription(), push.new_subscription()
        phone = stubbed_phone(browser, first)
        page = phone.new_page()
        page.goto(server.url + "/es/alerts")
        page.get_by_label("Llamados urgentes").check()
        page.get_by_role("button", name="Recibir alertas").click()
        expect(page.locator("#alerts-status")).to_contain_text("Llamados urgentes",
                                                               timeout=5000)
        assert subscriptions(server) == [(first.endpoint, "es", "urgent")]
        worker = phone.service_workers[0]
        worker.evaluate(STUB_WORKER_PUSH_MANAGER, renewed.subscription_info())
        worker.evaluate("endpoint => resubscribe({endpoint})", first.endpoint)
        assert subscriptions(server) == [(renewed.endpoint, "es", "urgent")]
        phone.close()
