"""`serve --workers 2`: two processes on one port, one outbox. Every subscriber gets each
alert once however the processes share the fanout; when one is killed in the middle of it,
every subscriber still gets it and any repeat is the same message, which the phone shows
once (test_push_repeat_browser); a change made through one process shows in the other's
pages within a second."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from server.config import Settings
from tests import dbtools
from tests.admin_support import create_organizer
from tests.conftest import make_settings
from tests.live import LiveServer, live_server
from tests.pushservice import PushService
from tests.test_faults import Organizer, query

SUBSCRIBERS = 1000
PUSH_CONCURRENCY = Settings.push_concurrency


def _subscribe_all(db_path, service: PushService, n: int) -> list:
    subs = [service.new_subscription() for _ in range(n)]
    today = datetime.now(UTC).date().isoformat()
    conn = dbtools.connect(db_path)
    try:
        with conn:
            for sub in subs:
                cur = conn.execute(
                    "INSERT INTO subscriptions (endpoint, p256dh, auth, created) "
                    "VALUES (?, ?, ?, ?) RETURNING id", (sub.endpoint, sub.p256dh, sub.auth, today))
                conn.execute("INSERT INTO subscription_topics VALUES (?, 'all')",
                             (cur.fetchone()[0],))
    finally:
        conn.close()
    return subs


def _workers(server: LiveServer) -> set[int]:
    """The worker processes under the supervisor the test started."""
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == server.proc.pid and b"spawn_main" in cmdline:
            children.add(int(entry))
    return children


def _wait_until_done(server: LiveServer, service: PushService, n: int, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        unfinished = query(server.db_path, "SELECT COUNT(*) FROM deliveries "
                           "WHERE status IN ('pending', 'sending')")[0][0]
        if not unfinished and len({m.sub_id for m in service.messages}) == n:
            return
        assert time.monotonic() < deadline, (unfinished, len(service.messages))
        time.sleep(0.05)


def assert_one_message_reached_everyone(service: PushService, subs: list, alert_id: int) -> int:
    """Everyone got the alert at least once, every copy (repeats included) the same message
    with its id, tag and Topic, and the push service refused nothing; how many were repeats."""
    messages = service.messages
    per_sub = collections.defaultdict(list)
    for m in messages:
        per_sub[m.sub_id].append(m.json())
    assert set(per_sub) == {s.id for s in subs}  # everyone, at least once
    assert len({p["notification"]["data"]["id"] for copies in per_sub.values()
                for p in copies}) == 1
    assert {p["notification"]["tag"] for copies in per_sub.values()
            for p in copies} == {f"alert-{alert_id}"}
    assert len({m.topic for m in messages}) == 1
    assert all(len({json.dumps(p, sort_keys=True) for p in copies}) == 1
               for copies in per_sub.values())
    duplicates = len(messages) - SUBSCRIBERS
    # At most what the dead process had on the wire or answered and unrecorded.
    assert duplicates <= 2 * PUSH_CONCURRENCY, duplicates
    assert service.rejected == [] and service.errors == []
    return duplicates


def _owner_pid(owner: str) -> int:
    return int(owner.rsplit(":", 2)[1])


def test_two_workers_send_each_alert_once(tmp_path):
    with PushService(delay=0.05) as service:
        settings = make_settings(tmp_path)
        create_organizer(settings, "ana")
        subs = _subscribe_all(settings.db_path, service, SUBSCRIBERS)
        with live_server(tmp_path, workers=2, VIGIL_PUSH_HOSTS=service.origin) as server:
            assert len(_workers(server)) == 2
            organizer = Organizer(server)
            try:
                slug = organizer.publish()
            finally:
                organizer.close()
            _wait_until_done(server, service, SUBSCRIBERS, within=60)
            time.sleep(0.3)  # a copy sent twice would arrive about now
            senders = query(server.db_path, "SELECT lease_owner, COUNT(*) FROM deliveries "
                            "GROUP BY lease_owner")
            pids = {_owner_pid(owner) for owner, _ in senders}
            logs = server.logs()
        per_sub = collections.Counter(m.sub_id for m in service.messages)
        assert per_sub == collections.Counter({s.id: 1 for s in subs})
        # one notification on the phone: the tag all of Washington's announcements today share
        notes = [m.json()["notification"] for m in service.messages]
        assert len(tags := {n["tag"] for n in notes}) == 1
        assert tags.pop().startswith("listings-WA-")
        assert {n["navigate"] for n in notes} == {f"{server.url}/listings/{slug}"}
        # Both processes took part: the fanout was shared, not sent by one of them.
        assert len(pids) == 2 and all(count >= 50 for _, count in senders), senders
        assert query(server.db_path, "SELECT status, COUNT(*) FROM deliveries "
                     "GROUP BY status") == [("sent", SUBSCRIBERS)]
        assert service.rejected == [] and service.errors == []
        assert "Traceback" not in logs


def _send_alert(organizer: Organizer, title: str) -> int:
    res = organizer.http.post("/admin/alerts/new", data={
        "csrf": organizer.csrf, "title": title, "message": "Bring water.", "title_es": "",
        "message_es": "", "link": "", "states": ["OR"], "expires": "4", "action": "send"})
    assert res.status_code == 303, res.text
    return int(re.search(r"/admin/alerts/(\d+)", res.headers["location"]).group(1))


def test_a_worker_killed_mid_fanout_reaches_everyone_and_repeats_only_the_same_message(
        tmp_path):
    """SIGKILL to the worker holding leases while an alert's fanout runs: the supervisor
    starts a new one, which hands the dead worker's leases back at once; everyone gets the
    alert. The server sends at least once: what the dead worker had been answered for but
    not yet recorded goes again, as the same message (same id, tag and Topic), which the
    phone shows once (test_push_repeat_browser). The push service answers each request
    after 0.1-0.3 s, spread out as a real one does."""
    with PushService(delay=0.1, jitter=0.2) as service:
        settings = make_settings(tmp_path)
        create_organizer(settings, "ana")
        subs = _subscribe_all(settings.db_path, service, SUBSCRIBERS)
        with live_server(tmp_path, workers=2, VIGIL_PUSH_HOSTS=service.origin) as server:
            before = _workers(server)
            organizer = Organizer(server)
            try:
                alert_id = _send_alert(organizer, "Vigil at the Portland ICE office")
            finally:
                organizer.close()
            deadline = time.monotonic() + 30
            while len(service.messages) < 200:
                assert time.monotonic() < deadline, "the fanout did not start"
                time.sleep(0.01)
            while not (owners := query(server.db_path, "SELECT DISTINCT lease_owner FROM "
                                       "deliveries WHERE status = 'sending'")):
                assert time.monotonic() < deadline, "no worker holds a lease"
            victim = _owner_pid(owners[0][0])
            assert victim in before
            os.kill(victim, signal.SIGKILL)
            killed_at, killed_wall = time.monotonic(), time.time()
            _wait_until_done(server, service, SUBSCRIBERS, within=60)
            # Well before the 30 s lease would have run out by itself.
            took = time.monotonic() - killed_at
            while len(after := _workers(server) - {victim}) < 2:
                assert time.monotonic() - killed_at < 60, "no new worker started"
                time.sleep(0.1)
            # A copy sent twice would have arrived by now: every delivery is recorded.
            time.sleep(0.5)
            logs = server.logs()
        assert victim not in after and len(after) == 2, (before, after)
        duplicates = assert_one_message_reached_everyone(service, subs, alert_id)
        assert query(server.db_path, "SELECT status, COUNT(*) FROM deliveries "
                     "GROUP BY status") == [("sent", SUBSCRIBERS)]
        assert took < 25, took
        assert f"Child process [{victim}] died" in logs
        # When the push service took the first copy of what went again, against the kill:
        # after it, the request was on the wire; before it, the dead worker held an answer
        # it had not recorded yet.
        first = {}
        for m in service.messages:
            first.setdefault(m.sub_id, m.received_at)
        copies = collections.Counter(m.sub_id for m in service.messages)
        repeated = [first[sub_id] - killed_wall for sub_id, n in copies.items() if n > 1]
        answered = sorted(-t for t in repeated if t < 0)
        print(f"killed a worker mid-fanout; {duplicates} of {SUBSCRIBERS} sent twice: "
              f"{len(repeated) - len(answered)} on the wire, {len(answered)} answered and "
              f"unrecorded (for up to {answered[-1] * 1000 if answered else 0:.0f} ms); "
              f"done {took:.1f} s after the kill")


def test_a_change_through_one_worker_shows_in_the_other_within_a_second(tmp_path):
    create_organizer(make_settings(tmp_path), "ana")
    with live_server(tmp_path, workers=2) as server:
        organizer = Organizer(server)
        try:
            slug = organizer.publish(title="Vigil before the change")
            seen = set()
            # Each request on a new connection: the kernel hands it to either worker.
            for _ in range(40):
                res = httpx.get(f"{server.url}/listings/{slug}")
                assert "Vigil before the change" in res.text
                seen.add(res.headers.get("etag"))
            assert organizer.edit(slug, title="Vigil after the change") == 303
            changed = time.monotonic()
        finally:
            organizer.close()
        time.sleep(max(0.0, 1.0 - (time.monotonic() - changed)))
        for _ in range(40):
            res = httpx.get(f"{server.url}/listings/{slug}")
            assert "Vigil after the change" in res.text
            assert res.headers.get("etag") not in seen


def test_workers_keep_the_request_head_timeout(tmp_path):
    with live_server(tmp_path, workers=2, VIGIL_TEST_HEAD_TIMEOUT="1") as server:
        started = time.monotonic()
        conns = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(6)]
        try:
            for conn in conns:
                conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
                conn.settimeout(10)
                try:
                    assert conn.recv(1024) == b""  # closed without an answer
                except ConnectionResetError:
                    pass  # closed, and the kernel said so with a reset
        finally:
            for conn in conns:
                conn.close()
        assert time.monotonic() - started < 5
        assert httpx.get(server.url + "/healthz").status_code == 200


@pytest.mark.parametrize("value,fragment", [("0", "--workers must be between 1 and 64"),
                                            ("-3", "--workers must be between 1 and 64"),
                                            ("65", "--workers must be between 1 and 64"),
                                            ("two", "invalid int value")])
def test_a_bad_worker_count_is_one_line(tmp_path, value, fragment):
    from tests.test_cli import assert_one_line_error, run

    res = run(["serve", "--port", "1", "--workers", value], tmp_path,
              VIGIL_VAPID_SUBJECT="mailto:test@example.invalid")
    assert_one_line_error(res, fragment)
