"""Two machines on one PostgreSQL database: two `serve` processes, each in a working
directory of its own, sharing nothing but VIGIL_DB, the secret key and the VAPID key (given
as its PEM value, as a deployment hands it to every machine). They share a push fanout and
each alert reaches every subscriber once; when one dies in the middle of it the other
finishes; an edit made through one shows on the other's public pages within a second; and
a client's sign-in failures count once however they are spread over the machines."""

from __future__ import annotations

import collections
import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.config import Settings
from server.push.outbox import LEASE
from server.views import admin
from tests import dbtools
from tests.admin_support import PASSWORD, create_organizer, csrf_from
from tests.conftest import TEST_SECRET, make_settings
from tests.live import LiveServer, live_server
from tests.pushservice import PushService, Subscriber
from tests.test_faults import LISTING, Organizer, query
from tests.test_workers import assert_one_message_reached_everyone

pytestmark = [dbtools.postgresql_only]

SUBSCRIBERS = 1000
PUSH_CONCURRENCY = Settings.push_concurrency


def _vapid_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _hostname_shim(folder: Path, hostname: str) -> str:
    """A PYTHONPATH under which socket.gethostname() answers `hostname`: what a process on
    another machine would see, the one thing the outbox tells machines apart by."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        f"import socket\nsocket.gethostname = lambda: {hostname!r}\n")
    return os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))


class Machines:
    """Machines a and b, one database."""

    def __init__(self, tmp_path: Path):
        self.db_path = tmp_path / "shared.db"  # names the shared PostgreSQL database
        self.url = str(dbtools.target(self.db_path))
        self.settings = make_settings(tmp_path, db_path=self.db_path)
        self.keys = dict(VIGIL_DB=self.url, VIGIL_SECRET_KEY=TEST_SECRET,
                         VIGIL_VAPID_KEY=_vapid_pem())
        self.tmp_path = tmp_path

    @contextmanager
    def start(self, *, hostnames: tuple[str, str] | None = None,
              **env: str) -> Iterator[tuple[LiveServer, LiveServer]]:
        with ExitStack() as stack:
            servers = []
            for i, name in enumerate("ab"):
                own = self.tmp_path / name
                own.mkdir(exist_ok=True)
                extra = dict(env)
                if hostnames:
                    extra["PYTHONPATH"] = _hostname_shim(own / "site", hostnames[i])
                servers.append(stack.enter_context(live_server(own, **self.keys, **extra)))
            assert not (servers[0].tmp / "vapid.pem").exists()  # the key came as a value
            yield servers[0], servers[1]

    def sql(self, statement: str, params: tuple = (), *, public: bool = True) -> None:
        """Change the shared data behind both machines' backs (LiveServer.sql, on the shared
        database rather than a machine's own)."""
        conn = dbtools.connect(self.db_path, timeout=10)
        try:
            conn.execute(statement, params)
            if public:
                conn.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
            conn.commit()
        finally:
            conn.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return query(self.db_path, sql, params)

    def subscribe(self, service: PushService, n: int) -> list[Subscriber]:
        subs = [service.new_subscription() for _ in range(n)]
        today = datetime.now(UTC).date().isoformat()
        conn = dbtools.connect(self.db_path)
        try:
            with conn:
                conn.executemany(
                    "INSERT INTO subscriptions (endpoint, p256dh, auth, created) "
                    "VALUES (?, ?, ?, ?)", [(s.endpoint, s.p256dh, s.auth, today) for s in subs])
                conn.execute("INSERT INTO subscription_topics (subscription_id, topic) "
                             "SELECT id, 'all' FROM subscriptions")
        finally:
            conn.close()
        return subs

    def wait_until_done(self, service: PushService, n: int, within: float) -> float:
        """Wait until no delivery is pending or leased and every subscriber has a copy;
        the time.monotonic() when that was seen."""
        deadline = time.monotonic() + within
        while True:
            unfinished = self.query("SELECT COUNT(*) FROM deliveries "
                                    "WHERE status IN ('pending', 'sending')")[0][0]
            if not unfinished and len({m.sub_id for m in service.messages}) == n:
                return time.monotonic()
            assert time.monotonic() < deadline, (unfinished, len(service.messages))
            time.sleep(0.05)

    def lease_owners(self, status: str = "sending") -> set[str]:
        return {owner for (owner,) in self.query(
            "SELECT DISTINCT lease_owner FROM deliveries WHERE status = ? "
            "AND lease_owner IS NOT NULL", (status,))}


