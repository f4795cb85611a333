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
from starlette.routing import Match
from starlette.types import ASGIApp

from server import content
from server.fingerprints import ALL, code_version
from server.i18n import (
    DEFAULT,
    FULL,
    LANGUAGE_INFO,
    LANGUAGES,
    N_,
    Translator,
    localize_path,
    pick,
    split_lang,
)
from server.render import (
    SERVICE_WORKER_PARTS,
    StaticAssets,
    content_hash,
    service_worker_script,
    with_shared_names,
)
from server.views.base import Prepared, cached_response, db_of, json_body, lang_of, services
from server.views.pages import listing_page, localized_title

# Pages every visitor gets offline, in the languages they read (listing and rights pages
# are added from the data). /open-data, for other programs' authors, is not among them.
SHELL_PAGES = ("/", "/alerts", "/legal", "/rights", "/facilities", "/resources", "/about",
               "/suggest", "/search", "/card", "/offline", "/before-you-go")
SHELL_ASSETS = ("app.css", "app.js", "alerts.js", "search.js", "suggest.js", "listings.js",
                "forget.js", "icons/icon.svg",
                "icons/icon-192.png", "icons/badge-96.png")
# The part of SHELL_ASSETS a worker's install waits for: what every page loads.
INSTALL_ASSETS = ("app.css", "app.js", "alerts.js")
# Search, near me and the short offline page of a listing read the index; the JSON API is
# for other programs, and stays out of what a phone stores.
OFFLINE_JSON: tuple[str, ...] = ()

# The installed app's names, in the catalog of each language.
APP_NAME = N_("Vigil: vigils, legal help and your rights")
APP_DESCRIPTION = N_("Where the vigils at immigration facilities are, who to call for legal "
                     "help, and your rights. Works offline.")
THEME = "#5b2a86"


def web_manifest(tr: Translator, assets: StaticAssets) -> dict[str, Any]:
    lang, text = tr.lang, tr.plain
    start = localize_path("/", lang)
    icon = assets.url
    return {
        "id": start,
        "name": text(APP_NAME),
        "short_name": "Vigil",
        "description": text(APP_DESCRIPTION),
        "lang": lang,
        "dir": "rtl" if LANGUAGE_INFO[lang].rtl else "ltr",
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
            {"name": text("Legal help"), "short_name": text("Legal help"),
             "url": localize_path("/legal", lang),
             "icons": [{"src": icon("icons/icon-192.png"), "sizes": "192x192"}]},
            {"name": text("Know your rights"), "short_name": text("Rights"),
             "url": localize_path("/rights", lang),
             "icons": [{"src": icon("icons/icon-192.png"), "sizes": "192x192"}]},
        ],
    }


async def manifest_view(request: Request) -> Response:
    svc = services(request)
    body = json_body(web_manifest(svc.renderer.translators[lang_of(request)], svc.assets))
    return cached_response(request, body, "application/manifest+json", "no-cache", reuse=())


def service_worker_source(assets: StaticAssets) -> bytes:
    """The worker, its parts joined into one script, with its version: a hash of its own
    code and of every shell asset, so a change to either installs a new worker with new
    caches. The parts are read from this module's SERVICE_WORKER_PARTS, which a test may
    extend (tests/run_server.py)."""
    source = with_shared_names(service_worker_script(SERVICE_WORKER_PARTS))
    digest = hashlib.sha256(source)
    for name in sorted(assets.assets):
        digest.update(name.encode() + assets.assets[name].digest.encode())
    version = digest.hexdigest()[:12]
    # What the worker's install stores: the assets every page needs, with the hashes the
    # offline manifest gives them, so the bundle downloaded later does not fetch them again.
    shell = {assets.url(name): assets.get(name).digest for name in INSTALL_ASSETS
             if assets.get(name)}
    prefixed = [code for code in LANGUAGES if code != DEFAULT]
    for placeholder, value in (("__VERSION__", version), ("__SHELL__", shell),
                               ("__LANGS__", prefixed),
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
        headers={"Service-Worker-Allowed": "/"}, reuse=(),
    )


INDEX_URL = "/offline-index.json"
LISTING_PAGE = re.compile(r"/listings/(?P<slug>[^/.]+)")


# What a manifest asked for with no languages lists: English and Spanish.
DEFAULT_LANGS = FULL
# A phone keeps the pages of the languages its visitor reads: at most this many.
MAX_LANGS = 2


def requested_langs(request: Request) -> tuple[str, ...]:
    """The languages named by ?langs=en,ht that the site has, in the site's order."""
    asked = set(request.query_params.get("langs", "").split(","))
    langs = tuple(code for code in LANGUAGES if code in asked)[:MAX_LANGS]
    return langs or DEFAULT_LANGS


