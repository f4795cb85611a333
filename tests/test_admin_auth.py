"""Organizer pages refuse visitors; state changes need a CSRF token; sign-in is throttled."""

from __future__ import annotations

import re
import time

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from server.app import create_app
from server.views import admin
from tests import dbtools
from tests.admin_support import create_organizer, csrf_from, sign_in
from tests.conftest import make_settings


def admin_routes(app) -> list[tuple[str, set[str]]]:
    """Every /admin route from the router itself, with a concrete path."""
    found = []
    for mount in app.routes:
        if not (isinstance(mount, Mount) and mount.path == "/admin"):
            continue
        for route in mount.routes:
            assert isinstance(route, Route)
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "1" if m.group(2) == ":int" else "x",
                          "/admin" + route.path)
            found.append((path, set(route.methods or {"GET"})))
    return found


@pytest.fixture
def organizer_client(settings):
    create_organizer(settings, "ana")
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def test_router_has_admin_routes(client):
    paths = {p for p, _ in admin_routes(client.app)}
    assert {"/admin/", "/admin/login"} <= paths
    assert len(paths) >= 5


def test_every_admin_route_refuses_visitors(client):
    for path, methods in admin_routes(client.app):
        if path == "/admin/login":
            continue
        for method in methods - {"HEAD"}:
            res = client.request(method, path, follow_redirects=False,
                                 data={"title": "x"} if method == "POST" else None)
            assert res.status_code in (303, 401, 403), (method, path, res.status_code)
            if res.status_code == 303:
                assert res.headers["location"] == "/admin/login"
            assert "set-cookie" not in res.headers


def test_every_state_changing_route_needs_csrf(organizer_client):
    sign_in(organizer_client, "ana")
    before = organizer_client.app.state.vigil  # same app, same database
    for path, methods in admin_routes(organizer_client.app):
        for method in methods - {"GET", "HEAD", "OPTIONS"}:
            for token in (None, "forged", csrf_from_other_session()):
                data = {"title": "Injected", "message": "x"}
                if token:
                    data["csrf"] = token
                res = organizer_client.request(method, path, data=data, follow_redirects=False)
                assert res.status_code == 403, (method, path, token, res.status_code)
    assert before is organizer_client.app.state.vigil


def csrf_from_other_session() -> str:
    return "a" * 64


def test_csrf_refusal_changes_nothing(organizer_client, settings):

    sign_in(organizer_client, "ana")

    def snapshot():
        conn = dbtools.connect(settings.db_path)
        rows = {t: conn.execute(f"SELECT COUNT(*), COALESCE(MAX(id), 0) FROM {t}").fetchone()
                for t in ("listings", "alerts", "organizers", "suggestions", "audit")}
        conn.close()
        return rows

    before = snapshot()
    organizer_client.post("/admin/password", data={"current": "x", "new": "y" * 20,
                                                   "confirm": "y" * 20})
    organizer_client.post("/admin/logout")
    assert snapshot() == before


def test_sign_in_sets_a_strict_admin_only_cookie(organizer_client):
    token = csrf_from(organizer_client.get("/admin/login").text)
    res = organizer_client.post("/admin/login", data={"csrf": token, "username": "ana",
                                                      "password": "correct horse battery staple"},
                                follow_redirects=False)
    cookie = res.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert organizer_client.get("/").headers.get("set-cookie") is None


def test_secure_cookie_behind_https(tmp_path):
    settings = make_settings(tmp_path, base_url="https://vigil.example")
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="https://testserver") as c:
        token = csrf_from(c.get("/admin/login").text)
        res = c.post("/admin/login", data={"csrf": token, "username": "ana",
                                           "password": "correct horse battery staple"},
                     follow_redirects=False)
        assert "Secure" in res.headers["set-cookie"]
        assert "strict-transport-security" in res.headers


def test_wrong_password_then_throttled_with_a_message(organizer_client):
    token = csrf_from(organizer_client.get("/admin/login").text)
    for _ in range(5):
        res = organizer_client.post("/admin/login", data={"csrf": token, "username": "ana",
                                                          "password": "wrong wrong wrong"})
        assert res.status_code == 401
        assert "Wrong username or password" in res.text
    res = organizer_client.post("/admin/login", data={"csrf": token, "username": "ana",
                                                      "password": "correct horse battery staple"})
    assert res.status_code == 429
    assert "Too many failed sign-ins" in res.text
    assert int(res.headers["retry-after"]) > 0


