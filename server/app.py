"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import content
from server.admin_guard import admin_mount
from server.auth import (
    AccountThrottle,
    DeviceCookies,
    FormStamp,
    SessionStore,
    SharedLimit,
    SpentStamps,
)
from server.config import Settings
from server.dataset import load_dataset
from server.i18n import make_translators
from server.middleware import (
    AccessLog,
    AccessLogMiddleware,
    BodyDeadlineMiddleware,
    BodyLimitMiddleware,
    ForwardedClientMiddleware,
    KeptAnswersMiddleware,
    LanguagePrefixMiddleware,
    SecurityHeaders,
    SecurityHeadersMiddleware,
)
from server.push import PushSender
from server.render import Renderer, StaticAssets, build_environment
from server.services import Services
from server.sms import SmsSender
from server.storage import open_database
from server.suggestions import STAMP_MAX_AGE
from server.vapid import application_server_key, load_private_key
from server.views import (
    admin,
    admin_alerts,
    admin_changes,
    admin_content,
    admin_dashboard,
    admin_deleted,
    admin_import,
    admin_listings,
    admin_suggestions,
    admin_verify,
    alerts,
    api,
    feeds,
    offline,
    pages,
    push_api,
    sms_inbound,
    static,
    suggest,
)
from server.views.base import Answers, render_page

log = logging.getLogger("vigil")
LOGIN_FAILURES_PER_ACCOUNT = admin.LOGIN_FAILURES_PER_ACCOUNT
LOGIN_FAILURES_PER_DEVICE = admin.LOGIN_FAILURES_PER_DEVICE


def page_routes() -> list[BaseRoute]:
    """The HTML pages a visitor reads (each also under /es, see middleware.language)."""
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
        Route("/before-you-go", pages.before_you_go_page, name="before_you_go"),
        Route("/search", pages.search_page, name="search"),
        Route("/card", pages.card_page, name="card"),
        Route("/open-data", pages.open_data_page, name="open_data"),
        Route("/offline", pages.offline_page, name="offline"),
        Route("/forget", pages.forget, methods=["POST"], name="forget"),
        *alerts.routes(),
    ]


def api_v1_routes() -> list[BaseRoute]:
    """The JSON API, served under /api/v1 (see flat())."""
    return [
        Route("/listings", api.listings),
        Route("/listings/{slug:str}", api.listing),
        Route("/facilities", api.facilities),
        Route("/contacts", api.contacts),
        Route("/rights", api.rights),
        Route("/resources", api.resources),
        *push_api.routes(),
    ]


def flat(prefix: str, routes: list[BaseRoute]) -> list[BaseRoute]:
    """The routes at `prefix` as plain routes. A Mount would say the same, but measured under
    load (benchmarks/throughput.py, 2026-11-29) /api/v1/listings served 0.48-0.57x bare
    Starlette behind a Mount and 0.67x as plain routes, so the JSON API is not mounted."""
    out: list[BaseRoute] = []
    for route in routes:
        assert isinstance(route, Route), route
        out.append(Route(prefix + route.path, route.endpoint, methods=list(route.methods or ()),
                         name=route.name))
    return out


def site_file_routes() -> list[BaseRoute]:
    """Static files, what makes the site installable and offline, feeds, the health check."""
    return [
        Route("/static/{path:path}", static.static_file),
        Route("/sw.js", offline.service_worker_view),
        Route("/offline-manifest.json", offline.offline_manifest_view),
        Route(offline.INDEX_URL, offline.offline_index_view),
        Route("/manifest.webmanifest", offline.manifest_view, name="manifest"),
        Route("/calendar.ics", feeds.calendar_all),
        Route("/feed.atom", feeds.atom),
        Route("/healthz", api.healthz),
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
    db = open_database(settings.database)
    vapid_key = load_private_key(settings)
    access = AccessLog()
    sender = PushSender(settings, db, vapid_key)
    sms_sender = SmsSender(settings, db)
    services = Services(
        settings=settings, db=db, assets=assets, renderer=renderer, push=sender,
        vapid_public_key=application_server_key(vapid_key),
        sms=sms_sender,
        access_log=access,
        sessions=SessionStore(db, settings.secret_key, settings.session_idle_seconds),
        devices=DeviceCookies(settings.secret_key),
        login_stamp=FormStamp(settings.secret_key, "login"),
        login_throttle_account=AccountThrottle(db, settings.secret_key,
                                               LOGIN_FAILURES_PER_ACCOUNT, 15 * 60),
        login_throttle_device=SharedLimit(db, settings.secret_key, "sign-in device",
                                          LOGIN_FAILURES_PER_DEVICE, 15 * 60),
        suggest_stamp=FormStamp(settings.secret_key, "suggest"),
        suggest_spent=SpentStamps(STAMP_MAX_AGE),
        suggest_throttle=SharedLimit(db, settings.secret_key, "suggest",
                                     suggest.SUGGESTIONS_PER_CLIENT, suggest.SUGGESTION_WINDOW),
        subscribe_limit=SharedLimit(db, settings.secret_key, "subscribe",
                                    push_api.SUBSCRIPTIONS_PER_CLIENT, 3600),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.connect()
        if load_data_if_empty and not await db.scalar("SELECT COUNT(*) FROM listings"):
            counts = await load_dataset(db, settings.data_dir, content.iso_now())
            log.info("loaded the default dataset: %s", counts)
        # The sender resumes any fanout a previous process left unfinished, and prunes
        # finished ones older than push.KEEP_FINISHED.
        await sender.start()
        await sms_sender.start()
        flusher = asyncio.create_task(access.run())
        try:
            yield
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await sender.stop()
            await sms_sender.stop()
            await db.close()

    async def current_topics() -> object:
        """What kept answers are valid for: a new mapping whenever any topic may change."""
        return (await services.fingerprints.topics(db))[1]

    # Starlette's Router tries routes in order, about 0.5 µs each: the home page and the
    # JSON API first (behind 24 routes, /api/v1/listings served 0.55× bare under load, as
    # against 0.69× for /), then the other pages, the /admin mount (behind its guard) last.
    # A dictionary index of fixed paths saved about 2 µs of a cached page's 20 µs and
    # nothing behind a mount, so none is kept.
    public = page_routes() + site_file_routes() + suggest.routes() + sms_inbound.routes()
    security_headers = SecurityHeaders(https=settings.https)
    app = Starlette(
        routes=public[:1] + flat("/api/v1", api_v1_routes()) + public[1:]
        + [admin_mount(admin.routes() + admin_dashboard.routes() + admin_listings.routes()
                       + admin_alerts.routes()
                       + admin_content.routes() + admin_changes.routes()
                       + admin_verify.routes() + admin_deleted.routes()
                       + admin_import.routes() + admin_suggestions.routes())],
        # Outermost first: each layer logs, heads and counts what the ones within it send;
        # a kept answer is given before the rest, with the security headers they would add.
        middleware=[
            Middleware(AccessLogMiddleware, log=access),
            Middleware(KeptAnswersMiddleware, answers=Answers(current_topics),
                       finish=security_headers),
            Middleware(SecurityHeadersMiddleware, policy=security_headers),
            *([Middleware(ForwardedClientMiddleware, trusted_proxies=settings.trusted_proxies)]
              if settings.trusted_proxies else []),
            Middleware(BodyLimitMiddleware,
                       large_bodies={admin_import.UPLOAD_PATH: admin_import.MAX_BODY}),
            Middleware(BodyDeadlineMiddleware),
            Middleware(LanguagePrefixMiddleware),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.vigil = services
    return app
