"""The read-only JSON API: collections named after themselves, ETags everywhere."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from server import content
from server.i18n import LANGUAGES
from server.views.base import cached_json, db_of, services


def _with_url(request: Request, rec: dict) -> dict:
    base = services(request).settings.base_url
    return {**rec, "url": f"{base}/listings/{rec['slug']}"}


async def listings(request: Request) -> Response:
    async def build() -> dict:
        recs = await services(request).fingerprints.listings(db_of(request))
        return {"listings": [_with_url(request, r) for r in recs]}

    return await cached_json(request, build, deps=("listings",))


async def listing(request: Request) -> Response:
    async def build() -> dict:
        rec = await content.listing(db_of(request), request.path_params["slug"])
        if rec is None:
            raise HTTPException(404, "no listing with that slug")
        return {"listing": _with_url(request, rec)}

    return await cached_json(request, build, deps=(f"listing:{request.path_params['slug']}",))


async def facilities(request: Request) -> Response:
    async def build() -> dict:
        return {"facilities": await content.facilities(db_of(request))}

    return await cached_json(request, build, deps=("facilities",))


async def contacts(request: Request) -> Response:
    async def build() -> dict:
        return {"contacts": await content.contacts(db_of(request))}

    return await cached_json(request, build, deps=("contacts",))


async def rights(request: Request) -> Response:
    lang = request.query_params.get("lang", "en")
    if lang not in LANGUAGES:
        raise HTTPException(400, f"lang must be one of {', '.join(LANGUAGES)}")

    async def build() -> dict:
        return {"rights": await content.rights(db_of(request), lang)}

    return await cached_json(request, build, reads=("lang",), deps=("rights",))


async def resources(request: Request) -> Response:
    async def build() -> dict:
        res = await content.resources(db_of(request))
        items = [{**a, "type": "article"} for a in res["articles"]]
        items += [{**o, "type": "organization"} for o in res["organizations"]]
        return {"resources": items}

    return await cached_json(request, build, deps=("resources",))


# How long /healthz waits for the database: a proxy or orchestrator asking should hear
# "unavailable" while the database is away, not wait out a connection timeout.
HEALTH_TIMEOUT = 3.0


async def healthz(request: Request) -> Response:
    try:
        await asyncio.wait_for(db_of(request).scalar("SELECT 1"), HEALTH_TIMEOUT)
    except Exception:
        return PlainTextResponse("database unavailable", status_code=503,
                                 headers={"Cache-Control": "no-store"})
    return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})


def api_error(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
