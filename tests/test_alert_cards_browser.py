"""In Chromium on a phone: a tap anywhere on an alert's card opens the alert; a tap on the
phone number in it dials instead."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.live import live_server

pytestmark = pytest.mark.browser


def add_alert(server, states: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    server.sql(
        "INSERT INTO alerts (title, body, url, states, urgent, expires, status, author, created, "
        "sent, updated) VALUES ('Rapid response at Crosspoint', "
        "'Come now. Lawyers: 210-555-0143.', NULL, ?, 1, ?, 'sent', 'ana', ?, ?, ?)",
        (states, (now + timedelta(hours=4)).isoformat(), now.isoformat(), now.isoformat(),
         now.isoformat()))


def test_a_tap_on_the_card_opens_the_alert_and_one_on_its_number_dials(tmp_path, browser):
    with live_server(tmp_path) as server:
        add_alert(server, '["TX"]')
        context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                      has_touch=True)
        page = context.new_page()
        page.goto(server.url + "/listings/san-antonio-tx")
        card = page.locator("#alert-banner .alert-card")
        expect(card).to_contain_text("Texas")
        number = card.get_by_role("link", name="210-555-0143")
        box = number.bounding_box()
        # The number stays on one line, and a finger on it touches the number's own link.
        assert box["height"] < 40
        assert page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('a').href",
                             [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2]) \
            == "tel:+12105550143"
        # A tap on the card's text, away from any link, opens the alert.
        text = card.locator(".alert-when").bounding_box()
        page.touchscreen.tap(text["x"] + 4, text["y"] + text["height"] / 2)
        page.wait_for_url("**/alerts#alert-1")
        expect(page.locator("#alert-1")).to_contain_text("Rapid response at Crosspoint")
        assert page.evaluate("document.querySelector(':target').id") == "alert-1"
        context.close()


def test_with_javascript_an_alert_ends_on_the_phones_clock_in_12_hours(tmp_path, browser):
    """alerts.js tells the end in the phone's own zone, 12-hour as the server writes it, in
    Spanish too ("2:07 p. m.", not "14:07")."""
    with live_server(tmp_path) as server:
        add_alert(server, '["TX"]')
        context = browser.new_context(timezone_id="America/Chicago", locale="es-US")
        page = context.new_page()
        page.goto(server.url + "/es/alerts")
        end = page.locator(".alerts-current time[data-clock]")
        expires = datetime.fromisoformat(end.get_attribute("datetime"))
        local = expires.astimezone(ZoneInfo("America/Chicago"))
        expect(end).to_have_text(re.compile(
            rf"^(\w+\.? )?{local.hour % 12 or 12}:{local.minute:02d}\s[ap]\.\s?m\.$"))
        context.close()
