"""A burst of listings in one state reaches its subscribers as one notification, in their
language, while urgent alerts go out at once; the held burst lives in the database, so a
crash between holding and flushing loses nothing and no process sends it twice."""

from __future__ import annotations

import asyncio
import collections
import json
import time

import pytest
from starlette.testclient import TestClient

import server.push
import server.push.sender
from server.app import create_app
from server.content import listing_record
from server.push import digest
from tests import dbtools
from tests.admin_support import create_organizer, sign_in
from tests.conftest import make_settings
from tests.pushservice import PushService

CITIES = {"OR": "Portland", "WA": "Tacoma", "TX": "Houston"}


class Fault(Exception):
    pass


@pytest.fixture
def service():
    with PushService() as push_service:
        yield push_service
    assert push_service.errors == []


@pytest.fixture
def settings(tmp_path, service):
    settings = make_settings(tmp_path, push_hosts=(service.origin,))
    create_organizer(settings, "ana")
    return settings


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        client.csrf = sign_in(client, "ana")
        yield client


def subscribe(client, service, topics: list[str], lang: str = "en"):
    sub = service.new_subscription()
    res = client.post("/api/v1/push/subscriptions", json={
        "subscription": sub.subscription_info(), "topics": topics, "lang": lang})
    assert res.status_code == 201, res.text
    return sub


def publish(client, state: str, n: int, first: int = 1) -> None:
    for i in range(first, first + n):
        res = client.post("/admin/listings/new", data={
            "csrf": client.csrf, "title": f"Vigil number {i}", "kind": "vigil",
            "address": f"{i} Main St", "city": CITIES[state], "state": state,
            "tz": "America/Los_Angeles", "starts": "2030-06-01T20:00",
            "description": "Bring candles.", "action": "publish"}, follow_redirects=False)
        assert res.status_code == 303, res.text


def rows(settings, sql: str, params=()) -> list[tuple]:
    with dbtools.connect(settings.db_path) as conn:
        return conn.execute(sql, params).fetchall()


def notes(service, sub) -> list[dict]:
    return [m.json()["notification"] for m in service.messages_for(sub)]


def settle(client, service, count: int, within: float) -> None:
    """Wait for `count` messages in all, then until the sender has nothing left to do."""
    service.wait_for(count, timeout=within)
    client.portal.call(client.app.state.vigil.push.idle)


def send_urgent_alert_and_see_it_arrive(client, service) -> None:
    """An urgent alert for Oregon, at the push service within 3 s (as the second message)."""
    started = time.monotonic()
    res = client.post("/admin/alerts/new", data={
        "csrf": client.csrf, "title": "Raid at the courthouse", "message": "Come now.",
        "states": ["OR"], "urgent": "on", "expires": "4", "action": "send"},
        follow_redirects=False)
    assert res.status_code == 303, res.text
    settle(client, service, 2, within=3)
    assert time.monotonic() - started < 3


def test_a_burst_in_one_state_is_one_notification_in_each_language(client, service,
                                                                   monkeypatch):
    monkeypatch.setattr(digest, "WINDOW", 3.0)
    english = subscribe(client, service, ["state:OR"])
    spanish = subscribe(client, service, ["state:OR"], "es")
    texan = subscribe(client, service, ["state:TX"])
    started = time.monotonic()
    publish(client, "OR", 12)
    assert time.monotonic() - started < digest.WINDOW, "publishing outlasted the window"
    # The first goes out at once; the other eleven wait for the window to close.
    settle(client, service, 2, within=2)
    assert len(service.messages) == 2
    settle(client, service, 4, within=digest.WINDOW + 5)
    time.sleep(0.5)  # a third message, if one were coming, would be on its way

    for sub, title, link in [
        (english, "12 new vigils in Oregon today", "http://testserver/?state=OR"),
        (spanish, "12 nuevas vigilias en Oregón hoy", "http://testserver/es/?state=OR"),
    ]:
        first, last = notes(service, sub)
        assert first["title"].endswith("Portland, OR: Vigil number 1")
        assert last["title"] == title and last["navigate"] == link
        assert last["body"] == "Portland (12)"
        # One entry on the phone: the digest replaces the first, quietly.
        assert first["tag"] == last["tag"] and not last.get("renotify")
        assert len({m.topic for m in service.messages_for(sub)}) == 1
    assert notes(service, texan) == []
    assert rows(client.app.state.vigil.settings,
                "SELECT COUNT(*) FROM push_digests WHERE due IS NOT NULL") == [(0,)]


