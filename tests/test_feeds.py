"""Calendars parse with icalendar and recur at the right local times; the Atom feed parses."""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import feedparser
import pytest
from icalendar import Calendar

from tests import dbtools

NIGHTLY = {
    "slug": "nightly-vigil-tacoma", "kind": "vigil", "title": "Nightly vigil at the NWDC",
    "description_en": "Candles at 8 pm.", "description_es": "Velas a las 8 pm.",
    "address": "1623 E J St", "city": "Tacoma", "state": "WA", "lat": 47.249, "lon": -122.42,
    "starts": "2026-10-25", "ends": None,
    "schedule": json.dumps({"freq": "daily", "time": "20:00", "tz": "America/Los_Angeles",
                            "duration_minutes": 90}),
    "status": "active", "links": "[]", "needs": "[]", "source": "organizer",
    "verified": "2026-11-27", "created": "2026-10-20T10:00:00+00:00",
    "updated": "2026-10-20T10:00:00+00:00",
}


def add_listing(settings, row: dict) -> None:
    conn = dbtools.connect(settings.db_path)
    cols = ", ".join(row)
    conn.execute(f"INSERT INTO listings ({cols}) VALUES ({', '.join('?' * len(row))})",
                 list(row.values()))
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
    conn.commit()
    conn.close()


@pytest.fixture
def with_nightly(client, settings):
    add_listing(settings, NIGHTLY)
    return client


def test_nightly_vigil_recurs_at_8pm_local_across_dst(with_nightly):
    res = with_nightly.get("/listings/nightly-vigil-tacoma.ics")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(res.content)
    assert cal.walk("VTIMEZONE"), "a VTIMEZONE for America/Los_Angeles"
    event = cal.walk("VEVENT")[0]
    assert str(event["summary"]) == "Nightly vigil at the NWDC"
    assert event["rrule"]["FREQ"] == ["DAILY"]
    start = event.decoded("dtstart")
    assert start.tzinfo is not None
    # Expand across the end of daylight saving time (2026-11-01 in the US).
    from dateutil.rrule import rrulestr

    rule = rrulestr(event["rrule"].to_ical().decode(), dtstart=start)
    occurrences = rule.between(datetime(2026, 10, 30, tzinfo=ZoneInfo("UTC")),
                               datetime(2026, 11, 4, tzinfo=ZoneInfo("UTC")))
    la = ZoneInfo("America/Los_Angeles")
    assert [o.astimezone(la).hour for o in occurrences] == [20] * len(occurrences)
    offsets = {o.astimezone(la).utcoffset().total_seconds() / 3600 for o in occurrences}
    assert offsets == {-7.0, -8.0}, "the series crosses the DST change"


def test_all_dated_listings_calendar(with_nightly):
    cal = Calendar.from_ical(with_nightly.get("/calendar.ics").content)
    uids = {str(e["uid"]) for e in cal.walk("VEVENT")}
    assert any(u.startswith("nightly-vigil-tacoma@") for u in uids)
    assert any(u.startswith("portland-or-macadam@") for u in uids)  # dated 2018-06-17


def test_undated_listing_has_no_calendar(client):
    assert client.get("/listings/san-diego-ca.ics").status_code == 404
    assert client.get("/listings/nope.ics").status_code == 404


def test_listing_page_offers_calendar_and_next_occurrence(with_nightly):
    html = with_nightly.get("/listings/nightly-vigil-tacoma").text
    assert 'href="/listings/nightly-vigil-tacoma.ics"' in html
    assert "Every night at 8\u202fPM (Pacific)" in html or "Every night at 8 PM (Pacific)" in html
    # The next night: "Next: Tomorrow, 8 PM", or how soon when it is later today.
    text = re.sub(r"<[^>]+>", "", html)
    assert "Next:" in text or "Starts in" in text
    es = with_nightly.get("/es/listings/nightly-vigil-tacoma").text
    assert "Todas las noches" in es


def test_atom_feed_parses(with_nightly):
    res = with_nightly.get("/feed.atom")
    assert res.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(res.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    titles = [e.title for e in feed.entries]
    assert any("Nightly vigil" in t for t in titles)
    assert all(e.id and e.link and e.updated for e in feed.entries)
    updated = [e.updated_parsed for e in feed.entries]
    assert updated == sorted(updated, reverse=True)  # newest first
