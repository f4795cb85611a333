"""The first screen on a 360x740 phone holds still: the offline status covers no control
while it shows, online ("saved for offline") or offline, and the page scripts waking up do
not move what is already drawn."""

from __future__ import annotations

import pytest

from tests.live import live_server
from tests.test_offline import reads, wait_for_worker

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
    reads(page, server.url, "es")
    for path, said in (("/alerts", "Saved for offline"), ("/es/alerts", "Disponible sin conexión")):
        page.goto(server.url + path)
        assert said in shown_status(page)
        assert page.locator("#alerts-on").is_visible()
        assert page.evaluate(GET_ALERTS_HIT), path


def test_no_control_on_a_first_screen_is_covered_by_the_status(server, phone):
    page = phone.new_page()
    page.goto(server.url + "/")
    wait_for_worker(page)
    reads(page, server.url, "es")
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


# Every layout shift from the first paint on, kept by the page itself.
RECORD_SHIFTS = """window.vigilShifts = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (!e.hadRecentInput) window.vigilShifts.push({value: e.value,
      moved: e.sources.map(s => s.node && (s.node.id || s.node.className || s.node.nodeName))});
  }
}).observe({type: 'layout-shift', buffered: true});"""


@pytest.mark.parametrize("path", ["/alerts", "/es/alerts"])
def test_the_alerts_panel_does_not_move_the_page_when_its_script_wakes(server, browser, path):
    # Lighthouse's phone, on which the section after the panel is on the first screen.
    ctx = browser.new_context(viewport={"width": 412, "height": 823}, is_mobile=True)
    page = ctx.new_page()
    page.add_init_script(RECORD_SHIFTS)
    # On a slow phone the page is drawn before its scripts arrive: hold the panel's script
    # until the first paint, as a slow network or CPU would.
    held = []
    page.route("**/static/alerts.js*", lambda route: held.append(route))
    page.goto(server.url + path, wait_until="commit")
    page.wait_for_function(
        "() => performance.getEntriesByName('first-contentful-paint').length > 0")
    while not held:
        page.wait_for_timeout(50)
    held[0].continue_()
    # The panel's script has run to the end: it says whether alerts are on.
    page.wait_for_function(
        "() => document.getElementById('alerts-status').textContent.length > 0")
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    shifts = page.evaluate("window.vigilShifts")
    ctx.close()
    assert sum(s["value"] for s in shifts) < 0.01, shifts
