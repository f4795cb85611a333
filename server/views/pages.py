"""Public pages, rendered on the server and complete without JavaScript."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from itertools import groupby
from urllib.parse import quote

from babel.dates import format_timedelta
from starlette.requests import Request
from starlette.responses import Response

from server import content
from server.dataset import LEGAL_PURPOSES
from server.i18n import DEFAULT, N_, Translator, locale_of, pick
from server.listing_form import zone_for
from server.places import STATES, language_name, map_point, state_name, state_outlines
from server.public_contact import tel_uri
from server.render import card_text
from server.views import alerts
from server.views.base import (
    db_of,
    lang_of,
    not_found,
    page,
    services,
)

# What search reads, on the server and in the offline index.
SEARCHED = ("listings", "facilities", "contacts", "rights")


def _state_param(request: Request) -> str | None:
    value = (request.query_params.get("state") or "").strip().upper()
    return value if value in STATES else None


def _state_key(request: Request) -> tuple[str | None, bool] | tuple[()]:
    """What the home page makes of ?state=: a known state, or whether one was asked for."""
    if not request.query_params.get("state"):
        return ()
    return _state_param(request), True


def _search_key(request: Request) -> str | tuple[()]:
    return request.query_params.get("q", "")[: content.MAX_QUERY] or ()


# Phrases the default dataset repeats in records that have one text for both languages.
DATA_PHRASES = {
    "GoFundMe page": N_("GoFundMe page"),
    "#OccupyICE information page, June 2018": N_("#OccupyICE information page, June 2018"),
}
# Titles made from the city alone ("Occupation in Atlanta") are generated again per language.
GENERATED_TITLES = {
    "occupation": N_("Occupation in %(city)s"),
    "vigil": N_("Vigil in %(city)s"),
    "rally": N_("Rally in %(city)s"),
    "action": N_("Action in %(city)s"),
}


# Facilities the movement's pages named only by their address.
UNNAMED_FACILITY = re.compile(r"Facility at (.+)")


def facility_name(name: str, tr: Translator) -> str:
    """A facility's name in `tr`'s language where it is only "Facility at <address>"."""
    found = UNNAMED_FACILITY.fullmatch(name)
    return tr.plain(N_("Facility at %(address)s")) % {"address": found.group(1)} if found \
        else name


def _phrase(text: str | None, request: Request) -> str | None:
    if text in DATA_PHRASES:
        return _translator(request).plain(DATA_PHRASES[text])
    return text


def _translator(request: Request) -> Translator:
    return services(request).renderer.translators[lang_of(request)]


def localized_title(title: str, city: str, tr: Translator) -> str:
    """A title generated from the city alone, generated again in `tr`'s language."""
    for pattern in GENERATED_TITLES.values():
        if title == pattern % {"city": city}:
            return tr.plain(pattern) % {"city": city}
    return title


def for_page(rec: dict, request: Request) -> dict:
    """A listing in the page's language, with its generated texts and derived facts."""
    lang = lang_of(request)
    out = content.localized(rec, lang)
    # An organizer's own Spanish title wins; else a title made from the city is made again.
    out["title"] = ((lang == "es" and rec.get("title_es"))
                    or localized_title(rec["title"], rec["city"], _translator(request)))
    out["source"] = _phrase(rec.get("source"), request)
    out["links"] = [dict(link, label=_phrase(link["label"], request))
                    for link in rec.get("links") or []]
    out["ended_year"] = (rec.get("ends") or rec.get("starts") or rec.get("verified") or "")[:4]
    out["zone"] = zone_for(rec["state"], rec["city"])
    out["timing"] = when_on_page(rec, content.utcnow(), lang)
    return out