def test_bursts_in_two_states_make_two_digests(client, service, monkeypatch):
    monkeypatch.setattr(digest, "WINDOW", 2.0)
    oregon = subscribe(client, service, ["state:OR"])
    washington = subscribe(client, service, ["state:WA"], "es")
    everywhere = subscribe(client, service, ["all"])
    publish(client, "OR", 3)
    publish(client, "WA", 4, first=10)
    settle(client, service, 8, within=digest.WINDOW + 5)
    time.sleep(0.5)

    assert [n["title"] for n in notes(service, oregon)][1:] == ["3 new vigils in Oregon today"]
    assert [n["title"] for n in notes(service, washington)][1:] == [
        "4 nuevas vigilias en Washington hoy"]
    assert notes(service, washington)[1]["body"] == "Tacoma (4)"
    titles = collections.Counter(n["title"] for n in notes(service, everywhere))
    assert titles["3 new vigils in Oregon today"] == 1
    assert titles["4 new vigils in Washington today"] == 1
    assert len(titles) == 4
    assert len({n["tag"] for n in notes(service, everywhere)}) == 2


def test_a_single_listing_goes_out_at_once_as_before(client, service, monkeypatch):
    monkeypatch.setattr(digest, "WINDOW", 60.0)
    sub = subscribe(client, service, ["state:OR"], "es")
    publish(client, "OR", 1)
    settle(client, service, 1, within=3)
    [note] = notes(service, sub)
    [(slug, message_id)] = rows(client.app.state.vigil.settings,
                                "SELECT slug, message_id FROM listings WHERE title = ?",
                                ("Vigil number 1",))
    [(payload,)] = rows(client.app.state.vigil.settings,
                        "SELECT payload_es FROM push_messages WHERE id = ?", (message_id,))
    assert note["title"] == "Nueva vigilia en Portland, OR: Vigil number 1"
    assert note["navigate"] == f"http://testserver/es/listings/{slug}"
    assert note["body"].startswith("Empieza: 2030-06-01")
    assert note["tag"] in payload
    assert rows(client.app.state.vigil.settings,
                "SELECT COUNT(*) FROM push_digests WHERE due IS NOT NULL") == [(0,)]


def test_an_urgent_alert_is_not_held_back_by_a_burst(client, service, monkeypatch):
    monkeypatch.setattr(digest, "WINDOW", 60.0)
    sub = subscribe(client, service, ["state:OR"])
    publish(client, "OR", 3)
    settle(client, service, 1, within=3)
    assert rows(client.app.state.vigil.settings,
                "SELECT COUNT(*) FROM push_digest_listings WHERE held = 1") == [(2,)]
    send_urgent_alert_and_see_it_arrive(client, service)
    first, alert = notes(service, sub)
    assert alert["title"] == "Raid at the courthouse" and alert["requireInteraction"]
    # The burst is still held: the alert did not wait for it, nor flush it early.
    assert rows(client.app.state.vigil.settings,
                "SELECT COUNT(*) FROM push_digest_listings WHERE held = 1") == [(2,)]


def test_a_fault_while_flushing_loses_nothing_and_sends_nothing_twice(client, service,
                                                                       monkeypatch):
    """The fault strikes after the digest's deliveries are written and before the flush
    commits: the transaction goes as a whole, and the next try sends the digest once."""
    monkeypatch.setattr(digest, "WINDOW", 1.0)
    monkeypatch.setattr(server.push.sender, "DIGEST_RETRY", 0.5)
    sub = subscribe(client, service, ["state:OR"])
    real_enqueue = server.push.enqueue
    faults = []

    async def enqueue_then_fail(conn, message):
        message_id = await real_enqueue(conn, message)
        if "today" in message.payload["notification"]["title"] and not faults:
            faults.append(message_id)
            raise Fault("the process died here")
        return message_id

    monkeypatch.setattr(server.push, "enqueue", enqueue_then_fail)
    monkeypatch.setattr(server.push.digest, "enqueue", enqueue_then_fail)
    publish(client, "OR", 5)
    settle(client, service, 2, within=digest.WINDOW + 5)
    time.sleep(0.5)
    assert faults, "the fault never struck"
    assert [n["title"] for n in notes(service, sub)] == [
        "New vigil in Portland, OR: Vigil number 1", "5 new vigils in Oregon today"]
    settings = client.app.state.vigil.settings
    # The rolled-back digest left no message or delivery behind.
    assert rows(settings, "SELECT COUNT(*) FROM push_messages") == [(2,)]
    assert rows(settings, "SELECT COUNT(*) FROM deliveries") == [(2,)]
    # Every listing of the burst names the message that announced it.
    assert rows(settings, "SELECT COUNT(DISTINCT message_id), COUNT(message_id) "
                          "FROM listings WHERE title LIKE 'Vigil number %'") == [(2, 5)]


