"""The client behind a trusted reverse proxy, as the request's client."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from server.auth import ForwardedClients, Network


class ForwardedClientMiddleware:
    """Behind a trusted proxy, the client it names in X-Forwarded-For (as a salted hash,
    see ForwardedClients) becomes the scope's client, so rate limits tell clients apart.
    With no trusted proxies, requests pass as they came."""

    def __init__(self, app: ASGIApp, trusted_proxies: tuple[Network, ...] = ()):
        self.app = app
        self.forwarded = ForwardedClients(trusted_proxies) if trusted_proxies else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.forwarded is not None and scope.get("client"):
            forwarded_for = [v for n, v in scope["headers"] if n == b"x-forwarded-for"]
            scope["client"] = (self.forwarded.client_of(scope["client"][0], forwarded_for), 0)
        await self.app(scope, receive, send)
