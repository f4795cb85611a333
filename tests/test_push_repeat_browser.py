"""A push message that arrives twice is shown once, in Chromium.

The server sends at least once: a delivery that was on the wire when its sender died goes
again. The service worker remembers the ids of the messages it has shown, so a repeat (also
one that arrives after the person dismissed the first copy) stays silent, while a correction,
a new message with its own id, is shown."""

from __future__ import annotations

import json

import pytest

from tests.live import live_server
from tests.pushservice import PushService
from tests.test_alerts_browser import eventually, organizer, wait_for
from tests.test_push_browser import (
    add_organizer,
    get_alerts_for_oregon_and_urgent_calls,
    open_with_stubbed_push,
)

pytestmark = pytest.mark.browser

SHOWN = ("navigator.serviceWorker.ready.then(r => r.getNotifications())"
         ".then(ns => ns.map(n => ({title: n.title, tag: n.tag})))")


@pytest.fixture
def push():
    with PushService() as service:
        yield service


def send_alert(client, csrf: str, title: str) -> str:
    res = client.post("/admin/alerts/new", data={
        "csrf": csrf, "title": title, "message": "Bring water.", "title_es": "",
        "message_es": "", "link": "", "states": ["OR"], "expires": "4", "action": "send"})
    assert res.status_code == 303, res.text
    return res.headers["location"].split("?")[0]


def test_a_repeated_message_is_shown_once_and_a_correction_again(tmp_path, browser, push):
    with live_server(tmp_path, VIGIL_PUSH_HOSTS=push.origin) as server:
        add_organizer(server, "ana")
        subscriber = push.new_subscription()
        phone = browser.new_context(permissions=["notifications"])
        page, _ = open_with_stubbed_push(phone, server, subscriber)
        get_alerts_for_oregon_and_urgent_calls(page)

        # What the server really sends: an alert, its correction, and another alert.
        ana, csrf = organizer(server, "ana")
        alert_url = send_alert(ana, csrf, "Vigil at the Portland ICE office")
        first = push.wait_for(1, timeout=15)[0].json()
        res = ana.post(alert_url + "/correct", data={
            "csrf": csrf, "title": "Vigil at the Portland ICE office at 7",
            "message": "At 7 pm.", "title_es": "", "message_es": "", "link": ""})
        assert res.status_code == 303, res.text
        correction = push.wait_for(2, timeout=15)[1].json()
        send_alert(ana, csrf, "Legal observers needed in Tacoma")
        other = push.wait_for(3, timeout=15)[2].json()
        ana.close()
        tag = first["notification"]["tag"]
        assert correction["notification"]["tag"] == tag != other["notification"]["tag"]
        # Every message carries an id of its own, the same in every copy of it.
        ids = [p["notification"].get("data", {}).get("id") for p in (first, correction, other)]
        assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == 3, ids

        cdp = phone.new_cdp_session(page)
        registrations = []
        cdp.on("ServiceWorker.workerRegistrationUpdated",
               lambda e: registrations.extend(e["registrations"]))
        cdp.send("ServiceWorker.enable")
        wait_for(page, lambda: any(r["scopeURL"] == server.url + "/" for r in registrations),
                 5, "the worker's registration")
        registration_id = next(r["registrationId"] for r in registrations
                               if r["scopeURL"] == server.url + "/")

        def deliver(payload: dict) -> None:
            cdp.send("ServiceWorker.deliverPushMessage", {
                "origin": server.url, "registrationId": registration_id,
                "data": json.dumps(payload)})

        def shown_with(title: str) -> list[dict]:
            return eventually(page, f"{SHOWN}.then(ns => ns.some(n => n.title === "
                                    f"{json.dumps(title)}) && ns)", timeout=10)

        deliver(first)
        assert shown_with(first["notification"]["title"]) == [
            {"title": first["notification"]["title"], "tag": tag}]
        # The person dismisses it.
        page.evaluate("navigator.serviceWorker.ready.then(r => r.getNotifications())"
                      ".then(ns => ns.forEach(n => n.close()))")
        eventually(page, f"{SHOWN}.then(ns => ns.length === 0)", timeout=5)

        # The same message twice more (a sender died after the push service took it), then
        # another alert: the worker handles pushes in the order they come, so once that one
        # is shown the repeats have been handled, and none brought the dismissed one back.
        deliver(first)
        deliver(first)
        deliver(other)
        shown = shown_with(other["notification"]["title"])
        assert [n["tag"] for n in shown] == [other["notification"]["tag"]], shown

        # A correction is a new message: shown, in place of nothing (the first was dismissed).
        deliver(correction)
        shown = shown_with(correction["notification"]["title"])
        assert sorted(n["title"] for n in shown) == sorted(
            [other["notification"]["title"], correction["notification"]["title"]])
        assert correction["notification"]["title"].startswith("Updated: ")
        phone.close()