def test_two_processes_flushing_at_once_send_one_digest(client, settings, monkeypatch):
    """Two writers on one database file (two `serve --workers` processes) both find the
    window closed: one takes the burst, the other finds nothing due."""
    monkeypatch.setattr(digest, "WINDOW", 3600.0)
    client.portal.call(client.app.state.vigil.push.stop)  # the tests' two play the sender
    publish(client, "OR", 4)
    assert rows(settings, "SELECT COUNT(*) FROM push_messages") == [(1,)]
    later = time.time() + 3601

    async def flush_from_two_processes() -> list[list[int]]:
        async with (dbtools.database(settings.db_path) as one,
                    dbtools.database(settings.db_path) as two):
            return await asyncio.gather(*[
                db.write_fn(lambda conn: digest.flush(conn, settings.base_url, now=later))
                for db in (one, two)])

    results = asyncio.run(flush_from_two_processes())
    assert sorted(len(r) for r in results) == [0, 1]
    assert rows(settings, "SELECT COUNT(*) FROM push_messages") == [(2,)]


def test_listings_that_go_live_together_are_one_message_per_state(settings):
    """An approved batch (an import) tells each state at once, in one message."""

    async def approve_batch() -> tuple[list[int], list[tuple]]:
        async with dbtools.database(settings.db_path) as db:
            async def run(conn):
                records = []
                for i, state in enumerate(["OR"] * 5 + ["WA"]):
                    await conn.execute(
                        "INSERT INTO listings (slug, kind, title, city, state, status, "
                        "verified, created, updated) VALUES (?, 'rally', ?, ?, ?, 'active', "
                        "'2026-11-29', '2026-11-29', '2026-11-29')",
                        (f"batch-{i}", f"Rally {i}", CITIES[state], state))
                    async with conn.execute("SELECT * FROM listings WHERE slug = ?",
                                            (f"batch-{i}",)) as cur:
                        records.append(listing_record(await cur.fetchone()))
                return await digest.announce_many(conn, records, settings.base_url)

            sent = await db.write_fn(run)
            return sent, await db.execute(
                "SELECT payload, payload_es, topics FROM push_messages ORDER BY id")

    sent, messages = asyncio.run(approve_batch())
    assert len(sent) == 2
    by_topic = {json.loads(topics)[-1]: (json.loads(en)["notification"],
                                         json.loads(es)["notification"])
                for en, es, topics in messages}
    oregon, oregon_es = by_topic["state:OR"]
    assert oregon["title"] == "5 new rallies in Oregon today"
    assert oregon_es["title"] == "5 nuevas concentraciones en Oregón hoy"
    assert oregon["navigate"] == "http://testserver/?state=OR"
    washington, _ = by_topic["state:WA"]
    assert washington["title"] == "New rally in Tacoma, WA: Rally 5"
    assert rows(settings, "SELECT COUNT(*) FROM listings WHERE message_id IS NULL") == [(0,)]


def test_a_digest_that_cannot_be_flushed_holds_up_nothing_else(client, service, monkeypatch):
    """However a digest fails, the sender keeps sending everything else."""
    monkeypatch.setattr(digest, "WINDOW", 0.2)

    async def broken_flush(conn, base_url, *, now=None):
        raise Fault("a digest that cannot be built")

    monkeypatch.setattr(digest, "flush", broken_flush)
    sub = subscribe(client, service, ["state:OR"])
    publish(client, "OR", 2)
    settle(client, service, 1, within=3)
    time.sleep(0.5)  # the held one is due, and its flush fails
    send_urgent_alert_and_see_it_arrive(client, service)
    assert [n["title"] for n in notes(service, sub)][1] == "Raid at the courthouse"