def _owner_pid(owner: str) -> int:
    return int(owner.rsplit(":", 2)[1])


def _owner_host(owner: str) -> str:
    return owner.rsplit(":", 2)[0]


def _send_alert(organizer: Organizer, title: str) -> int:
    res = organizer.http.post("/admin/alerts/new", data={
        "csrf": organizer.csrf, "title": title, "message": "Bring water.", "title_es": "",
        "message_es": "", "link": "", "states": ["OR"], "expires": "4", "action": "send"})
    assert res.status_code == 303, res.text
    return int(re.search(r"/admin/alerts/(\d+)", res.headers["location"]).group(1))


def _wait_for(condition, within: float, what: str):
    deadline = time.monotonic() + within
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.01)
    return found


# ---------------------------------------------------------------- one fanout, two machines


@pytest.mark.parametrize("what", ["alert", "listing"])
def test_two_machines_share_a_fanout_and_send_each_message_once(tmp_path, what):
    """An organizer on machine a sends an alert, or publishes a listing (announced through
    the state's digest); both machines send the deliveries, each subscriber gets one copy."""
    machines = Machines(tmp_path)
    create_organizer(machines.settings, "ana")
    started = time.monotonic()
    with PushService(delay=0.1) as service:
        subs = machines.subscribe(service, SUBSCRIBERS)
        with machines.start(VIGIL_PUSH_HOSTS=service.origin) as (a, b):
            organizer = Organizer(a)
            try:
                if what == "alert":
                    alert_id = _send_alert(organizer, "Vigil at the Portland ICE office")
                else:
                    slug = organizer.publish()
            finally:
                organizer.close()
            machines.wait_until_done(service, SUBSCRIBERS, within=60)
            senders = machines.query("SELECT lease_owner, COUNT(*) FROM deliveries "
                                     "GROUP BY lease_owner")
            logs = a.logs() + b.logs()
        # Both machines stopped (each finishing what it had under way): a copy sent twice
        # would be in service.messages by now.
        per_sub = collections.Counter(m.sub_id for m in service.messages)
        assert per_sub == collections.Counter({s.id: 1 for s in subs})
        notes = [m.json()["notification"] for m in service.messages]
        tags = {n["tag"] for n in notes}
        if what == "alert":
            assert tags == {f"alert-{alert_id}"}
        else:
            assert len(tags) == 1 and tags.pop().startswith("listings-WA-")
            assert {n["navigate"] for n in notes} == {f"{a.url}/listings/{slug}"}
        assert len({m.topic for m in service.messages}) == 1
        # Both machines took part: the one the organizer used, and the other, which found
        # the deliveries in the shared outbox.
        pids = {_owner_pid(owner) for owner, _ in senders}
        assert pids == {a.proc.pid, b.proc.pid}, senders
        assert all(count >= 50 for _, count in senders), senders
        assert machines.query("SELECT status, attempts, COUNT(*) FROM deliveries "
                              "GROUP BY status, attempts") == [("sent", 1, SUBSCRIBERS)]
        assert service.rejected == [] and service.errors == []
        assert "Traceback" not in logs
    print(f"{what} fanout of {SUBSCRIBERS} over two machines: {dict(senders)}; "
          f"{time.monotonic() - started:.1f} s in all")


# ---------------------------------------------------------------- a machine dies mid-fanout


