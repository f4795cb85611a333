"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import content, offline
from server.admin_guard import admin_mount
from server.auth import DeviceCookies, FormStamp, SessionStore, Throttle
from server.config import Settings
from server.database import Database
from server.dataset import load_dataset
from server.i18n import make_translators
from server.middleware import AccessLog, Edge
from server.push import PushSender
from server.render import Renderer, StaticAssets, build_environment
from server.routing import IndexedRouter
from server.vapid import application_server_key, load_private_key
from server.views import (
    admin,
    admin_alerts,
    admin_changes,
    admin_content,
    admin_deleted,
    admin_listings,
    api,
    feeds,
    pages,
    push_api,
    static,
    suggest,
)
from server.views.base import RenderCache, render_page

log = logging.getLogger("vigil")
LOGIN_FAILURES_PER_ACCOUNT = admin.LOGIN_FAILURES_PER_ACCOUNT
LOGIN_FAILURES_PER_DEVICE = admin.LOGIN_FAILURES_PER_DEVICE


@dataclass
class Services:
    """What views reach through request.app.state.vigil."""

    settings: Settings
    db: Database
    assets: StaticAssets
    renderer: Renderer
    render_cache: RenderCache = field(default_factory=RenderCache)
    extras: dict[str, Any] = field(default_factory=dict)


def public_routes() -> list[BaseRoute]:
    return [
        Route("/", pages.home, name="home"),
        Route("/listings/{slug}.ics", feeds.calendar_one, name="listing_ics"),
        Route("/listings/{slug:str}", pages.listing_page, name="listing"),
        Route("/facilities", pages.facilities_page, name="facilities"),
        Route("/legal", pages.legal_page, name="legal"),
        Route("/rights", pages.rights_index, name="rights"),
        Route("/rights/{slug:str}", pages.rights_page, name="rights_article"),
        Route("/resources", pages.resources_page, name="resources"),
        Route("/about", pages.about_page, name="about"),
        Route("/search", pages.search_page, name="search"),
        Route("/card", pages.card_page, name="card"),
        Route("/open-data", pages.open_data_page, name="open_data"),
        Route("/offline", pages.offline_page, name="offline"),
        Route("/manifest.webmanifest", offline.manifest_view, name="manifest"),
    ]


def api_routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/listings", api.listings),
        Route("/api/v1/listings/{slug:str}", api.listing),
        Route("/api/v1/facilities", api.facilities),
        Route("/api/v1/contacts", api.contacts),
        Route("/api/v1/rights", api.rights),
        Route("/api/v1/resources", api.resources),
        Route("/healthz", api.healthz),
        Route("/calendar.ics", feeds.calendar_all),
        Route("/feed.atom", feeds.atom),
        Route("/static/{path:path}", static.static_file),
        Route("/sw.js", offline.service_worker_view),
        Route("/offline-manifest.json", offline.offline_manifest_view),
    ]


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return api.api_error(request, exc)
    if exc.status_code == 404:
        return await render_page(request, "404.html", status=404)
    return await render_page(
        request, "error.html", status=exc.status_code, status_code=exc.status_code,
        detail=exc.detail,
    )


def create_app(settings: Settings, *, load_data_if_empty: bool = True) -> Starlette:
    """Build the app; the lifespan opens the database and everything that needs closing."""
    assets = StaticAssets()
    renderer = Renderer(build_environment(assets), make_translators())
    db = Database(settings.db_path)
    services = Services(settings=settings, db=db, assets=assets, renderer=renderer)
    services.extras.update(
        sessions=SessionStore(db, settings.secret_key, settings.session_idle_seconds),
        devices=DeviceCookies(settings.secret_key),
        login_stamp=FormStamp(settings.secret_key, "login"),
        login_throttle_account=Throttle(LOGIN_FAILURES_PER_ACCOUNT, 15 * 60),
        login_throttle_device=Throttle(LOGIN_FAILURES_PER_DEVICE, 15 * 60),
        suggest_stamp=FormStamp(settings.secret_key, "suggest"),
        suggest_throttle=Throttle(suggest.SUGGESTIONS_PER_CLIENT, suggest.SUGGESTION_WINDOW),
    )

    vapid_key = load_private_key(settings)
    services.extras["vapid_public_key"] = application_server_key(vapid_key)

    access = services.extras["access_log"] = AccessLog()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.connect()
        if load_data_if_empty and not await db.scalar("SELECT COUNT(*) FROM listings"):
            counts = await load_dataset(db, settings.data_dir, content.iso_now())
            log.info("loaded the default dataset: %s", counts)
        # The sender resumes any fanout a previous process left unfinished.
        sender = services.extras["push"] = await PushSender(settings, db, vapid_key).start()
        flusher = asyncio.create_task(access.run())
        try:
            yield
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await sender.stop()
            await db.close()

    app = Starlette(
        middleware=[Middleware(Edge, https=settings.https, log=access)],
        exception_handlers={HTTPException: http_error},
    )
    site = public_routes() + api_routes() + push_api.push_routes() + suggest.routes()
    organizer_routes = [r for r in site if getattr(r, "path", "").startswith("/admin/")]
    app.router = IndexedRouter(
        [r for r in site if r not in organizer_routes] + [admin_mount(
            admin.routes() + admin_listings.routes() + admin_alerts.routes()
            + admin_content.routes() + admin_changes.routes() + admin_deleted.routes()
            + organizer_routes)],
        lifespan=lifespan,
    )
    app.state.vigil = services
    return app
