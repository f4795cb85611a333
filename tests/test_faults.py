"""Faults: every way a push service can fail within one fanout, and SIGKILL in the middle of a
fanout and in the middle of organizer writes (a real uvicorn, restarted on the same file)."""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest

from server import push
from server.vapid import load_private_key
from tests import dbtools
from tests.admin_support import PASSWORD, create_organizer, csrf_from
from tests.conftest import make_settings
from tests.live import LiveServer, live_server
from tests.pushservice import PushService

LISTING = {"title": "Nightly vigil at NWDC", "kind": "vigil", "address": "1623 E J St",
           "city": "Tacoma", "state": "WA", "tz": "America/Los_Angeles",
           "starts": "2030-06-01T20:00", "description": "Bring candles."}


# ---------------------------------------------------------------- every failure, one fanout

# (behaviour, set_behaviour options, final status, attempts, last_code)
# With push_max_attempts=4 a persistent failure ends 'failed' after 4 tries; one that stops
# failing before that ends 'sent'. 404 and 410 mean the browser unsubscribed: 'gone' at once.
CASES = [
    ("ok", {}, "sent", 1, 201),
    ("404", {}, "gone", 1, 404),
    ("410", {}, "gone", 1, 410),
    ("413", {}, "failed", 1, 413),
    ("429", {"retry_after": 1, "times": 2}, "sent", 3, 201),
    ("429", {"retry_after": 1}, "failed", 4, 429),
    ("503", {"retry_after": 1, "times": 1}, "sent", 2, 201),
    ("500", {}, "failed", 4, 500),
    ("500", {"times": 2}, "sent", 3, 201),
    ("slow", {"delay": 2.0}, "failed", 4, None),  # beyond the 0.5 s timeout, every time
    ("slow", {"delay": 2.0, "times": 1}, "sent", 2, 201),
    ("drop", {}, "failed", 4, None),
    ("drop", {"times": 1}, "sent", 2, 201),
]
PER_CASE = 5  # 65 subscriptions


async def test_every_failure_across_one_fanout(tmp_path):
    with PushService() as service:
        settings = make_settings(tmp_path, push_hosts=(service.origin,), push_timeout=0.5,
                                 push_max_attempts=4, push_concurrency=16)
        async with dbtools.database(settings.db_path) as db:
            expected = {}
            for behaviour, options, status, attempts, code in CASES:
                for _ in range(PER_CASE):
                    sub = service.new_subscription()
                    body = {"subscription": sub.subscription_info(), "topics": ["all"]}
                    await push.save_subscription(
                        db, *push.validate_subscription(body, settings.push_hosts))
                    service.set_behaviour(sub, behaviour, **options)
                    expected[sub.id] = (behaviour, options, status, attempts, code)
            ids = {row["endpoint"].rsplit("/", 1)[1]: row["id"]
                   for row in await db.execute("SELECT id, endpoint FROM subscriptions")}
            assert len(ids) == len(CASES) * PER_CASE

            sender = push.PushSender(settings, db, load_private_key(settings),
                                     quick_retries=(0.05,), backoff_base=0.05,
                                     backoff_cap=0.2, flush_interval=0.02)
            started = time.monotonic()
            async with sender:
                message = push.listing_message(dict(LISTING, slug="nwdc"),
                                               settings.base_url)
                mid = await db.write_fn(lambda conn: push.enqueue(conn, message))
                sender.wake()
                await sender.idle(within=30)
            elapsed = time.monotonic() - started

            rows = {r["subscription_id"]: dict(r) for r in await db.execute(
                "SELECT subscription_id, status, attempts, last_code FROM deliveries "
                "WHERE message_id = ?", (mid,))}
            statuses = collections.Counter(r["status"] for r in rows.values())
            assert set(statuses) <= {"sent", "failed", "gone"}, statuses  # none pending/sending
            remaining = {r[0] for r in await db.execute("SELECT id FROM subscriptions")}
            with_topics = {r[0] for r in await db.execute(
                "SELECT subscription_id FROM subscription_topics")}
            received = collections.Counter(m.sub_id for m in service.messages)
            attempts_seen = service.attempts
            for sub_id, (behaviour, options, status, attempts, code) in expected.items():
                row = rows[ids[sub_id]]
                what = (behaviour, options, row)
                assert row["status"] == status, what
                assert row["attempts"] == attempts, what
                assert attempts_seen[sub_id] == attempts, what
                if code is None:  # a timeout or a dropped connection has no status code
                    assert row["last_code"] is None, what
                elif status != "sent":
                    assert row["last_code"] == code, what
                assert received[sub_id] == (1 if status == "sent" else 0), what
                gone = status == "gone"
                assert (ids[sub_id] in remaining) is not gone, what
                assert (ids[sub_id] in with_topics) is not gone, what
            assert await push.delivery_counts(db, mid) == {
                "pending": 0, "sent": statuses["sent"], "failed": statuses["failed"],
                "gone": statuses["gone"]}
            assert service.rejected == []  # every request we did send was valid Web Push
            assert elapsed < 20
        assert service.errors == []


