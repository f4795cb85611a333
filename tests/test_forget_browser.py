"""Remove Vigil from this phone, in Chromium: with no connection at all, the saved pages,
storage, suggestions waiting to be sent and the service worker are gone, and the page says
so in its language."""

from __future__ import annotations

import pytest

from tests.live import live_server
from tests.test_offline import wait_for_worker

pytestmark = pytest.mark.browser

WHAT_IS_KEPT = """async () => ({
  caches: (await caches.keys()).length,
  workers: (await navigator.serviceWorker.getRegistrations()).length,
  local: localStorage.length,
  databases: (await indexedDB.databases()).length,
})"""
DONE = {"en": "were removed from this phone", "es": "se borraron de este teléfono"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("forget")) as srv:
        yield srv


@pytest.mark.parametrize("lang", ["en", "es"])
def test_remove_vigil_from_this_phone_works_offline(server, context, lang):
    prefix = "" if lang == "en" else "/es"
    page = context.new_page()
    page.goto(f"{server.url}{prefix}/about")
    wait_for_worker(page)
    page.evaluate("""() => new Promise((done) => {
      const open = indexedDB.open('vigil-suggestions-test', 1);
      open.onupgradeneeded = () => open.result.createObjectStore('s');
      open.onsuccess = () => { open.result.close(); done(); };
    })""")
    page.reload()
    kept = page.evaluate(WHAT_IS_KEPT)
    assert kept["caches"] and kept["workers"] and kept["local"] and kept["databases"], kept

    context.route("**/*", lambda route: route.abort("internetdisconnected"))
    page.goto(f"{server.url}{prefix}/about#remove")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#forget-form button")
    page.wait_for_selector("#forget-done:not([hidden])")
    assert DONE[lang] in page.inner_text("#forget-done")
    assert page.evaluate(WHAT_IS_KEPT) == {"caches": 0, "workers": 0, "local": 0, "databases": 0}


def test_nothing_is_removed_when_the_person_cancels(server, context):
    page = context.new_page()
    page.goto(server.url + "/about")
    wait_for_worker(page)
    page.on("dialog", lambda dialog: dialog.dismiss())
    page.click("#forget-form button")
    assert page.locator("#forget-done").is_hidden()
    assert page.evaluate(WHAT_IS_KEPT)["caches"]
