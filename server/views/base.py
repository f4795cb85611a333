"""What every view shares: the app's services, cached responses with ETags, errors."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from server.caching import (  # noqa: F401 (views and tests take them from here too)
    ANSWER,
    Answer,
    Answers,
    Prepared,
    ReadyResponse,
    RenderCache,
    _only,
    etag_for,
    ready,
)
from server.database import Database
from server.fingerprints import ALL
from server.render import Renderer

if TYPE_CHECKING:
    from server.services import Services

HTML_CACHE = "no-cache"
JSON_CACHE = "public, max-age=60, must-revalidate"


def lang_of(request: Request) -> str:
    return request.scope.get("state", {}).get("lang", "en")


def services(request: Request) -> Services:
    return request.app.state.vigil


def db_of(request: Request) -> Database:
    return request.app.state.vigil.db


def cached_response(
    request: Request, body: bytes | Prepared, media_type: str, cache_control: str,
    status: int = 200, headers: dict[str, str] | None = None,
    reuse: tuple[str, ...] | None = None,
) -> Response:
    """A response with an ETag that answers 304 to a matching If-None-Match, gzipped when
    the client accepts it (compressed once per body when the body comes prepared).

    `reuse` is for what the same URL answers to anyone until the public records change
    (the caller keeps it by server/fingerprints.py): the query parameters the view reads.
    A request whose query holds nothing else can then be answered by Answers, before
    routing."""
    prepared = body if isinstance(body, Prepared) else Prepared.of(body)
    extra = tuple((name.lower().encode("latin-1"), value.encode("latin-1"))
                  for name, value in (headers or {}).items())
    if reuse is not None and status == 200 and _only(request.scope["query_string"], reuse):
        request.scope[ANSWER] = Answer(prepared, media_type, cache_control, extra)
    status, raw, content = ready(prepared, media_type, cache_control, status, extra,
                                 request.scope["headers"])
    return ReadyResponse(content, status, raw)


def query_key(request: Request, reads: tuple[str, ...]) -> tuple[str, ...]:
    """The query parameters a view reads, as part of its cache key; the rest of the query
    string (utm_source, random cache-busters) changes nothing on the page, so it is left
    out and the request is answered from the cache."""
    if not reads or not request.scope["query_string"]:
        return ()
    params = request.query_params
    return tuple(params.get(name, "") for name in reads)


async def render_page(
    request: Request, template: str, status: int = 200, **context: Any
) -> Response:
    lang = lang_of(request)
    renderer: Renderer = services(request).renderer
    html = renderer.render(template, lang, request.url.path, request=request, **context)
    return cached_response(request, html.encode(), "text/html; charset=utf-8", HTML_CACHE, status)


def json_body(data: Any) -> bytes:
    """Compact JSON; <, > and & escaped so no consumer can mistake it for markup."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


async def cached_json(
    request: Request, build: Callable[[], Awaitable[Any]], cache_control: str = JSON_CACHE,
    reads: tuple[str, ...] = (), deps: tuple[str, ...] = (ALL,),
) -> Response:
    """JSON built once per path, query parameters the view `reads` and the state of the
    topics in `deps` (server/fingerprints.py), then served from memory."""
    svc = services(request)
    key = ("json", request.scope["path"], query_key(request, reads))

    async def body() -> bytes:
        return json_body(await build())

    made_of = await svc.fingerprints.of(svc.db, deps)
    prepared = await svc.render_cache.get_or_build(key, made_of, body)
    return cached_response(request, prepared, "application/json", cache_control, reuse=reads)


def not_found() -> HTTPException:
    return HTTPException(status_code=404)


PageFn = Callable[[Request], Awaitable[tuple[str, dict]]]
Endpoint = Callable[[Request], Awaitable[Response]]


Deps = Callable[[dict[str, Any]], tuple[str, ...]]


def page(fn: PageFn | None = None, *, key: Callable[[Request], Any] | None = None,
         region: str = "pages", deps: Deps | tuple[str, ...] = (ALL,)) -> Any:
    """Wrap a view returning (template, context): render once per path, `key(request)` (the
    part of the query string the view reads, none unless given) and state of what the page
    is made of: `deps`, the topics it reads (server/fingerprints.py), fixed or from the
    path's parameters. The offline manifest reads the same `deps` off the endpoint."""
    topics: Deps = deps if callable(deps) else (lambda params: deps)  # type: ignore[assignment]

    def wrap(fn: PageFn) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            svc = services(request)
            lang = lang_of(request)
            path = request.scope["path"]
            cache_key = (lang, path, key(request) if key and request.scope["query_string"]
                         else ())

            async def build() -> bytes:
                template, context = await fn(request)
                html = svc.renderer.render(template, lang, path, request=request, **context)
                return html.encode()

            made_of = await svc.fingerprints.of(svc.db, topics(request.path_params))
            prepared = await svc.render_cache.get_or_build(cache_key, made_of, build, region)
            # A search is the visitor's own words: it is not kept whole (Answers) as well.
            return cached_response(request, prepared, "text/html; charset=utf-8", HTML_CACHE,
                                   reuse=() if region != "searches" else None)

        endpoint.__name__ = fn.__name__
        endpoint.__doc__ = fn.__doc__
        endpoint.deps = topics  # type: ignore[attr-defined]
        return endpoint

    return wrap(fn) if fn is not None else wrap


# What search reads, on the server and in the offline index.
