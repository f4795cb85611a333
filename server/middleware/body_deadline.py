"""The request body deadline: a body not in on time is refused with 408."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.middleware.refusal import refusing

# Seconds a client has to send a whole request body, counted from the end of its head: long
# enough for 64 KB over a poor mobile link, short enough that clients sending a byte now and
# then cannot hold connections (and the app's tasks) for as long as they like.
BODY_TIMEOUT = 20.0


class BodyTimeout(Exception):
    pass


class BodyDeadlineMiddleware:
    """Refuses a body not complete `body_timeout` seconds after its head with 408, if no
    response has started by then, and closes its connection. A client that hangs up
    mid-body raises ClientDisconnect to the app (the access log counts it), never a 500."""

    def __init__(self, app: ASGIApp, body_timeout: float = BODY_TIMEOUT):
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(
                name in (b"content-length", b"transfer-encoding")
                for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        complete = False
        deadline = asyncio.get_running_loop().time() + self.body_timeout

        async def timed_receive() -> Message:
            nonlocal complete
            if complete:  # what follows the body (a disconnect) has no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout from None
            if message["type"] == "http.request":
                complete = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                raise ClientDisconnect
            return message

        await refusing(self.app, scope, timed_receive, send, BodyTimeout, 408,
                       b"request body too slow")