# ---------------------------------------------------------------- SIGKILL on a live server


class Organizer:
    """An organizer's browser against a live server: sign in, publish, edit."""

    def __init__(self, server: LiveServer, name: str = "ana"):
        self.http = httpx.Client(base_url=server.url, timeout=10, follow_redirects=False)
        token = csrf_from(self.http.get("/admin/login").text)
        res = self.http.post("/admin/login", data={"csrf": token, "username": name,
                                                   "password": PASSWORD})
        assert res.status_code == 303, res.text
        self.csrf = csrf_from(self.http.get("/admin/").text)

    def publish(self, **fields) -> str:
        res = self.http.post("/admin/listings/new", data={"csrf": self.csrf, **LISTING,
                                                          "action": "publish", **fields})
        assert res.status_code == 303 and "Published" in res.headers["location"], res.text
        return re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)

    def edit(self, slug: str, **fields) -> int:
        res = self.http.post(f"/admin/listings/{slug}/edit",
                             data={"csrf": self.csrf, **LISTING, **fields})
        return res.status_code

    def close(self) -> None:
        self.http.close()


def query(db_path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = dbtools.connect(db_path, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def kill(server: LiveServer) -> None:
    server.proc.kill()
    server.proc.wait(timeout=10)


SUBSCRIBERS = 2000


def test_sigkill_mid_fanout_then_restart_delivers_to_everyone(tmp_path):
    with PushService(delay=0.05) as service:
        settings = make_settings(tmp_path)
        create_organizer(settings, "ana")  # also creates the database file
        subs = [service.new_subscription() for _ in range(SUBSCRIBERS)]
        today = datetime.now(UTC).date().isoformat()
        conn = dbtools.connect(settings.db_path)
        try:
            with conn:
                for sub in subs:
                    cur = conn.execute(
                        "INSERT INTO subscriptions (endpoint, p256dh, auth, created) "
                        "VALUES (?, ?, ?, ?) RETURNING id",
                        (sub.endpoint, sub.p256dh, sub.auth, today))
                    conn.execute("INSERT INTO subscription_topics VALUES (?, 'all')",
                                 (cur.fetchone()[0],))
        finally:
            conn.close()

        with live_server(tmp_path, VIGIL_PUSH_HOSTS=service.origin) as server:
            port = server.port
            organizer = Organizer(server)
            try:
                slug = organizer.publish()
            finally:
                organizer.close()
            deadline = time.monotonic() + 30
            while len(service.messages) < 300:
                assert time.monotonic() < deadline, "the fanout did not start"
                time.sleep(0.01)
            kill(server)
        time.sleep(0.3)  # requests cut off by the kill end on the service's side
        delivered_before = len(service.messages)
        statuses = dict(query(settings.db_path,
                              "SELECT status, COUNT(*) FROM deliveries GROUP BY status"))
        assert 300 <= delivered_before < SUBSCRIBERS, delivered_before
        assert statuses.get("sent", 0) < SUBSCRIBERS
        assert statuses.get("pending", 0) + statuses.get("sending", 0) > 0, statuses

        with live_server(tmp_path, port=port, VIGIL_PUSH_HOSTS=service.origin) as server:
            deadline = time.monotonic() + 90
            while True:
                unfinished = query(settings.db_path, "SELECT COUNT(*) FROM deliveries "
                                   "WHERE status IN ('pending', 'sending')")[0][0]
                if not unfinished and len({m.sub_id for m in service.messages}) == SUBSCRIBERS:
                    break
                assert time.monotonic() < deadline, (unfinished, len(service.messages))
                time.sleep(0.1)
            logs = server.logs()

        messages = service.messages
        per_sub = collections.Counter(m.sub_id for m in messages)
        assert set(per_sub) == {s.id for s in subs}  # everyone, at least once
        duplicates = len(messages) - SUBSCRIBERS
        # Only what was in flight or not yet recorded at the kill can be sent twice.
        assert duplicates < 400, duplicates
        # Copies are the same notification: same tag (one entry on the device), same Topic
        # (the push service replaces a queued copy) and the same text.
        notes = [m.json()["notification"] for m in messages]
        assert len(tags := {n["tag"] for n in notes}) == 1
        assert tags.pop().startswith("listings-WA-")
        assert {n["navigate"] for n in notes} == {f"{server.url}/listings/{slug}"}
        assert len({m.topic for m in messages}) == 1
        assert len({m.payload.rstrip() for m in messages}) == 1
        assert query(settings.db_path, "SELECT status, COUNT(*) FROM deliveries "
                     "GROUP BY status") == [("sent", SUBSCRIBERS)]
        assert dbtools.intact(settings.db_path)
        assert service.rejected == [] and service.errors == []
        assert "Traceback" not in logs


def test_sigkill_mid_organizer_writes_loses_no_acknowledged_edit(tmp_path):
    create_organizer(make_settings(tmp_path), "ana")
    acknowledged: list[int] = []
    other: list[object] = []
    stop = threading.Event()

    with live_server(tmp_path) as server:
        port = server.port
        organizer = Organizer(server)
        slug = organizer.publish()

        def write_edits() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    status = organizer.edit(slug, title=f"Vigil edit #{n}",
                                            description=f"Edit number {n}.")
                except httpx.TransportError as exc:  # the server died under it
                    other.append(type(exc).__name__)
                    return
                if status == 303:
                    acknowledged.append(n)
                else:
                    other.append(status)
                    return

        writer = threading.Thread(target=write_edits, name="organizer-edits")
        writer.start()
        try:
            deadline = time.monotonic() + 20
            while len(acknowledged) < 40 and writer.is_alive():
                assert time.monotonic() < deadline
                time.sleep(0.01)
            kill(server)
            writer.join(15)
            assert not writer.is_alive()
        finally:
            stop.set()
            writer.join(15)
            organizer.close()

    assert len(acknowledged) >= 40 and acknowledged == list(range(1, len(acknowledged) + 1))
    assert len(other) == 1 and other[0] != 500, other  # it stopped because the server died
    with live_server(tmp_path, port=port) as server:
        title = query(server.db_path, "SELECT title FROM listings WHERE slug = ?", (slug,))[0][0]
        saved = int(title.rsplit("#", 1)[1])
        # the last acknowledged edit, or the one in flight at the kill
        assert saved in (acknowledged[-1], acknowledged[-1] + 1), (title, acknowledged[-1])
        audited = {int(json.loads(after)["title"].rsplit("#", 1)[1]) for (after,) in query(
            server.db_path, "SELECT after FROM audit WHERE action = 'edit' AND entity_key = ?",
            (slug,))}
        assert set(acknowledged) <= audited  # every acknowledged edit, each in its own commit
        res = httpx.get(f"{server.url}/api/v1/listings/{slug}", timeout=10)
        assert res.json()["listing"]["title"] == title
        assert dbtools.intact(server.db_path)


@pytest.fixture(autouse=True)
def _no_stray_threads():
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()
                and t.name in ("organizer-edits", "PushService")]
    assert not leftover, leftover
