"""Plain ASGI middleware: language prefix, security headers, body limits, access log."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth import SESSION_COOKIE

access_log = logging.getLogger("vigil.access")

# default-src covers scripts, styles, fonts, connections, the manifest and workers; only
# what differs from it is spelled out, since these headers go with every response.
CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), payment=(), geolocation=(self)"),
]
# Paths that exist only once, in no language; /es/<these> is a 404.
UNPREFIXED = ("/api/", "/admin", "/static/", "/sw.js", "/healthz", "/feed.atom", "/calendar.ics",
              "/offline-manifest.json")


class LanguagePrefix:
    """Serve /es/... with the English routes, marking the request as Spanish.

    The URL alone decides the language: no cookie, no Accept-Language guessing.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            lang = "en"
            if path == "/es" or path.startswith("/es/"):
                rest = path[3:] or "/"
                if not rest.startswith(UNPREFIXED) and not rest.startswith("/es/"):
                    lang = "es"
                    scope = dict(scope, path=rest, raw_path=rest.encode())
            scope.setdefault("state", {})
            scope["state"]["lang"] = lang
        await self.app(scope, receive, send)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, https: bool = False):
        self.app = app
        extra = [(b"strict-transport-security", b"max-age=63072000")] if https else []
        self.headers = SECURITY_HEADERS + extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # No view sets these, so they are appended without looking first.
                message["headers"] = [*message.get("headers", ()), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse request bodies over the limit with 413, by Content-Length or as they stream."""

    def __init__(self, app: ASGIApp, max_bytes: int = 64 * 1024):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body = False
        for name, value in scope["headers"]:
            if name == b"transfer-encoding":
                has_body = True
            elif name == b"content-length":
                has_body = True
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await _too_large(send)
                    return
        if not has_body:  # nothing to count (the common GET)
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(send)


class BodyTooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    body = b'{"error": "request body too large"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AccessLog:
    """Method, path, status and time only: never the client address, query or user agent."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    '"%s %s" %d %.1fms',
                    scope["method"],
                    scope.get("root_path", "") + scope["path"],
                    status,
                    (time.perf_counter() - start) * 1000,
                )


ADMIN_PREFIX = "/admin"
ADMIN_OPEN = ("/admin/login",)  # reachable without a session (still CSRF-stamped on POST)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope["headers"]:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


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
    """Every /admin request needs a signed-in organizer; every state-changing one a CSRF token.

    Checked here, for the whole prefix, rather than per view, so a new organizer route cannot
    forget it. The request body is read (it is small: BodyLimit caps it) to find the token,
    then handed on unchanged.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == ADMIN_PREFIX or path.startswith("/admin/")):
            await self.app(scope, receive, send)
            return
        svc = scope["app"].state.vigil
        signer = svc.extras["sessions"]
        method = scope["method"]
        is_open = path in ADMIN_OPEN
        session = None
        organizer = None
        raw = _cookie(scope, SESSION_COOKIE)
        if raw:
            session = signer.loads(raw)
            if session is not None:
                organizer = await svc.db.first(
                    "SELECT id, name, session_epoch FROM organizers WHERE id = ?",
                    (session.organizer_id,),
                )
                if organizer is None or organizer["session_epoch"] != session.epoch:
                    session = organizer = None
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
            token = _header(scope, b"x-csrf-token") or _form_field(scope, body, "csrf")
            valid = (
                svc.extras["login_stamp"].age(token, 3600) is not None
                if is_open
                else signer.csrf_ok(session, token)
            )
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
        secure = svc.settings.https

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["cache-control"] = "no-store"
                current = scope["state"].get("session")
                if current is not None and "set-cookie" not in headers:
                    headers.append("set-cookie", signer.cookie_header(current, secure))
            await send(message)

        await self.app(scope, receive, send_private)


def _form_field(scope: Scope, body: bytes, name: str) -> str | None:
    content_type = _header(scope, b"content-type") or ""
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return None
    values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(name)
    return values[0] if values else None
