"""Calendars and the Atom feed, each built once per state of the listings and alerts, like
the pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from server import content, feeds
from server.i18n import DEFAULT
from server.push.messages import alert_text
from server.views.base import cached_response, db_of, not_found, services

FEED_CACHE = "public, max-age=300"
CALENDAR_TYPE = "text/calendar; charset=utf-8"


async def _cached(request: Request, key: tuple, build: Callable[[], Awaitable[bytes]],
                  media_type: str, headers: dict[str, str] | None = None) -> Response:
    svc = services(request)
    made_of = await svc.fingerprints.of(svc.db, ("listings", "alerts"))
    prepared = await svc.render_cache.get_or_build(key, made_of, build)
    return cached_response(request, prepared, media_type, FEED_CACHE, headers=headers,
                           reuse=())


async def calendar_all(request: Request) -> Response:
    async def build() -> bytes:
        listings = await services(request).fingerprints.listings(db_of(request))
        return feeds.calendar(listings, services(request).settings.base_url, "Vigil")

    return await _cached(request, ("feed", "calendar"), build, CALENDAR_TYPE)


async def calendar_one(request: Request) -> Response:
    slug = request.path_params["slug"]

    async def build() -> bytes:
        listing = await content.listing(db_of(request), slug)
        if listing is None or not (listing["starts"] or listing["schedule"]):
            raise not_found()
        return feeds.calendar([listing], services(request).settings.base_url, listing["title"])

    # The slug was found (or the build would have raised): it is a listing's own slug.
    return await _cached(
        request, ("feed", "calendar", slug), build, CALENDAR_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{slug}.ics"'},
    )


async def atom(request: Request) -> Response:
    async def build() -> bytes:
        db = db_of(request)
        listings = await services(request).fingerprints.listings(db)
        alerts = [_in_english(dict(r)) for r in await db.execute(
            "SELECT * FROM alerts WHERE status IN ('sent', 'retracted') ORDER BY id"
        )]
        return feeds.atom_feed(listings, alerts, services(request).settings.base_url)

    return await _cached(request, ("feed", "atom"), build, "application/atom+xml; charset=utf-8")


def _in_english(alert: dict) -> dict:
    """An alert of a kind with its phrase as its title, the feed being in English; its time
    is told as of when the alert went out, as the entry is dated."""
    if not alert.get("kind"):
        return alert
    sent = datetime.fromisoformat(alert.get("sent") or alert["created"])
    title, body, _ = alert_text(alert, DEFAULT, sent if sent.tzinfo else sent.replace(tzinfo=UTC))
    return {**alert, "title": title, "body": body}
