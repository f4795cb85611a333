"""The guard in front of everything under /admin: a signed-in organizer, and a CSRF token on
every state-changing request.

It is the /admin mount's middleware, rather than a check in each view, so a new organizer
route cannot forget it. The request body is read (it is small: the edge caps it) to find
the token, then handed on unchanged.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth import LOGIN_COOKIE, SESSION_COOKIE, notice_signature

ADMIN_PREFIX = "/admin"
ADMIN_OPEN = ("/admin/login",)  # reachable without a session (still CSRF-stamped on POST)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOGIN_FORM_AGE = 3600


async def _plain(send: Send, status: int, text: str, headers: list | None = None) -> None:
    body = text.encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": body})


class AdminGuard:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        svc = scope["app"].state.vigil
        store = svc.sessions
        conn = HTTPConnection(scope)
        method = scope["method"]
        is_open = scope["path"] in ADMIN_OPEN
        session = await store.find(conn.cookies.get(SESSION_COOKIE))
        organizer = None
        if session is not None:
            organizer = await svc.db.first("SELECT id, name FROM organizers WHERE id = ?",
                                           (session.organizer_id,))
            if organizer is None:
                session = None
        if organizer is None and not is_open:
            if method in SAFE_METHODS:
                await send({"type": "http.response.start", "status": 303, "headers": [
                    (b"location", b"/admin/login"), (b"cache-control", b"no-store"),
                    (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
            else:
                await _plain(send, 403, "Sign in as an organizer first.")
            return
        if method not in SAFE_METHODS:
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            token = conn.headers.get("x-csrf-token") or await _form_field(conn, body, "csrf")
            if is_open:
                bound = conn.cookies.get(LOGIN_COOKIE, "")
                valid = bool(bound) and svc.login_stamp.age(
                    token, LOGIN_FORM_AGE, bound=bound) is not None
            else:
                valid = store.csrf_ok(session, token)
            if not valid:
                await _plain(send, 403, "The form expired or did not come from Vigil "
                             "(missing or invalid CSRF token). Reload the page and try again.")
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            receive = replay
        scope.setdefault("state", {})
        scope["state"]["organizer"] = dict(organizer) if organizer else None
        scope["state"]["session"] = session

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["cache-control"] = "no-store"
                location = headers.get("location")
                if location and "done=" in location:
                    headers["location"] = sign_notice(svc.settings.secret_key, location)
            await send(message)

        await self.app(scope, receive, send_private)


def sign_notice(secret: str, location: str) -> str:
    """A redirect's address with its notice signed: organizer pages show only notices
    this server wrote, never text put in a link by someone else."""
    parts = urlsplit(location)
    done = parse_qs(parts.query, keep_blank_values=True).get("done")
    if not done:
        return location
    path, _, fragment = location.partition("#")
    signed = f"{path}&ns={quote(notice_signature(secret, done[0]))}"
    return f"{signed}#{fragment}" if fragment else signed


async def _form_field(conn: HTTPConnection, body: bytes, name: str) -> str | None:
    content_type = conn.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(name)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):  # a form with a file (a CSV import)
        async def chunks():
            yield body

        try:
            form = await MultiPartParser(conn.headers, chunks(), max_files=1, max_fields=200,
                                         max_part_size=len(body)).parse()
        except MultiPartException:
            return None
        try:
            value = form.get(name)
            return value if isinstance(value, str) else None
        finally:
            await form.close()
    return None


def admin_mount(routes: list[BaseRoute]) -> Mount:
    """The /admin mount: the routes (written with their full /admin paths, as they are
    linked) re-rooted under it, behind AdminGuard. Routes outside /admin are refused."""
    inner = []
    for route in routes:
        assert isinstance(route, Route) and route.path.startswith(ADMIN_PREFIX + "/"), route
        inner.append(Route(route.path[len(ADMIN_PREFIX):], route.endpoint,
                           methods=list(route.methods or ()), name=route.name))
    return Mount(ADMIN_PREFIX, routes=inner, middleware=[Middleware(AdminGuard)])
