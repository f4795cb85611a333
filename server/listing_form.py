"""The organizer's listing form: parse, validate field by field, and turn into a row."""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from server.dataset import LISTING_KINDS, ZIP
from server.i18n import N_
from server.places import STATES
from server.public_contact import (
    CONTACT_LIMIT,
    LABEL_LIMIT,
    contact_href,
    phone_problem,
    stored_contact,
)

TIME_ZONES = (
    ("America/New_York", N_("Eastern")), ("America/Chicago", N_("Central")),
    ("America/Denver", N_("Mountain")), ("America/Phoenix", N_("Arizona")),
    ("America/Los_Angeles", N_("Pacific")), ("America/Anchorage", N_("Alaska")),
    ("Pacific/Honolulu", N_("Hawaii")), ("America/Puerto_Rico", N_("Puerto Rico")),
)
_ZONE_STATES = {
    "America/Chicago": "AL AR IL IA KS LA MN MS MO NE ND OK SD TN TX WI",
    "America/Denver": "CO MT NM UT WY ID",
    "America/Phoenix": "AZ", "America/Los_Angeles": "CA NV OR WA", "America/Anchorage": "AK",
    "Pacific/Honolulu": "HI", "America/Puerto_Rico": "PR",
}
STATE_ZONES = {code: zone for zone, codes in _ZONE_STATES.items() for code in codes.split()}
# Where a state spans two zones, the cities (as organizers write them) on the other side.
CITY_ZONES = {
    ("TX", "el paso"): "America/Denver", ("TX", "hudspeth"): "America/Denver",
    ("FL", "pensacola"): "America/Chicago", ("FL", "panama city"): "America/Chicago",
    ("FL", "fort walton beach"): "America/Chicago", ("FL", "destin"): "America/Chicago",
    ("TN", "knoxville"): "America/New_York", ("TN", "chattanooga"): "America/New_York",
    ("TN", "johnson city"): "America/New_York", ("TN", "kingsport"): "America/New_York",
    ("KY", "bowling green"): "America/Chicago", ("KY", "paducah"): "America/Chicago",
    ("KY", "owensboro"): "America/Chicago",
    ("IN", "gary"): "America/Chicago", ("IN", "hammond"): "America/Chicago",
    ("IN", "evansville"): "America/Chicago",
    ("MI", "iron mountain"): "America/Chicago", ("MI", "menominee"): "America/Chicago",
    ("ID", "coeur d'alene"): "America/Los_Angeles", ("ID", "lewiston"): "America/Los_Angeles",
    ("ID", "moscow"): "America/Los_Angeles",
    ("OR", "ontario"): "America/Denver",
    ("KS", "goodland"): "America/Denver", ("NE", "scottsbluff"): "America/Denver",
    ("NE", "north platte"): "America/Chicago", ("ND", "dickinson"): "America/Denver",
    ("SD", "rapid city"): "America/Denver",
}

# Where the site already knows a city to be (its facilities and listings), for a listing
# given without coordinates: a place by its city, never 0,0. Parameters :city and :state.
CITY_SPOT_SQL = (
    "SELECT ROUND(CAST(AVG(lat) AS NUMERIC), 3) AS lat, "
    "ROUND(CAST(AVG(lon) AS NUMERIC), 3) AS lon FROM ("
    "SELECT lat, lon FROM facilities WHERE lower(city) = lower(:city) AND state = :state "
    "AND lat IS NOT NULL UNION ALL SELECT lat, lon FROM listings "
    "WHERE lower(city) = lower(:city) AND state = :state AND lat IS NOT NULL) AS spots")


def zone_for(state: str, city: str = "") -> str:
    """The time zone of a place: the state's, or the city's where a state has two."""
    return CITY_ZONES.get((state, " ".join(city.casefold().split())),
                          STATE_ZONES.get(state, "America/New_York"))


FIELDS = ("title", "title_es", "kind", "address", "city", "state", "zip", "lat", "lon", "tz",
          "starts",
          "ends", "repeat", "time", "description", "description_es", "needs", "links", "source",
          "facility", "contact", "contact_label")
