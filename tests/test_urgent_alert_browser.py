"""An urgent alert for the organizer's usual state from a 360x740 phone on a slow network:
the taps, fills and seconds it takes, counted as the organizer makes them; and the phone
layout of the alert and listing forms (targets a thumb can hit, fields that follow the
choices, no box scrolling inside the page)."""

from __future__ import annotations

import json
import re
import sqlite3
import time

import pytest
from playwright.sync_api import expect

from tests import dbtools
from tests.live import live_server
from tests.test_push_browser import add_organizer

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}
# A phone on a poor signal: 400 ms round trips, 400 kbit/s each way.
SLOW = {"offline": False, "latency": 400, "downloadThroughput": 50_000,
        "uploadThroughput": 50_000}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("urgent")
    with live_server(tmp) as srv:
        add_organizer(srv, "ana")
        yield srv


@pytest.fixture
def phone(browser, server):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto(server.url + "/admin/login")
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/")
    yield page
    ctx.close()


def rows(server, query: str) -> list[dict]:
    conn = dbtools.connect(server.db_path, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(query)]
    finally:
        conn.close()


def too_small(page, selector: str) -> list[str]:
    """Visible targets under 44 px high, by their text."""
    return page.locator(selector).evaluate_all(
        "els => els.filter(e => e.checkVisibility()).map(e => [e.textContent.trim(),"
        " e.getBoundingClientRect().height]).filter(([, h]) => h < 44).map(([t]) => t)")


def test_an_urgent_alert_for_the_usual_state_in_six_taps_and_thirty_seconds(server, phone):
    # Her last alert went to Oregon: that is her usual state.
    server.sql("INSERT INTO alerts (title, body, states, urgent, expires, status, author, "
               "created, updated, sent) VALUES ('Vigil tonight', 'Candles.', '[\"OR\"]', 0, "
               "'2020-01-01T00:00:00+00:00', 'sent', 'ana', '2020-01-01T00:00:00+00:00', "
               "'2020-01-01T00:00:00+00:00', '2020-01-01T00:00:00+00:00')")
    page = phone
    page.goto(server.url + "/admin/")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW)
    actions = []

    def act(name, step):
        actions.append(name)
        step()

    started = time.monotonic()
    act("tap Send alert", lambda: page.get_by_role("link", name="Send alert").tap())
    page.wait_for_url(re.compile(r".*/admin/alerts/new\?states=OR$"))
    act("tap Urgent: come now", lambda: page.get_by_label("Urgent: come now").tap())
    act("type the place", lambda: page.get_by_label("Place").fill("Portland ICE office"))
    act("tap Preview", lambda: page.get_by_role("button", name="Preview").tap())
    preview = page.locator("section[aria-labelledby=preview-h]")
    expect(preview).to_contain_text("To subscribers in: Oregon")
    expect(preview).to_contain_text("Urgent: come to Portland ICE office now")
    act("tap Send this alert", lambda: page.get_by_role("button", name="Send this alert").tap())
    page.wait_for_url(re.compile(r".*/admin/alerts/\d+\?done=Sent\."))
    expect(page.get_by_role("status")).to_have_text("Sent.")
    seconds = time.monotonic() - started
    print(f"\nurgent alert: {len(actions)} taps and fills, {seconds:.1f} s on a slow network: "
          f"{'; '.join(actions)}")
    assert len(actions) <= 6 and seconds <= 30
    sent = rows(server, "SELECT * FROM alerts ORDER BY id DESC LIMIT 1")[0]
    assert (sent["kind"], sent["place"], sent["status"], sent["urgent"]) == (
        "urgent", "Portland ICE office", "sent", 1)
    assert json.loads(sent["states"]) == ["OR"]


def test_the_alert_form_fits_a_thumb_and_keeps_its_place(server, phone):
    page = phone
    page.goto(server.url + "/admin/")
    # The menu, the dashboard's actions and the lists' links are tap targets.
    assert not too_small(page, "nav a, nav summary, main a.btn, .queue a, .cards a")
    page.goto(server.url + "/admin/listings")
    assert not too_small(page, "main td a")
    page.goto(server.url + "/admin/alerts/new")
    # The states are in the page's own flow: nothing scrolls inside it.
    states = page.locator("fieldset.states")
    assert states.evaluate("e => getComputedStyle(e).overflowY") == "visible"
    assert not too_small(page, "label.choice, button, summary")
    # Fields follow the kind: a kind writes the title and asks for a place (and a time).
    expect(page.get_by_label("Title", exact=True)).to_be_visible()
    expect(page.get_by_label("Place")).to_be_hidden()
    page.get_by_label("All clear").tap()
    expect(page.get_by_label("Title", exact=True)).to_be_hidden()
    expect(page.get_by_label("Place")).to_be_visible()
    expect(page.get_by_label("When", exact=True)).to_be_hidden()
    page.get_by_label("New vigil").tap()
    expect(page.get_by_label("When", exact=True)).to_be_visible()
    # After Preview the chosen states fold under a summary that names them.
    page.get_by_label("Place").fill("Tacoma NWDC")
    page.get_by_label("When", exact=True).fill("2030-07-04T19:00")
    page.get_by_label("Washington").tap()
    page.get_by_label("Oregon").tap()
    page.get_by_role("button", name="Preview").tap()
    expect(page.locator("details.states-pick > summary")).to_contain_text("Oregon, Washington")
    expect(page.get_by_label("Washington")).to_be_checked()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_time_of_day_is_only_for_a_vigil_that_repeats(server, phone):
    page = phone
    page.goto(server.url + "/admin/listings/new")
    time_of_day = page.get_by_label("At (time of day)")
    expect(page.get_by_label("Once")).to_be_checked()
    expect(time_of_day).to_be_hidden()
    page.get_by_label("Every night").check()
    expect(time_of_day).to_be_visible()
    page.get_by_label("Ongoing, day and night").check()
    expect(time_of_day).to_be_hidden()
    # Refused without a start, with everything typed still there.
    page.get_by_label("Once").check()
    page.get_by_label("Title", exact=True).fill("Vigil at the courthouse")
    page.get_by_label("City").fill("Tacoma")
    page.get_by_label("State").select_option("WA")
    page.get_by_label("Description").fill("Candles.")
    page.get_by_role("button", name="Publish").tap()
    expect(page.locator("#e-starts")).to_contain_text("A one-time vigil needs its start")
    expect(page.get_by_label("Title", exact=True)).to_have_value("Vigil at the courthouse")
    expect(page.get_by_label("Description")).to_have_value("Candles.")
