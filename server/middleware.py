"""Plain ASGI middleware: one edge layer for every request."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
# Responses no browser runs as a page or a worker (JSON, feeds, calendars, styles, PNGs,
# plain-text refusals) need only these: the referrer, opener and permissions policies
# apply to documents alone, and a data response opened directly may run nothing at all.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"
DATA_SECURITY_HEADERS = [
    (b"content-security-policy", DATA_CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
]
# What a browser may run as a document or a worker: these get SECURITY_HEADERS, as does a
# response that names no type.
DOCUMENT_TYPES = (b"text/html", b"text/javascript", b"application/javascript",
                  b"image/svg+xml", b"application/xhtml")
# Paths that exist only once, in no language; /es/<these> is a 404.
UNPREFIXED = ("/api/", "/admin", "/static/", "/sw.js", "/healthz", "/feed.atom", "/calendar.ics",
              "/offline-manifest.json")


class AccessLog:
    """The access log: method, path, status and time only, never the client address, query
    or user agent.

    Lines are kept in memory and written together, as nginx's buffered access log does
    (`access_log ... buffer= flush=`): when `max_lines` have gathered, and by `run()` at
    least every `flush_every` seconds, rather than a log record and a write per request.
    The line format is the one the rest of the log uses; setting the `vigil.access` logger
    above INFO turns the access log off.
    """

    def __init__(self, stream: TextIO | None = None, max_lines: int = 256,
                 flush_every: float = 1.0):
        self.stream = stream
        self.lines: list[str] = []
        self.max_lines = max_lines
        self.flush_every = flush_every

    def add(self, method: str, path: str, status: int, seconds: float) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        self.lines.append(f'INFO vigil.access: "{method} {path}" {status} {seconds * 1000:.1f}ms\n')
        if len(self.lines) >= self.max_lines:
            self.flush()

    def flush(self) -> None:
        """Write what has gathered. A log that cannot be written (a closed pipe, a full
        disk) loses those lines, as logging's own handlers do, and never fails a request."""
        if not self.lines:
            return
        lines, self.lines = self.lines, []
        stream = self.stream or sys.stderr
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):
            pass

    async def run(self) -> None:
        """Flush every `flush_every` seconds until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self.flush_every)
                self.flush()
        finally:
            self.flush()


def language_of(scope: Scope) -> Scope:
    """/es/... is served by the English routes, marked as Spanish.

    The URL alone decides the language: no cookie, no Accept-Language guessing.
    """
    path = scope["path"]
    lang = "en"
    if path == "/es" or path.startswith("/es/"):
        rest = path[3:] or "/"
        if not rest.startswith(UNPREFIXED) and not rest.startswith("/es/"):
            lang = "es"
            scope = dict(scope, path=rest, raw_path=rest.encode())
    scope.setdefault("state", {})
    scope["state"]["lang"] = lang
    return scope


class Edge:
    """What every request passes through, in one layer rather than a stack of them:

    - the access log (AccessLog);
    - the security headers on every response: SECURITY_HEADERS on what a browser may run,
      DATA_SECURITY_HEADERS on the rest;
    - the body limit: bodies over it are refused with 413, by Content-Length before the
      app runs or as they stream;
    - the language prefix (language_of).
    """

    def __init__(self, app: ASGIApp, https: bool = False, max_body: int = 64 * 1024,
                 log: AccessLog | None = None):
        self.app = app
        extra = [(b"strict-transport-security", b"max-age=63072000")] if https else []
        self.document_headers = SECURITY_HEADERS + extra
        self.data_headers = DATA_SECURITY_HEADERS + extra
        self.max_body = max_body
        # Without a log from the app (whose lifespan runs its timer), write each line at once.
        self.log = log or AccessLog(max_lines=1)

    def security_headers(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        for name, value in headers:
            if name == b"content-type":
                return (self.document_headers if value.startswith(DOCUMENT_TYPES)
                        else self.data_headers)
        return self.document_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        # Read now: a Mount rewrites the scope's root_path as the request passes through.
        method, asked = scope["method"], scope.get("root_path", "") + scope["path"]

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                # No view sets these, so they are appended without looking first.
                message["headers"] = [*headers, *self.security_headers(headers)]
            await send(message)

        try:
            limited = self._limit(scope, receive)
            if limited is None:
                await _too_large(edge_send)
                return
            try:
                await self.app(language_of(scope), limited, edge_send)
            except BodyTooLarge:
                if not status:
                    await _too_large(edge_send)
        finally:
            self.log.add(method, asked,
                         status or 500, time.perf_counter() - start)

    def _limit(self, scope: Scope, receive: Receive) -> Receive | None:
        """The receive to hand on (counting the body when there is one), or None when the
        declared Content-Length is already over the limit."""
        has_body = False
        for name, value in scope["headers"]:
            if name == b"transfer-encoding":
                has_body = True
            elif name == b"content-length":
                has_body = True
                try:
                    if int(value) > self.max_body:
                        return None
                except ValueError:
                    return None
        if not has_body:  # nothing to count (the common GET)
            return receive
        received = 0
        max_body = self.max_body

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise BodyTooLarge
            return message

        return limited_receive


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