def when_on_page(rec: dict, now: datetime, lang: str) -> dict | None:
    """An active listing's timing as its card and page say it: the phase, the start and end
    that matter (ISO, on the place's clock) and, later today, "in 2 hours" in `lang`."""
    found = content.timing(rec, now, zone_for(rec["state"], rec["city"]))
    if found is None:
        return None
    relative = None
    if found.phase == "today" and found.timed:
        relative = format_timedelta(content.starts_in(found.start, now), add_direction=True,
                                    threshold=1.0, locale=locale_of(lang))
    return {"phase": found.phase, "timed": found.timed,
            "start": found.start.isoformat() if found.start else None,
            "end": found.end.isoformat() if found.end else None,
            "end_timed": isinstance(found.end, datetime), "relative": relative}


def _archive_month(rec: dict) -> str:
    return (rec.get("starts") or rec.get("verified") or "")[:7]


# Soonest events the national home page shows when it names states rather than listings.
SOONEST = 8


def _start_order(found: content.Timing | None) -> tuple[int, float]:
    """Sorts listings by phase, then by the start that matters; in each phase, one with no
    time (an ongoing occupation) after those with one."""
    if found is None:
        return len(content.PHASES), 0.0
    start = found.start
    if isinstance(start, datetime):
        moment = start.timestamp()
    elif start is not None:
        moment = datetime.combine(start, time(12), UTC).timestamp()
    else:
        moment = float("inf")
    return content.PHASES.index(found.phase), moment


def by_start(records: list[dict], now: datetime) -> list[dict]:
    """Active listings, happening now first, then later today, this week and later, each
    by start time."""
    return sorted(records, key=lambda r: _start_order(
        content.timing(r, now, zone_for(r["state"], r["city"]))))


def _map_dots(active: list[dict], ended: list[dict], by_state: bool) -> list[dict]:
    """A dot per place; on the national page, one per state sized by its count, so the map
    does not grow with the country."""
    if not by_state:
        return [dict(zip(("x", "y"), map_point(r["lat"], r["lon"], r["state"]), strict=True),
                     title=f"{r['title']}, {r['city']}", r=None,
                     shape="past" if r["status"] != "active"
                     else "now" if r["timing"]["phase"] == "now" else "soon")
                for r in active + ended if r["lat"] is not None]
    dots = []
    for code, items in groupby(sorted(active, key=lambda r: r["state"]), key=lambda r: r["state"]):
        placed = [map_point(r["lat"], r["lon"], code) for r in items if r["lat"] is not None]
        if placed:
            x = round(sum(p[0] for p in placed) / len(placed), 1)
            y = round(sum(p[1] for p in placed) / len(placed), 1)
            dots.append({"x": x, "y": y, "active": True, "count": len(placed),
                         "r": round(min(4 + 2 * len(placed) ** 0.5, 16), 1), "state": code})
    return dots


@page(key=_state_key, deps=("listings", "alerts", "contacts"))
async def home(request: Request) -> tuple[str, dict]:
    """Active listings first (every state's, or one state's), by when they start: happening
    now, later today, this week, later; ended ones in an archive by month.
    With more active listings than a phone should load at once, the page without a state
    names the states with their counts and the soonest events; each state's view lists all
    of its own."""
    lang = lang_of(request)
    wanted = _state_param(request)
    fingerprints = services(request).fingerprints
    records = await fingerprints.listings(db_of(request))

    def ready(rec: dict) -> dict:  # kept with the record: an edit makes again only its own
        return fingerprints.derived(rec, ("for_page", lang), lambda r: for_page(r, request))

    present_states = sorted({r["state"] for r in records}, key=lambda c: state_name(c, lang))
    if wanted:
        records = [r for r in records if r["state"] == wanted]
    active = [r for r in records if r["status"] == "active"]
    ended = [ready(r) for r in records if r["status"] != "active"]
    national = not wanted and len(active) > content.ALL_LISTINGS_UP_TO
    # Made ready for the page (texts in its language) only where the page shows them: on
    # the national page the soonest few, not 800.
    now = content.utcnow()
    active = by_start(active, now)
    soonest = [ready(r) for r in active[:SOONEST]] if national else []
    if not national:
        active = [ready(r) for r in active]
    by_state = [(code, list(items)) for code, items in groupby(
        sorted(active, key=lambda r: state_name(r["state"], lang)), key=lambda r: r["state"])]
    phases = [(phase, [r for r in active if r["timing"]["phase"] == phase])
              for phase in content.PHASES] if not national else []
    ended.sort(key=_archive_month, reverse=True)
    archive = [(month, list(items)) for month, items in groupby(ended, key=_archive_month)]
    outlines = state_outlines()
    dots = _map_dots(active, ended, national)
    return "home.html", {
        "map": {"viewbox": outlines["viewBox"], "states": "".join(outlines["states"].values()),
                "highlight": outlines["states"].get(wanted or ""),
                "dots": dots, "upcoming": any(d.get("shape") == "soon" for d in dots)},
        "national": national,
        "state_counts": [(code, len(items)) for code, items in by_state],
        "soonest": soonest,
        "phases": [(phase, items) for phase, items in phases if items],
        "active_count": len(active),
        "locatable": any(r["lat"] is not None for r in active),
        "archive": archive,
        "present_states": present_states,
        "wanted_state": wanted,
        "bad_state": bool(request.query_params.get("state")) and wanted is None,
        "now": now,
        "legal_calls": legal_numbers(await content.contacts(db_of(request)), wanted, lang),
        **await alerts.banner(request, wanted),
    }