async def offline_urls(request: Request, listings: list[dict],
                       langs: tuple[str, ...] = DEFAULT_LANGS) -> list[str]:
    """What every visitor keeps, in the languages they read: the shell pages, the rights
    articles and, while there are few, every listing page."""
    rights = await content.rights(db_of(request), "en")
    pages = list(SHELL_PAGES)
    if len(listings) <= content.ALL_LISTINGS_UP_TO:
        pages += [f"/listings/{r['slug']}" for r in listings]
    pages += [f"/rights/{r['slug']}" for r in rights]
    urls = []
    for lang in langs:
        urls += [localize_path(p, lang) for p in pages]
    index = INDEX_URL if langs == DEFAULT_LANGS else f"{INDEX_URL}?langs={','.join(langs)}"
    return urls + list(OFFLINE_JSON) + [index] + [
        localize_path("/manifest.webmanifest", lang) for lang in langs]


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


def _page_deps(app: ASGIApp, path: str) -> tuple[str, ...] | None:
    """The topics the page at `path` declares (see views.pages.page), None for a URL that
    is not such a page."""
    scope = {"type": "http", "path": path, "method": "GET"}
    for route in app.router.routes:  # type: ignore[attr-defined]
        match, child = route.matches(scope)
        if match == Match.FULL:
            deps = getattr(route.endpoint, "deps", None)
            return tuple(deps(child["path_params"])) if deps else None
    return None


