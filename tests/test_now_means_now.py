""""Now" means now: the home page splits what is happening now from what starts later today,
this week and later, each by start time whatever its state; "starts in 2 hours" in the
visitor's language; a vigil that has not started is never called happening, in either
language; and the pages follow the clock, not only edits."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from server import content, fingerprints
from server.app import create_app
from tests import dbtools
from tests.conftest import make_settings

# Monday 7 December 2026, 6 AM in Texas, 7 AM in New York, 4 AM in Oregon.
MONDAY_6AM_CENTRAL = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

LISTINGS = [
    # slug, city, state, starts, ends, schedule
    ("tx-tonight", "San Antonio", "TX", "2026-12-07T18:00:00-06:00", "2026-12-07T20:00:00-06:00",
     None),
    ("tx-this-morning", "Houston", "TX", "2026-12-07T08:00:00-06:00", None, None),
    ("ny-started", "New York", "NY", "2026-12-07T06:30:00-05:00", "2026-12-07T09:00:00-05:00",
     None),
    ("ak-dawn-nightly", "Anchorage", "AK", "2026-11-01", None,
     {"freq": "daily", "time": "02:30", "tz": "America/Anchorage", "duration_minutes": 90}),
    ("or-wednesday", "Portland", "OR", "2026-12-09T18:00:00-08:00", None, None),
    ("al-tuesday", "Montgomery", "AL", "2026-12-08T12:00:00-06:00", None, None),
    ("ca-later", "San Diego", "CA", "2026-12-20T10:00:00-08:00", None, None),
]


def add_listing(settings, slug, city, state, starts, ends, schedule) -> None:
    conn = dbtools.connect(settings.db_path)
    conn.execute(
        "INSERT INTO listings (slug, kind, title, city, state, starts, ends, schedule, status, "
        "description_en, description_es, source, verified, created, updated) "
        "VALUES (?, 'vigil', ?, ?, ?, ?, ?, ?, 'active', 'Candles.', 'Velas.', 'Test', '', "
        "'2026-12-01T00:00:00+00:00', '2026-12-01T00:00:00+00:00')",
        (slug, f"Vigil {slug}", city, state, starts, ends,
         json.dumps(schedule) if schedule else None))
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
    conn.commit()
    conn.close()


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(MONDAY_6AM_CENTRAL)
    monkeypatch.setattr(content, "utcnow", clock)
    # Hashes follow the clock on every request here, not once a minute.
    monkeypatch.setattr(fingerprints, "REFRESH_EVERY", 0.0)
    return clock


@pytest.fixture
def site(tmp_path, clock):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        for row in LISTINGS:
            add_listing(settings, *row)
        yield client


def sections(page: str) -> dict[str, list[str]]:
    """Each section of current listings on the home page: its heading and its listings'
    slugs, in order."""
    found = {}
    for heading, body in re.findall(
            r'<section class="phase"[^>]*>\s*<h2[^>]*>([^<]+)</h2>(.*?)</section>', page, re.S):
        found[html.unescape(heading)] = re.findall(r'href="(?:/es)?/listings/([^"]+)"', body)
    return found


def text(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", fragment))
                  .replace("\u202f", " ").replace("\u00a0", " "))


def card(page: str, slug: str) -> str:
    found = re.search(r'<li class="card[^"]*"[^>]*>\s*<h3><a[^>]*href="(?:/es)?/listings/'
                      + re.escape(slug) + r'".*?</li>', page, re.S)
    assert found, slug
    return text(found.group(0))


def test_now_later_today_this_week_and_later_each_by_start_time(site):
    page = site.get("/").text
    assert sections(page) == {
        "Happening now": ["ny-started", "ak-dawn-nightly"],
        "Later today": ["tx-this-morning", "tx-tonight"],
        "This week": ["al-tuesday", "or-wednesday"],
        "Coming up": ["ca-later"],
    }
    assert "Vigils happening now" not in page
    assert "Starts in 2 hours · Today, 8 AM (Central)" in card(page, "tx-this-morning")
    assert "Starts in 12 hours · Tonight, 6 PM (Central)" in card(page, "tx-tonight")
    assert "Happening now Ends Today, 9 AM (Eastern)" in card(page, "ny-started")
    assert "Happening now Ends Today, 4 AM (Alaska)" in card(page, "ak-dawn-nightly")
    assert "Starts Wednesday, 6 PM (Pacific)" in card(page, "or-wednesday")
    # One state's view keeps the same order.
    assert sections(site.get("/?state=TX").text) == {
        "Later today": ["tx-this-morning", "tx-tonight"]}


def test_spanish_says_when_in_spanish_and_never_calls_a_later_vigil_happening(site):
    page = site.get("/es/").text
    assert list(sections(page)) == ["Ahora mismo", "Más tarde hoy", "Esta semana",
                                    "Más adelante"]
    assert "Empieza: dentro de 2 horas · Hoy, 8:00 a. m. (hora central)" in card(
        page, "tx-this-morning")
    tonight = site.get("/es/listings/tx-tonight").text
    meta = text(re.search(r'<p class="meta">(.*?)</p>', tonight, re.S).group(1))
    assert "Más tarde hoy" in meta and "En curso" not in meta and "Ahora mismo" not in meta
    when = text(re.search(r'<p class="when">(.*?)</p>', tonight, re.S).group(1))
    assert when == ("Empieza: dentro de 12 horas · Hoy, 6:00 p. m. (hora central) · "
                    "Termina: Hoy, 8:00 p. m. (hora central)")
    assert "Termina el" not in tonight and "Desde el Hoy" not in tonight
    started = site.get("/es/listings/ny-started").text
    assert "Ahora mismo" in text(re.search(r'<p class="meta">(.*?)</p>', started, re.S).group(1))
    assert text(re.search(r'<p class="when">(.*?)</p>', started, re.S).group(1)) == (
        "Empezó: Hoy, 6:30 a. m. (hora oriental) · Termina: Hoy, 9:00 a. m. (hora oriental)")


def test_the_pages_follow_the_clock_without_an_edit(site, clock):
    """Nothing in the database changes, yet at 4:05 PM in Texas tonight's vigil starts in
    2 hours, and at 6:05 PM it is happening, on the home page and its own page."""
    assert "Starts in 12 hours" in card(site.get("/").text, "tx-tonight")
    clock.now = datetime(2026, 12, 7, 22, 5, tzinfo=UTC)
    assert "Starts in 2 hours" in card(site.get("/").text, "tx-tonight")
    clock.now = datetime(2026, 12, 8, 0, 5, tzinfo=UTC)
    page = site.get("/").text
    assert "tx-tonight" in sections(page)["Happening now"]
    assert "Happening now" in text(re.search(
        r'<p class="meta">(.*?)</p>', site.get("/listings/tx-tonight").text, re.S).group(1))
    # Wednesday's vigil in Oregon is later today once Wednesday comes there.
    clock.now = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
    assert "or-wednesday" in sections(site.get("/").text)["Later today"]


def test_timing_on_the_place_clock():
    now = MONDAY_6AM_CENTRAL
    tonight = {"status": "active", "starts": "2026-12-08T05:30:00+00:00", "ends": None,
               "schedule": None}
    # 11:30 PM Monday in Texas is later today there, though Tuesday in UTC.
    assert content.timing(tonight, now, "America/Chicago").phase == "today"
    # 12:30 AM Tuesday in New York is tomorrow there.
    assert content.timing(tonight, now, "America/New_York").phase == "week"
    # A day without a time: happening from that day on; an ended listing has no timing.
    assert content.timing({**tonight, "starts": "2026-12-07"}, now, "America/Chicago").phase \
        == "now"
    assert content.timing({**tonight, "status": "ended"}, now, "America/Chicago") is None
    assert content.timing({**tonight, "starts": None}, now, "America/Chicago").phase == "now"
