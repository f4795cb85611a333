"""What every view shares: the app's services, cached responses with ETags, errors."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from server.database import Database
from server.render import Renderer

HTML_CACHE = "no-cache"
JSON_CACHE = "public, max-age=60, must-revalidate"
# Pages hold time-derived state (ended vigils, "next occurrence"), so a cached render
# lives only this long even when the data does not change.
RENDER_TTL = 60.0


def lang_of(request: Request) -> str:
    return request.scope.get("state", {}).get("lang", "en")


def services(request: Request) -> Any:
    return request.app.state.vigil


def db_of(request: Request) -> Database:
    return request.app.state.vigil.db


def etag_for(body: bytes) -> str:
    return 'W/"' + hashlib.blake2b(body, digest_size=10).hexdigest() + '"'


def not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {t.strip() for t in header.split(",")}
    return etag in tags or "*" in tags or etag.removeprefix("W/") in tags


def cached_response(
    request: Request, body: bytes, media_type: str, cache_control: str, status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A response with an ETag that answers 304 to a matching If-None-Match."""
    etag = etag_for(body)
    all_headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    all_headers.update(headers or {})
    if status == 200 and not_modified(request, etag):
        return Response(status_code=304, headers=all_headers)
    return Response(body, status_code=status, media_type=media_type, headers=all_headers)


class RenderCache:
    """Rendered bodies keyed by (key, data revision), each kept for RENDER_TTL seconds."""

    def __init__(self, max_entries: int = 512):
        self._entries: dict[Any, tuple[int, float, bytes]] = {}
        self.max_entries = max_entries

    def get(self, key: Any, revision: int) -> bytes | None:
        entry = self._entries.get(key)
        if entry and entry[0] == revision and time.monotonic() - entry[1] < RENDER_TTL:
            return entry[2]
        return None

    def put(self, key: Any, revision: int, body: bytes) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (revision, time.monotonic(), body)

    def clear(self) -> None:
        self._entries.clear()


async def render_page(
    request: Request, template: str, status: int = 200, **context: Any
) -> Response:
    lang = lang_of(request)
    renderer: Renderer = services(request).renderer
    html = renderer.render(template, lang, request.url.path, request=request, **context)
    return cached_response(request, html.encode(), "text/html; charset=utf-8", HTML_CACHE, status)


def json_body(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def json_response(request: Request, data: Any, cache_control: str = JSON_CACHE) -> Response:
    return cached_response(request, json_body(data), "application/json", cache_control)


def not_found() -> HTTPException:
    return HTTPException(status_code=404)
