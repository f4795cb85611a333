"""One transaction per state change: an alert is marked sent, or a listing active, together
with its deliveries or not at all, and whatever was committed reaches every subscriber even
when the process stops before sending it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

import server.push
import server.push.sender
from server.app import create_app
from tests import dbtools
from tests.admin_support import create_organizer, sign_in
from tests.conftest import make_settings
from tests.pushservice import PushService

LISTING = {"title": "Nightly vigil at NWDC", "kind": "vigil", "address": "1623 E J St",
           "city": "Tacoma", "state": "WA", "tz": "America/Los_Angeles",
           "starts": "2030-06-01T20:00", "description": "Bring candles.", "action": "publish"}
ALERT = {"title": "Legal observers needed", "message": "Come to the Tacoma NWDC now.",
         "link": "/legal", "states": ["WA"], "expires": "4", "action": "send"}


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


def start(settings) -> TestClient:
    client = TestClient(create_app(settings), base_url="http://testserver",
                        raise_server_exceptions=False)
    client.__enter__()
    return client


def subscribe_many(client, service, n: int) -> set[str]:
    ids = set()
    for _ in range(n):
        sub = service.new_subscription()
        res = client.post("/api/v1/push/subscriptions",
                          json={"subscription": sub.subscription_info(), "topics": ["all"]})
        assert res.status_code == 201
        ids.add(sub.id)
    return ids


def rows(settings, sql: str) -> list[tuple]:
    with dbtools.connect(settings.db_path) as conn:
        return conn.execute(sql).fetchall()


def publish_listing(client) -> None:
    csrf = sign_in(client, "ana")
    client.post("/admin/listings/new", data={"csrf": csrf, **LISTING}, follow_redirects=False)


def send_alert(client) -> None:
    csrf = sign_in(client, "ana")
    client.post("/admin/alerts/new", data={"csrf": csrf, **ALERT}, follow_redirects=False)


@pytest.mark.parametrize("act", [publish_listing, send_alert])
def test_a_failed_enqueue_marks_nothing(settings, service, monkeypatch, act):
    """The fault strikes after the deliveries are written and before the state change
    commits: the whole transaction goes, so nothing is active or sent without its pushes."""
    real_enqueue = server.push.enqueue

    async def enqueue_then_fail(conn, message):
        await real_enqueue(conn, message)
        raise Fault("the process died here")

    client = start(settings)
    try:
        subscribe_many(client, service, 3)
        monkeypatch.setattr(server.push, "enqueue", enqueue_then_fail)
        monkeypatch.setattr(server.push.digest, "enqueue", enqueue_then_fail)
        act(client)
        monkeypatch.undo()
    finally:
        client.__exit__(None, None, None)
    assert rows(settings, "SELECT COUNT(*) FROM push_messages") == [(0,)]
    assert rows(settings, "SELECT COUNT(*) FROM deliveries") == [(0,)]
    assert rows(settings, "SELECT COUNT(*) FROM alerts WHERE status = 'sent'") == [(0,)]
    assert rows(settings, "SELECT COUNT(*) FROM listings WHERE message_id IS NOT NULL "
                          "OR title = 'Nightly vigil at NWDC' AND status = 'active'") == [(0,)]
    time.sleep(0.2)
    assert service.messages == []


@pytest.mark.parametrize("act", [publish_listing, send_alert])
def test_a_restart_delivers_what_was_committed(settings, service, act):
    """The process stops after the commit and before its sender sends anything: the next
    process delivers every one, once."""
    client = start(settings)
    try:
        subscribers = subscribe_many(client, service, 5)
        client.portal.call(client.app.state.vigil.push.stop)  # the sender is gone
        act(client)
        time.sleep(0.3)
        assert service.messages == []
    finally:
        client.__exit__(None, None, None)
    [(message_id,)] = rows(settings, "SELECT id FROM push_messages")
    assert rows(settings, "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'") == [(5,)]
    marked = rows(settings, "SELECT message_ids FROM alerts WHERE status = 'sent' UNION ALL "
                            "SELECT CAST(message_id AS TEXT) FROM listings "
                            "WHERE message_id IS NOT NULL")
    assert [str(m[0]).strip("[]") for m in marked] == [str(message_id)]

    restarted = start(settings)
    try:
        received = service.wait_for(5)
        restarted.portal.call(restarted.app.state.vigil.push.idle)
    finally:
        restarted.__exit__(None, None, None)
    assert sorted(m.sub_id for m in received) == sorted(subscribers)
    assert len(service.messages) == 5
    assert rows(settings, "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'") == [(5,)]


def add_message(settings, days_old: float, delivery_status: str) -> int:
    created = (datetime.now(UTC) - timedelta(days=days_old)).isoformat(timespec="seconds")
    with dbtools.connect(settings.db_path) as conn:
        cur = conn.execute(
            "INSERT INTO push_messages (payload, topics, ttl, urgency, topic_header, created) "
            "VALUES ('{}', '[\"all\"]', 60, 'normal', 't', ?) RETURNING id", (created,))
        (message_id,) = cur.fetchone()
        conn.execute("INSERT INTO deliveries (message_id, subscription_id, status, attempts, "
                     "next_attempt) VALUES (?, 1, ?, 1, 9e99)", (message_id, delivery_status))
        return message_id


def test_the_running_app_prunes_finished_messages(settings, monkeypatch):
    monkeypatch.setattr(server.push.sender, "PRUNE_EVERY", 0.2)
    start(settings).__exit__(None, None, None)  # creates the schema
    old_days = server.push.KEEP_FINISHED / 86400 + 1
    add_message(settings, old_days, "sent")  # pruned at start
    unfinished = add_message(settings, old_days, "pending")  # due far in the future
    recent = add_message(settings, 1, "failed")
    client = start(settings)
    try:
        assert rows(settings, "SELECT id FROM push_messages ORDER BY id") == [
            (unfinished,), (recent,)]
        later = add_message(settings, old_days, "gone")  # while the app runs
        deadline = time.monotonic() + 10
        while rows(settings, f"SELECT 1 FROM push_messages WHERE id = {later}"):
            assert time.monotonic() < deadline, "the running app never pruned"
            time.sleep(0.05)
    finally:
        client.__exit__(None, None, None)
    assert rows(settings, "SELECT message_id FROM deliveries ORDER BY message_id") == [
        (unfinished,), (recent,)]