def test_failures_for_other_names_lock_no_one_out(organizer_client):
    # No counter is shared between accounts: behind a proxy, every client would share it.
    token = csrf_from(organizer_client.get("/admin/login").text)
    codes = {organizer_client.post("/admin/login", data={
        "csrf": token, "username": f"user{i}", "password": "nope nope nope"}).status_code
        for i in range(21)}
    assert codes == {401}
    res = organizer_client.post("/admin/login", data={
        "csrf": token, "username": "ana", "password": "correct horse battery staple"},
        follow_redirects=False)
    assert res.status_code == 303


def test_guesses_spread_over_workers_are_counted_together(tmp_path):
    """`serve --workers 2`: two processes on one database. Guesses at one account sent to
    each in turn count as one series, or N workers would give an attacker N times the
    guesses before the account is locked to strangers."""
    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        token = {id(c): csrf_from(c.get("/admin/login").text) for c in (first, second)}

        def attempt(c: TestClient, password: str) -> int:
            return c.post("/admin/login", data={"csrf": token[id(c)], "username": "ana",
                                                "password": password}).status_code

        limit = admin.LOGIN_FAILURES_PER_ACCOUNT
        codes = [attempt((first, second)[n % 2], "wrong wrong wrong") for n in range(limit)]
        assert codes == [401] * limit
        assert attempt(first, "correct horse battery staple") == 429
        assert attempt(second, "correct horse battery staple") == 429
    conn = dbtools.connect(settings.db_path)
    try:  # what is kept says nothing of what was typed
        kept = [row[0] for row in conn.execute("SELECT account FROM sign_in_failures")]
    finally:
        conn.close()
    assert len(kept) == limit and not any("ana" in str(k).lower() for k in kept)


def test_login_without_stamp_is_refused(organizer_client):
    res = organizer_client.post("/admin/login", data={"username": "ana",
                                                      "password": "correct horse battery staple"})
    assert res.status_code == 403


def test_idle_session_expires(tmp_path):
    settings = make_settings(tmp_path, session_idle_seconds=1)
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        sign_in(c, "ana")
        assert c.get("/admin/", follow_redirects=False).status_code == 200
        time.sleep(2.1)
        assert c.get("/admin/", follow_redirects=False).status_code == 303


def use_session(client, value: str) -> None:
    client.cookies.clear()
    client.cookies.set("vigil_organizer", value, domain="testserver.local", path="/admin")


def test_password_change_ends_other_sessions(organizer_client):
    c = organizer_client
    sign_in(c, "ana")
    first = c.cookies.get("vigil_organizer")
    c.cookies.clear()
    sign_in(c, "ana")
    second = c.cookies.get("vigil_organizer")
    use_session(c, first)
    assert c.get("/admin/", follow_redirects=False).status_code == 200  # both sessions live
    use_session(c, second)
    csrf = csrf_from(c.get("/admin/password").text)
    res = c.post("/admin/password", data={
        "csrf": csrf, "current": "correct horse battery staple",
        "new": "a brand new passphrase", "confirm": "a brand new passphrase"},
        follow_redirects=False)
    assert res.status_code == 303
    assert c.get("/admin/", follow_redirects=False).status_code == 200
    use_session(c, first)
    assert c.get("/admin/", follow_redirects=False).status_code == 303


def test_password_form_errors_sit_next_to_fields(organizer_client):
    csrf = sign_in(organizer_client, "ana")
    res = organizer_client.post("/admin/password", data={
        "csrf": csrf, "current": "nope", "new": "short", "confirm": "other"})
    assert res.status_code == 400
    assert 'id="e-current"' in res.text and 'id="e-new"' in res.text
    assert 'id="e-confirm"' in res.text


def test_audit_log_records_sign_in_and_is_read_only(organizer_client):
    sign_in(organizer_client, "ana")
    html = organizer_client.get("/admin/audit").text
    assert "sign-in" in html and "ana" in html
    assert "<form" not in html.split("<main")[1].split("</main>")[0]
