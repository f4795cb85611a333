"""On the phone, a state's digest takes the place of the first announcement of the day
instead of adding a second notification."""

from __future__ import annotations

import json

import pytest

from server.push import digest
from server.push.messages import digest_message, listing_message
from tests.live import live_server
from tests.test_offline import eventually, wait_for_worker

pytestmark = pytest.mark.browser

LISTINGS = [{"slug": f"vigil-{i}", "kind": "vigil", "title": f"Vigil {i}", "city": city,
             "state": "OR", "starts": "2030-06-01T20:00"}
            for i, city in enumerate(["Portland", "Portland", "Salem"], start=1)]


def shown(page) -> list[dict]:
    return page.evaluate(
        "navigator.serviceWorker.ready.then(r => r.getNotifications())"
        ".then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag, data: n.data, "
        "renotify: n.renotify})))")


def test_the_digest_replaces_the_first_notification(tmp_path, browser):
    with live_server(tmp_path) as server:
        visitor = browser.new_context(permissions=["notifications"])
        page = visitor.new_page()
        page.goto(server.url + "/es/")
        wait_for_worker(page, bundle=False)
        tag = digest.tag_for("OR", "2026-11-29")
        first = listing_message(LISTINGS[0], server.url).payload_es
        first["notification"]["tag"] = tag  # as announce() sends the day's first
        later = digest_message("OR", LISTINGS, tag, server.url, 3600).payload_es

        cdp = visitor.new_cdp_session(page)
        registrations = []
        cdp.on("ServiceWorker.workerRegistrationUpdated",
               lambda e: registrations.extend(e["registrations"]))
        cdp.send("ServiceWorker.enable")
        registration = None
        for _ in range(50):
            registration = next((r["registrationId"] for r in registrations
                                 if r["scopeURL"] == server.url + "/"), None)
            if registration:
                break
            page.wait_for_timeout(100)

        def deliver(payload: dict) -> None:
            cdp.send("ServiceWorker.deliverPushMessage", {
                "origin": server.url, "registrationId": registration,
                "data": json.dumps(payload)})

        deliver(first)
        eventually(page, "navigator.serviceWorker.ready.then(r => r.getNotifications())"
                         ".then(ns => ns.length === 1)")
        assert [n["title"] for n in shown(page)] == [
            "Nueva vigilia en Portland, OR: Vigil 1"]
        deliver(later)
        eventually(page, "navigator.serviceWorker.ready.then(r => r.getNotifications())"
                         ".then(ns => ns.length === 1 && ns[0].title.endsWith('hoy'))")
        [note] = shown(page)
        assert note["title"] == "3 nuevas vigilias en Oregón hoy"
        assert note["body"] == "Portland (2) · Salem (1)"
        assert note["tag"] == tag
        assert note["data"]["url"] == server.url + "/es/?state=OR"
        assert note["renotify"] is False  # the close of a window replaces the first quietly
        # Hours later, news that goes out at once sounds even over the day's notification.
        hours_later = {**later, "notification": {**later["notification"], "renotify": True,
                                                 "title": "4 nuevas vigilias en Oregón hoy"}}
        deliver(hours_later)
        eventually(page, "navigator.serviceWorker.ready.then(r => r.getNotifications())"
                         ".then(ns => ns.length === 1 && ns[0].title.startsWith('4'))")
        [note] = shown(page)
        assert note["renotify"] is True and note["tag"] == tag
        visitor.close()