def _kill_mid_fanout(machines: Machines, service: PushService, a: LiveServer,
                     b: LiveServer) -> tuple[int, float, float]:
    """Send an alert through b, SIGKILL machine a while it holds leases; the alert's id and
    when a died (monotonic, wall)."""
    organizer = Organizer(b)
    try:
        alert_id = _send_alert(organizer, "Vigil at the Portland ICE office")
    finally:
        organizer.close()
    _wait_for(lambda: len(service.messages) >= 200, 30, "the fanout did not start")
    # The victim holds leases, and the survivor has taken part too: the fanout is shared.
    _wait_for(lambda: {_owner_pid(o) for o in machines.lease_owners()} >= {a.proc.pid}
              and b.proc.pid in {_owner_pid(o) for o in machines.lease_owners("sent")}, 30,
              "machine a holds no lease, or machine b sent nothing")
    os.kill(a.proc.pid, signal.SIGKILL)
    killed_at, killed_wall = time.monotonic(), time.time()
    a.proc.wait(timeout=10)
    assert len(service.messages) < SUBSCRIBERS, "the fanout ended before the kill"
    return alert_id, killed_at, killed_wall


def test_a_machine_killed_mid_fanout_leaves_the_other_to_reach_everyone(tmp_path):
    """SIGKILL to machine a while it holds leases on an alert's deliveries: b sends the
    rest, and what a had leased, so every subscriber gets the alert, any repeat being the
    same message.

    Both processes run on this one host, so this exercises outbox.release_dead: b sees
    that the lease owner's host is its own and that its pid is gone, and frees a's leases
    within a second or so (DEAD_CHECK_EVERY), not after the 30 s LEASE. Across real
    machines the lease runs out instead; the next test plays that with two hostnames."""
    machines = Machines(tmp_path)
    create_organizer(machines.settings, "ana")
    with PushService(delay=0.1, jitter=0.2) as service:
        subs = machines.subscribe(service, SUBSCRIBERS)
        with machines.start(VIGIL_PUSH_HOSTS=service.origin) as (a, b):
            alert_id, killed_at, _ = _kill_mid_fanout(machines, service, a, b)
            held = machines.query("SELECT COUNT(*) FROM deliveries WHERE status = 'sending' "
                                  "AND lease_owner LIKE ?", (f"%:{a.proc.pid}:%",))[0][0]
            took = machines.wait_until_done(service, SUBSCRIBERS, within=45) - killed_at
            owners = {_owner_pid(o) for o in machines.lease_owners("sent")}
            logs = b.logs()
        duplicates = assert_one_message_reached_everyone(service, subs, alert_id)
        assert machines.query("SELECT status, COUNT(*) FROM deliveries "
                              "GROUP BY status") == [("sent", SUBSCRIBERS)]
        assert owners == {a.proc.pid, b.proc.pid}
        # Freed because a's process is gone, well before its leases would have run out.
        assert took < LEASE / 2, took
        assert re.search(r"push: \d+ deliveries claimed by a stopped process will be sent",
                         logs), logs
        assert "Traceback" not in logs
    print(f"killed machine a mid-fanout holding {held} leases; {duplicates} of "
          f"{SUBSCRIBERS} sent twice; b done {took:.1f} s after the kill")


def test_leases_of_a_machine_that_died_elsewhere_run_out_and_the_other_sends_them(
        tmp_path):
    """As the test above, but each process sees its own hostname, as on two real machines:
    b cannot tell whether a process on another host still runs, so release_dead leaves a's
    leases alone and they come due when LEASE runs out, when outbox.claim takes the
    'sending' rows whose next_attempt (the lease's expiry) has passed."""
    machines = Machines(tmp_path)
    create_organizer(machines.settings, "ana")
    with PushService(delay=0.1, jitter=0.2) as service:
        subs = machines.subscribe(service, SUBSCRIBERS)
        with machines.start(VIGIL_PUSH_HOSTS=service.origin,
                            hostnames=("machine-a", "machine-b")) as (a, b):
            alert_id, killed_at, killed_wall = _kill_mid_fanout(machines, service, a, b)
            leases = machines.query(
                "SELECT MIN(next_attempt), MAX(next_attempt), COUNT(*) FROM deliveries "
                "WHERE status = 'sending' AND lease_owner LIKE 'machine-a:%'")[0]
            expires_first, expires_last, held = leases
            assert held > 0
            # Until a's leases run out, b sends everything else and leaves those alone.
            _wait_for(lambda: machines.query(
                "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'")[0][0] == 0,
                LEASE, "b did not send the deliveries nobody held")
            if time.time() < expires_first - 1:
                assert machines.query(
                    "SELECT COUNT(*) FROM deliveries WHERE status = 'sending' "
                    "AND lease_owner LIKE 'machine-a:%'")[0][0] == held
            took = machines.wait_until_done(service, SUBSCRIBERS, within=LEASE + 20) - killed_at
            done_wall = time.time()
            hosts = {_owner_host(o) for o in machines.lease_owners("sent")}
            logs = b.logs()
        duplicates = assert_one_message_reached_everyone(service, subs, alert_id)
        assert machines.query("SELECT status, COUNT(*) FROM deliveries "
                              "GROUP BY status") == [("sent", SUBSCRIBERS)]
        assert hosts == {"machine-a", "machine-b"}
        # Sent again only once a's leases had run out, and soon after the last one did.
        assert expires_first <= done_wall <= expires_last + 5, (
            expires_first - killed_wall, expires_last - killed_wall, done_wall - killed_wall)
        assert "claimed by a stopped process" not in logs  # release_dead freed nothing
        assert "Traceback" not in logs
    print(f"killed machine a mid-fanout holding {held} leases, due "
          f"{expires_first - killed_wall:.1f}-{expires_last - killed_wall:.1f} s later; "
          f"{duplicates} sent twice; b done {took:.1f} s after the kill")


