"""Public content: queries that return records ready for pages and the JSON API."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, WEEKLY, rrule, weekday

from server.database import Database
from server.i18n import DEFAULT, FULL, WEEKDAYS, pick
from server.places import state_name
from server.public_contact import contact_href, stored_contact

PUBLIC_STATUSES = ("active", "ended")
# Up to this many listings, `/` lists every one and every visitor keeps every listing page
# offline. Beyond it (a national day of action), `/` names the states and each state's view
# lists its own, and the offline bundle holds an index of all of them with the pages of
# those that matter to the visitor (server/views/offline.py, service-worker/interest.js).
ALL_LISTINGS_UP_TO = 50


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_now() -> str:
    return utcnow().replace(microsecond=0).isoformat()


def _loads(value: str | None, default: Any) -> Any:
    return default if value is None else json.loads(value)


def end_moment(value: str | None) -> datetime | None:
    """When a date or moment is over, as an aware datetime; None if absent or unreadable.

    A date alone ends at the close of that day anywhere in the US (UTC-12 safe); a moment
    without a zone is read as UTC.
    """
    if not value:
        return None
    try:
        if "T" in value:
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        day = date.fromisoformat(value[:10])
    except ValueError:
        return None
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1, hours=12)


def next_occurrence(schedule: dict | None, after: datetime) -> datetime | None:
    """The next start of a recurring vigil, in its own time zone."""
    if not schedule:
        return None
    try:
        tz = ZoneInfo(schedule["tz"])
        hour, minute = (int(p) for p in schedule["time"].split(":"))
    except (ZoneInfoNotFoundError, ValueError, KeyError):
        return None
    local_after = after.astimezone(tz)
    start = local_after.replace(hour=hour, minute=minute, second=0, microsecond=0) - timedelta(
        days=1
    )
    freq = WEEKLY if schedule.get("freq") == "weekly" else DAILY
    byday = [weekday(WEEKDAYS[d]) for d in schedule.get("byday") or []] or None
    rule = rrule(freq, dtstart=start.replace(tzinfo=None), byweekday=byday, count=20)
    for occurrence in rule:
        aware = occurrence.replace(tzinfo=tz)
        if aware >= local_after:
            return aware
    return None


# How long one night of a repeating vigil lasts when its schedule does not say.
DEFAULT_DURATION = timedelta(hours=2)
# Where a visitor finds a vigil on the home page, by when it starts: "now" (started, or
# ongoing with no time), "today" (later today on the place's clock), "week" (in the next
# seven days) or "later".
PHASES = ("now", "today", "week", "later")


@dataclass(frozen=True)
class Timing:
    """When an active listing happens, seen from one moment: its phase, the start that
    matters (this night's or the next one, on the place's clock; a date alone for a listing
    known only by its day) and the end of what is happening, where known."""

    phase: str
    start: datetime | date | None
    end: datetime | date | None

    @property
    def timed(self) -> bool:
        return isinstance(self.start, datetime)


def _moment(value: str | None, zone: ZoneInfo) -> datetime | date | None:
    """A stored start or end: an aware moment on the place's clock, or a date alone."""
    if not value:
        return None
    try:
        if "T" not in value:
            return date.fromisoformat(value[:10])
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)


def _phase_of(start: datetime | date, now: datetime, zone: ZoneInfo) -> str:
    today = now.astimezone(zone).date()
    day = start.astimezone(zone).date() if isinstance(start, datetime) else start
    if (start <= now) if isinstance(start, datetime) else (day <= today):
        return "now"
    if day == today:
        return "today"
    return "week" if (day - today).days < 7 else "later"