class Hasher:
    """Each URL's hash in the offline manifest. A page that declares what it is made of is
    hashed from that, its language and the code that renders it, without rendering it: an
    edit changes the hashes of the pages it touches and no others, at the cost of a dict
    lookup per URL. Anything else (JSON, forms) is fetched through the app and its body
    hashed."""

    def __init__(self, request: Request):
        self.request = request
        self.svc = services(request)

    async def __call__(self, urls: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        fetched: list[str] = []
        fingerprints = self.svc.fingerprints
        revision, topics = await fingerprints.topics(self.svc.db)
        code = self.code()
        for url in urls:
            path, _, query = url.partition("?")
            lang, bare = split_lang(path)
            listing = LISTING_PAGE.fullmatch(bare)
            # Listing pages, by the hundred, skip the route search: they are all one route.
            deps = (None if query else listing_page.deps(listing.groupdict()) if listing
                    else _page_deps(self.request.app, bare))
            if deps is None:
                fetched.append(url)
                continue
            out[url] = self.page(revision, topics, lang, bare, tuple(deps), code)
        bodies = await asyncio.gather(*(_fetch_internal(self.request.app, u) for u in fetched))
        for url, body in zip(fetched, bodies, strict=True):
            if body is not None:
                out[url] = content_hash(_without_stamp(body))
        return out

    def page(self, revision: int, topics: dict[str, str], lang: str, bare: str,
             deps: tuple[str, ...], code: str) -> str:
        made_of = self.svc.fingerprints.combine(revision, topics, deps)
        return content_hash(f"{lang}|{bare}|{made_of}|{code}".encode())

    async def listing_pages(self, listings: list[dict],
                            langs: tuple[str, ...]) -> dict[str, list[str]]:
        """slug -> the hashes of its page in each of `langs`, kept with its record
        (Fingerprints.derived) while the topics the pages share stand."""
        fingerprints = self.svc.fingerprints
        revision, topics = await fingerprints.topics(self.svc.db)
        code = self.code()
        shared = tuple(t for t in listing_page.deps({"slug": ""}) if not t.startswith("listing:"))

        def pair(rec: dict) -> list[str]:
            bare = f"/listings/{rec['slug']}"
            deps = tuple(listing_page.deps({"slug": rec["slug"]}))
            return [self.page(revision, topics, lang, bare, deps, code) for lang in langs]

        kind = ("manifest", code, langs, tuple(topics.get(t) for t in shared))
        return {rec["slug"]: fingerprints.derived(rec, kind, pair) for rec in listings}

    def code(self) -> str:
        if self.svc.code_version is None:
            self.svc.code_version = code_version(
                a.digest for a in self.svc.assets.assets.values())
        return self.svc.code_version


async def build_offline_manifest(request: Request) -> bytes:
    """Every URL every visitor who reads the languages asked for keeps, with a hash each;
    and, when there are many listings, the listing pages by state (a hash per language, in
    the order of "langs") for the worker to choose from. Its revision, first, is the hash of
    the rest."""
    langs = requested_langs(request)
    listings = await services(request).fingerprints.listings(db_of(request))
    hasher = Hasher(request)
    entries = await hasher(await offline_urls(request, listings, langs))
    assets = services(request).assets
    for name in SHELL_ASSETS:
        if assets.get(name):
            entries[assets.url(name)] = assets.get(name).digest
    manifest: dict[str, Any] = {"langs": list(langs), "urls": entries}
    if len(listings) > content.ALL_LISTINGS_UP_TO:
        hashes = await hasher.listing_pages(listings, langs)
        by_state: dict[str, dict[str, list[str]]] = {}
        # Soonest first: a worker that keeps only some of a state's pages keeps these.
        for rec in sorted(listings, key=lambda r: (
                r["status"] != "active", r.get("next") or r.get("starts") or "9999")):
            by_state.setdefault(rec["state"], {})[rec["slug"]] = hashes[rec["slug"]]
        manifest["listings"] = by_state
    body = json_body(manifest)
    return b'{"revision":"' + content_hash(body).encode() + b'",' + body[1:]


async def offline_manifest_view(request: Request) -> Response:
    svc = services(request)
    langs = requested_langs(request)

    async def build() -> bytes:
        return await build_offline_manifest(request)

    made_of = await svc.fingerprints.of(svc.db, (ALL,))
    body = await svc.render_cache.get_or_build(("offline-manifest", langs), made_of, build)
    return cached_response(request, body, "application/json", "no-cache", reuse=())


def _index_listing(rec: dict, titles: dict[str, str]) -> dict:
    """What the index says of a listing, in as few bytes as a phone must read at every
    search: the status only when it is not "active", and `when`, the next or only start
    as the place's clock shows it (date and time, no offset)."""
    out = {"slug": rec["slug"], "title": titles["en"], "city": rec["city"],
           "state": rec["state"]}
    if rec["status"] != "active":
        out["status"] = rec["status"]
    if titles["es"] != titles["en"]:
        out["title_es"] = titles["es"]
    when = rec.get("next") or rec.get("starts")
    if when:
        out["when"] = when[:16]
    for key in ("address", "zip", "lat", "lon"):
        if rec.get(key) is not None:
            out[key] = rec[key]
    return out


async def offline_index_body(request: Request) -> bytes:
    """What the lists, search, near me and the short offline page of a listing need, for
    every public listing, plus the titles of everything else search finds: small enough to
    keep whatever the number of listings, where the full pages are kept only for some.

    As json_body would write it (keys sorted), with each listing's part kept with its
    record (Fingerprints.derived): after an edit only the changed listings are written."""
    db = db_of(request)
    fingerprints = services(request).fingerprints
    translators = services(request).renderer.translators
    records = await fingerprints.listings(db)
    # Few listings: their descriptions too, so search finds words in them offline. Many:
    # titles and places only, or the index would grow by a page per listing.
    described = len(records) <= content.ALL_LISTINGS_UP_TO

    def part(rec: dict) -> bytes:
        titles = {lang: ((lang == "es" and rec.get("title_es"))
                         or localized_title(rec["title"], rec["city"], tr))
                  for lang, tr in translators.items()}
        item = _index_listing(rec, titles)
        if described:
            item["description"] = rec["description"]
        return json_body(item)

    listings = b",".join(fingerprints.derived(rec, ("index", described), part)
                         for rec in records)
    facilities = [{k: f[k] for k in ("slug", "name", "city", "state", "address")}
                  for f in await content.facilities(db)]
    # The languages asked for (the worker asks for its visitor's), English and Spanish
    # otherwise; English always, for what has no other text.
    langs = requested_langs(request)
    contacts = [{"slug": c["slug"], "organization": c["organization"],
                 "description": {lang: pick(c["description"], lang)
                                 for lang in sorted({DEFAULT, *langs})}}
                for c in await content.contacts(db)]
    rights = {lang: [{k: r[k] for k in ("slug", "title", "summary")}
                     for r in await content.rights(db, lang)] for lang in langs}
    return (b'{"contacts":' + json_body(contacts) + b',"facilities":' + json_body(facilities)
            + b',"listings":[' + listings + b'],"rights":' + json_body(rights) + b"}")


async def offline_index_view(request: Request) -> Response:
    svc = services(request)

    async def build() -> bytes:
        return await offline_index_body(request)

    made_of = await svc.fingerprints.of(svc.db, ("listings", "facilities", "contacts", "rights"))
    body = await svc.render_cache.get_or_build(("offline-index", requested_langs(request)),
                                               made_of, build)
    return cached_response(request, body, "application/json", "no-cache", reuse=())