# ---------------------------------------------------------------- an edit, seen by the other


def _title_on(server: LiveServer, slug: str) -> tuple[str, str | None]:
    res = httpx.get(f"{server.url}/listings/{slug}", timeout=10)
    assert res.status_code == 200
    title = re.search(r"<h1[^>]*>(.*?)</h1>", res.text, re.S)
    return (title.group(1).strip() if title else res.text), res.headers.get("etag")


def _shows_within(server: LiveServer, slug: str, title: str, since: float,
                  within: float = 1.0) -> float:
    """Poll server's public page until it shows title; seconds since `since`."""
    while True:
        shown, _ = _title_on(server, slug)
        elapsed = time.monotonic() - since
        if title in shown:
            return elapsed
        assert elapsed < within, (server.url, shown, elapsed)
        time.sleep(0.02)


def test_an_edit_on_one_machine_shows_on_the_other_within_a_second(tmp_path):
    machines = Machines(tmp_path)
    create_organizer(machines.settings, "ana")
    with machines.start() as (a, b):
        organizer = Organizer(a)
        try:
            # Saved through a's form, made live in the database: publishing would announce
            # the listing, which test_two_machines_share_a_fanout... covers.
            res = organizer.http.post("/admin/listings/new", data={
                "csrf": organizer.csrf, **LISTING, "title": "Vigil before the change",
                "action": "draft"})
            assert res.status_code == 303, res.text
            slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
            machines.sql("UPDATE listings SET status = 'active' WHERE slug = ?", (slug,))
            # Both machines have the page in their caches.
            for server in (a, b, a, b):
                assert "Vigil before the change" in _title_on(server, slug)[0]
            before = {_title_on(server, slug)[1] for server in (a, b)}
            assert organizer.edit(slug, title="Vigil after the change") == 303
            changed = time.monotonic()
        finally:
            organizer.close()
        seen_b = _shows_within(b, slug, "Vigil after the change", changed)
        assert "Vigil after the change" in _title_on(a, slug)[0]
        assert _title_on(b, slug)[1] not in before

        # Through machine b, seen on a.
        organizer = Organizer(b)
        try:
            assert organizer.edit(slug, title="Vigil edited on b") == 303
            changed = time.monotonic()
        finally:
            organizer.close()
        seen_a = _shows_within(a, slug, "Vigil edited on b", changed)

        # Straight in the database, the revision bumped, as another program would.
        machines.sql("UPDATE listings SET title = ? WHERE slug = ?",
                     ("Vigil edited in the database", slug))
        changed = time.monotonic()
        seen_both = max(_shows_within(server, slug, "Vigil edited in the database", changed)
                        for server in (a, b))
        assert "Traceback" not in a.logs() + b.logs()
    print(f"an edit on a seen on b after {seen_b * 1000:.0f} ms, one on b seen on a after "
          f"{seen_a * 1000:.0f} ms, one in the database on both after "
          f"{seen_both * 1000:.0f} ms")


