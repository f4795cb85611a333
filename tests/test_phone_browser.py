"""Every public page on a 360x740 phone, in both languages: nothing scrolls sideways, no
visible control is dead without JavaScript, every link on the site answers, and no English
interface text shows on a Spanish page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import expect

from server.i18n import LOCALE_DIR
from tests.live import live_server
from tests.test_pages import PATHS, spanish

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
EVERY_PAGE = [u for p in PATHS for u in (p, spanish(p))] + ["/es/search?q=atlanta"]

# What the page may show for a control without JavaScript: a link somewhere, or a button
# that submits a form to the server.
DEAD_CONTROLS = """() => [...document.querySelectorAll('button, [role=button], a')]
  .filter(el => el.checkVisibility())
  .filter(el => el.tagName === 'A'
    ? !el.getAttribute('href') || el.getAttribute('href') === '#'
    : el.type !== 'submit' || !el.form)
  .map(el => el.outerHTML.slice(0, 120))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("phone")) as srv:
        # One vigil happening now, so the controls for current listings are on the page too.
        srv.sql("UPDATE listings SET status = 'active', schedule = ? WHERE slug = ?",
                ('{"freq": "daily", "time": "20:00", "tz": "America/Los_Angeles"}',
                 "portland-or-macadam"))
        yield srv


@pytest.fixture(scope="module")
def phone(browser):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    yield ctx.new_page()
    ctx.close()


@pytest.fixture(scope="module")
def phone_without_js(browser):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, java_script_enabled=False)
    yield ctx.new_page()
    ctx.close()


def test_no_page_scrolls_sideways(server, phone):
    wide = {}
    for url in EVERY_PAGE:
        phone.goto(server.url + url)
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide[url] = width
    assert not wide, f"wider than the phone: {wide}"


def test_every_section_is_reachable_from_the_tab_bar_without_scrolling(server, phone):
    for start in ("/", "/es/"):
        phone.goto(server.url + start)
        tabs = phone.locator("nav.tabs a")
        assert tabs.count() >= 4
        for i in range(tabs.count()):
            box = tabs.nth(i).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
            assert box["y"] + box["height"] <= PHONE["height"] and box["height"] >= 44
        more = phone.locator("#more a").evaluate_all("els => els.map(e => e.pathname)")
        for section in ("/facilities", "/resources", "/about"):
            assert any(path.endswith(section) for path in more), (start, section)


def test_without_javascript_no_visible_control_does_nothing(server, phone_without_js):
    dead = {}
    for url in EVERY_PAGE:
        phone_without_js.goto(server.url + url)
        found = phone_without_js.evaluate(DEAD_CONTROLS)
        if found:
            dead[url] = found
    assert not dead, dead


def test_the_controls_javascript_adds_stay_hidden_without_it(server, phone_without_js):
    phone_without_js.goto(server.url + "/")
    assert phone_without_js.locator("#near-me").count() == 1
    assert phone_without_js.locator("#near-me").is_hidden()
    phone_without_js.goto(server.url + "/listings/portland-or-macadam")
    assert phone_without_js.locator("button.share").is_hidden()


def test_every_same_origin_link_answers_200(server, phone):
    pages = set(EVERY_PAGE)
    links: dict[str, str] = {}
    for url in sorted(pages):
        phone.goto(server.url + url)
        for href in phone.locator("a[href]").evaluate_all("els => els.map(e => e.href)"):
            parts = urlsplit(href)
            if f"{parts.scheme}://{parts.netloc}" == server.url:
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                links.setdefault(target, url)
    assert len(links) > len(pages) / 2
    failed = {}
    for target, found_on in sorted(links.items()):
        res = phone.request.get(server.url + target, max_redirects=0)
        if res.status != 200:
            failed[target] = (res.status, found_on)
    assert not failed, failed


def english_interface_strings() -> tuple[set[str], set[str]]:
    """Whole English messages (to match an element's entire text) and multi-word fragments
    of them (to match anywhere), for every message whose Spanish differs."""
    with open(LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh)
    whole, fragments = set(), set()
    # Words both languages share ("Vigil", the name) are not English on a Spanish page.
    shared = {m.id for m in catalog if m.id and m.string == m.id}
    for m in catalog:
        if not m.id or isinstance(m.id, tuple) or m.string == m.id:
            continue
        parts = [p.strip(" .,:;()·") for p in re.split(r"%\(\w+\)s", m.id)]
        if len(parts) == 1 and parts[0] not in shared:
            whole.add(parts[0])
        fragments.update(p for p in parts if len(p.split()) >= 2 and len(p) >= 10)
    return whole, fragments


