"""A JSON refusal sent in place of the app's answer, closing its connection."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def refuse_and_close(send: Send, status: int, error: bytes) -> None:
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


async def refusing(app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                   refused: type[Exception], status: int, error: bytes) -> None:
    """Run the app; when it raises `refused` before its response has started, answer with
    refuse_and_close instead (after, the response is left as it stands)."""
    started = False

    async def noted_send(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, receive, noted_send)
    except refused:
        if not started:
            await refuse_and_close(send, status, error)