def timing(rec: dict, now: datetime, zone: str) -> Timing | None:
    """When an active listing happens as of `now`; None for one that is not active.

    A repeating vigil is happening from each night's start for its duration; a one-time
    one from its start until its end (the listing ends then); one with no time at all is
    taken as ongoing, as an occupation is."""
    if rec.get("status") != "active":
        return None
    try:
        tz = ZoneInfo((rec.get("schedule") or {}).get("tz") or zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo(zone)
    schedule = rec.get("schedule")
    if schedule:
        minutes = schedule.get("duration_minutes")
        length = timedelta(minutes=minutes) if minutes else DEFAULT_DURATION
        night = next_occurrence(schedule, now - length)
        if night is not None and night <= now:
            return Timing("now", night, night + length)
        upcoming = next_occurrence(schedule, now)
        if upcoming is not None:
            return Timing(_phase_of(upcoming, now, tz), upcoming, None)
    start = _moment(rec.get("starts"), tz)
    end = _moment(rec.get("ends"), tz)
    if start is None:
        return Timing("now", None, end)
    return Timing(_phase_of(start, now, tz), start, end)


def starts_in(start: datetime, now: datetime) -> timedelta:
    """How long until a start, as a page says it: whole hours from an hour away, else
    minutes rounded up to five, so the words change a few times an hour, not every minute."""
    minutes = max(0.0, (start - now).total_seconds() / 60)
    if minutes > 55:
        return timedelta(hours=int(minutes / 60 + 0.5))  # as alerts.js rounds: half up
    return timedelta(minutes=max(5, 5 * math.ceil(minutes / 5)))


# The kinds of record an organizer can mark checked: audit entity -> (table, date column).
@dataclass(frozen=True)
class Checkable:
    """A kind of record an organizer can mark checked: its table, the column holding the
    check's date, the column naming a record, and what /admin/checks calls the kind."""

    table: str
    column: str
    name_column: str
    label: str


CHECKABLE = {
    "listing": Checkable("listings", "verified", "title", "Listings"),
    "facility": Checkable("facilities", "verified", "name", "Facilities"),
    "contact": Checkable("contacts", "verified", "organization", "Legal contacts"),
    "rights": Checkable("rights", "reviewed", "title", "Know-your-rights articles"),
    "article": Checkable("articles", "verified", "title", "Articles"),
    "organization": Checkable("organizations", "verified", "name", "Organizations"),
    "statement": Checkable("statements", "verified", "title", "Statements"),
}
CHECK_ACTION = "mark-verified"


async def checks(db: Database, entity: str) -> dict[str, dict]:
    """Each record's last organizer check in the audit log: {key: {"on": date, "by": name}}.

    The audit log is the only witness a page believes: a date column alone proves nothing.
    A record created or deleted after its last check starts again unchecked.
    """
    rows = await db.execute(
        "SELECT entity_key, action, at, organizer FROM audit WHERE entity = ? "
        "AND action IN (?, 'create', 'delete') ORDER BY id", (entity, CHECK_ACTION))
    out: dict[str, dict] = {}
    for row in rows:
        if row["action"] == CHECK_ACTION:
            out[row["entity_key"]] = {"on": row["at"][:10], "by": row["organizer"]}
        else:
            out.pop(row["entity_key"], None)
    return out


def _provenance(rec: dict, done: dict[str, dict], column: str = "verified") -> dict:
    """Replace a stored check date with the audit log's; keep where and when it was added."""
    check = done.get(rec["slug"])
    rec[column] = check["on"] if check else None
    return rec


# Organizers' sign-in names and bookkeeping: never in what the public sees.
ORGANIZER_ONLY = ("id", "author", "approver", "message_id", "taken_down_by", "batch_id")


def _links(value: Any) -> list[dict]:
    """Links as pages and the API use them: each a label and a url (None when the line named
    no address), whatever shape they were saved in."""
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            item = {"label": item}
        if not isinstance(item, dict):
            continue
        url = item.get("url")
        url = url if isinstance(url, str) and url.startswith(("http://", "https://")) else None
        label = item.get("label")
        label = label if isinstance(label, str) and label.strip() else url
        if label:
            out.append({"label": label, "url": url})
    return out


def _needs(value: Any) -> list[dict]:
    """Needs as pages use them: each in both languages."""
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            item = {"en": item, "es": item}
        if isinstance(item, dict) and isinstance(item.get("en"), str):
            es = item.get("es")
            out.append({"en": item["en"], "es": es if isinstance(es, str) and es else item["en"]})
    return out


def _contact(raw: Any) -> dict | None:
    """The organizers' public contact with the link that reaches it; None when the column
    holds nothing that can safely be a link."""
    contact = stored_contact(raw if isinstance(raw, str) else None)
    href = contact_href(contact.get("value", ""))
    if href is None:
        return None
    label = contact.get("label", "").strip()
    return {"label": label or None, "value": contact["value"], "href": href}


def listing_record(row: sqlite3.Row, now: datetime | None = None) -> dict:
    """A listing as the API and pages see it: both languages, status derived from its end."""
    now = now or utcnow()
    rec = dict(row)
    for key in ORGANIZER_ONLY:
        rec.pop(key, None)
    rec["links"] = _links(_loads(rec["links"], []))
    rec["needs"] = _needs(_loads(rec["needs"], []))
    rec["contact"] = _contact(rec.get("contact"))
    rec["schedule"] = _loads(rec["schedule"], None)
    rec["description"] = {"en": rec.pop("description_en"), "es": rec.pop("description_es")}
    end = end_moment(rec["ends"])
    if rec["status"] == "active" and end is not None and end < now:
        rec["status"] = "ended"
    nxt = next_occurrence(rec["schedule"], now) if rec["status"] == "active" else None
    rec["next"] = nxt.isoformat() if nxt else None
    return rec


def localized(rec: dict, lang: str) -> dict:
    """Pick one language's text out of a record's {en, es} fields, for a page (see
    i18n.pick for the other languages)."""
    out = dict(rec)
    for key, value in rec.items():
        if isinstance(value, dict) and set(value) == {"en", "es"}:
            out[key] = pick(value, lang)
    if "needs" in rec:
        out["needs"] = [pick(n, lang) for n in rec["needs"]]
    if lang == "es" and rec.get("title_es"):
        out["title"] = rec["title_es"]
    if "state" in rec:
        out["state_name"] = state_name(rec["state"], lang)
    return out


async def listings(db: Database, include_unpublished: bool = False,
                   memo: dict[str, tuple[Any, dict]] | None = None) -> list[dict]:
    """Public listings: active first (newest first), then ended (newest first).

    With `memo` (slug -> (stored row and check, record)), a listing whose row and check are
    as before is not made again: its record, status and next date included, is reused, so
    whoever keeps the memo decides how long a derived status may stand."""
    where = "" if include_unpublished else "WHERE status IN ('active', 'ended')"
    rows = await db.execute(
        f"SELECT * FROM listings {where} ORDER BY COALESCE(starts, created) DESC, title"
    )
    now = utcnow()
    done = await checks(db, "listing")
    recs = []
    for row in rows:
        stored = (tuple(row), done.get(row["slug"]))
        kept = memo.get(row["slug"]) if memo is not None else None
        if kept is not None and kept[0] == stored:
            recs.append(kept[1])
            continue
        rec = _provenance(listing_record(row, now), done)
        if memo is not None:
            memo[row["slug"]] = (stored, rec)
        recs.append(rec)
    return sorted(recs, key=lambda r: r["status"] != "active")


async def listing(db: Database, slug: str, include_unpublished: bool = False) -> dict | None:
    row = await db.first("SELECT * FROM listings WHERE slug = ?", (slug,))
    if row is None or (not include_unpublished and row["status"] not in PUBLIC_STATUSES):
        return None
    return _provenance(listing_record(row), await checks(db, "listing"))


def _split_lang(rec: dict, *fields: str) -> dict:
    for name in fields:
        rec[name] = {"en": rec.pop(f"{name}_en"), "es": rec.pop(f"{name}_es")}
    return rec


async def facilities(db: Database) -> list[dict]:
    rows = await db.execute("SELECT * FROM facilities ORDER BY state, city, name")
    done = await checks(db, "facility")
    out = []
    for r in rows:
        rec = _provenance(_split_lang(dict(r), "note"), done)
        rec.pop("id")
        if rec["note"]["en"] is None:
            rec["note"] = None
        out.append(rec)
    return out


async def contacts(db: Database) -> list[dict]:
    rows = await db.execute("SELECT * FROM contacts ORDER BY organization")
    done = await checks(db, "contact")
    out = []
    for r in rows:
        rec = _provenance(_split_lang(dict(r), "description", "hours"), done)
        rec.pop("id")
        if rec["hours"]["en"] is None:
            rec["hours"] = None
        for key in ("phones", "states", "languages", "sources"):
            rec[key] = json.loads(rec[key])
        out.append(rec)
    return out


async def rights(db: Database, lang: str) -> list[dict]:
    """The articles in this language; an article not yet written in it comes in English."""
    rows = await db.execute(
        "SELECT * FROM rights WHERE lang = ? OR (lang = ? AND slug NOT IN "
        "(SELECT slug FROM rights WHERE lang = ?)) ORDER BY ord, slug", (lang, DEFAULT, lang))
    done = await checks(db, "rights")
    reviews = await legal_reviews(db, lang)
    translated = await translation_checks(db, lang)
    english = await english_bodies(db) if lang not in FULL else {}
    return [_rights_record(r, done, reviews, translated, english) for r in rows]


async def english_bodies(db: Database) -> dict[str, str]:
    """slug -> the English text of each article: what its translations translate."""
    rows = await db.execute("SELECT slug, body FROM rights WHERE lang = ?", (DEFAULT,))
    return {r["slug"]: r["body"] for r in rows}


async def translation_checks(db: Database, lang: str) -> dict[str, str]:
    """slug -> the hash of the text a native speaker last checked in this language."""
    rows = await db.execute(
        "SELECT slug, body_hash FROM translation_checks WHERE lang = ? ORDER BY id", (lang,))
    return {r["slug"]: r["body_hash"] for r in rows}


def translation_hash(text: str, english: str) -> str:
    """What a native speaker's check is bound to: the translation and the English it
    translates, as they were when checked."""
    return body_hash(english + "\n\0\n" + text)


def translation_unchecked(lang: str, checked: dict[str, str], slug: str, text: str,
                          english: str) -> bool:
    """Whether a page in `lang` must say its translation is not yet checked: English and
    Spanish are Vigil's own languages; any other needs a native speaker's check of this
    very text against the English as it is now (a change to either undoes the check)."""
    return lang not in FULL and checked.get(slug) != translation_hash(text, english)


def body_hash(body: str) -> str:
    """What an attorney's review is bound to: the article's text as it was reviewed."""
    return hashlib.sha256(body.encode()).hexdigest()[:32]


async def legal_reviews(db: Database, lang: str) -> dict[str, dict]:
    """The latest attorney review recorded for each article in this language."""
    rows = await db.execute(
        "SELECT slug, attorney, organization, reviewed, body_hash FROM legal_reviews "
        "WHERE lang = ? ORDER BY id", (lang,))
    return {r["slug"]: dict(r) for r in rows}


def _rights_record(row: sqlite3.Row, done: dict[str, dict], reviews: dict[str, dict],
                   translated: dict[str, str], english: dict[str, str]) -> dict:
    rec = _provenance(dict(row), done, "reviewed")
    rec["translation_unchecked"] = translation_unchecked(
        rec["lang"], translated, rec["slug"], rec["body"], english.get(rec["slug"], ""))
    rec["sources"] = json.loads(rec["sources"])
    review = reviews.get(rec["slug"])
    # A review of an earlier text says nothing about this one.
    rec["attorney_review"] = (
        {k: review[k] for k in ("attorney", "organization", "reviewed")}
        if review and review["body_hash"] == body_hash(rec["body"]) else None)
    return rec


async def rights_article(db: Database, slug: str, lang: str) -> dict | None:
    """The article in this language, or in English while it is not written in it."""
    row = (await db.first("SELECT * FROM rights WHERE slug = ? AND lang = ?", (slug, lang))
           or await db.first("SELECT * FROM rights WHERE slug = ? AND lang = ?",
                             (slug, DEFAULT)))
    if row is None:
        return None
    english = await english_bodies(db) if row["lang"] not in FULL else {}
    return _rights_record(row, await checks(db, "rights"), await legal_reviews(db, row["lang"]),
                          await translation_checks(db, row["lang"]), english)


async def resources(db: Database) -> dict[str, list[dict]]:
    articles = await db.execute(
        "SELECT * FROM articles WHERE status = 'published' ORDER BY date DESC, title"
    )
    orgs = await db.execute("SELECT * FROM organizations WHERE status = 'published' ORDER BY name")
    org_checks = await checks(db, "organization")
    article_checks = await checks(db, "article")
    out_orgs = []
    for r in orgs:
        rec = _provenance(_split_lang(dict(r), "about"), org_checks)
        rec.pop("id")
        rec.pop("status")
        out_orgs.append(rec)
    out_articles = []
    for r in articles:
        rec = _provenance(dict(r), article_checks)
        rec.pop("id")
        rec.pop("status")
        out_articles.append(rec)
    return {"articles": out_articles, "organizations": out_orgs}


async def statements(db: Database) -> list[dict]:
    rows = await db.execute("SELECT * FROM statements ORDER BY date")
    done = await checks(db, "statement")
    out = []
    for r in rows:
        rec = _provenance(_split_lang(dict(r), "summary"), done)
        rec.pop("id")
        out.append(rec)
    return out


def place_of(rec: dict) -> str:
    """A record's place on one line, as an envelope has it: "1623 E J St, Tacoma, WA 98421"."""
    region = " ".join(p for p in (rec["state"], rec.get("zip")) if p)
    return ", ".join(p for p in (rec.get("address"), rec["city"], region) if p)


def event_jsonld(rec: dict, lang: str, url: str) -> dict:
    """schema.org Event for a listing page, so search engines and calendars understand it."""
    address = {"@type": "PostalAddress", "addressLocality": rec["city"],
               "addressRegion": rec["state"], "addressCountry": "US"}
    if rec.get("address"):
        address["streetAddress"] = rec["address"]
    if rec.get("zip"):
        address["postalCode"] = rec["zip"]
    place: dict[str, Any] = {"@type": "Place", "name": rec.get("address") or rec["city"],
                             "address": address}
    if rec.get("lat") is not None and rec.get("lon") is not None:
        place["geo"] = {"@type": "GeoCoordinates", "latitude": rec["lat"],
                        "longitude": rec["lon"]}
    description = rec["description"]
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": rec["title"],
        "description": pick(description, lang) if isinstance(description, dict) else description,
        "url": url,
        "inLanguage": lang,
        "location": place,
        "eventAttendanceMode": "https://schema.org/OfflineEventAttendanceMode",
        "eventStatus": "https://schema.org/EventScheduled",
        "isAccessibleForFree": True,
    }
    start = rec.get("next") or rec.get("starts")
    if start:
        data["startDate"] = start
    if rec.get("ends"):
        data["endDate"] = rec["ends"]
    schedule = rec.get("schedule")
    if schedule:
        data["eventSchedule"] = {
            "@type": "Schedule",
            "repeatFrequency": "P1D" if schedule["freq"] == "daily" else "P1W",
            "startTime": schedule["time"],
            "scheduleTimezone": schedule["tz"],
            **({"byDay": [f"https://schema.org/{_SCHEMA_DAYS[d]}" for d in schedule["byday"]]}
               if schedule.get("byday") else {}),
            **({"startDate": rec["starts"][:10]} if rec.get("starts") else {}),
        }
    return data


