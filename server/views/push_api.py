"""The Web Push API: the VAPID public key, subscribing and unsubscribing."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import push
from server.views.base import services

NO_STORE = {"Cache-Control": "no-store"}


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=NO_STORE)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _cross_site(request: Request) -> Response | None:
    """The 403 for a request a browser sent from another site's page, else None.

    A browser names the page's origin on every POST and DELETE, and no page can leave it
    out or forge it; so a subscription from any other origin is some other site making its
    visitors' browsers subscribe. The site's own origin is VIGIL_BASE_URL's, or the one the
    request was addressed to. Clients that are not browsers send no Origin and are let in:
    refusing them would stop nobody.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return None
    own = {_origin_of(services(request).settings.base_url),
           _origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")}
    if origin.strip().lower() in own:
        return None
    return _error("subscriptions are accepted only from this site's own pages", 403)


def _not_json(request: Request) -> Response | None:
    """The 415 for a body that is not declared JSON, else None.

    A page on another site can send text/plain or a form without asking first; only
    application/json makes a browser ask (a CORS preflight), and Vigil says no.
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        return None
    return _error("send the subscription as JSON, with Content-Type: application/json", 415)


async def _body_or_error(request: Request) -> tuple[Any, Response | None]:
    """The body as JSON, or the 400 that says why not (the edge refuses oversized bodies)."""
    try:
        body = await request.body()
    except ClientDisconnect:
        return None, _error("the request body did not arrive")
    if not body.strip():
        return None, _error("the request body is empty; send JSON")
    try:
        return json.loads(body.decode("utf-8")), None
    except (ValueError, RecursionError):
        return None, _error("the request body is not valid JSON")


async def public_key(request: Request) -> Response:
    return JSONResponse({"publicKey": services(request).vapid_public_key}, headers=NO_STORE)


async def subscribe(request: Request) -> Response:
    vigil = services(request)
    refused = _cross_site(request) or _not_json(request)
    if refused is not None:
        return refused
    body, problem = await _body_or_error(request)
    if problem is not None:
        return problem
    try:
        sub = push.validate_subscription(body, tuple(vigil.settings.push_hosts))
    except push.PushInputError as exc:
        return _error(str(exc))
    # Each subscription costs a delivery attempt on every alert: one client gets a few new
    # ones an hour (a family's phones behind one address), counted across every process.
    limit = vigil.subscribe_limit
    client = limit.key_for_client(request.client.host if request.client else None)
    created = await push.save_subscription(vigil.db, sub.endpoint, sub.p256dh, sub.auth,
                                           sub.topics, sub.lang,
                                           admit=lambda conn: limit.take_in(conn, client))
    if created is None:
        wait = await limit.retry_after(client) or 60
        return JSONResponse({"error": "too many new subscriptions from this address: try "
                                      "again later"}, status_code=429,
                            headers={**NO_STORE, "Retry-After": str(wait)})
    return JSONResponse({"topics": sub.topics, "lang": sub.lang},
                        status_code=201 if created else 200, headers=NO_STORE)


async def unsubscribe(request: Request) -> Response:
    refused = _cross_site(request)
    if refused is not None:
        return refused
    body, problem = await _body_or_error(request)
    if problem is not None:
        return problem
    endpoint = body.get("endpoint") if isinstance(body, dict) else None
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > push.MAX_ENDPOINT:
        return _error('send {"endpoint": "<the subscription endpoint>"}')
    await push.delete_subscription(services(request).db, endpoint)
    return Response(status_code=204, headers=NO_STORE)


SUBSCRIPTIONS_PER_CLIENT = 20


def routes() -> list[Route]:
    """Relative to the API's mount point (/api/v1)."""
    return [
        Route("/push/key", public_key, methods=["GET"]),
        Route("/push/subscriptions", subscribe, methods=["POST"]),
        Route("/push/subscriptions", unsubscribe, methods=["DELETE"]),
    ]
