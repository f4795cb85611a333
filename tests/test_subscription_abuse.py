"""Subscriptions under attack: another site making its visitors' browsers subscribe, a flood
of subscriptions, and subscriptions whose push service refuses every delivery."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from server import push
from server.app import create_app
from server.vapid import application_server_key, b64url, load_private_key
from tests import dbtools
from tests.admin_support import create_organizer, sign_in
from tests.conftest import make_settings
from tests.live import live_server
from tests.pushservice import PushService

SUBSCRIPTIONS = "/api/v1/push/subscriptions"


def body_for(sub, topics=("all",)) -> bytes:
    return json.dumps({"subscription": sub.subscription_info(), "topics": list(topics)}).encode()


def stored(db_path) -> int:
    conn = dbtools.connect(db_path, timeout=10)
    try:
        return conn.execute("SELECT COUNT(*) FROM subscriptions").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def service():
    with PushService() as push_service:
        yield push_service


@pytest.fixture(scope="module")
def server(tmp_path_factory, service):
    tmp = tmp_path_factory.mktemp("abuse")
    with live_server(tmp, VIGIL_PUSH_HOSTS=service.origin) as live:
        yield live


def test_a_cross_site_text_plain_subscription_is_refused(server, service):
    """What evil.example's page does with fetch(..., {mode: "no-cors", body: ...}): a simple
    request, sent without a preflight, which the browser lets through with its Origin."""
    before = stored(server.db_path)
    res = httpx.post(server.url + SUBSCRIPTIONS, content=body_for(service.new_subscription()),
                     headers={"Content-Type": "text/plain;charset=UTF-8",
                              "Origin": "https://evil.example"})
    assert res.status_code in (403, 415), res.text
    assert "error" in res.json()
    assert stored(server.db_path) == before


@pytest.mark.parametrize("origin", ["https://evil.example", "null",
                                    "http://127.0.0.1.evil.example"])
def test_json_from_another_origin_is_refused(server, service, origin):
    before = stored(server.db_path)
    res = httpx.post(server.url + SUBSCRIPTIONS, content=body_for(service.new_subscription()),
                     headers={"Content-Type": "application/json", "Origin": origin})
    assert res.status_code == 403
    assert res.json() == {"error": "subscriptions are accepted only from this site's own pages"}
    assert stored(server.db_path) == before


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_body_not_declared_json_is_refused(server, service, content_type):
    before = stored(server.db_path)
    headers = {"Origin": server.url}
    if content_type:
        headers["Content-Type"] = content_type
    res = httpx.post(server.url + SUBSCRIPTIONS, content=body_for(service.new_subscription()),
                     headers=headers)
    assert res.status_code == 415
    assert "application/json" in res.json()["error"]
    assert stored(server.db_path) == before


def test_the_sites_own_pages_and_scripts_subscribe(server, service):
    before = stored(server.db_path)
    own = httpx.post(server.url + SUBSCRIPTIONS, content=body_for(service.new_subscription()),
                     headers={"Content-Type": "application/json; charset=utf-8",
                              "Origin": server.url})
    assert own.status_code == 201, own.text
    # A script (no browser, so no Origin) is no drive-by: it could do anything a page can.
    script = httpx.post(server.url + SUBSCRIPTIONS, json={
        "subscription": service.new_subscription().subscription_info(), "topics": ["urgent"]})
    assert script.status_code == 201, script.text
    assert stored(server.db_path) == before + 2


def test_a_cross_site_unsubscribe_is_refused(server, service):
    sub = service.new_subscription()
    res = httpx.post(server.url + SUBSCRIPTIONS, content=body_for(sub),
                     headers={"Content-Type": "application/json", "Origin": server.url})
    assert res.status_code == 201
    before = stored(server.db_path)
    res = httpx.request("DELETE", server.url + SUBSCRIPTIONS, json={"endpoint": sub.endpoint},
                        headers={"Origin": "https://evil.example"})
    assert res.status_code == 403
    assert stored(server.db_path) == before
    res = httpx.request("DELETE", server.url + SUBSCRIPTIONS, json={"endpoint": sub.endpoint},
                        headers={"Origin": server.url})
    assert res.status_code == 204
    assert stored(server.db_path) == before - 1


# ---------------------------------------------------------------- refusals


async def _subscribe(db, sub, topics=("all",)) -> None:
    await push.save_subscription(db, sub.endpoint, sub.p256dh, sub.auth, list(topics))


async def _fanout(db, sender, n: int = 1) -> None:
    for i in range(n):
        message = push.listing_message({"slug": f"vigil-{i}", "kind": "vigil", "title": "Vigil",
                                        "city": "Portland", "state": "OR", "starts": None},
                                       "http://127.0.0.1:8000")
        await db.write_fn(lambda conn, m=message: push.enqueue(conn, m))
        sender.wake()
        await sender.idle()


def _sender(settings, db):
    return push.PushSender(settings, db, load_private_key(settings), flush_interval=0.02,
                           backoff_base=0.05, backoff_cap=0.1)


async def test_subscriptions_their_push_service_keeps_refusing_are_removed(tmp_path):
    with PushService() as service:
        settings = make_settings(tmp_path, push_hosts=(service.origin,))
        key = application_server_key(load_private_key(settings))
        good = service.new_subscription(application_server_key=key)
        # Made by another site's page with that site's key: the push service answers 403.
        other_site = application_server_key(ec.generate_private_key(ec.SECP256R1()))
        foreign = service.new_subscription(application_server_key=other_site)
        refused = service.new_subscription()
        service.set_behaviour(refused, "400")
        too_large = service.new_subscription()
        service.set_behaviour(too_large, "413")
        flaky = service.new_subscription()
        service.set_behaviour(flaky, "400", times=2)  # then accepted, which resets its count
        async with dbtools.database(settings.db_path) as db:
            for sub in (good, foreign, refused, too_large, flaky):
                await _subscribe(db, sub)
            async with _sender(settings, db) as sender:
                await _fanout(db, sender, 2)
                assert await db.scalar("SELECT COUNT(*) FROM subscriptions") == 5
                await _fanout(db, sender, 1)
                left = {row[0] for row in await db.execute("SELECT endpoint FROM subscriptions")}
                assert left == {good.endpoint, flaky.endpoint}
                service.set_behaviour(flaky, "400", times=2)
                await _fanout(db, sender, 2)  # two refusals after a success: kept
                assert await db.scalar("SELECT COUNT(*) FROM subscriptions") == 2
            hour = datetime.now(UTC).strftime("%Y-%m-%dT%H")
            assert [tuple(r) for r in await db.execute(
                "SELECT hour, added, removed FROM subscription_growth")] == [(hour, 5, 3)]
        assert sum(1 for m in service.messages if m.sub_id == good.id) == 5
        assert {r.sub_id for r in service.rejected} == {foreign.id}  # 403: another key


async def test_a_refusal_that_may_be_vigils_own_fault_removes_nobody(tmp_path):
    """Every delivery to a push service answered 403: the VAPID key or subject is more
    likely wrong than every subscription, so none is removed."""
    with PushService() as service:
        settings = make_settings(tmp_path, push_hosts=(service.origin,))
        subs = [service.new_subscription() for _ in range(4)]
        for sub in subs:
            service.set_behaviour(sub, "403")
        async with dbtools.database(settings.db_path) as db:
            for sub in subs:
                await _subscribe(db, sub)
            async with _sender(settings, db) as sender:
                await _fanout(db, sender, 4)
            assert await db.scalar("SELECT COUNT(*) FROM subscriptions") == 4
            assert await db.scalar("SELECT MAX(refusals) FROM subscriptions") == 0


# ---------------------------------------------------------------- growth


async def test_growth_per_hour_shows_a_flood(tmp_path):
    settings = make_settings(tmp_path)
    now = datetime.now(UTC)
    async with dbtools.database(settings.db_path) as db:
        await db.write_fn(lambda conn: conn.executemany(
            "INSERT INTO subscription_growth (hour, added, removed) VALUES (?, ?, ?)",
            [((now - timedelta(hours=3)).strftime("%Y-%m-%dT%H"), 381, 2),
             ((now - timedelta(hours=30)).strftime("%Y-%m-%dT%H"), 7, 0)]))
        await push.save_subscription(db, "https://fcm.googleapis.com/fcm/send/a", "p", "a",
                                     ["all"])
        growth = await push.subscription_growth(db, now=now)
    assert len(growth) == push.subscriptions.GROWTH_HOURS
    assert growth[-1].hour == now.replace(minute=0, second=0, microsecond=0)
    assert (growth[-1].added, growth[-1].removed) == (1, 0)
    assert (growth[-4].added, growth[-4].removed) == (381, 2)
    assert sum(h.added for h in growth) == 382  # 30 hours ago is outside the window


def test_the_dashboard_shows_subscriptions_per_hour(tmp_path):
    settings = make_settings(tmp_path, push_hosts=("fcm.googleapis.com",))
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        for n in range(3):
            body = {"subscription": {"endpoint": f"https://fcm.googleapis.com/fcm/send/x{n}",
                                     "keys": _keys()}, "topics": ["all"]}
            assert client.post(SUBSCRIPTIONS, json=body).status_code == 201
        assert client.request("DELETE", SUBSCRIPTIONS, json={
            "endpoint": "https://fcm.googleapis.com/fcm/send/x0"}).status_code == 204
        sign_in(client, "ana")
        html = client.get("/admin/").text
    hour = datetime.now(UTC).strftime("%a\u00a0%H:00")
    assert "Subscriptions per hour" in html
    row = rf"<td><time [^>]*>{hour}</time></td><td>3</td><td>1</td><td><meter [^>]*value=\"3\""
    assert re.search(row, html)
    assert html.count("<meter ") == push.subscriptions.GROWTH_HOURS


def _keys() -> dict:
    private = ec.generate_private_key(ec.SECP256R1())
    point = private.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
    return {"p256dh": b64url(point), "auth": b64url(os.urandom(16))}
