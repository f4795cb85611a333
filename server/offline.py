"""What makes Vigil installable and usable offline: the web app manifest, the service
worker script, and the offline manifest (every URL the service worker keeps, with a
content hash each, so a change to one page refetches that page alone)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from server import content
from server.i18n import localize_path
from server.render import SERVICE_WORKER, StaticAssets, content_hash, with_shared_names
from server.views.base import Prepared, cached_response, db_of, json_body, lang_of, services

# Pages every visitor gets offline, in both languages (listing and rights pages are added
# from the data).
SHELL_PAGES = ("/", "/alerts", "/legal", "/rights", "/facilities", "/resources", "/about",
               "/suggest", "/search", "/card", "/open-data", "/offline", "/before-you-go")
SHELL_ASSETS = ("app.css", "app.js", "alerts.js", "search.js", "suggest.js", "icons/icon.svg",
                "icons/icon-192.png", "icons/badge-96.png")
# The part of SHELL_ASSETS a worker's install waits for: what every page loads.
INSTALL_ASSETS = ("app.css", "app.js", "alerts.js")
OFFLINE_JSON = ("/api/v1/listings", "/api/v1/contacts", "/api/v1/facilities",
                "/api/v1/rights?lang=en", "/api/v1/rights?lang=es")

MANIFEST_TEXT = {
    "en": {
        "name": "Vigil: vigils, legal help and your rights",
        "short_name": "Vigil",
        "description": "Where the vigils at immigration facilities are, who to call for "
                       "legal help, and your rights. Works offline.",
        "legal": "Legal help", "legal_short": "Legal help",
        "rights": "Know your rights", "rights_short": "Rights",
    },
    "es": {
        "name": "Vigil: vigilias, ayuda legal y tus derechos",
        "short_name": "Vigil",
        "description": "Dónde están las vigilias frente a centros de inmigración, a quién "
                       "llamar para ayuda legal y tus derechos. Funciona sin conexión.",
        "legal": "Ayuda legal", "legal_short": "Ayuda legal",
        "rights": "Conoce tus derechos", "rights_short": "Derechos",
    },
}
THEME = "#5b2a86"


def web_manifest(lang: str, assets: StaticAssets) -> dict[str, Any]:
    text = MANIFEST_TEXT[lang]
    start = localize_path("/", lang)
    icon = assets.url
    return {
        "id": start,
        "name": text["name"],
        "short_name": text["short_name"],
        "description": text["description"],
        "lang": lang,
        "dir": "ltr",
        "start_url": start,
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": THEME,
        "background_color": "#ffffff",
        "categories": ["news", "social"],
        "icons": [
            {"src": icon("icons/icon-192.png"), "sizes": "192x192", "type": "image/png",
             "purpose": "any"},
            {"src": icon("icons/icon-512.png"), "sizes": "512x512", "type": "image/png",
             "purpose": "any"},
            {"src": icon("icons/maskable-512.png"), "sizes": "512x512", "type": "image/png",
             "purpose": "maskable"},
            {"src": icon("icons/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
        "shortcuts": [
            {"name": text["legal"], "short_name": text["legal_short"],
             "url": localize_path("/legal", lang),
             "icons": [{"src": icon("icons/icon-192.png"), "sizes": "192x192"}]},
            {"name": text["rights"], "short_name": text["rights_short"],
             "url": localize_path("/rights", lang),
             "icons": [{"src": icon("icons/icon-192.png"), "sizes": "192x192"}]},
        ],
    }


async def manifest_view(request: Request) -> Response:
    body = json_body(web_manifest(lang_of(request), services(request).assets))
    return cached_response(request, body, "application/manifest+json", "no-cache")


def service_worker_source(assets: StaticAssets) -> bytes:
    """The worker with its version: a hash of its own code and of every shell asset, so a
    change to either installs a new worker with new caches."""
    source = with_shared_names(SERVICE_WORKER.read_bytes())
    digest = hashlib.sha256(source)
    for name in sorted(assets.assets):
        digest.update(name.encode() + assets.assets[name].digest.encode())
    version = digest.hexdigest()[:12]
    # What the worker's install stores: the assets every page needs, with the hashes the
    # offline manifest gives them, so the bundle downloaded later does not fetch them again.
    shell = {assets.url(name): assets.get(name).digest for name in INSTALL_ASSETS
             if assets.get(name)}
    for placeholder, value in (("__VERSION__", version), ("__SHELL__", shell),
                               ("__ICON__", assets.url("icons/icon-192.png")),
                               ("__BADGE__", assets.url("icons/badge-96.png"))):
        source = source.replace(f'"{placeholder}"'.encode(), json.dumps(value).encode())
    return source


async def service_worker_view(request: Request) -> Response:
    svc = services(request)
    body = svc.service_worker
    if body is None:
        body = svc.service_worker = Prepared.of(service_worker_source(svc.assets))
    return cached_response(
        request, body, "text/javascript; charset=utf-8", "no-cache",
        headers={"Service-Worker-Allowed": "/"},
    )


async def offline_urls(request: Request) -> list[str]:
    db = db_of(request)
    listings = await content.listings(db)
    rights = await content.rights(db, "en")
    pages = list(SHELL_PAGES)
    pages += [f"/listings/{r['slug']}" for r in listings]
    pages += [f"/rights/{r['slug']}" for r in rights]
    urls = []
    for lang in ("en", "es"):
        urls += [localize_path(p, lang) for p in pages]
    return urls + list(OFFLINE_JSON) + ["/manifest.webmanifest", "/es/manifest.webmanifest"]


async def _fetch_internal(app: ASGIApp, url: str) -> bytes | None:
    """Run one GET through the whole app in-process and return the body (None unless 200)."""
    path, _, query = url.partition("?")
    scope = {
        "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": [(b"host", b"internal")], "client": None,
        "server": ("internal", 80), "state": {},
    }
    chunks: list[bytes] = []
    status = 0

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(chunks) if status == 200 else None


_STAMP = re.compile(rb'name="stamp" value="[^"]*"')


def _without_stamp(body: bytes) -> bytes:
    """A form's signed time stamp differs on every render; it is not a change of content."""
    return _STAMP.sub(b'name="stamp" value=""', body)


async def build_offline_manifest(request: Request) -> dict[str, Any]:
    app = request.app
    urls = await offline_urls(request)
    bodies = await asyncio.gather(*(_fetch_internal(app, u) for u in urls))
    entries = {u: content_hash(_without_stamp(b))
               for u, b in zip(urls, bodies, strict=True) if b is not None}
    assets = services(request).assets
    for name in SHELL_ASSETS:
        if assets.get(name):
            entries[assets.url(name)] = assets.get(name).digest
    revision = content_hash(json.dumps(entries, sort_keys=True).encode())
    return {"revision": revision, "urls": entries}


async def offline_manifest_view(request: Request) -> Response:
    svc = services(request)

    async def build() -> bytes:
        return json_body(await build_offline_manifest(request))

    body = await svc.render_cache.get_or_build(
        ("offline-manifest",), await svc.db.revision(), build)
    return cached_response(request, body, "application/json", "no-cache")
