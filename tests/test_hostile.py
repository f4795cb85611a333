"""Hostile visitors: script and SQL injection through every public input, oversized bodies,
clients that send their request (head or body) a byte a second or hang up halfway, forged
log lines, cache-busting query strings, reused form stamps, organizer content that could
break a public page, and rate limits behind a proxy.

The injection tests run in-process against the default dataset; the body, slow-client, log
and stamp tests run against a real uvicorn (tests/live.py) over raw sockets, since what
matters there is what the HTTP server does before the app sees anything; the cache test runs
a real uvicorn in this process, so it can count what the server renders.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import random
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from urllib.parse import quote, urlencode

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient

from server import feeds as server_feeds
from server.app import create_app
from server.config import ConfigError, from_env, parse_trusted_proxies
from server.serve import contained_log_records, uvicorn_options
from server.views import suggest as suggest_view
from tests import dbtools
from tests.admin_support import create_organizer, csrf_from, sign_in
from tests.conftest import make_settings
from tests.live import LiveServer, free_port, live_server

XSS = [
    "<script>alert(1)</script>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    '" onmouseover="alert(1)" x="',
    "' onfocus='alert(1)' autofocus='",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "<svg onload=alert(1)>",
    "<svg/onload=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=javascript:alert(1)></iframe>",
    "[click](javascript:alert(1))",
    "<javascript:alert(1)>",
    "{{ 7*7 }}{% raw %}",
]
SQLI = [
    "' OR 1=1 --",
    "' OR '1'='1",
    '"; DROP TABLE listings; --',
    "'; DELETE FROM listings; --",
    "x' UNION SELECT name, sql, 1, 2, 3 FROM sqlite_master --",
    "1) OR (1=1",
    "%' OR '%'='",
    "portland-or-macadam' --",
]
PAYLOADS = XSS + SQLI
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "srcdoc", "xlink:href"}
FOREIGN = {"svg", "iframe", "object", "embed", "math", "base"}
DATA_SCRIPTS = ("application/json", "application/ld+json")


class ActiveContent(HTMLParser):
    """Parses a page as a browser would and lists whatever in it could run script. Vigil's
    templates have no inline handlers, javascript: URLs, inline scripts other than JSON
    data, frames, or SVG other than the one listings map the home page draws, so anything
    found here came from input."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._script_type: str | None = None
        self._maps = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg" and dict(attrs).get("id") == "listings-map" and not self._maps:
            self._maps += 1
        elif tag in FOREIGN:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in URL_ATTRIBUTES and value and re.match(
                    r"\s*(?:javascript|vbscript|data):", value, re.I):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            attributes = dict(attrs)
            self._script_type = attributes.get("type") or "text/javascript"
            if not attributes.get("src") and self._script_type not in DATA_SCRIPTS:
                self.found.append("inline <script>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_type = None

    def handle_data(self, data: str) -> None:
        if self._script_type in DATA_SCRIPTS and ("</" in data or "<!--" in data):
            self.found.append("markup inside a JSON script block")


def active_content(html: str) -> list[str]:
    parser = ActiveContent()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_inert(res, payload: str) -> None:
    """The response cannot run the payload: escaped in markup, or not markup at all."""
    assert res.status_code < 500, (res.request.url, res.text[:500])
    assert res.headers.get("x-content-type-options") == "nosniff"
    kind = res.headers.get("content-type", "")
    body = res.text
    if kind.startswith(("text/html", "application/atom+xml", "image/svg")):
        found = active_content(body)
        assert not found, (res.request.url, payload, found)
        if "<" in payload:  # quotes may stay raw in text; the parser above judges those
            assert payload not in body, (res.request.url, payload)
        if kind.startswith("text/html"):
            csp = res.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    elif kind.startswith("application/json"):
        json.loads(body)  # well-formed: the payload stayed inside a string
    else:  # text/plain refusals, calendars, 304s: never parsed as a document
        assert not kind.startswith(("text/html", "application/xhtml", "text/xml")), kind


def schema_and_counts(db_path) -> tuple[list[str], int, str]:
    conn = dbtools.connect(db_path)
    try:
        tables = sorted(dbtools.tables(conn))
        listings = conn.execute("SELECT COUNT(*) FROM listings").fetchone()[0]
    finally:
        conn.close()
    return tables, listings, "ok" if dbtools.intact(db_path) else "damaged"


def stamp_of(client, path: str = "/suggest") -> str:
    return re.search(r'name="stamp" value="([^"]+)"', client.get(path).text).group(1)


def fresh_throttles(client) -> None:
    """A new per-client limit for suggestions (5 per 10 minutes would otherwise end the run)."""
    conn = dbtools.connect(client.app.state.vigil.settings.db_path)
    with conn:
        conn.execute("DELETE FROM rate_events")
    conn.close()


# ---------------------------------------------------------------- query strings and paths

GET_TARGETS = [
    ("/search", "q"), ("/es/search", "q"), ("/", "state"), ("/es/", "state"),
    ("/suggest", "listing"), ("/es/suggest", "listing"), ("/api/v1/rights", "lang"),
    ("/static/app.css", "v"), ("/admin/login", "done"),
]
PATH_TARGETS = ["/listings/{}", "/es/listings/{}", "/rights/{}", "/es/rights/{}",
                "/api/v1/listings/{}", "/listings/{}.ics", "/static/{}", "/{}", "/es/{}"]


def test_query_parameters_and_paths_are_inert(client, settings):
    before = schema_and_counts(settings.db_path)
    for payload in PAYLOADS:
        for page, name in GET_TARGETS:
            assert_inert(client.get(page, params={name: payload}), payload)
        for template in PATH_TARGETS:
            res = client.get(template.format(payload.replace("/", "%2F").replace("?", "%3F")
                                             .replace("#", "%23")))
            assert_inert(res, payload)
            assert res.status_code in (200, 304, 404, 400), (template, payload, res.status_code)
    # the SQL stayed data: the same schema, the same listings, a sound file
    assert schema_and_counts(settings.db_path) == before
    assert before[2] == "ok"
    res = client.get("/api/v1/listings/' OR 1=1 --")
    assert res.status_code == 404
    assert client.get("/search", params={"q": "' OR 1=1 --"}).status_code == 200
    # input is data to the templates too: shown as typed, never evaluated
    page = client.get("/search", params={"q": "{{ 7*7 }}"}).text
    assert 'value="{{ 7*7 }}"' in page


# ---------------------------------------------------------------- the suggestion form

SUGGEST_FIELDS = ("title", "details", "city", "state", "contact", "kind", "listing", "stamp",
                  "website")


def suggestion(form_stamp: str, **fields) -> dict:
    data = {"stamp": form_stamp, "kind": "vigil", "title": "Nightly vigil at NWDC",
            "details": "Bring candles, 8 pm.", "city": "Tacoma", "state": "WA", "contact": "",
            "website": ""}
    data.update(fields)
    return data


def test_suggestion_fields_are_inert_and_stored_verbatim(client, settings):
    before = schema_and_counts(settings.db_path)
    accepted = []
    for prefix in ("", "/es"):
        for payload in PAYLOADS:
            for field in SUGGEST_FIELDS:
                for accept in ("text/html", "application/json"):
                    fresh_throttles(client)
                    stamp = stamp_of(client, f"{prefix}/suggest")  # one suggestion each
                    res = client.post(f"{prefix}/suggest",
                                      data=suggestion(stamp, **{field: payload}),
                                      headers={"accept": accept})
                    assert_inert(res, payload)
                    assert res.status_code in (201, 400), (field, payload, res.status_code)
                    if res.status_code == 201 and field in ("title", "details", "contact"):
                        accepted.append((field, payload))
    tables, listings, integrity = schema_and_counts(settings.db_path)
    assert (tables, listings) == before[:2] and integrity == "ok"
    conn = dbtools.connect(settings.db_path)
    try:
        stored = {(f, v) for f in ("title", "details", "contact")
                  for (v,) in conn.execute(f"SELECT {f} FROM suggestions")}
    finally:
        conn.close()
    # parameterised SQL: every accepted injection string is stored exactly as typed
    assert {(f, p) for f, p in accepted if p.strip() == p} <= stored
    assert any(p == '"; DROP TABLE listings; --' for _, p in accepted)


def test_hostile_suggestions_stay_inert_for_organizers_and_once_published(client, settings):
    """A public suggestion is shown to organizers, and when approved becomes a draft that an
    organizer may publish as it is: the same text must stay text all the way."""
    create_organizer(settings, "ana")
    for payload in XSS:
        fresh_throttles(client)
        res = client.post("/suggest", data=suggestion(
            stamp_of(client), title="Vigil " + payload, details=f"{payload}\n\n{payload}",
            city=payload[:80], contact=payload))
        assert res.status_code == 201, res.text[:300]
    csrf = sign_in(client, "ana")
    queue = client.get("/admin/suggestions")
    for payload in XSS:
        assert_inert(queue, payload)
    ids = [int(i) for i in re.findall(r'/admin/suggestions/(\d+)"', queue.text)]
    assert len(set(ids)) >= len(XSS)
    published = []
    for suggestion_id in sorted(set(ids)):
        detail = client.get(f"/admin/suggestions/{suggestion_id}")
        for payload in XSS:
            assert_inert(detail, payload)
        res = client.post(f"/admin/suggestions/{suggestion_id}/approve", data={"csrf": csrf},
                          follow_redirects=False)
        assert res.status_code == 303, res.text[:300]
        edit_url = res.headers["location"].split("?")[0]
        edit = client.get(edit_url)
        for payload in XSS:
            assert_inert(edit, payload)
        slug = edit_url.split("/")[3]
        res = client.post(f"/admin/listings/{slug}/publish", data={"csrf": csrf},
                          follow_redirects=False)
        assert res.status_code == 303
        published.append(slug)
    pages = ["/", "/es/", "/feed.atom", "/api/v1/listings", "/search?q=vigil"]
    pages += [f"{p}/listings/{slug}" for slug in published for p in ("", "/es")]
    pages += [f"/api/v1/listings/{slug}" for slug in published]
    for page in pages:
        res = client.get(page)
        assert res.status_code == 200, page
        for payload in XSS:
            assert_inert(res, payload)


# ---------------------------------------------------------------- sign-in and the push API


def test_sign_in_form_is_inert(client, settings):
    before = schema_and_counts(settings.db_path)
    stamp = csrf_from(client.get("/admin/login").text)
    for payload in PAYLOADS:
        res = client.post("/admin/login", data={"csrf": stamp, "username": payload,
                                                "password": payload}, follow_redirects=False)
        assert res.status_code in (401, 429), res.status_code
        assert_inert(res, payload)
        res = client.post("/admin/login", data={"csrf": payload, "username": "ana",
                                                "password": "x"}, follow_redirects=False)
        assert res.status_code == 403
        assert_inert(res, payload)
    assert schema_and_counts(settings.db_path) == before


def test_push_api_is_inert(client, settings):
    before = schema_and_counts(settings.db_path)
    good = {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAk"
                      "j7I99e8QcYP7DkM", "auth": "tBHItJI5svbpez7KI4CCXg"}
    for payload in PAYLOADS:
        bodies = [
            {"subscription": {"endpoint": payload, "keys": good}, "topics": ["all"]},
            {"subscription": {"endpoint": "https://fcm.googleapis.com/fcm/send/" + payload,
                              "keys": good}, "topics": ["all"]},
            {"subscription": {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
                              "keys": good}, "topics": [payload]},
            {"subscription": {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
                              "keys": {"p256dh": payload, "auth": payload}}, "topics": ["all"]},
        ]
        for body in bodies:
            res = client.post("/api/v1/push/subscriptions", json=body)
            assert_inert(res, payload)
            endpoint = body["subscription"]["endpoint"]
            if res.status_code == 201:
                # a path the push service may well have chosen: stored as sent, and removable
                assert endpoint.startswith("https://fcm.googleapis.com/fcm/send/")
                assert body["topics"] == ["all"] and body["subscription"]["keys"] == good
                conn = dbtools.connect(settings.db_path)
                try:
                    stored = conn.execute("SELECT endpoint FROM subscriptions").fetchall()
                finally:
                    conn.close()
                assert stored == [(endpoint,)]
                res = client.request("DELETE", "/api/v1/push/subscriptions",
                                     json={"endpoint": endpoint})
                assert res.status_code == 204
            else:
                assert res.status_code == 400, (body, res.text)
        res = client.request("DELETE", "/api/v1/push/subscriptions", json={"endpoint": payload})
        assert res.status_code == 204
        assert_inert(res, payload)
    tables, listings, integrity = schema_and_counts(settings.db_path)
    assert (tables, listings) == before[:2] and integrity == "ok"
    conn = dbtools.connect(settings.db_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM subscriptions").fetchone()[0] == 0
    finally:
        conn.close()


# ---------------------------------------------------------------- a real uvicorn


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("hostile"),
                     VIGIL_TEST_HEAD_TIMEOUT=str(HEAD_TIMEOUT)) as srv:
        yield srv


def read_head(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """The response's status line and headers (raises on timeout or a closed connection)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    return data


def read_to_close(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:  # it closed with our unread upload in its buffer
        pass
    return data


def get(server: LiveServer, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        res = conn.getresponse()
        res.read()
        return res.status, time.perf_counter() - started
    finally:
        conn.close()


BODY_TARGETS = [("/suggest", "application/x-www-form-urlencoded"),
                ("/api/v1/push/subscriptions", "application/json"),
                ("/admin/login", "application/x-www-form-urlencoded")]
FIRST_CHUNK = 64 * 1024


@pytest.mark.parametrize("size", [1_000_000, 20_000_000], ids=["1MB", "20MB"])
@pytest.mark.parametrize("path,content_type", BODY_TARGETS, ids=lambda v: v)
def test_declared_large_bodies_are_refused_at_once(server, path, content_type, size):
    """Content-Length over the limit: 413 before the body is read, so a client never has to
    upload it (this one sends the head and 64 KB, then waits)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {size}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.perf_counter()
        sock.sendall(head + b"a" * FIRST_CHUNK)
        response = read_head(sock)
        elapsed = time.perf_counter() - started
        rest = read_to_close(sock)  # and it hangs up rather than wait for the rest
    assert response.startswith(b"HTTP/1.1 413 "), response
    assert b"connection: close" in response.lower()
    assert b"request body too large" in response + rest
    assert elapsed < 0.5, f"413 took {elapsed * 1000:.0f} ms"
    assert get(server, "/healthz")[0] == 200


@pytest.mark.parametrize("path,content_type", BODY_TARGETS, ids=lambda v: v)
def test_streamed_large_bodies_are_cut_off(server, path, content_type):
    """No Content-Length (chunked): the limit applies as the body arrives; the client learns
    of it after about the limit, not after 20 MB."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"4000\r\n" + b"a" * 0x4000 + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.perf_counter()
        sock.sendall(head)
        while sent < 20_000_000:
            readable, _, _ = select.select([sock], [], [], 0.01)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 0x4000
        response = read_head(sock)
        elapsed = time.perf_counter() - started
    assert response.startswith(b"HTTP/1.1 413 "), response
    assert sent <= 256 * 1024, f"the client uploaded {sent} bytes before the 413"
    assert elapsed < 1.0, f"413 took {elapsed * 1000:.0f} ms"


SLOW_CLIENTS = 20
SILENT_CLIENTS = 5
HEAD_TIMEOUT = 3  # this module's server (VIGIL_TEST_HEAD_TIMEOUT); 10 s in production
SLOW_SECONDS = 7  # past the head timeout and past uvicorn's 5 s keep-alive timeout


def is_closed(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (waiting briefly for it to say so)."""
    sock.settimeout(2)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_and_silent_clients_are_cut_off_without_blocking_anyone(server):
    """Twenty clients send their request head one byte a second; five connect and send
    nothing. Everyone else is served at once meanwhile (the app is called only once a head
    is complete, and the one event loop serves the rest), and once the head timeout passes
    the server closes every slow or silent connection (server.serve.HEAD_TIMEOUT): they
    cost a socket for seconds, not for as long as they like."""
    head = (f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "User-Agent: one-byte-a-second\r\n\r\n").encode()
    assert len(head) > SLOW_SECONDS + 5
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=5)
             for _ in range(SLOW_CLIENTS)]
    silent = [socket.create_connection(("127.0.0.1", server.port), timeout=5)
              for _ in range(SILENT_CLIENTS)]
    stop = threading.Event()
    sent = [0]

    def trickle() -> None:
        while not stop.is_set() and sent[0] < SLOW_SECONDS:
            for sock in socks:
                try:
                    sock.send(head[sent[0]:sent[0] + 1])
                except OSError:
                    pass  # the server hung up on it
            sent[0] += 1
            stop.wait(1.0)

    thread = threading.Thread(target=trickle, name="slow-clients")
    thread.start()
    latencies = []
    try:
        deadline = time.monotonic() + SLOW_SECONDS
        while time.monotonic() < deadline:
            for path in ("/healthz", "/", "/api/v1/listings"):
                status, seconds = get(server, path)
                assert status == 200
                latencies.append(seconds)
            time.sleep(0.2)
        stop.set()
        thread.join(5)
        assert not thread.is_alive()
        assert sent[0] > HEAD_TIMEOUT + 1  # still trickling when the timeout came
        closed = [is_closed(sock) for sock in socks + silent]
        assert all(closed), f"{closed.count(False)} slow or silent connections still open"
    finally:
        stop.set()
        thread.join(5)
        for sock in socks + silent:
            sock.close()
    latencies.sort()
    assert len(latencies) >= 15
    # Held up behind a slow client, a request would wait for seconds (its head never ends);
    # the bounds leave room for a busy shared machine.
    assert latencies[-1] < 1.0, f"slowest request {latencies[-1] * 1000:.0f} ms"
    assert latencies[len(latencies) // 2] < 0.25


def test_stray_bytes_between_requests_do_not_keep_a_connection_open(server):
    """After a response, a client that sends only blank lines (which the HTTP parser skips
    and which stop uvicorn's keep-alive timer) is cut off by the head timeout."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n"
                     .encode())
        assert read_head(sock).startswith(b"HTTP/1.1 200 ")
        sock.recv(65536)  # the body, if it came separately
        cut = False
        for _ in range(HEAD_TIMEOUT + 4):
            try:
                sock.send(b"\r\n")
            except OSError:
                cut = True
                break
            time.sleep(1)
        assert cut or is_closed(sock), "blank lines kept the connection open"
    finally:
        sock.close()


def test_a_kept_alive_connection_is_not_cut_while_its_requests_arrive_in_time(server):
    """The head timeout counts per request head: a connection that keeps sending whole
    requests within it is served for longer than the timeout."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        started = time.monotonic()
        while time.monotonic() - started < HEAD_TIMEOUT + 1.5:
            conn.request("GET", "/healthz")
            res = conn.getresponse()
            assert res.status == 200 and res.read() == b"ok"
            time.sleep(0.5)
    finally:
        conn.close()


# ---------------------------------------------------------------- bodies that never end

TRICKLING_CLIENTS = 200
BODY_DEADLINE = 30  # the promise: a body that has not arrived by then has been cut off


def post_head(server: LiveServer, path: str, length: int,
              content_type: str = "application/x-www-form-urlencoded") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n").encode()


def test_trickling_bodies_are_cut_off_while_everyone_else_is_served(server):
    """Two hundred clients send a whole request head, then their body a byte a second. The
    rest of the site answers at once meanwhile, and every trickling connection is closed
    within 30 seconds of its head, however long its body claims to be."""
    paths = ["/suggest", "/admin/login", "/es/suggest", "/api/v1/push/subscriptions"]
    socks = []
    for n in range(TRICKLING_CLIENTS):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        path = paths[n % len(paths)]
        kind = ("application/json" if path.startswith("/api/")
                else "application/x-www-form-urlencoded")
        sock.sendall(post_head(server, path, 5000, kind) + b"t")
        sock.setblocking(False)
        socks.append(sock)
    started = time.monotonic()
    open_socks = set(socks)
    answers: dict[socket.socket, bytes] = {}
    stop = threading.Event()
    lock = threading.Lock()

    def trickle() -> None:
        while not stop.wait(1.0):
            with lock:
                for sock in list(open_socks):
                    try:
                        sock.send(b"t")
                    except OSError:
                        pass  # closed by the server; the reader below sees it

    thread = threading.Thread(target=trickle, name="trickling-bodies")
    thread.start()
    latencies = []
    try:
        while open_socks and time.monotonic() - started < BODY_DEADLINE + 2:
            for path in ("/legal", "/healthz", "/api/v1/listings"):
                status, seconds = get(server, path)
                assert status == 200
                latencies.append(seconds)
            readable, _, _ = select.select(list(open_socks), [], [], 0.2)
            with lock:
                for sock in readable:
                    try:
                        chunk = sock.recv(65536)
                    except ConnectionResetError:
                        chunk = b""
                    except BlockingIOError:
                        continue
                    if chunk:
                        answers[sock] = answers.get(sock, b"") + chunk
                    else:
                        open_socks.discard(sock)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(5)
        for sock in socks:
            sock.close()
    assert not open_socks, f"{len(open_socks)} trickling connections open after {elapsed:.0f} s"
    assert elapsed < BODY_DEADLINE
    answered = [a for a in answers.values() if a]
    assert answered and all(a.startswith(b"HTTP/1.1 408 ") for a in answered), answered[:3]
    latencies.sort()
    assert len(latencies) >= 30
    assert latencies[len(latencies) // 2] < 0.25, f"median {latencies[len(latencies) // 2]:.3f} s"
    assert latencies[-1] < 2.0, f"slowest request {latencies[-1]:.3f} s"


def new_log(server: LiveServer, offset: int, lines: int, *, mentioning: str = "",
            timeout: float = 10.0) -> str:
    """The log written since `offset`, once it holds at least `lines` lines that mention the
    given text (the access log is written in batches, at least once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        text = server.logs()[offset:]
        if sum(mentioning in line for line in text.splitlines()) >= lines:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {lines} log lines, got:\n{text[-3000:]}")
        time.sleep(0.1)


def settled_log_size(server: LiveServer, quiet: float = 1.5, timeout: float = 15.0) -> int:
    """The log's size once earlier tests' lines are out (the log is written in batches): it
    has not grown for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    size, since = len(server.logs()), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the log never settled"
        time.sleep(0.1)
        now = len(server.logs())
        if now != size:
            size, since = now, time.monotonic()
    return size


def test_hang_ups_mid_body_are_one_log_line_each(server):
    """Clients that send half a body and hang up: no 500, no traceback, one line each."""
    targets = ["/es/suggest", "/admin/login", "/suggest"]
    hang_ups = 30
    offset = settled_log_size(server)
    for n in range(hang_ups):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(post_head(server, targets[n % len(targets)], 2000) + b"title=a" * 10)
    text = new_log(server, offset, hang_ups, mentioning='vigil.access: "POST ')
    assert "Traceback" not in text and "Exception in ASGI" not in text, text[-3000:]
    lines = text.splitlines()
    assert all(line.startswith("INFO vigil.access: ") for line in lines), lines
    posts = [line for line in lines if '"POST ' in line]
    assert len(posts) == hang_ups, posts
    assert not [line for line in lines if '" 5' in line], lines


def test_a_newline_in_a_path_cannot_forge_a_log_line(server):
    forged = 'INFO vigil.access: "POST /admin/listings/x/delete" 303 1.0ms'
    offset = settled_log_size(server)
    targets = ["/x%0A" + quote_path(forged), "/x%0D%0A" + quote_path(forged),
               "/x%1B%5B2K%0D" + quote_path(forged), "/x%E2%80%A8" + quote_path(forged),
               "/es/x%0A" + quote_path(forged)]
    for target in targets:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Connection: close\r\n\r\n".encode())
            assert read_to_close(sock).startswith(b"HTTP/1.1 404 ")
    text = new_log(server, offset, len(targets), mentioning='vigil.access: "GET /')
    lines = text.splitlines()
    assert len(lines) == len(targets), lines
    assert not [line for line in lines if line.startswith(forged[:40])], lines
    assert "\x1b" not in text and "\r" not in text and "\u2028" not in text
    assert all(line.startswith('INFO vigil.access: "GET /') for line in lines), lines


def quote_path(text: str) -> str:
    return quote(text, safe="/:")


def test_a_suggestion_stamp_is_good_for_one_suggestion(server):
    """A form's stamp is spent by the suggestion it carried: sent again, it is refused with
    a message saying so (and a fresh stamp), never stored twice."""
    page = urllib_get(server, "/suggest")
    stamp = re.search(r'name="stamp" value="([^"]+)"', page).group(1)
    fields = {"stamp": stamp, "kind": "vigil", "title": "Nightly vigil at NWDC",
              "details": "Bring candles, 8 pm.", "city": "Tacoma", "state": "WA",
              "contact": "", "website": ""}
    status, answer = post_form(server, "/suggest", fields)
    for _ in range(40):  # the minimum fill time (3 s) has to pass first
        if answer.get("code") != "too-fast":
            break
        time.sleep(0.25)
        status, answer = post_form(server, "/suggest", fields)
    assert status == 201, answer
    for path in ("/suggest", "/es/suggest"):
        status, answer = post_form(server, path, fields)
        assert status == 400, answer
        assert answer["code"] == "stamp-used"
        assert answer["stamp"] and answer["stamp"] != stamp
    assert "already" in answer_html(server, fields)
    conn = dbtools.connect(server.db_path)
    try:
        stored = conn.execute("SELECT COUNT(*) FROM suggestions WHERE title = ?",
                              (fields["title"],)).fetchone()[0]
    finally:
        conn.close()
    assert stored == 1


def test_a_spent_stamp_is_refused_by_every_worker(tmp_path):
    """`serve --workers 2`: two processes on one database. A stamp spent through one is
    refused by the other too, since the spent stamps are kept where both look."""
    settings = make_settings(tmp_path)
    one, two = create_app(settings), create_app(settings)
    with TestClient(one) as first, TestClient(two) as second:
        stamp = re.search(r'name="stamp" value="([^"]+)"', first.get("/suggest").text).group(1)
        fields = {"stamp": stamp, "kind": "vigil", "title": "Nightly vigil at NWDC",
                  "details": "Bring candles, 8 pm.", "city": "Tacoma", "state": "WA",
                  "contact": "", "website": ""}
        json_answer = {"Accept": "application/json"}
        assert first.post("/suggest", data=fields, headers=json_answer).status_code == 201
        again = second.post("/suggest", data=fields, headers=json_answer)
        assert again.status_code == 400 and again.json()["code"] == "stamp-used"
    conn = dbtools.connect(settings.db_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0] == 1
    finally:
        conn.close()


def urllib_get(server: LiveServer, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def post_form(server: LiveServer, path: str, fields: dict, accept: str = "application/json"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", path, body=urlencode(fields), headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": accept})
        res = conn.getresponse()
        body = res.read().decode()
        return res.status, json.loads(body) if accept == "application/json" else body
    finally:
        conn.close()


def answer_html(server: LiveServer, fields: dict) -> str:
    status, page = post_form(server, "/suggest", fields, accept="text/html")
    assert status == 400
    return page


# ---------------------------------------------------------------- cache-busting


@contextmanager
def uvicorn_in_thread(app) -> Iterator[str]:
    """The app under a real uvicorn (served as in production) in this process, so a test
    can count what the server does for each request."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **uvicorn_options())
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


class Counted:
    """Wraps a function and counts its calls."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def test_cache_busting_query_strings_and_feeds_are_served_from_the_cache(settings, monkeypatch):
    """/?utm_source=<random> renders nothing new, nor do the feeds and calendars until the
    data changes, and a flood of distinct searches does not push the pages out."""
    app = create_app(settings)
    renderer = app.state.vigil.renderer
    render = Counted(renderer.render)
    monkeypatch.setattr(renderer, "render", render)
    atom = Counted(server_feeds.atom_feed)
    calendar = Counted(server_feeds.calendar)
    monkeypatch.setattr(server_feeds, "atom_feed", atom)
    monkeypatch.setattr(server_feeds, "calendar", calendar)
    rng = random.Random(15)
    with uvicorn_in_thread(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        warm = ["/", "/es/", "/legal", "/?state=OR", "/feed.atom", "/calendar.ics"]
        etags = {path: http.get(path).headers["etag"] for path in warm}
        renders, atoms, calendars = render.calls, atom.calls, calendar.calls
        assert atoms == calendars == 1
        for _ in range(100):
            noise = f"{rng.getrandbits(64):x}"
            for path in warm:
                sep = "&" if "?" in path else "?"
                for query in (f"utm_source={noise}", f"{noise}={noise}", f"fbclid={noise}"):
                    res = http.get(f"{path}{sep}{query}")
                    assert res.status_code == 200 and res.headers["etag"] == etags[path]
        assert (render.calls, atom.calls, calendar.calls) == (renders, atoms, calendars)
        for _ in range(700):
            assert http.get("/search", params={"q": f"{rng.getrandbits(40):x}"}).is_success
        before = render.calls
        for path in warm:
            assert http.get(path).headers["etag"] == etags[path]
        assert render.calls == before, "searches pushed the pages out of the cache"
        # a change to a listing: each page that shows listings is built again, once
        change_a_listing(settings.db_path)
        deadline = time.monotonic() + 10
        while http.get("/").headers["etag"] == etags["/"]:
            assert time.monotonic() < deadline, "the change was never seen"
            time.sleep(0.1)
        for _ in range(3):
            for path in warm:
                sep = "&" if "?" in path else "?"
                assert http.get(f"{path}{sep}utm_medium=x").status_code == 200
        assert (atom.calls, calendar.calls) == (2, 2)
        # /, /es/ and /?state=OR show listings; /legal does not, and stays cached
        assert render.calls == before + 3


def change_a_listing(db_path) -> None:
    """An edit from another process, as an import or a second worker makes."""
    conn = dbtools.connect(db_path)
    try:
        conn.execute("UPDATE listings SET title = title || ' (moved)' WHERE id = "
                     "(SELECT MIN(id) FROM listings WHERE status IN ('active', 'ended'))")
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
        conn.commit()
    finally:
        conn.close()


def test_spent_stamps_are_bounded_and_never_let_a_spent_stamp_through(monkeypatch):
    from server.views.suggest import SpentStamps

    now = [1_000_000.0]
    monkeypatch.setattr("server.views.suggest.time.time", lambda: now[0])
    spent = SpentStamps(max_age=100, max_entries=50)
    for n in range(200):
        assert spent.spend(f"stamp-{n}", issued=now[0] - 50 + n * 0.1)
        assert not spent.spend(f"stamp-{n}", issued=now[0] - 50 + n * 0.1)
    assert len(spent._spent) <= 50
    # forgotten ones are refused as too old, whichever stamp they were
    assert all(spent.is_spent(f"stamp-{n}", now[0] - 50 + n * 0.1) for n in range(200))
    assert not spent.is_spent("a-new-one", now[0])
    now[0] += 200  # everything expired: the memory is given back on the next spend
    assert spent.spend("later", now[0])
    assert len(spent._spent) == 1


def test_the_render_cache_forgets_the_least_recently_used_and_keeps_searches_apart():
    from server.views.base import RenderCache

    cache = RenderCache(max_entries=3, max_searches=2)
    for key in ("a", "b", "c"):
        cache.put(key, 1, key.encode())
    assert cache.get("a", 1) is not None  # used: now the most recent
    cache.put("d", 1, b"d")
    assert cache.get("b", 1) is None  # the least recently used went
    assert all(cache.get(key, 1) is not None for key in ("a", "c", "d"))
    for n in range(50):
        cache.put(("search", n), 1, b"results", region="searches")
    assert len(cache) == 5
    assert all(cache.get(key, 1) is not None for key in ("a", "c", "d"))
    assert cache.get("a", 2) is None  # another revision is another page


# ---------------------------------------------------------------- what organizers can save

ODD = ["%(count)s %s {0} {{ x }} ${x}", "\u202egnp.exe", "ñ 🙂 \u200b\u00a0", "a\r\nb",
       "-"]


def organizer_records(payload: str, n: int) -> dict[str, dict[str, str]]:
    """One record of each kind an organizer saves, with the payload in every field that
    takes free text (the fields checked for a form, such as a date or a web address, hold
    valid values: the form refuses anything else)."""
    line = payload.replace("\r\n", " ").replace("|", "/")  # one phone line: label | number
    return {
        "/admin/listings/new": {
            "title": f"T{n} {payload}", "kind": "vigil", "address": payload,
            "city": f"C{n} {payload}", "state": "WA", "zip": "98421-1234",
            "tz": "America/Los_Angeles",
            "starts": "2030-06-01T20:00", "repeat": ("weekly", "daily", "none")[n % 3],
            "time": "19:30", "description": payload, "description_es": payload,
            "needs": f"{payload}\n{payload}",
            "links": f"{payload}\n{payload} | https://example.org/{n}\n| https://example.org/x",
            "source": payload, "contact_label": payload[:80],
            "contact": ("(253) 555-0147", f"vigil{n}@example.org",
                        f"https://signal.group/#{n}")[n % 3], "action": "publish"},
        "/admin/content/facilities/new": {
            "name": f"F{n} {payload}", "kind": "detention-center", "address": payload,
            "city": f"C{n} {payload}", "state": "IL", "operator": payload,
            "note_en": payload, "note_es": payload, "source": payload},
        "/admin/content/contacts/new": {
            "organization": f"O{n} {payload}", "description_en": payload,
            "description_es": payload,
            "phones": f"{line} / {line} | (206) 555-0199 | legal-help | https://x.example.org/",
            "hours_en": payload, "hours_es": payload, "states": "WA", "languages": "en",
            "source": payload},
        "/admin/content/rights/new": {
            **{f"{field}_{lang}": f"R{n} {payload}" for field in ("title", "summary", "body")
               for lang in ("en", "es")}, "order": str(100 + n), "reviewed": "2026-11-20",
            "source": payload},
        "/admin/content/articles/new": {
            "title": f"A{n} {payload}", "publisher": payload, "date": "2025-10-03",
            "url": f"https://news.example/{n}", "source": payload},
        "/admin/content/organizations/new": {
            "name": f"G{n} {payload}", "about_en": payload, "about_es": payload,
            "source": payload},
        "/admin/alerts/new": {
            "title": f"Alert {n} {payload}"[:120], "message": payload, "link": "/legal",
            "states": "ALL", "urgent": "", "expires": "24", "action": "send"},
    }


def test_public_pages_never_fail_on_anything_an_organizer_can_save(tmp_path):
    """Records holding the hostile-input suite's values in every field, saved through the
    organizer forms: every public page and JSON document still answers, and stays inert."""
    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    listing_slugs, rights_slugs = [], []
    with TestClient(create_app(settings), base_url="http://testserver",
                    raise_server_exceptions=False) as client:
        csrf = sign_in(client, "ana")
        for n, payload in enumerate(PAYLOADS + ODD):
            for path, fields in organizer_records(payload, n).items():
                res = client.post(path, data={"csrf": csrf, **fields}, follow_redirects=False)
                assert res.status_code == 303, (path, payload, res.text[:3000])
                where = res.headers["location"]
                if path == "/admin/listings/new":
                    listing_slugs.append(where.split("/")[3])
                elif path == "/admin/content/rights/new":
                    rights_slugs.append(where.split("/")[4])
        client.cookies.clear()  # a visitor from here on
        routes = {getattr(route, "path", "") for route in client.app.routes}
        pages = ["/", *(["/alerts"] if "/alerts" in routes else []), "/facilities", "/legal",
                 "/rights", "/resources", "/about", "/card", "/open-data", "/offline",
                 "/search?q=a", "/?state=WA"]
        pages += [f"/listings/{slug}" for slug in listing_slugs]
        pages += [f"/rights/{slug}" for slug in rights_slugs]
        pages += [f"/search?q={quote(p)}" for p in PAYLOADS[:6]]
        data = ["/feed.atom", "/calendar.ics", "/api/v1/listings", "/api/v1/facilities",
                "/api/v1/contacts", "/api/v1/rights?lang=en", "/api/v1/rights?lang=es",
                "/api/v1/resources", "/manifest.webmanifest", "/offline-manifest.json"]
        data += [f"/api/v1/listings/{slug}" for slug in listing_slugs]
        data += [f"/listings/{slug}.ics" for slug in listing_slugs]
        failures = []
        for url in [*pages, *(f"/es{p}" for p in pages), *data]:
            res = client.get(url)
            if res.status_code != 200:
                failures.append((url, res.status_code))
                continue
            kind = res.headers["content-type"]
            if kind.startswith("text/html"):
                found = active_content(res.text)
                if found:
                    failures.append((url, found))
            elif "json" in kind:
                json.loads(res.text)
        assert not failures, "\n".join(map(str, failures))


def test_listings_saved_in_any_shape_of_links_and_needs_still_render(client, settings):
    """Links and needs as older versions or a hand edit may have left them: each page still
    answers, showing what can be shown."""
    conn = dbtools.connect(settings.db_path)
    try:
        slug = conn.execute("SELECT slug FROM listings WHERE status IN ('active', 'ended') "
                            "LIMIT 1").fetchone()[0]
        conn.execute(
            "UPDATE listings SET links = ?, needs = ? WHERE slug = ?",
            (json.dumps([{"label": "No address"}, {"url": "https://example.org/only-url"},
                         "a bare line", {"label": "Script", "url": "javascript:alert(1)"},
                         5, None, {"label": ""}]),
             json.dumps(["water", {"en": "tents"}, 7]), slug))
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
                     "WHERE key = 'revision'")
        conn.commit()
    finally:
        conn.close()
    deadline = time.monotonic() + 10
    while "No address" not in client.get(f"/api/v1/listings/{slug}").text:
        assert time.monotonic() < deadline, "the change was never seen"
        time.sleep(0.1)
    for url in (f"/listings/{slug}", f"/es/listings/{slug}", f"/api/v1/listings/{slug}",
                "/offline-manifest.json"):
        res = client.get(url)
        assert res.status_code == 200, url
    links = client.get(f"/api/v1/listings/{slug}").json()["listing"]["links"]
    assert links == [{"label": "No address", "url": None},
                     {"label": "https://example.org/only-url",
                      "url": "https://example.org/only-url"},
                     {"label": "a bare line", "url": None},
                     {"label": "Script", "url": None}]
    page = client.get(f"/listings/{slug}").text
    assert "tents" in page and "javascript:" not in page


# ---------------------------------------------------------------- rate limits behind a proxy


PROXY = ("10.0.0.7", 40000)


def proxied_suggestion(client, forwarded_for: str | None):
    headers = {"accept": "application/json"}
    if forwarded_for is not None:
        headers["x-forwarded-for"] = forwarded_for
    page = client.get("/suggest")
    return client.post("/suggest", data=suggestion(
        re.search(r'name="stamp" value="([^"]+)"', page.text).group(1)), headers=headers)


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(tmp_path):
    settings = make_settings(tmp_path, trusted_proxies=parse_trusted_proxies("10.0.0.0/8"))
    stream = io.StringIO()
    app = create_app(settings)
    app.state.vigil.access_log.stream = stream
    with TestClient(app, base_url="http://testserver", client=PROXY) as client:
        limit = suggest_view.SUGGESTIONS_PER_CLIENT
        for _ in range(limit):
            assert proxied_suggestion(client, "203.0.113.50, 10.0.0.9").status_code == 201
        assert proxied_suggestion(client, "203.0.113.50").status_code == 429
        # what the client itself wrote to the left of its real address proves nothing
        assert proxied_suggestion(client, "198.51.100.1, 203.0.113.50").status_code == 429
        # someone else behind the same proxy is not limited
        assert proxied_suggestion(client, "203.0.113.51").status_code == 201
        assert proxied_suggestion(client, "2001:db8::5").status_code == 201
    raw = dbtools.stored_bytes(settings.db_path) + stream.getvalue().encode()
    for address in (b"203.0.113.5", b"2001:db8", b"198.51.100.1"):
        assert address not in raw


def test_forwarded_for_is_ignored_from_anyone_but_a_trusted_proxy(tmp_path):
    settings = make_settings(tmp_path, trusted_proxies=parse_trusted_proxies("10.0.0.0/8"))
    with TestClient(create_app(settings), base_url="http://testserver",
                    client=("192.0.2.10", 5555)) as client:
        for n in range(suggest_view.SUGGESTIONS_PER_CLIENT):
            assert proxied_suggestion(client, f"203.0.113.{n}").status_code == 201
        assert proxied_suggestion(client, "203.0.113.99").status_code == 429


def test_trusted_proxies_setting():
    assert parse_trusted_proxies("") == ()
    nets = parse_trusted_proxies("127.0.0.1, ::1 10.0.0.0/8,[fd00::1]")
    assert [str(n) for n in nets] == ["127.0.0.1/32", "::1/128", "10.0.0.0/8", "fd00::1/128"]
    with pytest.raises(ConfigError, match="VIGIL_TRUSTED_PROXIES"):
        parse_trusted_proxies("proxy.example")
    env = {"VIGIL_SECRET_KEY": "x" * 40, "VIGIL_VAPID_SUBJECT": "mailto:a@example.org",
           "VIGIL_TRUSTED_PROXIES": "10.1.2.3"}
    assert [str(n) for n in from_env(env).trusted_proxies] == ["10.1.2.3/32"]


def test_request_values_in_any_log_record_cannot_start_a_line(monkeypatch):
    """Beyond the access log: a message, its arguments or an exception carrying a request
    value stay inside their own record."""
    monkeypatch.setattr(logging, "_logRecordFactory", logging.getLogRecordFactory())
    contained_log_records()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("vigil.test-contained")
    logger.addHandler(handler)
    logger.propagate = False
    forged = 'INFO vigil.access: "POST /admin/listings/x/delete" 303 1.0ms'
    try:
        logger.warning("bad slug %s", "x\n" + forged)
        logger.warning("x\r\n" + forged + "\x1b[2K")
        try:
            raise KeyError("x\n" + forged)
        except KeyError:
            logger.exception("lookup failed for %r", "x\u2028" + forged)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len([line for line in lines if line.startswith("WARNING ")]) == 2
    assert [line for line in lines if line.startswith("ERROR ")]
    assert not [line for line in lines if line.startswith("INFO")], lines
    assert "\x1b" not in stream.getvalue() and "\r" not in stream.getvalue()
