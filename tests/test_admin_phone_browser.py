"""Organizer pages on a 360x740 phone in a real Chromium: the quick vigil form, no page wider
than the screen, and destructive actions that ask first."""

from __future__ import annotations

import re
import sqlite3

import pytest
from playwright.sync_api import expect

from tests import dbtools
from tests.live import live_server
from tests.test_push_browser import add_organizer

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("phone")
    with live_server(tmp) as srv:
        add_organizer(srv, "ana")
        yield srv


@pytest.fixture
def phone(browser, server):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                              permissions=["geolocation"],
                              geolocation={"latitude": 47.24968, "longitude": -122.42034})
    page = ctx.new_page()
    page.goto(server.url + "/admin/login")
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/")
    yield page
    ctx.close()


def stored(server, slug: str) -> dict:
    conn = dbtools.connect(server.db_path, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM listings WHERE slug = ?", (slug,)).fetchone())
    finally:
        conn.close()


def test_a_nightly_vigil_takes_six_fields_and_one_tap(server, phone):
    page = phone
    page.goto(server.url + "/admin/listings/new")
    # The labels scripts rely on each name one field, even matched loosely.
    for label in ("Title", "Kind", "Address", "City", "State", "Starts", "Ends", "Description"):
        expect(page.get_by_label(label)).to_have_count(1)
    expect(page.get_by_role("button", name="Publish")).to_have_count(1)
    # Six fields filled, counted as the organizer fills them.
    steps = [
        lambda: page.get_by_label("Title").fill("Nightly vigil at the NWDC"),
        lambda: page.get_by_label("Address").fill("1623 E J St"),
        lambda: page.get_by_label("City").fill("Tacoma"),
        lambda: page.get_by_label("State").select_option("WA"),
        lambda: page.get_by_label("Every night").check(),
        lambda: page.get_by_label("Description").fill("Candles at 8 PM."),
    ]
    for step in steps:
        step()
    assert len(steps) <= 6
    # What is not asked for is tucked under More details.
    assert not page.get_by_label("Time zone").is_visible()
    assert page.locator("details.more summary").is_visible()
    page.screenshot(path="/tmp/s14/quick-form.png", full_page=True)
    page.get_by_role("button", name="Publish").tap()
    page.wait_for_url("**/edit?done=Published.*")
    slug = re.search(r"/admin/listings/([^/]+)/edit", page.url).group(1)
    row = stored(server, slug)
    assert row["status"] == "active"
    assert '"freq": "daily"' in row["schedule"] and '"time": "20:00"' in row["schedule"]
    # The time zone follows the state; placed at Tacoma as the site knows it, not 0,0.
    assert '"tz": "America/Los_Angeles"' in row["schedule"]
    assert row["lat"] and abs(row["lat"] - 47.25) < 0.1 and abs(row["lon"] + 122.44) < 0.1


def test_a_nightly_vigil_in_spanish_takes_six_fields_and_one_tap(server, phone):
    page = phone
    page.goto(server.url + "/admin/listings/new")
    page.get_by_role("link", name="Español").tap()
    page.wait_for_url("**/admin/listings/new")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    steps = [
        lambda: page.get_by_label("Título", exact=True).fill("Vigilia nocturna en el NWDC"),
        lambda: page.get_by_label("Dirección", exact=True).fill("1623 E J St"),
        lambda: page.get_by_label("Ciudad", exact=True).fill("Tacoma"),
        lambda: page.get_by_label("Estado", exact=True).select_option("WA"),
        lambda: page.get_by_label("Todas las noches").check(),
        lambda: page.get_by_label("Descripción", exact=True).fill("Velas a las 8 p. m."),
    ]
    for step in steps:
        step()
    assert len(steps) <= 6
    page.screenshot(path="/tmp/s14/quick-form-es.png", full_page=True)
    page.get_by_role("button", name="Publicar").tap()
    page.wait_for_url("**/edit?done=Published.*")
    expect(page.get_by_role("status").filter(has_text="Publicado.")).to_be_visible()
    slug = re.search(r"/admin/listings/([^/]+)/edit", page.url).group(1)
    assert stored(server, slug)["status"] == "active"
    page.get_by_role("link", name="English").tap()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_use_my_location_fills_the_coordinates(server, phone):
    page = phone
    page.goto(server.url + "/admin/listings/new")
    page.get_by_role("button", name="Use my location").tap()
    page.locator("details.more summary").tap()
    expect(page.get_by_label("Latitude")).to_have_value("47.24968")
    expect(page.get_by_label("Longitude")).to_have_value("-122.42034")


def test_the_facility_picker_puts_the_state_first(server, phone):
    page = phone
    page.goto(server.url + "/admin/listings/new")
    page.get_by_label("State").select_option("WA")
    first = page.locator("#f-facility option").nth(1)
    expect(first).to_have_text(re.compile(r"^WA · "))


ORGANIZER_PAGES = ["/admin/", "/admin/listings", "/admin/listings/new",
                   "/admin/listings/portland-or-macadam/edit",
                   "/admin/listings/portland-or-macadam/delete", "/admin/alerts",
                   "/admin/alerts/new", "/admin/suggestions", "/admin/changes", "/admin/content",
                   "/admin/content/contacts", "/admin/content/contacts/united-we-dream/edit",
                   "/admin/content/rights/remain-silent/edit",
                   "/admin/content/facilities/northwest-detention-center-tacoma/edit",
                   "/admin/audit", "/admin/deleted", "/admin/sessions", "/admin/password"]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_no_organizer_page_scrolls_sideways(server, phone, lang):
    page = phone
    page.goto(f"{server.url}/admin/language?to={lang}&next=/admin/")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    wide = []
    for path in ORGANIZER_PAGES:
        res = page.goto(server.url + path)
        assert res.status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide.append((path, width))
        name = lang + "-" + (path.strip("/").replace("/", "_") or "dashboard")
        page.screenshot(path=f"/tmp/s14/{name}.png", full_page=True)
    assert not wide


def test_delete_asks_for_confirmation_on_the_phone(server, phone):
    page = phone
    page.goto(server.url + "/admin/listings/san-diego-ca/edit")
    page.get_by_role("link", name="Delete", exact=True).tap()
    expect(page.get_by_role("heading", name=re.compile("^Delete “"))).to_be_visible()
    assert stored(server, "san-diego-ca")
    page.get_by_role("button", name="Delete", exact=True).tap()
    page.wait_for_url("**/admin/deleted?done=*")
    page.get_by_role("button", name="Restore").first.tap()
    page.wait_for_url("**/san-diego-ca/edit?done=Restored.*")
    assert stored(server, "san-diego-ca")["status"]


def table(server, sql: str) -> list[dict]:
    conn = dbtools.connect(server.db_path, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


SEEDED = [("listings", "/admin/listings/{slug}/edit", ("updated",)),
          ("contacts", "/admin/content/contacts/{slug}/edit", ()),
          ("rights", "/admin/content/rights/{slug}/edit", ()),
          ("articles", "/admin/content/articles/{slug}/edit", ()),
          ("organizations", "/admin/content/organizations/{slug}/edit", ())]


@pytest.mark.parametrize("name, edit, moving", SEEDED)
def test_every_seeded_record_saves_unchanged_from_the_phone(server, phone, name, edit, moving):
    query = f"SELECT * FROM {name} ORDER BY slug, {dbtools.row_order(name)}"
    before = table(server, query)
    assert before
    for slug in sorted({r["slug"] for r in before}):
        phone.goto(server.url + edit.format(slug=slug))
        phone.get_by_role("button", name="Save", exact=True).tap()
        phone.wait_for_url(re.compile(r".*done=Saved.*"))
    after = table(server, query)
    drop = set(moving)
    assert [{k: v for k, v in r.items() if k not in drop} for r in after] == [
        {k: v for k, v in r.items() if k not in drop} for r in before]


def test_alert_expiry_reads_in_words_and_local_time(server, phone):
    page = phone
    page.goto(server.url + "/admin/alerts/new")
    words = page.locator("#expiry-local")
    page.get_by_label("Expires after").select_option("1")
    expect(words).to_have_text(re.compile(r"^Until \d{1,2}:\d\d\s?[AP]M (tonight|today|tomorrow) "
                                          r"\(your time\)$"))
    page.get_by_label("Expires after").select_option("24")
    expect(words).to_have_text(re.compile(r"^Until .* tomorrow \(your time\)$"))
    page.get_by_label("All states").check()
    page.screenshot(path="/tmp/s14/alert-phone.png", full_page=True)


def english_on(page) -> list[str]:
    """English interface text the page shows outside what it marks as English."""
    from tests.test_phone_browser import ENGLISH_ON_PAGE, english_interface_strings

    whole, fragments = english_interface_strings()
    return page.evaluate(ENGLISH_ON_PAGE, [sorted(whole), sorted(fragments)])


def test_the_alert_pages_speak_spanish_on_the_phone(server, phone):
    page = phone
    # The detector sees the English pages' English, or it proves nothing.
    page.goto(server.url + "/admin/alerts/new")
    assert len(english_on(page)) > 5
    page.goto(f"{server.url}/admin/language?to=es&next=/admin/alerts/new")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    english = {}

    def look(name: str) -> None:
        found = english_on(page)
        if found:
            english[name] = found
        page.screenshot(path=f"/tmp/s14/es-alert-{name}.png", full_page=True)

    look("form")
    for label in ("Título en español", "Mensaje en español", "Enlace", "Todos los estados",
                  "Urgente", "Vence en"):
        expect(page.get_by_label(label, exact=True)).to_have_count(1)
    page.get_by_label("Vence en").select_option("1")
    expect(page.locator("#expiry-local")).to_have_text(re.compile(
        r"^Hasta (hoy|esta noche|mañana), \d{1,2}:\d\d\s?[ap]\.\s?m\. \(su hora\)$"))
    page.get_by_label("Título", exact=True).fill("ICE en el tribunal de Tacoma")
    page.get_by_role("button", name="Vista previa").tap()
    expect(page.locator("#e-message")).to_be_visible()
    # The states' error shows at the top of their scrolling box, not below 53 choices.
    box = page.locator("fieldset.states").bounding_box()
    error = page.locator("#e-states").bounding_box()
    assert box["y"] <= error["y"] and error["y"] + error["height"] <= box["y"] + 120
    look("errors")
    page.get_by_label("Mensaje", exact=True).fill("Traiga su teléfono.")
    page.get_by_label("Oregón").tap()
    page.get_by_label("Washington").tap()
    page.get_by_role("button", name="Vista previa").tap()
    preview = page.locator("section[aria-labelledby=preview-h]")
    expect(preview).to_contain_text("Abre: la página de inicio")
    assert "Opens" not in preview.inner_text() and "/" not in preview.inner_text()
    look("preview")
    page.get_by_role("button", name="Enviar", exact=True).tap()
    page.wait_for_url(re.compile(r".*/admin/alerts/\d+\?done=Sent\."))
    expect(page.get_by_role("status")).to_have_text("Enviada.")
    expect(page.locator("time[data-until]")).to_have_text(
        re.compile(r"^(hoy|esta noche|mañana), \d{1,2}:\d\d\s?[ap]\.\s?m\. \(su hora\)$"))
    look("detail")
    page.get_by_label("Mensaje", exact=True).fill("")
    page.get_by_role("button", name="Enviar corrección").tap()
    expect(page.locator("#e-message")).to_be_visible()
    look("correction-errors")
    assert not english, english


def test_the_english_alert_pages_keep_the_interface_labels(server, phone):
    page = phone
    page.goto(server.url + "/admin/alerts/new")
    for label in ("Title", "Message", "Spanish title", "Spanish message", "Link",
                  "All states", "Urgent"):
        expect(page.get_by_label(label, exact=True)).to_have_count(1)
    expect(page.get_by_role("group", name="States", exact=True)).to_have_count(1)
    # A thumb can hit every state.
    heights = page.locator("fieldset.states label.choice").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)")
    assert len(heights) == 53 and min(heights) >= 44
    page.get_by_label("Title", exact=True).fill("Observers needed in Portland")
    page.get_by_label("Message", exact=True).fill("Bring a phone.")
    page.get_by_label("Oregon").tap()
    expect(page.get_by_label("Oregon")).to_be_checked()
    page.get_by_label("Or choose the page it opens").select_option("/legal")
    page.get_by_role("button", name="Preview").tap()
    preview = page.locator("section[aria-labelledby=preview-h]")
    expect(preview).to_contain_text("Opens: Legal help")
    assert "Opens /" not in preview.inner_text()
    page.get_by_role("button", name="Send", exact=True).tap()
    page.wait_for_url(re.compile(r".*/admin/alerts/\d+\?done=Sent\."))
    expect(page.get_by_role("button", name="Retract")).to_have_count(1)
    expect(page.locator("main")).to_contain_text("Opens: Legal help")
    expect(page.locator("time[data-until]")).to_have_text(
        re.compile(r"^\d{1,2}:\d\d\s?[AP]M (today|tonight|tomorrow) \(your time\)$"))
    page.screenshot(path="/tmp/s14/alert-detail.png", full_page=True)