def test_what_a_state_hears_over_a_day(settings):
    """First of the day on its own at once; a burst held for the window; later that day the
    count at once (it replaces the day's notification); the next day on its own again."""
    t0 = 1795975200.0  # 2026-11-29 10:00 in Portland
    window = digest.WINDOW

    async def run_day() -> list[tuple[str, str]]:
        async with dbtools.database(settings.db_path) as db:
            async def go_live(conn, slug: str, now: float) -> None:
                await conn.execute(
                    "INSERT INTO listings (slug, kind, title, city, state, status, "
                    "verified, created, updated) VALUES (?, 'vigil', ?, 'Salem', 'OR', "
                    "'active', 'x', 'x', 'x')", (slug, slug))
                async with conn.execute("SELECT * FROM listings WHERE slug = ?",
                                        (slug,)) as cur:
                    await digest.announce(conn, listing_record(await cur.fetchone()),
                                          settings.base_url, now=now)

            for slug, now in [("a", t0), ("b", t0 + 10), ("c", t0 + 20)]:
                await db.write_fn(lambda conn, slug=slug, now=now: go_live(conn, slug, now))
            assert await db.write_fn(lambda conn: digest.flush(
                conn, settings.base_url, now=t0 + window - 1)) == []
            assert len(await db.write_fn(lambda conn: digest.flush(
                conn, settings.base_url, now=t0 + window))) == 1
            await db.write_fn(lambda conn: go_live(conn, "d", t0 + 5 * 3600))
            await db.write_fn(lambda conn: go_live(conn, "e", t0 + 24 * 3600))
            notes = [json.loads(p)["notification"] for (p,) in await db.execute(
                "SELECT payload FROM push_messages ORDER BY id")]
            return [(n["title"], n["tag"], n.get("renotify", False)) for n in notes]

    # What goes out at once sounds even over the day's notification still on the screen;
    # the digest closing a window replaces the first quietly.
    assert asyncio.run(run_day()) == [
        ("New vigil in Salem, OR: a", "listings-OR-2026-11-29", True),
        ("3 new vigils in Oregon today", "listings-OR-2026-11-29", False),
        ("4 new vigils in Oregon today", "listings-OR-2026-11-29", True),
        ("New vigil in Salem, OR: e", "listings-OR-2026-11-30", True),
    ]
    assert rows(settings, "SELECT slug, message_id FROM listings ORDER BY slug") == [
        ("a", 1), ("b", 2), ("c", 2), ("d", 3), ("e", 4)]


def test_a_held_announcement_says_what_was_approved_not_what_the_listing_says_later(settings):
    """A listing approved and held for its state's digest is edited behind the rule (its
    free text now names another meeting place); the digest that goes out later still says
    what the second organizer approved."""
    t0 = 1795975200.0  # 2026-11-29 10:00 in Portland

    async def run() -> str:
        async with dbtools.database(settings.db_path) as db:
            async def go_live(conn, slug: str, now: float) -> None:
                await conn.execute(
                    "INSERT INTO listings (slug, kind, title, city, state, status, "
                    "description_en, description_es, verified, created, updated) VALUES "
                    "(?, 'vigil', ?, 'Portland', 'OR', 'active', 'Meet at the gate.', "
                    "'En la puerta.', '2026-11-29', '2026-11-29', '2026-11-29')",
                    (slug, f"Vigil {slug}"))
                async with conn.execute("SELECT * FROM listings WHERE slug = ?",
                                        (slug,)) as cur:
                    await digest.announce(conn, listing_record(await cur.fetchone()),
                                          settings.base_url, now=now)

            await db.write_fn(lambda conn: go_live(conn, "first", t0))
            await db.write_fn(lambda conn: go_live(conn, "held", t0 + 10))
            await db.write("UPDATE listings SET title = 'CHANGE OF PLAN: 999 Fake St' "
                           "WHERE slug = 'held'")
            await db.write("DELETE FROM listings WHERE slug = 'first'")
            await db.write_fn(lambda conn: digest.flush(conn, settings.base_url,
                                                        now=t0 + digest.WINDOW + 1))
            rows = await db.execute("SELECT payload FROM push_messages ORDER BY id DESC "
                                    "LIMIT 1")
            return rows[0]["payload"]

    payload = asyncio.run(run())
    assert "999 Fake St" not in payload
    assert "Vigil held" in payload
