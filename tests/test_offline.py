"""Offline-first in a real Chromium: the service worker, lie-fi, updates, the manifest."""

from __future__ import annotations

import json
import re
import struct
import time
import urllib.request

import pytest

from tests.live import live_server

pytestmark = pytest.mark.browser


BUNDLE_COMPLETE = """async () => {
  const name = (await caches.keys()).find((n) => n.startsWith("vigil-content-"));
  const saved = name && await (await caches.open(name)).match("/__vigil/bundle");
  return Boolean(saved && (await saved.json()).complete);
}"""


def wait_for_worker(page, bundle: bool = True) -> None:
    """Wait until the worker controls the page and (unless bundle=False) has downloaded the
    whole offline bundle in the background."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("Boolean(navigator.serviceWorker.controller)"):
        page.wait_for_function("Boolean(navigator.serviceWorker.controller)", timeout=15000)
    if bundle:
        eventually(page, BUNDLE_COMPLETE, timeout=30)


KEEPS_LANGS = """async (langs) => {
  const manifest = await (await fetch(`/offline-manifest.json?langs=${langs}`)).json();
  const name = (await caches.keys()).find((n) => n.startsWith("vigil-content-"));
  const cache = name && await caches.open(name);
  for (const url of Object.keys(manifest.urls)) {
    if (!cache || !(await cache.match(url))) return false;
  }
  return true;
}"""


def reads(page, base_url: str, lang: str, also: str = "en") -> None:
    """The visitor reads `lang` too: open a page in it, and wait until the worker keeps
    every page of both languages (a phone keeps the languages its visitor reads)."""
    page.goto(f"{base_url}/{lang}/")
    eventually(page, KEEPS_LANGS, f"{also},{lang}", timeout=30)


def eventually(page, expression: str, arg=None, timeout: float = 15.0):
    """Poll an async expression until it is truthy (wait_for_function does not await)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout}s: {expression}")
        page.wait_for_timeout(200)


def offline_manifest(server) -> dict:
    with urllib.request.urlopen(server.url + "/offline-manifest.json") as res:
        return json.load(res)


def main_text(page) -> str:
    return page.inner_text("main")


@pytest.fixture
def server(tmp_path):
    with live_server(tmp_path) as srv:
        yield srv


def test_every_page_works_offline_with_real_content(server, context):
    page = context.new_page()
    page.goto(server.url + "/")
    wait_for_worker(page)
    urls = offline_manifest(server)["urls"]
    pages = [u for u in urls if not u.startswith(("/static/", "/api/")) and "manifest" not in u
             and not u.endswith(".json")]
    assert any(u.startswith("/es/listings/") for u in pages)
    online = {}
    for url in pages:
        page.goto(server.url + url)
        online[url] = page.locator("h1").first.inner_text()
    context.set_offline(True)
    for url in pages:
        page.goto(server.url + url)
        heading = page.locator("h1").first.inner_text()
        assert heading == online[url], url
        if url not in ("/offline", "/es/offline"):
            assert "You are offline" not in heading and "sin conexión" not in heading, url
    page.goto(server.url + "/listings/never-saved")
    assert "You are offline" in page.locator("h1").inner_text()
    page.goto(server.url + "/es/listings/nunca-guardada")
    assert "conexión" in page.locator("h1").inner_text().lower()
    # The index search and near me read is there too.
    index = page.evaluate("fetch('/offline-index.json').then(r => r.json())")
    assert len(index["listings"]) == 15


def test_offline_status_and_saved_time_are_shown(server, context):
    page = context.new_page()
    page.goto(server.url + "/legal")
    wait_for_worker(page)
    page.reload()
    page.wait_for_selector("#status:not([hidden])")
    assert "Saved for offline" in page.inner_text("#status")
    # A phone keeps the languages its visitor reads: reading Spanish once adds them.
    page.goto(server.url + "/es/legal")
    eventually(page, "caches.match('/es/legal').then(Boolean)")
    context.set_offline(True)
    page.goto(server.url + "/es/legal")
    page.wait_for_selector("#status.offline")
    status = page.inner_text("#status")
    assert re.search(r"Sin conexión · copia guardada: \d{1,2}:\d\d", status), status


def test_lie_fi_shows_saved_page_fast_then_the_fresh_one(server, context):
    page = context.new_page()
    page.goto(server.url + "/legal")
    wait_for_worker(page)
    page.goto(server.url + "/about")  # the earlier visit

    hung = []
    releasing = False

    def hang(route):
        if releasing:
            route.continue_()
        else:
            hung.append(route)

    context.route("**/*", hang)
    server.sql("UPDATE statements SET summary_en = summary_en || ' Freshly corrected.'")
    start = time.monotonic()
    page.goto(server.url + "/about", wait_until="domcontentloaded", timeout=10000)
    page.wait_for_selector("h1")
    elapsed = time.monotonic() - start
    assert elapsed < 1.5, f"cached content took {elapsed:.2f}s under lie-fi"
    assert "Freshly corrected" not in main_text(page)

    releasing = True
    for route in list(hung):
        route.continue_()
    context.unroute("**/*")
    page.wait_for_selector("#status button", timeout=10000)
    assert "newer version" in page.inner_text("#status")
    page.click("#status button")
    page.wait_for_function("document.querySelector('main').innerText.includes('Freshly corrected')",
                           timeout=10000)


