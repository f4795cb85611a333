"""Public answers kept whole (server.caching.Answers), given before routing."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.caching import ANSWER, Answers


class KeptAnswersMiddleware:
    """Answers a request from `answers` when an answer to it is kept and still current;
    otherwise passes it on, and keeps what the view left in the scope under ANSWER when the
    response is a 200.

    It stands outside the layers that finish a response, so that the requests most traffic
    is made of pass through as few layers as they can; `finish` gives a kept answer's
    headers what those layers give every response (the security headers)."""

    def __init__(self, app: ASGIApp, answers: Answers,
                 finish: Callable[[list[tuple[bytes, bytes]]], list[tuple[bytes, bytes]]]
                 = list):
        self.app = app
        self.answers = answers
        self.finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kept = self.answers.key(scope) if scope["type"] == "http" else None
        if kept is not None:
            try:
                stamp = await self.answers.stamp()
            except Exception:  # noqa: BLE001 - the view answers, and says what is wrong
                kept = None
        if kept is None:
            await self.app(scope, receive, send)
            return
        answer = self.answers.get(kept, stamp)
        if answer is not None:
            status, headers, body = answer.to(scope["headers"])
            await send({"type": "http.response.start", "status": status,
                        "headers": self.finish(headers)})
            await send({"type": "http.response.body", "body": body})
            return
        status = 0

        async def noted_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, noted_send)
        # The scope is the one the view saw: the layers within rewrite it in place.
        if status == 200 and ANSWER in scope:
            self.answers.put(kept, stamp, scope[ANSWER])
