"""Plain ASGI middleware: one edge layer for every request."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from typing import TextIO

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth import ForwardedClients, Network
from server.caching import ANSWER, Answers
from server.i18n import DEFAULT, UNPREFIXED, split_lang

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
# Seconds a client has to send a whole request body, counted from the end of its head: long
# enough for 64 KB over a poor mobile link, short enough that clients sending a byte now and
# then cannot hold connections (and the app's tasks) for as long as they like.
BODY_TIMEOUT = 20.0
# What the access log shows for a request whose client hung up before its body was in
# (nginx's code for the same), so a flood of hang-ups is visible without a traceback each.
CLIENT_GONE = 499
# Anything that could end a log line, move the cursor or restyle a terminal (C0 and C1
# controls, line and paragraph separators); in the access log also the quote and backslash
# its line format relies on. Percent-encoded, as the client would have had to send them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNSAFE_IN_LOG = re.compile(r'[\x00-\x1f\x7f-\x9f"\\\u2028\u2029]')


def escape_controls(text: str) -> str:
    """The text with every control character percent-encoded: one line, no terminal codes."""
    if text.isprintable():
        return text
    return _CONTROL.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def log_safe(value: str) -> str:
    """A request value as it may appear in a log line: one line, no terminal controls."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return _UNSAFE_IN_LOG.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()),
                              value)


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
        self.lines.append(f'INFO vigil.access: "{log_safe(method)} {log_safe(path)}" {status} '
                          f'{seconds * 1000:.1f}ms\n')
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
    """/es/... (and /pt/..., /zh-Hans/...) is served by the English routes, marked with its
    language.

    The URL alone decides the language: no cookie, no Accept-Language guessing.
    """
    lang, rest = split_lang(scope["path"])
    if lang != DEFAULT and (rest.startswith(UNPREFIXED) or split_lang(rest)[0] != DEFAULT):
        lang = DEFAULT  # /es/admin, /es/pt/...: no such page
    elif lang != DEFAULT:
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
      app runs or as they stream; the few paths that take a file (large_bodies) have their
      own;
    - the body deadline: a body not complete BODY_TIMEOUT seconds after its head is refused
      with 408 and its connection closed; a client that hangs up mid-body ends the request
      with one access-log line (CLIENT_GONE), never a 500;
    - the client behind a trusted reverse proxy (ForwardedClients), for rate limits;
    - the language prefix (language_of);
    - public answers kept whole (server.views.base.Answers), given before routing.
    """

    def __init__(self, app: ASGIApp, https: bool = False, max_body: int = 64 * 1024,
                 log: AccessLog | None = None, body_timeout: float = BODY_TIMEOUT,
                 trusted_proxies: tuple[Network, ...] = (),
                 large_bodies: dict[str, int] | None = None, answers: Answers | None = None):
        self.app = app
        self.answers = answers
        extra = [(b"strict-transport-security", b"max-age=63072000")] if https else []
        self.document_headers = SECURITY_HEADERS + extra
        self.data_headers = DATA_SECURITY_HEADERS + extra
        self.max_body = max_body
        self.large_bodies = large_bodies or {}
        self.body_timeout = body_timeout
        self.forwarded = ForwardedClients(trusted_proxies) if trusted_proxies else None
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
        if self.forwarded is not None and scope.get("client"):
            # Behind a trusted proxy, the client it names (as a salted hash) is the client.
            forwarded_for = [v for n, v in scope["headers"] if n == b"x-forwarded-for"]
            scope["client"] = (self.forwarded.client_of(scope["client"][0], forwarded_for), 0)
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
            kept = self.answers.key(scope) if self.answers is not None else None
            if kept is not None:
                try:
                    stamp = await self.answers.stamp()
                except Exception:  # noqa: BLE001 - the view answers, and says what is wrong
                    kept = None
            if kept is not None:
                answer = self.answers.get(kept, stamp)
                if answer is not None:
                    status, headers, body = answer.to(scope["headers"])
                    await edge_send({"type": "http.response.start", "status": status,
                                     "headers": headers})
                    await edge_send({"type": "http.response.body", "body": body})
                    return
            limited = self._limit(scope, receive)
            if limited is None:
                await _too_large(edge_send)
                return
            try:
                inner = language_of(scope)
                await self.app(inner, limited, edge_send)
                if kept is not None and status == 200 and ANSWER in inner:
                    self.answers.put(kept, stamp, inner[ANSWER])
            except BodyTooLarge:
                if not status:
                    await _too_large(edge_send)
            except BodyTimeout:
                if not status:
                    await _refuse_and_close(edge_send, 408, b"request body too slow")
            except ClientDisconnect:
                status = status or CLIENT_GONE
        finally:
            self.log.add(method, asked,
                         status or 500, time.perf_counter() - start)

    def _limit(self, scope: Scope, receive: Receive) -> Receive | None:
        """The receive to hand on (counting the body when there is one), or None when the
        declared Content-Length is already over the limit."""
        has_body = False
        max_body = self.large_bodies.get(scope["path"], self.max_body)
        for name, value in scope["headers"]:
            if name == b"transfer-encoding":
                has_body = True
            elif name == b"content-length":
                has_body = True
                try:
                    if int(value) > max_body:
                        return None
                except ValueError:
                    return None
        if not has_body:  # nothing to count (the common GET)
            return receive
        received = 0
        complete = False
        deadline = asyncio.get_running_loop().time() + self.body_timeout

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # what follows the body (a disconnect) has no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise BodyTooLarge
                complete = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                raise ClientDisconnect
            return message

        return limited_receive


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


async def _too_large(send: Send) -> None:
    await _refuse_and_close(send, 413, b"request body too large")


async def _refuse_and_close(send: Send, status: int, error: bytes) -> None:
    """A JSON refusal, and the connection closed after it (the rest of the body, if any
    comes, is never read)."""
    body = b'{"error": "' + error + b'"}'
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