SINGLE_LINE = ("title", "title_es", "address", "city", "zip", "source", "contact",
               "contact_label")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
LIMITS = {"title": 140, "title_es": 140, "address": 200, "city": 80, "zip": 10,
          "description": 4000,
          "description_es": 4000, "needs": 2000, "links": 2000, "source": 200,
          "contact": CONTACT_LIMIT, "contact_label": LABEL_LIMIT}


def _local(value: str, tz: str) -> str | None:
    if not value:
        return None
    if DAY.fullmatch(value):  # a day without a time (older listings) stays a day
        datetime.strptime(value, "%Y-%m-%d")
        return value
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=ZoneInfo(tz)).isoformat()


def parse_coordinates(values: dict[str, str], errors: dict[str, str]) -> dict[str, float]:
    """Optional latitude and longitude, both or neither; errors go next to the fields."""
    coords = {}
    for name, low, high in (("lat", -90, 90), ("lon", -180, 180)):
        if values[name]:
            try:
                number = float(values[name])
                if not low <= number <= high:
                    raise ValueError
                coords[name] = number
            except ValueError:
                errors[name] = f"A number from {low} to {high}, or empty."
    if bool(values["lat"]) != bool(values["lon"]):
        errors.setdefault("lon", N_("Give both latitude and longitude, or neither."))
    if coords.get("lat") == 0 and coords.get("lon") == 0:
        # What a failed location lookup gives: a point in the Atlantic, not a place.
        errors["lat"] = N_("0, 0 is in the ocean: leave both empty to place it by its city.")
    return coords


def parse(form: dict[str, str]) -> tuple[dict[str, str], dict[str, str], dict | None]:
    """(values as typed, errors by field, row fields or None when there are errors)."""
    values = {k: str(form.get(k, "")).strip() for k in FIELDS}
    for name in SINGLE_LINE:  # a line break pasted into one of these would split a feed line
        values[name] = " ".join(values[name].split())
    errors: dict[str, str] = {}
    for name, limit in LIMITS.items():
        if len(values[name]) > limit:
            errors[name] = f"At most {limit} characters."
    for name in ("title", "city", "description"):
        if not values[name]:
            errors[name] = N_("Required.")
    if values["kind"] not in LISTING_KINDS:
        errors["kind"] = N_("Choose a kind.")
    if values["state"] not in STATES:
        errors["state"] = N_("Choose a state.")
    if values["zip"] and not ZIP.fullmatch(values["zip"]):
        errors["zip"] = N_("Five digits, as in 98421, or nine as in 98421-1234; or empty.")
    tz = values["tz"] or zone_for(values["state"], values["city"])
    if tz not in dict(TIME_ZONES):
        errors["tz"] = N_("Choose a time zone.")
        tz = "America/New_York"
    coords = parse_coordinates(values, errors)
    moments = {}
    for name in ("starts", "ends"):
        try:
            moments[name] = _local(values[name], tz)
        except ValueError:
            errors[name] = N_("A date and time like 2026-12-01T20:00.")
    if moments.get("starts") and moments.get("ends") and moments["ends"] <= moments["starts"]:
        errors["ends"] = N_("The end must be after the start.")
    if values["repeat"] == "none" and not values["starts"] and "starts" not in errors:
        # Without it a one-time vigil would show as happening now, from the moment it is
        # published, with no time at all.
        errors["starts"] = N_("A one-time vigil needs its start: the day and time it begins. "
                              "For one that goes on day and night, choose Ongoing.")
    schedule = None
    if values["repeat"] in ("daily", "weekly"):
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", values["time"]):
            errors["time"] = N_("A time like 20:00 for a repeating vigil.")
        else:
            schedule = {"freq": values["repeat"], "time": values["time"], "tz": tz}
            if values["repeat"] == "weekly" and moments.get("starts"):
                day = datetime.fromisoformat(moments["starts"]).strftime("%a").upper()[:2]
                schedule["byday"] = [day]
    elif values["repeat"] not in ("", "none", "ongoing"):
        errors["repeat"] = N_("Choose how it repeats.")
    links = []
    for number, line in enumerate(values["links"].splitlines(), 1):
        if not line.strip():
            continue
        label, _, url = (p.strip() for p in line.partition("|"))
        if url and not re.fullmatch(r"https?://[^\s/]+\.[^\s]+", url):
            errors["links"] = f"Line {number}: the address must start with http:// or https://."
        links.append({"label": label or url, "url": url or None})
    contact = parse_contact(values, errors)
    needs = []
    for line in values["needs"].splitlines():
        en, _, es = (p.strip() for p in line.partition(" / "))
        if en:
            needs.append({"en": en, "es": es or en})
    if errors:
        return values, errors, None
    description_es = values["description_es"] or values["description"]
    row = {
        "title": values["title"], "title_es": values["title_es"] or None,
        "kind": values["kind"], "address": values["address"] or None,
        "city": values["city"], "state": values["state"], "zip": values["zip"] or None,
        "lat": coords.get("lat"),
        "lon": coords.get("lon"), "starts": moments.get("starts"), "ends": moments.get("ends"),
        "schedule": json.dumps(schedule, sort_keys=True) if schedule else None,
        "description_en": values["description"], "description_es": description_es,
        "needs": json.dumps(needs, ensure_ascii=False, sort_keys=True),
        "links": json.dumps(links, ensure_ascii=False, sort_keys=True),
        "source": values["source"] or "Vigil organizers",
        "facility": values["facility"] or None,
        "contact": json.dumps(contact, ensure_ascii=False, sort_keys=True) if contact else None,
    }
    return values, errors, row


