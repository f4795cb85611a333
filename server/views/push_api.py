"""The Web Push API: the VAPID public key, subscribing and unsubscribing."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import push

# A PushSubscription with every topic is about 2.5 KB; this leaves room and no more.
MAX_BODY = 8 * 1024
NO_STORE = {"Cache-Control": "no-store"}


class _TooLarge(Exception):
    pass


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=NO_STORE)


async def _read_json(request: Request) -> Any:
    """The body as JSON, read no further than MAX_BODY; _TooLarge or ValueError."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _TooLarge
    if not body.strip():
        raise ValueError("the request body is empty; send JSON")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError("the request body is not valid JSON") from None


async def _body_or_error(request: Request) -> tuple[Any, Response | None]:
    try:
        return await _read_json(request), None
    except _TooLarge:
        return None, _error(f"request body is larger than {MAX_BODY} bytes", 413)
    except ValueError as exc:
        return None, _error(str(exc))
    except ClientDisconnect:
        return None, _error("the request body did not arrive")


async def public_key(request: Request) -> Response:
    key = request.app.state.vigil.extras.get("vapid_public_key")
    if not key:
        return _error("push notifications are not available", 503)
    return JSONResponse({"publicKey": key}, headers=NO_STORE)


async def subscribe(request: Request) -> Response:
    vigil = request.app.state.vigil
    body, problem = await _body_or_error(request)
    if problem is not None:
        return problem
    try:
        endpoint, p256dh, auth, topics = push.validate_subscription(
            body, tuple(vigil.settings.push_hosts)
        )
    except push.PushInputError as exc:
        return _error(str(exc))
    created = await push.save_subscription(vigil.db, endpoint, p256dh, auth, topics)
    return JSONResponse({"topics": topics}, status_code=201 if created else 200, headers=NO_STORE)


async def unsubscribe(request: Request) -> Response:
    body, problem = await _body_or_error(request)
    if problem is not None:
        return problem
    endpoint = body.get("endpoint") if isinstance(body, dict) else None
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > push.MAX_ENDPOINT:
        return _error('send {"endpoint": "<the subscription endpoint>"}')
    await push.delete_subscription(request.app.state.vigil.db, endpoint)
    return Response(status_code=204, headers=NO_STORE)


def push_routes() -> list[Route]:
    return [
        Route("/api/v1/push/key", public_key, methods=["GET"]),
        Route("/api/v1/push/subscriptions", subscribe, methods=["POST"]),
        Route("/api/v1/push/subscriptions", unsubscribe, methods=["DELETE"]),
    ]