def directions(rec: dict) -> dict[str, str] | None:
    """Links the visitor chooses, built from the street address; none for a city alone.
    Apple's and Google's start a route to the place (Apple Maps on an iPhone, Google Maps
    on Android); geo: opens it in whatever maps app an Android phone has, and OpenStreetMap
    anywhere. Only links: the page itself asks nothing of any of them."""
    if not rec.get("address"):
        return None
    place = quote(content.place_of(rec))
    return {
        "apple": f"https://maps.apple.com/?daddr={place}",
        "google": f"https://www.google.com/maps/dir/?api=1&destination={place}",
        "geo": f"geo:0,0?q={place}",
        "osm": f"https://www.openstreetmap.org/search?query={place}",
    }


def hotlines(contacts: list[dict], state: str, lang: str) -> list[tuple[dict, dict]]:
    """(contact, number) to call from a listing page: this state's lines first, then the
    national ones; only numbers with their purpose and source, as on /legal."""
    shown = [c for c in _contacts_for_page(contacts, lang) if c["role"] != "locating"]
    local = [c for c in shown if state in c["states"]]
    national = [c for c in shown if c["states"] == ["*"]]
    return [(c, p) for c in local + national for p in c["phones"]]


def legal_numbers(contacts: list[dict], state: str | None,
                  lang: str) -> list[tuple[dict, dict]]:
    """(contact, number) a person can call for legal help: a lawyer, a legal-aid or rapid-
    response line, or legal support after a protest arrest; the state's first (when one is
    known), then the national ones. A page offers "call" only where this is not empty."""
    return [(c, p) for c, p in hotlines(contacts, state or "", lang)
            if p["purpose"] in LEGAL_PURPOSES]


def structured_data(rec: dict, lang: str, url: str) -> dict:
    """schema.org Event when the listing has a time; otherwise the Place it is at."""
    event = content.event_jsonld(rec, lang, url)
    if not rec.get("address"):
        # A city-centre point would pass for the place, which is not published.
        event["location"].pop("geo", None)
    if "startDate" in event:
        return event
    place = dict(event["location"])
    place.update({"@context": "https://schema.org", "name": rec["title"], "url": url,
                  "description": event["description"]})
    return place