def parse_contact(values: dict[str, str], errors: dict[str, str]) -> dict[str, str] | None:
    """The organizers' public contact, {value, label?}: only what can be shown as a link that
    dials, writes or opens a page; errors go next to the fields."""
    value, label = values["contact"], values["contact_label"]
    if "contact" in errors or "contact_label" in errors:
        return None
    if not value:
        if label:
            errors["contact"] = N_("Give the contact itself (a phone number, an email address "
                                   "or a web address), or leave its label empty.")
        return None
    if contact_href(value) is None:
        if phone_problem(value) == "area code":
            errors["contact"] = N_("A phone number needs its area code, e.g. (253) 555-0147, "
                                   "or + and its country code.")
        else:
            errors["contact"] = N_("Give a phone number, an email address or a web address "
                                   "starting with https://.")
        return None
    return {"value": value, **({"label": label} if label else {})}


def values_from_row(row: dict) -> dict[str, str]:
    """The form as it was filled for an existing listing."""
    schedule = json.loads(row["schedule"]) if row.get("schedule") else None
    tz = (schedule or {}).get("tz") or zone_for(row["state"], row["city"])

    def local(value: str | None) -> str:
        if not value or "T" not in value:
            return value or ""
        moment = datetime.fromisoformat(value)
        return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")

    links = json.loads(row.get("links") or "[]")
    needs = json.loads(row.get("needs") or "[]")
    contact = stored_contact(row.get("contact"))
    return {
        "title": row["title"], "title_es": row.get("title_es") or "",
        "kind": row["kind"], "address": row.get("address") or "",
        "city": row["city"], "state": row["state"], "zip": row.get("zip") or "",
        "lat": "" if row.get("lat") is None else str(row["lat"]),
        "lon": "" if row.get("lon") is None else str(row["lon"]), "tz": tz,
        "starts": local(row.get("starts")), "ends": local(row.get("ends")),
        "repeat": (schedule or {}).get("freq") or ("none" if row.get("starts") else "ongoing"),
        "time": (schedule or {}).get("time", ""),
        "description": row["description_en"], "description_es": row["description_es"],
        "needs": "\n".join(n["en"] if n["es"] == n["en"] else f"{n['en']} / {n['es']}"
                           for n in needs),
        "links": "\n".join(f"{lk['label']} | {lk['url']}" if lk.get("url") else lk["label"]
                           for lk in links),
        "source": row.get("source") or "",
        "facility": row.get("facility") or "",
        "contact": contact.get("value", ""), "contact_label": contact.get("label", ""),
    }
