"""The languages in a real Chromium: the browser's language offered and never forced, Arabic
laid out right to left on a phone, and a phone keeping the pages of its visitor's language."""

from __future__ import annotations

import pytest

from tests.live import live_server
from tests.test_offline import KEEPS_LANGS, eventually, wait_for_worker

PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("languages")) as srv:
        yield srv


def test_the_browsers_language_is_offered_in_the_header_until_one_is_picked(server, browser):
    context = browser.new_context(locale="fr-FR", viewport=PHONE)
    page = context.new_page()
    page.goto(server.url + "/legal")
    offer = page.locator(".top a.offer-lang")
    offer.wait_for()
    assert offer.inner_text() == "Français"
    assert offer.get_attribute("href") == "/fr/legal" and offer.get_attribute("lang") == "fr"
    # Offered, not forced: the page stays English, and nothing on it moved.
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.evaluate("document.querySelector('.top').getBoundingClientRect().height") <= 52
    offer.click()
    page.wait_for_url("**/fr/legal")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator(".top a.offer-lang").count() == 0  # the page is in it
    # Picked once: going back to English is the visitor's choice, and stays without offers.
    page.goto(server.url + "/fr/legal#languages")
    page.locator('#languages a[hreflang="en"]').click()
    page.wait_for_url("**/legal")
    assert page.locator("html").get_attribute("lang") == "en"
    page.reload()
    page.wait_for_load_state()
    assert page.locator(".top a.offer-lang").count() == 0
    context.close()


def test_a_browser_in_english_is_offered_nothing_on_english_pages(server, browser):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_function("document.readyState === 'complete'")
    assert page.locator(".offer-lang").count() == 0
    context.close()


def test_arabic_reads_from_the_right_and_fits_a_phone(server, browser):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    for path in ("/ar/", "/ar/legal", "/ar/card", "/ar/alerts", "/ar/rights/at-your-door"):
        page.goto(server.url + path)
        assert page.evaluate("document.documentElement.dir") == "rtl"
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        brand = page.locator(".top .brand").bounding_box()
        language = page.locator(".top .lang").bounding_box()
        assert brand["x"] > language["x"], path  # the name at the right, as Arabic starts
    page.goto(server.url + "/ar/card")
    agent = page.locator(".side.agent")
    assert agent.evaluate("e => getComputedStyle(e).direction") == "ltr"
    assert agent.inner_text().startswith("To the officer")
    context.close()


def test_a_phone_keeps_the_pages_of_its_visitors_language(server, browser):
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/ht/")
    wait_for_worker(page)
    eventually(page, KEEPS_LANGS, "ht", timeout=30)
    kept = page.evaluate("""async () => {
      const name = (await caches.keys()).find((n) => n.startsWith("vigil-content-"));
      return (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname);
    }""")
    assert "/ht/legal" in kept and "/ht/rights/at-your-door" in kept
    assert not [p for p in kept if p.startswith(("/es/", "/fr/"))]
    assert "/legal" not in kept
    context.set_offline(True)
    page.goto(server.url + "/ht/legal")
    page.wait_for_selector("#status.offline")
    assert page.locator("html").get_attribute("lang") == "ht"
    # A page in a language this phone does not keep: the offline page in the visitor's.
    page.goto(server.url + "/es/about")
    page.wait_for_selector("#status")
    assert page.locator("html").get_attribute("lang") == "ht"
    context.close()
