"""The security headers on every response: a strict set on what a browser may run, a short
one on data."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class SecurityHeaders:
    """Which headers a response gets: SECURITY_HEADERS if a browser may run it,
    DATA_SECURITY_HEADERS otherwise, each with Strict-Transport-Security over HTTPS."""

    def __init__(self, https: bool = False):
        extra = [(b"strict-transport-security", b"max-age=63072000")] if https else []
        self.document_headers = SECURITY_HEADERS + extra
        self.data_headers = DATA_SECURITY_HEADERS + extra

    def __call__(self, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The response's headers with the security headers appended (no view sets them,
        so they are appended without looking first)."""
        headers = list(headers)
        for name, value in headers:
            if name == b"content-type":
                return headers + (self.document_headers if value.startswith(DOCUMENT_TYPES)
                                  else self.data_headers)
        return headers + self.document_headers


class SecurityHeadersMiddleware:
    """Gives every response the headers `policy` (SecurityHeaders) says."""

    def __init__(self, app: ASGIApp, policy: SecurityHeaders | None = None):
        self.app = app
        self.policy = policy or SecurityHeaders()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self.policy(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_with_headers)
