"""Finding things in Chromium: near me without sending the position, offline search, share."""

from __future__ import annotations

import pytest

from tests.live import live_server
from tests.test_offline import reads, wait_for_worker

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("find")) as srv:
        yield srv


ACTIVE = ("tacoma-wa-northwest-detention-center", "portland-or-macadam", "sacramento-ca")


@pytest.fixture(scope="module")
def some_active(server):
    server.sql("UPDATE listings SET status = 'active' WHERE slug IN (?, ?, ?)", ACTIVE)
    yield
    server.sql("UPDATE listings SET status = 'ended' WHERE slug IN (?, ?, ?)", ACTIVE)


def test_near_me_sorts_on_the_device_and_sends_no_position(server, browser, some_active):
    # A phone standing in Tacoma, WA.
    context = browser.new_context(geolocation={"latitude": 47.2529, "longitude": -122.4443},
                                  permissions=["geolocation"])
    urls = []
    context.on("request", lambda req: urls.append(req.url + " " + (req.post_data or "")))
    page = context.new_page()
    page.goto(server.url + "/")
    wait_for_worker(page)
    page.click("#near-me")
    page.wait_for_selector("#nearest:not([hidden]) li")
    first = page.locator("#nearest li h3 a").first.get_attribute("href")
    assert first == "/listings/tacoma-wa-northwest-detention-center"
    hrefs = page.locator("#nearest li h3 a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))")
    # Only what is happening now: the ended occupations stay out of "nearest".
    assert hrefs == [f"/listings/{slug}" for slug in ACTIVE]
    assert "mi" in page.locator("#nearest li").last.inner_text()
    # What the tap set off is done: the worker noted what is near (by slug, to keep those
    # pages offline) and its bundle is complete again.
    page.wait_for_function("""async (slug) => {
      const saved = await caches.match("/__vigil/interest");
      return Boolean(saved) && (await saved.json()).slugs.includes(slug);
    }""", arg=ACTIVE[0])
    wait_for_worker(page)
    for url in urls:
        assert "47.25" not in url and "122.44" not in url, url
    context.close()


def test_the_home_page_reads_the_kept_index_when_idle_and_downloads_nothing_for_it(
        server, browser, some_active):
    """Where the worker keeps the index, the home page reads it from the worker's cache
    once idle, so a tap on "Nearest to me" need not wait for it; the visit asks the network
    for nothing more."""
    context = browser.new_context(geolocation={"latitude": 45.5, "longitude": -122.6},
                                  permissions=["geolocation"])
    page = context.new_page()
    page.goto(server.url + "/")
    wait_for_worker(page)
    asked: list[str] = []
    page.on("request", lambda req: asked.append(req.url))
    page.reload()
    page.wait_for_function("() => Boolean(window.vigilIndex && window.vigilListings)")
    assert page.evaluate("window.vigilIndex.then((index) => index.listings.length)") == 15
    assert not [url for url in asked if "offline-index" in url]
    context.set_offline(True)
    page.click("#near-me")
    page.wait_for_selector("#nearest:not([hidden]) li")
    assert page.locator("#nearest li h3 a").first.get_attribute("href") == \
        "/listings/portland-or-macadam"
    context.close()


def test_near_me_refused_says_so_and_offers_the_state_choice(server, browser, some_active):
    context = browser.new_context(permissions=[])
    page = context.new_page()
    page.goto(server.url + "/es/")
    page.click("#near-me")
    page.wait_for_function("document.getElementById('near-status').textContent.includes('Elija')")
    assert page.evaluate("document.activeElement.id") == "state"
    assert page.locator("#nearest").is_hidden()
    context.close()


def test_offline_search_in_both_languages(server, browser):
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/search")
    wait_for_worker(page)
    reads(page, server.url, "es")
    page.goto(server.url + "/es/search")
    context.set_offline(True)
    page.goto(server.url + "/es/search")
    page.fill("#q", "Detencion")
    page.press("#q", "Enter")
    page.wait_for_selector("#results li")
    links = page.locator("#results li a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    assert "/es/listings/tacoma-wa-northwest-detention-center" in links
    page.fill("#q", "Atlanta")
    page.press("#q", "Enter")
    atlanta = "#results li a[href='/es/listings/atlanta-ga']"
    page.wait_for_selector(atlanta)
    assert page.inner_text(atlanta) == "Ocupación en Atlanta"
    assert all(link.startswith("/es/") for link in links)
    page.goto(server.url + "/search?q=remain+silent")
    page.wait_for_selector("#results li")
    assert "/rights/remain-silent" in page.locator("#results").inner_html()
    page.fill("#q", "zzzz-nothing")
    page.press("#q", "Enter")
    page.wait_for_selector("#results p")
    assert "Nothing found" in page.inner_text("#results")
    context.close()


def test_share_falls_back_to_copying_the_link(server, browser):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.add_init_script("delete Navigator.prototype.share")
    page.goto(server.url + "/listings/portland-or-macadam")
    page.click("button.share")
    page.wait_for_function("document.querySelector('button.share').textContent === 'Link copied'")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{server.url}/listings/portland-or-macadam"
    assert "?" not in copied  # no tracking parameters
    context.close()
