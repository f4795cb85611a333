"""Calendars and the Atom feed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server import content, feeds
from server.views.base import cached_response, db_of, not_found, services

FEED_CACHE = "public, max-age=300"


async def calendar_all(request: Request) -> Response:
    listings = await content.listings(db_of(request))
    body = feeds.calendar(listings, services(request).settings.base_url, "Vigil")
    return cached_response(request, body, "text/calendar; charset=utf-8", FEED_CACHE)


async def calendar_one(request: Request) -> Response:
    listing = await content.listing(db_of(request), request.path_params["slug"])
    if listing is None or not (listing["starts"] or listing["schedule"]):
        raise not_found()
    body = feeds.calendar([listing], services(request).settings.base_url, listing["title"])
    return cached_response(
        request, body, "text/calendar; charset=utf-8", FEED_CACHE,
        headers={"Content-Disposition": f'attachment; filename="{listing["slug"]}.ics"'},
    )


async def atom(request: Request) -> Response:
    db = db_of(request)
    listings = await content.listings(db)
    alerts = [dict(r) for r in await db.execute(
        "SELECT * FROM alerts WHERE status IN ('sent', 'retracted') ORDER BY id"
    )]
    body = feeds.atom_feed(listings, alerts, services(request).settings.base_url)
    return cached_response(request, body, "application/atom+xml; charset=utf-8", FEED_CACHE)
