"""The request body limit: bodies over it are refused with 413."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.middleware.refusal import refuse_and_close, refusing

MAX_BODY = 64 * 1024
TOO_LARGE = b"request body too large"


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuses a body over `max_body` bytes with 413: by its Content-Length before the app
    runs, or as it streams, if no response has started by then. The few paths that take a
    file (`large_bodies`, path to bytes) have their own limit."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY,
                 large_bodies: dict[str, int] | None = None):
        self.app = app
        self.max_body = max_body
        self.large_bodies = large_bodies or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body = False
        max_body = self.large_bodies.get(scope["path"], self.max_body)
        for name, value in scope["headers"]:
            if name == b"transfer-encoding":
                has_body = True
            elif name == b"content-length":
                has_body = True
                try:
                    if int(value) > max_body:
                        await _too_large(send)
                        return
                except ValueError:
                    await _too_large(send)
                    return
        if not has_body:  # nothing to count (the common GET)
            await self.app(scope, receive, send)
            return
        received = 0
        complete = False

        async def counted_receive() -> Message:
            nonlocal received, complete
            message = await receive()
            if not complete and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise BodyTooLarge
                complete = not message.get("more_body", False)
            return message

        await refusing(self.app, scope, counted_receive, send, BodyTooLarge, 413, TOO_LARGE)


async def _too_large(send: Send) -> None:
    await refuse_and_close(send, 413, TOO_LARGE)
