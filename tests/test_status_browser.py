"""The offline status on a 360x740 phone: while it shows, it covers no control on the first
screen, online ("saved for offline") or offline."""

from __future__ import annotations

import pytest

from tests.live import live_server
from tests.test_offline import wait_for_worker

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
FIRST_PAGES = ["/alerts", "/", "/legal", "/listings/portland-or-macadam"]

# Every control on the first screen above the tab bar whose centre is hidden under
# something else (the tab bar itself is the page's frame, not a cover). A link that wraps is
# tried at the centre of its first line.
COVERED = """() => {
  const tabs = document.querySelector('.tabs').getBoundingClientRect().top;
  return [...document.querySelectorAll('main a, main button, main input, main select')]
    .filter(el => el.checkVisibility())
    .map(el => [el, el.getClientRects()[0]])
    .filter(([el, r]) => r && r.height > 0 && r.top >= 0 && r.top + r.height / 2 < tabs)
    .filter(([el, r]) => {
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return !(hit === el || el.contains(hit) || (el.labels && [...el.labels].includes(hit)));
    })
    .map(([el, r]) => el.outerHTML.slice(0, 100) + ' under ' + document.elementFromPoint(
      r.left + r.width / 2, r.top + r.height / 2).outerHTML.slice(0, 60));
}"""

GET_ALERTS_HIT = """() => {
  const button = document.getElementById('alerts-on');
  const r = button.getBoundingClientRect();
  return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === button;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("status")) as srv:
        yield srv


@pytest.fixture
def phone(browser):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    yield ctx
    ctx.close()


def shown_status(page) -> str:
    page.wait_for_selector("#status:not([hidden])")
    return page.inner_text("#status")


def test_the_get_alerts_button_is_not_covered_while_saved_for_offline_shows(server, phone):
    page = phone.new_page()
    page.goto(server.url + "/alerts")
    wait_for_worker(page)
    for path, said in (("/alerts", "Saved for offline"), ("/es/alerts", "Disponible sin conexión")):
        page.goto(server.url + path)
        assert said in shown_status(page)
        assert page.locator("#alerts-on").is_visible()
        assert page.evaluate(GET_ALERTS_HIT), path


def test_no_control_on_a_first_screen_is_covered_by_the_status(server, phone):
    page = phone.new_page()
    page.goto(server.url + "/")
    wait_for_worker(page)
    for path in FIRST_PAGES:
        for url in (path, "/es" + path.rstrip("/")):
            page.goto(server.url + url)
            shown_status(page)
            assert page.evaluate(COVERED) == [], url
    phone.set_offline(True)
    for url in ("/alerts", "/es/alerts", "/legal"):
        page.goto(server.url + url)
        page.wait_for_selector("#status.offline")
        assert page.evaluate(COVERED) == [], url
        # Offline it is read first, under the header, above the page's own heading.
        assert page.evaluate("""() => document.getElementById('status').getBoundingClientRect()
            .bottom <= document.querySelector('main h1').getBoundingClientRect().top"""), url