# ---------------------------------------------------------------- sign-in failures, counted once


def _attempts_until_refused(client: httpx.Client, servers: list[LiveServer], name: str,
                            at_most: int) -> list[int]:
    """Wrong passwords for `name`, sent to servers in turn, until one is refused (429);
    the status of each attempt."""
    codes: list[int] = []
    for n in range(at_most):
        server = servers[n % len(servers)]
        token = csrf_from(client.get(f"{server.url}/admin/login").text)
        res = client.post(f"{server.url}/admin/login", data={
            "csrf": token, "username": name, "password": f"wrong guess {n}"})
        codes.append(res.status_code)
        if res.status_code != 401:
            break
    return codes


def test_sign_in_failures_spread_over_two_machines_count_once(tmp_path):
    """A stranger's guesses at an account meet LOGIN_FAILURES_PER_ACCOUNT after as many
    attempts spread over two machines as on one; a known browser's failures meet
    LOGIN_FAILURES_PER_DEVICE the same way. Two machines do not give twice the guesses."""
    machines = Machines(tmp_path)
    create_organizer(machines.settings, "ana")
    create_organizer(machines.settings, "ben")
    create_organizer(machines.settings, "cleo")
    limit = admin.LOGIN_FAILURES_PER_ACCOUNT
    with machines.start() as (a, b):
        # One browser, sent to either machine as a load balancer would: one cookie jar for
        # both (cookies do not tell ports apart), a sign-in form from one posted to the other.
        with httpx.Client(timeout=15) as stranger:
            on_one = _attempts_until_refused(stranger, [a], "ben", 3 * limit)
            on_two = _attempts_until_refused(stranger, [a, b], "ana", 3 * limit)
            assert on_one == [401] * limit + [429]
            assert on_two == on_one
            # Locked to strangers on both machines, even with the right password.
            for server in (a, b):
                token = csrf_from(stranger.get(f"{server.url}/admin/login").text)
                res = stranger.post(f"{server.url}/admin/login", data={
                    "csrf": token, "username": "ana", "password": PASSWORD})
                assert res.status_code == 429 and int(res.headers["retry-after"]) > 0
        assert machines.query("SELECT COUNT(*) FROM sign_in_failures")[0][0] == 2 * limit

        # A browser in which cleo signed in before is never locked out, only slowed once its
        # own failures reach LOGIN_FAILURES_PER_DEVICE, counted over both machines.
        device_limit = admin.LOGIN_FAILURES_PER_DEVICE
        with httpx.Client(timeout=15) as known:
            organizer = Organizer(a, "cleo")
            try:
                device = organizer.http.cookies.get("vigil_device")
            finally:
                organizer.close()
            assert device
            known.cookies.set("vigil_device", device, domain="127.0.0.1", path="/admin")
            took = []
            for n in range(device_limit + 1):
                server = (a, b)[n % 2]
                token = csrf_from(known.get(f"{server.url}/admin/login").text)
                started = time.monotonic()
                res = known.post(f"{server.url}/admin/login", data={
                    "csrf": token, "username": "cleo", "password": f"wrong guess {n}"})
                took.append(time.monotonic() - started)
                assert res.status_code == 401, (n, res.status_code)
            # Neither machine saw more than six of the eleven: only the shared count slows
            # the eleventh.
            assert max(took[:device_limit]) < admin.DEVICE_SLOWDOWN, took
            assert took[device_limit] >= admin.DEVICE_SLOWDOWN, took
            token = csrf_from(known.get(f"{b.url}/admin/login").text)
            res = known.post(f"{b.url}/admin/login", data={
                "csrf": token, "username": "cleo", "password": PASSWORD})
            assert res.status_code == 303  # slowed, never refused
        assert "Traceback" not in a.logs() + b.logs()
    print(f"a stranger refused after {len(on_two) - 1} failures over two machines, as on "
          f"one; a known browser slowed after {device_limit} "
          f"(times {', '.join(f'{t:.2f}' for t in took)} s)")


@pytest.fixture(autouse=True)
def _no_stray_threads():
    import threading

    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()
                and t.name == "PushService"]
    assert not leftover, leftover
