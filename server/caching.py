"""Whole responses kept and answered again: bodies prepared once (ETag, gzip), rendered
pages kept per data revision, and whole public answers kept by URL before routing.

Below the views and the edge middleware, which both use it; it knows nothing of either.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import Scope

# Pages hold time-derived state (ended vigils, "next occurrence"), so a cached render
# lives only this long even when the data does not change.
RENDER_TTL = 60.0
GZIP_MIN = 500


def etag_for(body: bytes) -> str:
    return 'W/"' + hashlib.blake2b(body, digest_size=10).hexdigest() + '"'


@dataclass(frozen=True)
class Prepared:
    """A body ready to send: its ETag and, when worth it, its gzip form, computed once."""

    body: bytes
    etag: str
    gz: bytes | None

    @classmethod
    def of(cls, body: bytes) -> Prepared:
        gz = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_MIN else None
        return cls(body, etag_for(body), gz if gz is not None and len(gz) < len(body) else None)


def _etag_listed(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {t.strip() for t in header.split(",")}
    return etag in tags or "*" in tags or etag.removeprefix("W/") in tags


class ReadyResponse(Response):
    """A response whose status, headers and body are already bytes, sent as they are."""

    def __init__(self, body: bytes, status_code: int, raw_headers: list[tuple[bytes, bytes]]):
        self.body = body
        self.status_code = status_code
        self.raw_headers = raw_headers
        self.background = None


def ready(
    prepared: Prepared, media_type: str, cache_control: str, status: int,
    headers: tuple[tuple[bytes, bytes], ...], request_headers: list[tuple[bytes, bytes]],
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) for a request: 304 to a matching If-None-Match, gzip when the
    client accepts it and the body is worth compressing."""
    if_none_match = accept_encoding = b""
    for name, value in request_headers:  # one pass for both
        if name == b"if-none-match":
            if_none_match = value
        elif name == b"accept-encoding":
            accept_encoding = value
    raw = [(b"etag", prepared.etag.encode()), (b"cache-control", cache_control.encode()),
           (b"vary", b"Accept-Encoding"), *headers]
    if status == 200 and _etag_listed(if_none_match.decode("latin-1"), prepared.etag):
        return 304, raw, b""
    content = prepared.body
    if prepared.gz is not None and b"gzip" in accept_encoding:
        content = prepared.gz
        raw.append((b"content-encoding", b"gzip"))
    if media_type.startswith("text/") and "charset" not in media_type:
        media_type += "; charset=utf-8"
    raw.append((b"content-type", media_type.encode("latin-1")))
    raw.append((b"content-length", str(len(content)).encode()))
    return status, raw, content


@dataclass(frozen=True)
class Answer:
    """A public response as a view gave it, to give again from memory (see Answers)."""

    prepared: Prepared
    media_type: str
    cache_control: str
    headers: tuple[tuple[bytes, bytes], ...]

    def to(self, request_headers: list[tuple[bytes, bytes]]) -> tuple[
            int, list[tuple[bytes, bytes]], bytes]:
        return ready(self.prepared, self.media_type, self.cache_control, 200, self.headers,
                     request_headers)


ANSWER = "vigil.answer"  # where a view leaves its Answer in the request's scope


def _only(query: bytes, names: tuple[str, ...]) -> bool:
    """Whether a query string holds only parameters from `names`."""
    if not query:
        return True
    return bool(names) and all(name in names for name, _ in parse_qsl(query.decode("latin-1"),
                                                                         keep_blank_values=True))


class Answers:
    """Whole public responses kept by URL, so the requests that make most of the traffic
    (the same pages and API answers, over and over) are answered before routing: no Request
    object, no route matching, no view.

    An answer is kept with the topics' hashes in force when its request came in
    (Fingerprints.topics gives a new mapping whenever any of them may have changed: an edit
    in any process, the clock), and given again only while that mapping is the current one
    and for at most RENDER_TTL seconds. Only what a view marks as reusable is kept, and only
    for requests without cookies or credentials; answers with a query string have a region
    of their own, so random query strings cannot push the pages out.
    """

    def __init__(self, stamp: Callable[[], Awaitable[object]], max_entries: int = 512,
                 max_queries: int = 128):
        self._stamp = stamp
        self._regions: tuple[OrderedDict[tuple, tuple[object, float, Answer]], ...] = (
            OrderedDict(), OrderedDict())
        self._limits = (max_entries, max_queries)

    @staticmethod
    def key(scope: Scope) -> tuple[str, bytes] | None:
        """What an answer is kept under, or None for a request that must reach its view."""
        if scope["method"] != "GET":
            return None
        for name, _ in scope["headers"]:
            if name in (b"cookie", b"authorization"):
                return None
        return scope["path"], scope["query_string"]

    async def stamp(self) -> object:
        return await self._stamp()

    def get(self, key: tuple[str, bytes], stamp: object) -> Answer | None:
        entries = self._regions[bool(key[1])]
        entry = entries.get(key)
        if entry is None:
            return None
        if entry[0] is not stamp or time.monotonic() - entry[1] >= RENDER_TTL:
            del entries[key]
            return None
        entries.move_to_end(key)
        return entry[2]

    def put(self, key: tuple[str, bytes], stamp: object, answer: Answer) -> None:
        region = bool(key[1])
        entries = self._regions[region]
        entries[key] = (stamp, time.monotonic(), answer)
        entries.move_to_end(key)
        while len(entries) > self._limits[region]:
            entries.popitem(last=False)

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._regions)


class RenderCache:
    """Prepared bodies keyed by (key, version of what they are made of), each kept for
    RENDER_TTL seconds.

    Entries live in regions, each with its own size and least-recently-used eviction, so
    what visitors can vary at will (the words of a search) competes only with itself and
    can never push the pages out.
    """

    def __init__(self, max_entries: int = 512, max_searches: int = 128):
        self._regions: dict[str, OrderedDict[Any, tuple[int, float, Prepared]]] = {
            "pages": OrderedDict(), "searches": OrderedDict()}
        self._limits = {"pages": max_entries, "searches": max_searches}
        self._building: dict[Any, asyncio.Future[Prepared]] = {}

    async def get_or_build(
        self, key: Any, revision: Any, build: Callable[[], Awaitable[bytes]],
        region: str = "pages",
    ) -> Prepared:
        """The cached body, or one build of it however many requests ask at once: after a
        change, the first request renders and the others wait for it."""
        prepared = self.get(key, revision, region)
        if prepared is not None:
            return prepared
        pending = self._building.get((key, revision))
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Prepared] = asyncio.get_running_loop().create_future()
        self._building[(key, revision)] = future
        try:
            prepared = self.put(key, revision, await build(), region)
            future.set_result(prepared)
            return prepared
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._building[(key, revision)]

    def get(self, key: Any, revision: Any, region: str = "pages") -> Prepared | None:
        entries = self._regions[region]
        entry = entries.get(key)
        if entry and entry[0] == revision and time.monotonic() - entry[1] < RENDER_TTL:
            entries.move_to_end(key)
            return entry[2]
        return None

    def put(self, key: Any, revision: Any, body: bytes, region: str = "pages") -> Prepared:
        entries = self._regions[region]
        prepared = Prepared.of(body)
        entries[key] = (revision, time.monotonic(), prepared)
        entries.move_to_end(key)
        while len(entries) > self._limits[region]:
            entries.popitem(last=False)
        return prepared

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._regions.values())

    def clear(self) -> None:
        for entries in self._regions.values():
            entries.clear()
