"""The home page's current vigils in Chromium: "starts in 2 hours" stays true while the page
is open, and once the phone knows where it is, each list puts the nearest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.live import live_server

pytestmark = pytest.mark.browser

ZONES = (("PR", "San Juan", "America/Puerto_Rico"), ("NY", "New York", "America/New_York"),
         ("TX", "San Antonio", "America/Chicago"), ("CA", "San Diego", "America/Los_Angeles"),
         ("HI", "Honolulu", "Pacific/Honolulu"))


def add(server, slug, city, state, starts, lat=None, lon=None):
    server.sql(
        "INSERT INTO listings (slug, kind, title, city, state, lat, lon, starts, status, "
        "description_en, description_es, source, verified, created, updated) VALUES "
        "(?, 'vigil', ?, ?, ?, ?, ?, ?, 'active', 'x', 'x', 'Test', '', ?, ?)",
        (slug, f"Vigil {slug}", city, state, lat, lon, starts, "2026-12-01T00:00:00+00:00",
         "2026-12-01T00:00:00+00:00"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("now")) as srv:
        yield srv


def test_starts_in_is_kept_current_on_the_phone(server, browser):
    """Rendered "in 2 hours" by the server; 1 h 45 min later the open page says "in 25
    minutes", and once the vigil starts it no longer says it starts."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now + timedelta(hours=2, minutes=10)
    # A place where the start is still today, whatever the hour the test runs.
    state, city, zone = next(z for z in ZONES if start.astimezone(ZoneInfo(z[2])).date()
                             == now.astimezone(ZoneInfo(z[2])).date())
    add(server, "soon", city, state, start.astimezone(ZoneInfo(zone)).isoformat())
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.clock.install(time=now)
    page.goto(server.url + "/")
    soon = page.locator("ul[data-phase=today] time[data-in]")
    expect(soon).to_have_text("in 2 hours")
    page.clock.fast_forward("01:45:00")
    expect(soon).to_have_text("in 25 minutes")
    page.goto(server.url + "/es/")
    expect(soon).to_have_text("dentro de 25 minutos")
    page.clock.fast_forward("00:30:00")
    expect(page.locator("ul[data-phase=today] .starts-in")).to_be_hidden()
    context.close()
    server.sql("DELETE FROM listings WHERE slug = 'soon'")


def test_near_me_puts_the_nearest_first_in_each_list(server, browser):
    # Both happening now; New York's began first, so it is first until the phone is placed.
    add(server, "ny-first", "New York", "NY", "2026-01-01", 40.727, -74.006)
    add(server, "wa-second", "Tacoma", "WA", "2026-01-02", 47.249, -122.42)
    add(server, "somewhere", "Boise", "ID", "2026-01-03")
    context = browser.new_context(geolocation={"latitude": 47.2529, "longitude": -122.4443},
                                  permissions=["geolocation"])
    page = context.new_page()
    page.goto(server.url + "/")
    now_list = page.locator("ul[data-phase=now] > li h3 a")
    assert now_list.evaluate_all("els => els.map(e => e.textContent)") == [
        "Vigil ny-first", "Vigil wa-second", "Vigil somewhere"]
    page.click("#near-me")
    page.wait_for_selector("#nearest:not([hidden]) li")
    expect(now_list.first).to_have_text("Vigil wa-second")
    assert now_list.evaluate_all("els => els.map(e => e.textContent)") == [
        "Vigil wa-second", "Vigil ny-first", "Vigil somewhere"]
    first = page.locator("ul[data-phase=now] > li").first
    expect(first.locator(".distance")).to_contain_text("mi")
    # Asked again, each card still says its distance once.
    page.click("#near-me")
    page.wait_for_selector("#near-me:enabled")
    expect(first.locator(".distance")).to_have_count(1)
    context.close()