@page(deps=lambda p: (f"listing:{p['slug']}", "contacts", "facilities", "alerts"))
async def listing_page(request: Request) -> tuple[str, dict]:
    db = db_of(request)
    lang = lang_of(request)
    rec = await content.listing(db, request.path_params["slug"])
    if rec is None:
        raise not_found()
    facility = None
    if rec["facility"]:
        facility = next(
            (f for f in await content.facilities(db) if f["slug"] == rec["facility"]), None
        )
        if facility:
            facility = dict(facility, name=facility_name(facility["name"], _translator(request)))
    canonical = f"{services(request).settings.base_url}/listings/{rec['slug']}"
    calls = hotlines(await content.contacts(db), rec["state"], lang)
    listing = for_page(rec, request)
    return "listing.html", {
        "listing": listing,
        "jsonld": structured_data(dict(rec, title=listing["title"]), lang, canonical),
        "facility": facility,
        "maps": directions(rec),
        "calls": calls,
        "local_legal_help": any(p["purpose"] in LEGAL_PURPOSES and rec["state"] in c["states"]
                                for c, p in calls),
        "timed": rec["status"] == "active" and bool(rec["starts"] or rec["schedule"]),
        "canonical": canonical,
        "now": content.utcnow(),
        **await alerts.banner(request, rec["state"]),
    }


@page(deps=("facilities",))
async def facilities_page(request: Request) -> tuple[str, dict]:
    lang = lang_of(request)
    tr = _translator(request)
    items = [dict(content.localized(f, lang), name=facility_name(f["name"], tr))
             for f in await content.facilities(db_of(request))]
    return "facilities.html", {"facilities": items}


# On /legal, people who give legal help come before reporting lines and reading material.
ROLE_ORDER = {"legal": 0, "reporting": 1, "information": 2, "locating": 3}


def _contacts_for_page(recs: list[dict], lang: str) -> list[dict]:
    """Contacts in the page's language; a phone number without its source is left out."""
    items = []
    for rec in recs:
        item = content.localized(rec, lang)
        item["language_names"] = [language_name(code, lang) for code in rec["languages"]]
        item["phones"] = [
            dict(p, label=pick(p["label"], lang), hours=pick(p.get("hours"), lang),
                 language_names=[language_name(code, lang) for code in p.get("languages") or []],
                 tel=tel_uri(p["number"]),
                 display=p["number"].removeprefix("+1-"))
            for p in rec["phones"] if p.get("source") and p.get("purpose")
        ]
        items.append(item)
    return items


@page(key=_state_key, deps=("contacts",))
async def legal_page(request: Request) -> tuple[str, dict]:
    """Numbers first, each saying what it is for; then who helps, and where that came from."""
    lang = lang_of(request)
    wanted = _state_param(request)
    contacts = _contacts_for_page(await content.contacts(db_of(request)), lang)
    shown = [c for c in contacts if c["role"] != "locating"]
    local = [c for c in shown if wanted and wanted in c["states"]]
    local_hotlines = [c for c in local
                      if any(p["purpose"] in LEGAL_PURPOSES for p in c["phones"])]
    national = [c for c in shown if c["states"] == ["*"]]
    calls = [(c, p) for c in local + national for p in c["phones"]]
    others = sorted((c for c in shown if c not in local), key=lambda c: ROLE_ORDER[c["role"]])
    return "legal.html", {
        "contacts": local + others,
        "calls": calls,
        "called": {c["slug"] for c, _p in calls},
        "wanted_state": wanted,
        "local_hotlines": local_hotlines,
        "national_legal_hotline": any(p["purpose"] in LEGAL_PURPOSES
                                      for c, p in calls if c["states"] == ["*"]),
    }


@page(deps=("rights",))
async def rights_index(request: Request) -> tuple[str, dict]:
    return "rights.html", {"articles": await content.rights(db_of(request), lang_of(request))}


@page(deps=("rights", "contacts"))
async def rights_page(request: Request) -> tuple[str, dict]:
    db = db_of(request)
    lang = lang_of(request)
    article = await content.rights_article(db, request.path_params["slug"], lang)
    if article is None:
        raise not_found()
    # The numbers for the whole country; a state's are on /legal, linked beside them.
    contacts = [c for c in _contacts_for_page(await content.contacts(db), lang)
                if c["states"] == ["*"]]
    # Finding a detained person belongs with the article about it, not with every article.
    if article["slug"] != "if-someone-is-detained":
        contacts = [c for c in contacts if c["role"] != "locating"]
    calls = [(c, p) for c in contacts for p in c["phones"]]
    return "rights_article.html", {"article": article, "calls": calls}


