""""No connection" is said when the service worker answered from its saved copy because the
network failed or hung, whatever navigator.onLine says, and the line changes when the
network comes back."""

from __future__ import annotations

import re
import time

import pytest

from tests.live import live_server
from tests.test_offline import reads, wait_for_worker

pytestmark = pytest.mark.browser

NO_CONNECTION = {"en": "No connection", "es": "Sin conexión"}
SAVED_COPY = {"en": re.compile(r"No connection · saved copy from \d{1,2}:\d\d\s?[AP]M"),
              "es": re.compile(r"Sin conexión · copia guardada: \d{1,2}:\d\d")}
BACK = {"en": "Connected again.", "es": "Hay conexión de nuevo."}
NEWER = {"en": "A newer version of this page is available.",
         "es": "Hay una versión más nueva de esta página."}
READY = {"en": "The page can be loaded now.", "es": "La página ya se puede cargar."}
PREFIX = {"en": "", "es": "/es"}

DROP_PAGE = """async (url) => {
  const name = (await caches.keys()).find((n) => n.startsWith("vigil-content-"));
  return (await caches.open(name)).delete(url);
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("connection")) as srv:
        yield srv


@pytest.fixture
def visited(server, context):
    """A page of a phone that has been to Vigil in English and Spanish and keeps its
    offline bundle."""
    page = context.new_page()
    page.goto(server.url + "/")
    wait_for_worker(page)
    reads(page, server.url, "es")
    return page


def status(page) -> str:
    page.wait_for_selector("#status:not([hidden])")
    return page.inner_text("#status")


def wait_for_status(page, text: str, timeout: float = 15000) -> str:
    page.wait_for_function(
        "text => { const s = document.getElementById('status');"
        " return !s.hidden && s.innerText.includes(text); }", arg=text, timeout=timeout)
    return page.inner_text("#status")


def is_first_under_header(page) -> bool:
    return page.evaluate("""() => document.getElementById('status').getBoundingClientRect()
        .bottom <= document.querySelector('main h1').getBoundingClientRect().top""")


def abort_everything(context) -> None:
    context.route("**/*", lambda route: route.abort("internetdisconnected"))


def test_the_browser_version_is_named(browser):
    # A failure in this file names the Chromium it ran under (the report header does too).
    assert re.match(r"\d+\.", browser.version), browser.version


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_page_fetched_fresh_says_nothing_of_a_lost_connection(server, visited, lang):
    visited.goto(f"{server.url}{PREFIX[lang]}/legal")
    text = status(visited)
    assert NO_CONNECTION[lang] not in text
    assert not visited.evaluate("document.getElementById('status').classList.contains('offline')")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_request_aborted_says_no_connection_and_when_the_copy_was_saved(
        server, context, visited, lang):
    abort_everything(context)
    visited.goto(f"{server.url}{PREFIX[lang]}/legal")
    text = wait_for_status(visited, NO_CONNECTION[lang])
    assert SAVED_COPY[lang].search(text), text
    # The browser still believes it is online: the line does not come from that guess.
    assert visited.evaluate("navigator.onLine") is True
    assert is_first_under_header(visited)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_set_offline_says_no_connection(server, context, visited, lang):
    context.set_offline(True)
    visited.goto(f"{server.url}{PREFIX[lang]}/alerts")
    text = wait_for_status(visited, NO_CONNECTION[lang])
    assert SAVED_COPY[lang].search(text), text


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_line_changes_without_a_reload_when_the_network_comes_back(
        server, context, visited, lang):
    url = f"{PREFIX[lang]}/about"
    visited.goto(server.url + url)
    abort_everything(context)
    visited.goto(server.url + url)
    wait_for_status(visited, NO_CONNECTION[lang])
    visited.evaluate("window.vigilSamePage = true")
    server.sql("UPDATE statements SET summary_en = summary_en || ' Freshly corrected.', "
               "summary_es = summary_es || ' Recién corregido.'")
    context.unroute("**/*")
    text = wait_for_status(visited, BACK[lang])
    assert NO_CONNECTION[lang] not in text
    text = wait_for_status(visited, NEWER[lang])
    assert visited.evaluate("window.vigilSamePage === true")  # no reload happened
    visited.click("#status button")
    visited.wait_for_function(
        "t => document.querySelector('main').innerText.includes(t)",
        arg="Freshly corrected" if lang == "en" else "Recién corregido")


def test_lie_fi_says_no_connection_then_connected_again(server, context, visited):
    visited.goto(server.url + "/es/before-you-go")
    hung = []
    context.route("**/*", lambda route: hung.append(route))
    visited.goto(server.url + "/es/before-you-go", wait_until="domcontentloaded")
    text = wait_for_status(visited, NO_CONNECTION["es"])
    assert SAVED_COPY["es"].search(text), text
    assert visited.evaluate("navigator.onLine") is True
    for route in hung:
        route.continue_()
    context.unroute("**/*")
    wait_for_status(visited, BACK["es"])


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_page_that_was_not_saved_shows_the_offline_page_saying_it_is_still_trying(
        server, context, visited, lang):
    url = f"{PREFIX[lang]}/listings/no-such-vigil-yet"
    abort_everything(context)
    visited.goto(server.url + url)
    text = wait_for_status(visited, NO_CONNECTION[lang])
    assert "saved copy" not in text and "copia guardada" not in text
    context.unroute("**/*")
    wait_for_status(visited, BACK[lang])
    wait_for_status(visited, READY[lang])
    visited.click("#status button")
    visited.wait_for_selector("h1:text-is('Page not found'), h1:text-is('Página no encontrada')")


def test_a_page_not_saved_on_a_hanging_network_shows_the_offline_page_within_seconds(
        server, context, visited):
    hung = []
    context.route("**/*", lambda route: hung.append(route))
    start = time.monotonic()
    visited.goto(server.url + "/listings/published-since-the-last-visit",
                 wait_until="domcontentloaded", timeout=10000)
    wait_for_status(visited, NO_CONNECTION["en"], timeout=10000)
    assert time.monotonic() - start < 8
    for route in hung:
        route.continue_()
    context.unroute("**/*")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_listings_short_offline_page_says_no_connection(server, context, visited, lang):
    url = f"{PREFIX[lang]}/listings/portland-or-macadam"
    assert visited.evaluate(DROP_PAGE, url)
    abort_everything(context)
    visited.goto(server.url + url)
    visited.wait_for_selector("#short-listing:not([hidden])")
    wait_for_status(visited, NO_CONNECTION[lang])
