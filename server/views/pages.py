"""Public pages, rendered on the server and complete without JavaScript."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from itertools import groupby

from starlette.requests import Request
from starlette.responses import Response

from server import content
from server.places import STATES, state_name
from server.views import alerts
from server.views.base import (
    HTML_CACHE,
    cached_response,
    db_of,
    lang_of,
    not_found,
    services,
)

PageFn = Callable[[Request], Awaitable[tuple[str, dict]]]


def page(fn: PageFn) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a view returning (template, context): render once per data revision and URL."""

    async def endpoint(request: Request) -> Response:
        svc = services(request)
        lang = lang_of(request)
        path = request.scope["path"]
        key = (lang, path, request.scope["query_string"])


        async def build() -> bytes:
            template, context = await fn(request)
            html = svc.renderer.render(template, lang, path, request=request, **context)
            return html.encode()

        prepared = await svc.render_cache.get_or_build(key, await svc.db.revision(), build)
        return cached_response(request, prepared, "text/html; charset=utf-8", HTML_CACHE)

    endpoint.__name__ = fn.__name__
    endpoint.__doc__ = fn.__doc__
    return endpoint


def _state_param(request: Request) -> str | None:
    value = (request.query_params.get("state") or "").strip().upper()
    return value if value in STATES else None


@page
async def home(request: Request) -> tuple[str, dict]:
    """Active listings grouped by state (with a state filter), then ended ones."""
    lang = lang_of(request)
    wanted = _state_param(request)
    listings = [content.localized(r, lang) for r in await content.listings(db_of(request))]
    present_states = sorted({r["state"] for r in listings}, key=lambda c: state_name(c, lang))
    if wanted:
        listings = [r for r in listings if r["state"] == wanted]
    active = [r for r in listings if r["status"] == "active"]
    ended = [r for r in listings if r["status"] != "active"]
    by_state = [
        (code, list(items))
        for code, items in groupby(
            sorted(active, key=lambda r: state_name(r["state"], lang)), key=lambda r: r["state"]
        )
    ]
    return "home.html", {
        "active_by_state": by_state,
        "active_count": len(active),
        "ended": ended,
        "present_states": present_states,
        "wanted_state": wanted,
        "bad_state": bool(request.query_params.get("state")) and wanted is None,
        **await alerts.banner(request, wanted),
    }


@page
async def listing_page(request: Request) -> tuple[str, dict]:
    db = db_of(request)
    lang = lang_of(request)
    rec = await content.listing(db, request.path_params["slug"])
    if rec is None:
        raise not_found()
    facility = None
    if rec["facility"]:
        facility = next(
            (f for f in await content.facilities(db) if f["slug"] == rec["facility"]), None
        )
    canonical = f"{services(request).settings.base_url}/listings/{rec['slug']}"
    return "listing.html", {
        "listing": content.localized(rec, lang),
        "jsonld": content.event_jsonld(rec, lang, canonical),
        "facility": facility,
        "maps": content.map_links(rec),
        "weekdays": content.weekday_names((rec["schedule"] or {}).get("byday"), lang),
        "canonical": canonical,
        **await alerts.banner(request, rec["state"]),
    }


@page
async def facilities_page(request: Request) -> tuple[str, dict]:
    lang = lang_of(request)
    items = [content.localized(f, lang) for f in await content.facilities(db_of(request))]
    return "facilities.html", {"facilities": items}


@page
async def legal_page(request: Request) -> tuple[str, dict]:
    lang = lang_of(request)
    items = [content.localized(c, lang) for c in await content.contacts(db_of(request))]
    for item in items:
        item["phones"] = [dict(p, label=p["label"][lang]) for p in item["phones"]]
    return "legal.html", {"contacts": items}


@page
async def rights_index(request: Request) -> tuple[str, dict]:
    return "rights.html", {"articles": await content.rights(db_of(request), lang_of(request))}


@page
async def rights_page(request: Request) -> tuple[str, dict]:
    db = db_of(request)
    lang = lang_of(request)
    article = await content.rights_article(db, request.path_params["slug"], lang)
    if article is None:
        raise not_found()
    contacts = [content.localized(c, lang) for c in await content.contacts(db)]
    return "rights_article.html", {"article": article, "contacts": contacts}


@page
async def resources_page(request: Request) -> tuple[str, dict]:
    lang = lang_of(request)
    res = await content.resources(db_of(request))
    orgs = [content.localized(o, lang) for o in res["organizations"]]
    return "resources.html", {"articles": res["articles"], "organizations": orgs}


@page
async def about_page(request: Request) -> tuple[str, dict]:
    lang = lang_of(request)
    items = [content.localized(s, lang) for s in await content.statements(db_of(request))]
    return "about.html", {"statements": items}


@page
async def offline_page(request: Request) -> tuple[str, dict]:
    return "offline.html", {}


@page
async def search_page(request: Request) -> tuple[str, dict]:
    """Search answered by the server; with JavaScript the page answers it on the device."""
    query = request.query_params.get("q", "")
    results = await content.search(db_of(request), query, lang_of(request))
    return "search.html", {"query": query[: content.MAX_QUERY], "results": results,
                           "searched": bool(content.query_terms(query))}


@page
async def card_page(request: Request) -> tuple[str, dict]:
    """A one-page printable rights card with the key phrases and legal contacts."""
    lang = lang_of(request)
    contacts = [content.localized(c, lang) for c in await content.contacts(db_of(request))]
    return "card.html", {"contacts": contacts}


@page
async def open_data_page(request: Request) -> tuple[str, dict]:
    return "open_data.html", {}