@page(deps=("resources",))
async def resources_page(request: Request) -> tuple[str, dict]:
    lang = lang_of(request)
    res = await content.resources(db_of(request))
    orgs = [content.localized(o, lang) for o in res["organizations"]]
    return "resources.html", {"articles": res["articles"], "organizations": orgs}


@page(deps=("statements",))
async def about_page(request: Request) -> tuple[str, dict]:
    lang = lang_of(request)
    items = [content.localized(s, lang) for s in await content.statements(db_of(request))]
    settings = services(request).settings
    return "about.html", {"statements": items,
                          "sms_number": settings.sms_from if settings.sms_on else None}


@page(deps=("contacts",))
async def before_you_go_page(request: Request) -> tuple[str, dict]:
    """What to bring and how to stay safe at a vigil; saved for offline use. The numbers to
    write on an arm are the national legal ones; a state's are on /legal."""
    contacts = await content.contacts(db_of(request))
    return "before_you_go.html", {"legal_calls": legal_numbers(contacts, None, lang_of(request))}


@page(deps=())
async def offline_page(request: Request) -> tuple[str, dict]:
    return "offline.html", {}


@page(key=_search_key, region="searches", deps=SEARCHED)
async def search_page(request: Request) -> tuple[str, dict]:
    """Search answered by the server; with JavaScript the page answers it on the device."""
    query = request.query_params.get("q", "")
    results = await content.search(db_of(request), query, lang_of(request))
    for r in results:
        if r["type"] == "listing":
            r["title"] = localized_title(r["title"], r["detail"].rsplit(", ", 1)[0],
                                         _translator(request))
        elif r["type"] == "facility":
            r["title"] = facility_name(r["title"], _translator(request))
    return "search.html", {"query": query[: content.MAX_QUERY],
                           "results": results, "searched": bool(content.query_terms(query))}


# When the card's text was last written (shown on the printed card).
CARD_WRITTEN = "2026-12-06"


@page(deps=("contacts", "rights"))
async def card_page(request: Request) -> tuple[str, dict]:
    """A two-sided card: the holder's side in the page's language, the agent's always English."""
    lang = lang_of(request)
    db = db_of(request)
    contacts = _contacts_for_page(await content.contacts(db), lang)
    # The card is for the person facing agents: the numbers on it are the national ones
    # for legal help (a state's are on /legal); ICE's own lines are for their family, and
    # stay with the article about finding someone.
    calls = [(c, p) for c in contacts for p in c["phones"]
             if p["purpose"] in LEGAL_PURPOSES and c["states"] == ["*"]]
    translators = services(request).renderer.translators
    unchecked = content.translation_unchecked(
        lang, await content.translation_checks(db, lang), "card", card_text(translators[lang]),
        card_text(translators[DEFAULT]))
    return "card.html", {"calls": calls, "written": CARD_WRITTEN,
                         "translation_unchecked": unchecked}


# Everything this site keeps in the browser: its cache of pages, its storage (the service
# worker, saved pages, choices, suggestions waiting to be sent, the push subscription) and
# cookies (an organizer's session).
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


async def forget(request: Request) -> Response:
    """Remove Vigil from this phone without JavaScript: the browser clears what this site
    stored, where it supports Clear-Site-Data. Refused from another site's page."""
    origin = request.headers.get("origin")
    own = services(request).settings.base_url.rstrip("/")
    if origin and origin not in (own, f"{request.url.scheme}://{request.url.netloc}"):
        return Response("Refused: this request came from another site.", 403,
                        media_type="text/plain; charset=utf-8")
    html = services(request).renderer.render("forget.html", lang_of(request), request.url.path,
                                             request=request)
    return Response(html, 200, media_type="text/html; charset=utf-8",
                    headers={"Clear-Site-Data": CLEAR_SITE_DATA, "Cache-Control": "no-store"})


@page(deps=())
async def open_data_page(request: Request) -> tuple[str, dict]:
    return "open_data.html", {}
