"""Hostile visitors: script and SQL injection through every public input, oversized bodies,
and clients that send their request one byte a second.

The injection tests run in-process against the default dataset; the body-size and slow-client
tests run against a real uvicorn (tests/live.py) over raw sockets, since what matters there
is what the HTTP server does before the app sees anything.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from server.auth import Throttle
from tests.admin_support import create_organizer, csrf_from, sign_in
from tests.live import LiveServer, live_server

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
    conn = sqlite3.connect(db_path)
    try:
        tables = sorted(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))
        listings = conn.execute("SELECT COUNT(*) FROM listings").fetchone()[0]
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    return tables, listings, integrity


def stamp_of(client, path: str = "/suggest") -> str:
    return re.search(r'name="stamp" value="([^"]+)"', client.get(path).text).group(1)


def fresh_throttles(client) -> None:
    """A new per-client limit for suggestions (5 per 10 minutes would otherwise end the run)."""
    extras = client.app.state.vigil.extras
    current = extras.get("suggest_throttle")
    if current is not None:
        extras["suggest_throttle"] = Throttle(current.limit, current.window)


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
        stamp = stamp_of(client, f"{prefix}/suggest")
        for payload in PAYLOADS:
            for field in SUGGEST_FIELDS:
                for accept in ("text/html", "application/json"):
                    fresh_throttles(client)
                    res = client.post(f"{prefix}/suggest",
                                      data=suggestion(stamp, **{field: payload}),
                                      headers={"accept": accept})
                    assert_inert(res, payload)
                    assert res.status_code in (201, 400), (field, payload, res.status_code)
                    if res.status_code == 201 and field in ("title", "details", "contact"):
                        accepted.append((field, payload))
    tables, listings, integrity = schema_and_counts(settings.db_path)
    assert (tables, listings) == before[:2] and integrity == "ok"
    conn = sqlite3.connect(settings.db_path)
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
    stamp = stamp_of(client)
    for payload in XSS:
        fresh_throttles(client)
        res = client.post("/suggest", data=suggestion(
            stamp, title="Vigil " + payload, details=f"{payload}\n\n{payload}",
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
                conn = sqlite3.connect(settings.db_path)
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
    conn = sqlite3.connect(settings.db_path)
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