_SCHEMA_DAYS = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday",
                "FR": "Friday", "SA": "Saturday", "SU": "Sunday"}


def fold(text: str) -> str:
    """Lower-case and strip accents, so 'Detencion' finds 'Detención'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


MAX_QUERY = 200
MAX_TERMS = 8


def query_terms(query: str) -> list[str]:
    """Folded search terms; long or odd input is cut down, never an error."""
    cleaned = "".join(c if c.isalnum() else " " for c in fold(query[:MAX_QUERY]))
    return cleaned.split()[:MAX_TERMS]


def _matches(terms: list[str], *fields: str | None) -> bool:
    haystack = fold(" ".join(f for f in fields if f))
    return all(t in haystack for t in terms)


async def search(db: Database, query: str, lang: str) -> list[dict]:
    """Listings, facilities, legal contacts and rights articles matching every term."""
    terms = query_terms(query)
    if not terms:
        return []
    prefix = "" if lang == "en" else f"/{lang}"
    results = []
    for rec in await listings(db):
        if _matches(terms, rec["title"], rec["city"], rec["state"], state_name(rec["state"], lang),
                    rec.get("address"), pick(rec["description"], lang) or ""):
            results.append({"type": "listing", "title": rec["title"],
                            "detail": f"{rec['city']}, {rec['state']}",
                            "url": f"{prefix}/listings/{rec['slug']}"})
    for rec in await facilities(db):
        if _matches(terms, rec["name"], rec["city"], rec["state"], rec.get("address")):
            results.append({"type": "facility", "title": rec["name"],
                            "detail": f"{rec['city']}, {rec['state']}",
                            "url": f"{prefix}/facilities#{rec['slug']}"})
    for rec in await contacts(db):
        if _matches(terms, rec["organization"], pick(rec["description"], lang) or ""):
            results.append({"type": "contact", "title": rec["organization"],
                            "detail": (pick(rec["description"], lang) or "")[:120],
                            "url": f"{prefix}/legal#{rec['slug']}"})
    for rec in await rights(db, lang):
        if _matches(terms, rec["title"], rec["summary"], rec["body"]):
            results.append({"type": "rights", "title": rec["title"], "detail": rec["summary"],
                            "url": f"{prefix}/rights/{rec['slug']}"})
    return results
