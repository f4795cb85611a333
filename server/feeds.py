"""Calendars (iCalendar, RFC 5545, via the icalendar library) and the Atom feed (RFC 4287)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vRecur, vText

from server.content import place_of

ATOM_NS = "http://www.w3.org/2005/Atom"
_DEFAULT_DURATION = timedelta(hours=2)


def _parse_moment(value: str) -> date | datetime:
    return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value[:10])


def _utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def listing_event(listing: dict, base_url: str) -> Event | None:
    """One VEVENT for a dated or recurring listing; None when it has neither."""
    schedule = listing.get("schedule")
    if not listing.get("starts") and not schedule:
        return None
    event = Event()
    host = urlsplit(base_url).hostname or "vigil"
    event.add("uid", f"{listing['slug']}@{host}")
    event.add("dtstamp", _utc(listing["updated"]))
    event.add("summary", listing["title"])
    event.add("location", place_of(listing))
    if listing.get("lat") is not None and listing.get("lon") is not None:
        event.add("geo", (listing["lat"], listing["lon"]))
    description = listing["description"]
    event.add("description", description["en"] + "\n\n" + description["es"])
    event.add("url", f"{base_url}/listings/{listing['slug']}")
    event.add("status", "CONFIRMED")
    if schedule:
        tz = ZoneInfo(schedule["tz"])
        hour, minute = (int(p) for p in schedule["time"].split(":"))
        first_day = _parse_moment(listing["starts"]) if listing.get("starts") else None
        if isinstance(first_day, datetime):
            first_day = first_day.astimezone(tz).date()
        first_day = first_day or _utc(listing["created"]).astimezone(tz).date()
        start = datetime(first_day.year, first_day.month, first_day.day, hour, minute, tzinfo=tz)
        duration = timedelta(minutes=schedule.get("duration_minutes") or 120)
        event.add("dtstart", start)
        event.add("dtend", start + duration)
        rule: dict = {"freq": schedule["freq"].upper()}
        if schedule.get("byday"):
            rule["byday"] = schedule["byday"]
        if listing.get("ends"):
            end = _parse_moment(listing["ends"])
            if not isinstance(end, datetime):
                end = datetime(end.year, end.month, end.day, 23, 59, 59, tzinfo=tz)
            rule["until"] = end.astimezone(UTC)
        event.add("rrule", vRecur(rule))
    else:
        start = _parse_moment(listing["starts"])
        event.add("dtstart", start)
        if listing.get("ends"):
            end = _parse_moment(listing["ends"])
            # DTEND of an all-day event is exclusive: the day after the last day.
            event.add("dtend", end + timedelta(days=1) if not isinstance(end, datetime) else end)
        elif isinstance(start, datetime):
            event.add("dtend", start + _DEFAULT_DURATION)
    return event


def calendar(listings: list[dict], base_url: str, name: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Vigil//vigil//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", vText(name))  # escaped as TEXT, like SUMMARY
    for listing in listings:
        event = listing_event(listing, base_url)
        if event is not None:
            cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


# Characters XML 1.0 cannot hold at all (a feed with one is not well-formed).
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}",
                       {k: _NOT_XML.sub("", v) for k, v in attrs.items()})
    if text is not None:
        el.text = _NOT_XML.sub("", text)
    return el


def atom_feed(listings: list[dict], alerts: list[dict], base_url: str) -> bytes:
    """New listings and sent alerts; a correction or retraction updates its entry."""
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    _sub(feed, "title", "Vigil: vigils and alerts")
    _sub(feed, "id", f"{base_url}/feed.atom")
    _sub(feed, "link", href=f"{base_url}/feed.atom", rel="self", type="application/atom+xml")
    _sub(feed, "link", href=f"{base_url}/", rel="alternate", type="text/html")
    author = _sub(feed, "author")
    _sub(author, "name", "Vigil organizers")
    entries = []
    host = urlsplit(base_url).hostname or "vigil"
    for listing in listings:
        entries.append({
            "id": f"tag:{host},2018:listing:{listing['slug']}",
            "title": f"{listing['title']} ({listing['city']}, {listing['state']})",
            "url": f"{base_url}/listings/{listing['slug']}",
            "published": listing["created"],
            "updated": listing["updated"],
            "summary": listing["description"]["en"],
        })
    for alert in alerts:
        title = alert["title"]
        questioned = alert["status"] == "retracted" and bool(alert.get("taken_down_by"))
        if questioned:
            title = f"Being checked: {title}"
        elif alert["status"] == "retracted":
            title = f"Retracted: {title}"
        elif alert.get("revision", 1) > 1:
            title = f"Corrected: {title}"
        entries.append({
            "id": f"tag:{host},2018:alert:{alert['id']}",
            "title": title,
            "url": alert.get("url") or f"{base_url}/",
            "published": alert.get("sent") or alert["created"],
            "updated": alert["updated"],
            "summary": alert["body"] if alert["status"] != "retracted"
            else "An organizer questioned this alert and it is being checked. Wait before "
                 "you act on it." if questioned
            else "This alert was retracted by Vigil's organizers. Disregard it.",
        })
    entries.sort(key=lambda e: _utc(e["updated"]), reverse=True)
    updated = entries[0]["updated"] if entries else "2018-06-17T00:00:00+00:00"
    _sub(feed, "updated", _utc(updated).isoformat())
    for e in entries:
        entry = _sub(feed, "entry")
        _sub(entry, "id", e["id"])
        _sub(entry, "title", e["title"])
        _sub(entry, "link", href=e["url"], rel="alternate", type="text/html")
        _sub(entry, "published", _utc(e["published"]).isoformat())
        _sub(entry, "updated", _utc(e["updated"]).isoformat())
        _sub(entry, "summary", e["summary"])
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
