"""The organizer forms for facilities, legal contacts, rights articles and resources.

Each kind of record has a form parsed field by field, as the listing form is: (values as
typed, errors by field, columns or None); each also has the reverse, a stored record as the
form shows it. A rights article is two rows (en and es) edited as one record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from server.dataset import FACILITY_KINDS, LANGS, PHONE_PURPOSES, DataError, Where
from server.dataset import url as check_url
from server.listing_form import parse_coordinates
from server.places import STATES

DEFAULT_SOURCE = "Vigil organizers"
PHONE = re.compile(r"\+?[0-9(][0-9 ().-]{0,28}[0-9]")
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
MONTH_OR_DAY = re.compile(r"\d{4}-\d{2}(-\d{2})?")
RIGHTS_TEXT = ("title", "summary", "body")
_FORM = Where("form", "form")

Values = dict[str, str]
Errors = dict[str, str]
Parsed = tuple[Values, Errors, dict[str, Any] | None]


def _typed(form: Any, names: Sequence[str]) -> Values:
    # Browsers send textarea line breaks as CRLF; store plain LF.
    return {k: str(form.get(k, "")).replace("\r\n", "\n").strip() for k in names}


def _lengths(values: Values, errors: Errors, limits: dict[str, int]) -> None:
    for name, limit in limits.items():
        if len(values[name]) > limit:
            errors[name] = f"At most {limit} characters."


def _required(values: Values, errors: Errors, *names: str) -> None:
    for name in names:
        if not values[name]:
            errors.setdefault(name, "Required.")


def _web_address(values: Values, errors: Errors, name: str) -> None:
    if values[name]:
        try:
            check_url(_FORM, name, values[name])
        except DataError:
            errors.setdefault(name, "An address starting with http:// or https://, or empty.")


def _date(values: Values, errors: Errors, name: str, month_ok: bool) -> None:
    value = values[name]
    shape = "a date like 2026-11-27" + (" (or a month, 2018-06)" if month_ok else "")
    if not MONTH_OR_DAY.fullmatch(value) or (len(value) == 7 and not month_ok):
        errors.setdefault(name, f"Required: {shape}.")
        return
    try:
        datetime.strptime(value, "%Y-%m-%d" if len(value) == 10 else "%Y-%m")
    except ValueError:
        errors.setdefault(name, f"Not a real date: write {shape}.")


def _coordinates(values: Values, errors: Errors) -> tuple[float | None, float | None]:
    coords = parse_coordinates(values, errors)
    return coords.get("lat"), coords.get("lon")


def _spanish(values: Values, errors: Errors, name: str, required: bool = False) -> str | None:
    """The Spanish text, or the English when the Spanish is left empty."""
    en, es = values[f"{name}_en"], values[f"{name}_es"]
    if es and not en and not required:
        errors.setdefault(f"{name}_en", "Write the English too, or leave both empty.")
    return es or en or None


def _unless_same(es: str | None, en: str | None) -> str:
    """Show a Spanish field empty when it only repeats the English, so it keeps following it."""
    return "" if not es or es == en else es


def parse_facility(form: Any) -> Parsed:
    """(values as typed, errors by field, facility columns or None)."""
    values = _typed(form, ("name", "kind", "address", "city", "state", "lat", "lon",
                           "operator", "website", "note_en", "note_es", "source"))
    errors: Errors = {}
    _lengths(values, errors, {"name": 200, "address": 200, "city": 80, "operator": 200,
                              "website": 500, "note_en": 2000, "note_es": 2000, "source": 300})
    _required(values, errors, "name", "city")
    if values["kind"] not in FACILITY_KINDS:
        errors["kind"] = "Choose a kind."
    if values["state"] not in STATES:
        errors["state"] = "Choose a state."
    lat, lon = _coordinates(values, errors)
    _web_address(values, errors, "website")
    note_es = _spanish(values, errors, "note")
    if errors:
        return values, errors, None
    return values, errors, {
        "name": values["name"], "kind": values["kind"], "address": values["address"] or None,
        "city": values["city"], "state": values["state"], "lat": lat, "lon": lon,
        "operator": values["operator"] or None, "website": values["website"] or None,
        "note_en": values["note_en"] or None, "note_es": note_es,
        "source": values["source"] or DEFAULT_SOURCE,
    }


def facility_values(rec: dict) -> Values:
    return {
        "name": rec["name"], "kind": rec["kind"], "address": rec["address"] or "",
        "city": rec["city"], "state": rec["state"],
        "lat": "" if rec["lat"] is None else str(rec["lat"]),
        "lon": "" if rec["lon"] is None else str(rec["lon"]),
        "operator": rec["operator"] or "", "website": rec["website"] or "",
        "note_en": rec["note_en"] or "", "note_es": _unless_same(rec["note_es"], rec["note_en"]),
        "source": rec["source"],
    }


def _bilingual_part(text: str) -> dict[str, str]:
    en, _, es = (p.strip() for p in text.partition(" / "))
    return {"en": en, "es": es or en}


def _phones(text: str, errors: Errors) -> list[dict]:
    """One number a line: label | number | purpose | source, then optionally | hours |
    languages | the day the source page was read (YYYY-MM-DD). A number is shown to
    visitors only with what it is for and where it was published, so both are required."""
    phones = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        label, phone, purpose, source, hours, languages, read = (parts + [""] * 7)[:7]
        if len(parts) < 4 or len(parts) > 7 or not (label and phone):
            errors.setdefault("phones", f"Line {number}: write it as label | number | purpose "
                                        "| source address (then, if known, | hours | "
                                        "languages | the day you read the source page).")
            continue
        if not PHONE.fullmatch(phone):
            errors.setdefault("phones", f"Line {number}: a phone number has only digits, "
                                        "spaces, +, -, dots and parentheses.")
        if purpose not in PHONE_PURPOSES:
            errors.setdefault("phones", f"Line {number}: the purpose is one of "
                                        f"{', '.join(PHONE_PURPOSES)}.")
        if not re.match(r"^https?://[^\s/]+\.\S+$", source):
            errors.setdefault("phones", f"Line {number}: give the http(s) address of the page "
                                        "that publishes this number, so visitors can check it.")
        codes = [c.lower() for c in _codes(languages)] or None
        if codes and any(not LANGUAGE_CODE.fullmatch(c) for c in codes):
            errors.setdefault("phones", f"Line {number}: languages are codes like en, es.")
        if read and not _past_date(read):
            errors.setdefault("phones", f"Line {number}: the day the source page was read is "
                                        "a date like 2026-12-06, not in the future.")
        # The shape the data loader stores: optional parts present, as null when not given.
        phone_rec = {"label": _bilingual_part(label), "number": phone, "purpose": purpose,
                     "source": source, "hours": _bilingual_part(hours) if hours else None,
                     "languages": codes}
        if read:
            phone_rec["read"] = read
        phones.append(phone_rec)
    return phones


def _past_date(text: str) -> bool:
    try:
        return date.fromisoformat(text) <= datetime.now(UTC).date()
    except ValueError:
        return False


def _codes(text: str) -> list[str]:
    codes: list[str] = []
    for part in text.split(","):
        if part.strip() and part.strip() not in codes:
            codes.append(part.strip())
    return codes


def _states(text: str, errors: Errors) -> list[str]:
    codes = [c.upper() for c in _codes(text)]
    if not codes:
        errors["states"] = "Required: * for the whole country, or codes like WA, OR."
    elif "*" in codes and codes != ["*"]:
        errors["states"] = "Either * alone (the whole country) or state codes."
    elif codes != ["*"]:
        unknown = [c for c in codes if c not in STATES]
        if unknown:
            errors["states"] = f"Not a state code: {unknown[0][:10]}."
    return codes


def _languages(text: str, errors: Errors) -> list[str]:
    # Empty when the organization's page does not say which languages it serves.
    codes = [c.lower() for c in _codes(text)]
    if any(not LANGUAGE_CODE.fullmatch(c) for c in codes):
        errors["languages"] = "Two- or three-letter language codes, like en, es, ht."
    return codes


def parse_contact(form: Any) -> Parsed:
    """(values as typed, errors by field, contact columns or None)."""
    values = _typed(form, ("organization", "description_en", "description_es", "phones",
                           "hours_en", "hours_es", "website", "states", "languages", "source"))
    errors: Errors = {}
    _lengths(values, errors, {"organization": 200, "description_en": 4000,
                              "description_es": 4000, "phones": 2000, "hours_en": 500,
                              "hours_es": 500, "website": 500, "states": 300,
                              "languages": 100, "source": 300})
    _required(values, errors, "organization", "description_en")
    description_es = _spanish(values, errors, "description", required=True)
    hours_es = _spanish(values, errors, "hours")
    phones = _phones(values["phones"], errors)
    _web_address(values, errors, "website")
    states = _states(values["states"], errors)
    languages = _languages(values["languages"], errors)
    if errors:
        return values, errors, None
    return values, errors, {
        "organization": values["organization"], "description_en": values["description_en"],
        "description_es": description_es, "phones": _json(phones),
        "hours_en": values["hours_en"] or None, "hours_es": hours_es,
        "website": values["website"] or None, "states": _json(states),
        "languages": _json(languages), "source": values["source"] or DEFAULT_SOURCE,
    }


def contact_values(rec: dict) -> Values:
    def both(text: dict) -> str:
        return text["en"] if text["es"] == text["en"] else f"{text['en']} / {text['es']}"

    def phone_line(p: dict) -> str:
        parts = [both(p["label"]), p["number"], p.get("purpose", ""), p.get("source", "")]
        if p.get("hours") or p.get("languages") or p.get("read"):
            parts.append(both(p["hours"]) if p.get("hours") else "")
        if p.get("languages") or p.get("read"):
            parts.append(", ".join(p.get("languages") or []))
        if p.get("read"):
            parts.append(p["read"])
        return " | ".join(parts)

    return {
        "organization": rec["organization"], "description_en": rec["description_en"],
        "description_es": _unless_same(rec["description_es"], rec["description_en"]),
        "phones": "\n".join(phone_line(p) for p in json.loads(rec["phones"])),
        "hours_en": rec["hours_en"] or "",
        "hours_es": _unless_same(rec["hours_es"], rec["hours_en"]),
        "website": rec["website"] or "", "states": ", ".join(json.loads(rec["states"])),
        "languages": ", ".join(json.loads(rec["languages"])), "source": rec["source"],
    }


RIGHTS_FIELDS = tuple(f"{f}_{lang}" for lang in LANGS for f in RIGHTS_TEXT)


def parse_rights(form: Any) -> Parsed:
    """(values as typed, errors by field, both languages' columns or None)."""
    values = _typed(form, (*RIGHTS_FIELDS, "order", "reviewed", "source", "source_es"))
    errors: Errors = {}
    limits = {"title": 200, "summary": 500, "body": 20000}
    _lengths(values, errors, {f"{f}_{lang}": limits[f] for lang in LANGS for f in RIGHTS_TEXT})
    _lengths(values, errors, {"source": 300, "source_es": 300})
    _required(values, errors, *RIGHTS_FIELDS)
    order = None
    try:
        order = int(values["order"])
        if not 0 <= order <= 9999:
            raise ValueError
    except ValueError:
        errors["order"] = "A whole number from 0 to 9999; lower comes first."
    if values["reviewed"]:  # a check is recorded by /admin/checks, not typed here
        _date(values, errors, "reviewed", month_ok=False)
    if errors:
        return values, errors, None
    source = values["source"] or DEFAULT_SOURCE
    return values, errors, {**{k: values[k] for k in RIGHTS_FIELDS}, "ord": order,
                            "reviewed": values["reviewed"], "source": source,
                            "source_es": values["source_es"] or source}


def rights_values(rec: dict) -> Values:
    return {**{k: rec[k] for k in RIGHTS_FIELDS}, "order": str(rec["ord"]),
            "reviewed": rec["reviewed"], "source": rec["source"],
            "source_es": _unless_same(rec.get("source_es"), rec["source"])}


def parse_article(form: Any) -> Parsed:
    """(values as typed, errors by field, article columns or None)."""
    values = _typed(form, ("title", "publisher", "date", "url", "source"))
    errors: Errors = {}
    _lengths(values, errors, {"title": 300, "publisher": 200, "url": 500, "source": 300})
    _required(values, errors, "title", "publisher")
    _date(values, errors, "date", month_ok=True)
    _web_address(values, errors, "url")
    if errors:
        return values, errors, None
    return values, errors, {"title": values["title"], "publisher": values["publisher"],
                            "date": values["date"], "url": values["url"] or None,
                            "source": values["source"] or DEFAULT_SOURCE}


def article_values(rec: dict) -> Values:
    return {"title": rec["title"], "publisher": rec["publisher"], "date": rec["date"],
            "url": rec["url"] or "", "source": rec["source"]}


def parse_organization(form: Any) -> Parsed:
    """(values as typed, errors by field, organization columns or None)."""
    values = _typed(form, ("name", "about_en", "about_es", "website", "source"))
    errors: Errors = {}
    _lengths(values, errors, {"name": 200, "about_en": 4000, "about_es": 4000,
                              "website": 500, "source": 300})
    _required(values, errors, "name", "about_en")
    about_es = _spanish(values, errors, "about", required=True)
    _web_address(values, errors, "website")
    if errors:
        return values, errors, None
    return values, errors, {"name": values["name"], "about_en": values["about_en"],
                            "about_es": about_es, "website": values["website"] or None,
                            "source": values["source"] or DEFAULT_SOURCE}


def organization_values(rec: dict) -> Values:
    return {"name": rec["name"], "about_en": rec["about_en"],
            "about_es": _unless_same(rec["about_es"], rec["about_en"]),
            "website": rec["website"] or "", "source": rec["source"]}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