def cached_text(page, url: str) -> str:
    return page.evaluate(
        "url => caches.match(url).then(r => r ? r.text() : '')", url
    )


def cached_at(page, url: str) -> float:
    return page.evaluate(
        "url => caches.match(url).then(r => r ? Number(r.headers.get('x-vigil-cached-at')) : 0)",
        url,
    )


def test_data_change_updates_the_saved_pages_on_the_next_visit(server, context):
    page = context.new_page()
    page.goto(server.url + "/es/")  # a visitor who reads Spanish keeps the Spanish pages
    wait_for_worker(page)
    slug = "portland-or-macadam"
    before_es = cached_at(page, f"/es/listings/{slug}")
    untouched_before = cached_at(page, "/es/rights/remain-silent")
    assert before_es
    server.sql("UPDATE listings SET description_es = 'Descripción nueva y verificada.' "
               "WHERE slug = ?", (slug,))
    page.goto(server.url + "/resources")  # any online visit
    eventually(
        page,
        "url => caches.match(url).then(r => r.text()).then(t => t.includes('Descripción nueva'))",
        f"/es/listings/{slug}",
    )
    assert cached_at(page, f"/es/listings/{slug}") > before_es
    # A page whose content did not change was not fetched again.
    assert cached_at(page, "/es/rights/remain-silent") == untouched_before
    context.set_offline(True)
    page.goto(server.url + f"/es/listings/{slug}")
    assert "Descripción nueva y verificada." in main_text(page)
    page.wait_for_selector("#status.offline")
    assert re.search(r"copia guardada: \d{1,2}:\d\d", page.inner_text("#status"))


def test_new_worker_version_deletes_old_caches(tmp_path, context):
    with live_server(tmp_path) as first:
        port = first.port
        page = context.new_page()
        page.goto(first.url + "/")
        wait_for_worker(page)
        old = page.evaluate("caches.keys()")
        assert any(k.startswith("vigil-content-") for k in old)
    with live_server(tmp_path, port=port, VIGIL_TEST_SW_SUFFIX="v2") as second:
        page.goto(second.url + "/")
        page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
        eventually(
            page,
            "old => caches.keys().then(keys => keys.some(k => k.startsWith('vigil-content-'))"
            " && !keys.includes(old))",
            next(k for k in old if "content" in k),
            timeout=20,
        )
        new = page.evaluate("caches.keys()")
        assert not set(old) & {k for k in new if k.startswith("vigil-content-")}
        context.set_offline(True)
        page.goto(second.url + "/legal")
        assert page.locator("h1").inner_text() == "Legal help"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("prefix,lang", [("", "en"), ("/es", "es")])
def test_manifest_fields_and_real_icon_sizes(server, prefix, lang):
    with urllib.request.urlopen(f"{server.url}{prefix}/manifest.webmanifest") as res:
        assert res.headers["Content-Type"].startswith("application/manifest+json")
        manifest = json.load(res)
    for field in ("id", "name", "short_name", "description", "start_url", "scope", "display",
                  "theme_color", "background_color", "lang", "icons", "shortcuts"):
        assert manifest[field], field
    assert manifest["display"] == "standalone" and manifest["scope"] == "/"
    assert manifest["lang"] == lang
    assert manifest["start_url"] == ("/es/" if lang == "es" else "/")
    purposes = set()
    for icon in manifest["icons"]:
        with urllib.request.urlopen(server.url + icon["src"]) as res:
            body = res.read()
        purposes.add(icon.get("purpose", "any"))
        if icon["type"] == "image/png":
            w, h = png_size(body)
            assert icon["sizes"] == f"{w}x{h}", icon["src"]
        else:
            assert b"<svg" in body and icon["sizes"] == "any"
    assert {"any", "maskable"} <= purposes
    sizes = {i["sizes"] for i in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    shortcut_urls = {s["url"] for s in manifest["shortcuts"]}
    assert shortcut_urls == ({"/es/legal", "/es/rights"} if lang == "es" else {"/legal", "/rights"})
    home = urllib.request.urlopen(f"{server.url}{prefix}/").read().decode()
    touch = re.search(r'rel="apple-touch-icon" href="([^"]+)"', home).group(1)
    assert png_size(urllib.request.urlopen(server.url + touch).read()) == (180, 180)
    assert 'name="apple-mobile-web-app-capable"' in home


def test_pages_render_without_javascript(server, browser):
    context = browser.new_context(java_script_enabled=False, service_workers="block")
    page = context.new_page()
    page.goto(server.url + "/es/legal")
    assert "Ayuda legal" in page.locator("h1").inner_text()
    page.goto(server.url + "/?state=OR")
    assert page.locator("main a[href^='/listings/']").count() >= 1
    context.close()