ENGLISH_ON_PAGE = """([whole, fragments]) => {
  const found = [];
  // What a page marks as English on purpose (the rights card's side for an agent, the
  // language switch) is English by design.
  const texts = [...document.querySelectorAll('body *')]
    .filter(el => el.checkVisibility() && !el.closest('[lang="en"]'))
    .map(el => el.textContent.trim().replace(/\\s+/g, ' '));
  for (const el of document.querySelectorAll('[aria-label], [placeholder], [title], [alt]')) {
    for (const name of ['aria-label', 'placeholder', 'title', 'alt']) {
      if (el.hasAttribute(name)) texts.push(el.getAttribute(name).trim());
    }
  }
  texts.push(document.title.split(' · ')[0]);
  for (const text of texts) if (whole.includes(text)) found.push(text);
  let body = document.body.innerText;
  for (const el of document.querySelectorAll('body [lang="en"]')) {
    body = body.split(el.innerText).join(' ');
  }
  body = body.replace(/\\s+/g, ' ');
  for (const fragment of fragments) if (body.includes(fragment)) found.push(fragment);
  return [...new Set(found)];
}"""


def test_no_english_interface_text_on_spanish_pages(server, phone):
    whole, fragments = english_interface_strings()
    strings = [sorted(whole), sorted(fragments)]
    # The detector must see English where English is expected, or it proves nothing.
    phone.goto(server.url + "/listings/portland-or-macadam")
    assert len(phone.evaluate(ENGLISH_ON_PAGE, strings)) > 5
    english = {}
    for url in EVERY_PAGE:
        if not url.startswith("/es"):
            continue
        phone.goto(server.url + url)
        found = phone.evaluate(ENGLISH_ON_PAGE, strings)
        if found:
            english[url] = found
    assert not english, english


def main_text(page) -> str:
    """The main text with Babel's narrow and non-breaking spaces read as spaces."""
    return re.sub(r"[\u00a0\u202f]", " ", page.inner_text("main"))


def test_a_listing_offers_calls_directions_and_a_human_time(server, phone):
    # In a state with a legal-help number, one tap calls it, with where it comes from.
    phone.goto(server.url + "/listings/new-york-ny-varick-street")
    calls = phone.locator(".legal-lines a.call[href^='tel:']")
    assert calls.count() >= 1
    assert "Where this number comes from" in phone.locator(".legal-lines").inner_text()
    # Where Vigil knows none, the page offers no call and says what to do instead.
    phone.goto(server.url + "/listings/portland-or-macadam")
    assert phone.locator(".legal-lines a.call[href^='tel:']").count() == 0
    assert "No legal hotline for Oregon is listed here yet" in main_text(phone)
    maps = phone.locator(".maps a").evaluate_all("els => els.map(e => e.href)")
    assert any(h.startswith("https://maps.apple.com/?daddr=4310%20SW%20Macadam") for h in maps)
    assert any(h.startswith("https://www.google.com/maps/dir/?api=1&destination=4310%20SW")
               for h in maps)
    assert any(h.startswith("geo:0,0?q=4310%20SW%20Macadam") for h in maps)
    assert any(h.startswith("https://www.openstreetmap.org/search?query=4310") for h in maps)
    assert "Every night at 8 PM (Pacific)" in main_text(phone)
    # The next night as people say it: how soon too, when it is later today.
    assert re.search(r"(Next: (Tonight|Tomorrow)|Starts in \d+ (hours?|minutes) · Tonight), "
                     r"8 PM \(Pacific\)", main_text(phone))
    phone.goto(server.url + "/es/listings/portland-or-macadam")
    assert "Todas las noches, 8:00 p. m. (hora del Pacífico)" in main_text(phone)
    assert re.search(r"(Hoy|Mañana), 8:00 p\. m\. \(hora del Pacífico\)", main_text(phone))
    # A listing known only by its city gives no pin and says why.
    phone.goto(server.url + "/listings/atlanta-ga")
    assert phone.locator(".maps").count() == 0
    assert "Exact place not published" in main_text(phone)
    phone.goto(server.url + "/es/listings/atlanta-ga")
    assert phone.locator("h1").inner_text() == "Ocupación en Atlanta"


IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1")
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/130.0 Mobile Safari/537.36")


@pytest.mark.parametrize(("agent", "shown", "left_out"),
                         [(IPHONE, "ios", "android"), (ANDROID, "android", "ios")])
def test_map_links_are_the_ones_the_phone_can_open(server, browser, agent, shown, left_out):
    ctx = browser.new_context(viewport=PHONE, user_agent=agent, is_mobile=True)
    page = ctx.new_page()
    page.goto(server.url + "/listings/portland-or-macadam")
    page.wait_for_selector(f".maps a[data-os='{left_out}']", state="hidden")
    assert page.locator(f".maps a[data-os='{shown}']").first.is_visible()
    assert page.locator(".maps a[href*='openstreetmap.org']").is_visible()
    ctx.close()


@pytest.mark.parametrize(("agent", "route"), [
    (IPHONE, "https://maps.apple.com/?daddr=4310%20SW%20Macadam%20Ave%2C%20Portland%2C%20OR"),
    (ANDROID, "https://www.google.com/maps/dir/?api=1&destination=4310%20SW%20Macadam%20Ave"
              "%2C%20Portland%2C%20OR")])
def test_one_directions_button_starts_a_route_and_the_page_asks_no_other_site(
        server, browser, agent, route):
    ctx = browser.new_context(viewport=PHONE, user_agent=agent, is_mobile=True)
    asked = []
    ctx.on("request", lambda req: asked.append(req.url))
    page = ctx.new_page()
    page.goto(server.url + "/listings/portland-or-macadam")
    shown = page.locator(".maps a.route:visible")
    expect(shown).to_have_count(1)
    expect(shown).to_contain_text("Directions")
    assert shown.get_attribute("href") == route
    assert shown.bounding_box()["height"] >= 44
    page.goto(server.url + "/es/listings/portland-or-macadam")
    expect(page.locator(".maps a.route:visible")).to_contain_text("Cómo llegar")
    assert asked and all(url.startswith(server.url) for url in asked), asked
    ctx.close()


def test_the_install_hint_waits_for_the_second_visit(server, browser):
    ctx = browser.new_context(viewport=PHONE, user_agent=IPHONE, is_mobile=True)
    page = ctx.new_page()
    page.goto(server.url + "/")
    page.wait_for_function("localStorage.getItem('vigil-visits') === '1'")
    assert page.locator("#ios-install").is_hidden()
    page.goto(server.url + "/legal")
    page.wait_for_selector("#ios-install", state="visible")
    box = page.locator("#ios-install").bounding_box()
    assert box and box["y"] < PHONE["height"] / 2
    ctx.close()


def test_on_android_without_a_prompt_install_is_written_out(server, browser):
    """Firefox on Android never offers the browser's install prompt, and Chrome not after it
    was refused once: from the second visit, Install app is there all the same, and says
    how to install from the browser's menu, in the page's language."""
    ctx = browser.new_context(viewport=PHONE, user_agent=ANDROID, is_mobile=True)
    page = ctx.new_page()
    page.goto(server.url + "/")
    page.wait_for_function("localStorage.getItem('vigil-visits') === '1'")
    assert page.locator("#install").is_hidden()
    page.goto(server.url + "/es/legal")
    install = page.get_by_role("button", name="Instalar app")
    expect(install).to_be_visible()
    assert page.locator("#android-install").is_hidden()
    install.click()
    help_text = page.locator("#android-install")
    expect(help_text).to_be_visible()
    expect(help_text).to_contain_text("menú del navegador")
    expect(help_text).to_be_focused()
    assert help_text.bounding_box()["y"] < PHONE["height"] / 2
    # Where the browser does offer its prompt, the button opens it instead.
    page.goto(server.url + "/")
    page.evaluate("""() => {
      const event = new Event("beforeinstallprompt");
      event.prompt = () => { window.__prompted = true; };
      event.userChoice = Promise.resolve({ outcome: "dismissed" });
      window.dispatchEvent(event);
    }""")
    page.get_by_role("button", name="Install app").click()
    page.wait_for_function("window.__prompted === true")
    assert page.locator("#android-install").is_hidden()
    ctx.close()

