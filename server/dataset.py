"""The default dataset in data/: validation, loading, export and import."""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosqlite

from server.database import Database
from server.dialect import dialect_of
from server.i18n import LANGUAGES
from server.places import STATES
from server.public_contact import contact_href

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ZIP = re.compile(r"\d{5}(?:-\d{4})?")
LANGS = ("en", "es")
LISTING_KINDS = ("occupation", "vigil", "rally", "action")
LISTING_STATUSES = ("active", "ended")
FACILITY_KINDS = ("ero-field-office", "hsi-office", "detention-center", "federal-building", "other")
EXPORT_VERSION = 1


def slugify(text: str, limit: int = 60) -> str:
    """An ASCII, lower-case, hyphenated slug ('Vigil at NWDC, Tacoma' -> 'vigil-at-nwdc-tacoma')."""
    folded = _fold(text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0] or slug[:limit]
    return slug.strip("-")


# Slugs that would read as organizer pages (/admin/listings/new) rather than a record.
RESERVED_SLUGS = frozenset({"new", "edit", "draft", "drafts"})
SLUGGED_TABLES = frozenset({"listings", "articles", "facilities", "contacts", "rights",
                            "organizations"})


async def unique_slug(conn: aiosqlite.Connection, table: str, base: str) -> str:
    """base, or base-2, base-3, ...: the first that is not reserved and no row of the table
    has, read inside the caller's transaction so the insert that follows cannot collide."""
    assert table in SLUGGED_TABLES, table
    candidate, n = base, 1
    while True:
        if candidate not in RESERVED_SLUGS:
            async with conn.execute(f"SELECT 1 FROM {table} WHERE slug = ?", (candidate,)) as cur:
                if await cur.fetchone() is None:
                    return candidate
        n += 1
        candidate = f"{base}-{n}"


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class DataError(ValueError):
    """A data file or an import holds a record Vigil cannot use."""


@dataclass
class Where:
    file: str
    record: str

    def fail(self, field: str, problem: str) -> DataError:
        return DataError(f"{self.file}: {self.record}: field '{field}' {problem}")


# Field checkers: each takes (where, name, value) and returns the value to store.
Checker = Callable[[Where, str, Any], Any]


def text(where: Where, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.fail(name, "must be non-empty text")
    return value.strip()


def zip_code(where: Where, name: str, value: Any) -> str:
    if not isinstance(value, str) or not ZIP.fullmatch(value.strip()):
        raise where.fail(name, f"must be a ZIP code (98421 or 98421-1234), got {value!r}")
    return value.strip()


def slug(where: Where, name: str, value: Any) -> str:
    if not isinstance(value, str) or not SLUG.match(value):
        raise where.fail(name, "must be lower-case letters, digits and hyphens")
    return value


def state(where: Where, name: str, value: Any) -> str:
    if value not in STATES:
        raise where.fail(name, f"must be a two-letter USPS state code, got {value!r}")
    return value


def iso_date(where: Where, name: str, value: Any) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        for pattern in ("%Y-%m-%d", "%Y-%m"):
            try:
                datetime.strptime(value, pattern)
                return value
            except ValueError:
                pass
    raise where.fail(name, f"must be a date like 2018-06-27, got {value!r}")


def date_or_datetime(where: Where, name: str, value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise where.fail(name, "needs a UTC offset, e.g. 2018-06-17T18:00:00-07:00")
        return value.isoformat()
    if isinstance(value, str) and "T" in value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise where.fail(name, f"is not an ISO date-time: {value!r}") from None
        if parsed.tzinfo is None:
            raise where.fail(name, "needs a UTC offset, e.g. 2018-06-17T18:00:00-07:00")
        return parsed.isoformat()
    return iso_date(where, name, value)


def one_of(*choices: str) -> Checker:
    def check(where: Where, name: str, value: Any) -> str:
        if value not in choices:
            raise where.fail(name, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    return check


def number(low: float, high: float) -> Checker:
    def check(where: Where, name: str, value: Any) -> float:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or not low <= value <= high:
            raise where.fail(name, f"must be a number from {low} to {high}")
        return float(value)

    return check


def clock(where: Where, name: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", value):
        raise where.fail(name, f"must be a 24-hour time like 20:00, got {value!r}")
    return value


def timezone(where: Where, name: str, value: Any) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        problem = f"must be an IANA time zone like America/Chicago, got {value!r}"
        raise where.fail(name, problem) from None
    return value


def integer(where: Where, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.fail(name, "must be a whole number")
    return value


def url(where: Where, name: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+\.[^\s]+$", value):
        raise where.fail(name, f"must be an http(s) address, got {value!r}")
    return value


def bilingual(where: Where, name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != set(LANGS):
        raise where.fail(name, "must be a table with exactly 'en' and 'es' text")
    return {lang: text(where, f"{name}.{lang}", value[lang]) for lang in LANGS}


def list_of(item: Checker) -> Checker:
    def check(where: Where, name: str, value: Any) -> list:
        if not isinstance(value, list):
            raise where.fail(name, "must be a list")
        return [item(where, f"{name}[{i}]", v) for i, v in enumerate(value)]

    return check


def table(required: dict[str, Checker], optional: dict[str, Checker] | None = None) -> Checker:
    optional = optional or {}

    def check(where: Where, name: str, value: Any) -> dict:
        if not isinstance(value, dict):
            raise where.fail(name, "must be a table")
        return _fields(where, value, required, optional, prefix=f"{name}.")

    return check


def phone_number(where: Where, name: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^\+1-\d{3}-\d{3}-\d{4}$", value):
        raise where.fail(name, f"must be a US number like +1-555-555-0100, got {value!r}")
    return value


def public_contact(where: Where, name: str, value: Any) -> str:
    if not isinstance(value, str) or contact_href(value) is None:
        raise where.fail(name, "must be a phone number with its area code, an email address "
                               f"or an http(s) address, got {value!r}")
    return value


def states_served(where: Where, name: str, value: Any) -> list[str]:
    codes = list_of(text)(where, name, value)
    if codes != ["*"]:
        for i, code in enumerate(codes):
            state(where, f"{name}[{i}]", code)
    return codes


def _fields(
    where: Where,
    record: dict,
    required: dict[str, Checker],
    optional: dict[str, Checker],
    prefix: str = "",
) -> dict:
    unknown = set(record) - set(required) - set(optional)
    if unknown:
        raise where.fail(prefix + sorted(unknown)[0], "is not a known field")
    out = {}
    for name, check in required.items():
        if name not in record:
            raise where.fail(prefix + name, "is missing")
        out[name] = check(where, prefix + name, record[name])
    for name, check in optional.items():
        out[name] = check(where, prefix + name, record[name]) if name in record else None
    return out


# Every record says where it came from and when it was written into Vigil's data. Whether
# anyone has since checked it is not a claim a data file can make: that comes only from an
# organizer marking the record checked, which the audit log records with who and when.
COMMON = {"source": text, "added": iso_date}
CONTACT_ROLES = ("legal", "reporting", "locating", "information")
# What a number is for: legal help (a lawyer, a legal-aid group, a rapid-response or
# referral line), legal support after an arrest at a protest, reporting enforcement, or
# finding someone detained.
PHONE_PURPOSES = ("legal-help", "protest-legal", "report-raids", "find-someone")
LEGAL_PURPOSES = ("legal-help", "protest-legal")


def sources(where: Where, name: str, value: Any) -> list[dict]:
    """At least one {title, url}: the public pages a record's facts can be checked against."""
    items = list_of(table({"title": text, "url": url}))(where, name, value)
    if not items:
        raise where.fail(name, "must list at least one source with a title and a url")
    return items


SCHEDULE = table(
    {"freq": one_of("daily", "weekly"), "time": clock, "tz": timezone},
    {"duration_minutes": integer,
     "byday": list_of(one_of("MO", "TU", "WE", "TH", "FR", "SA", "SU"))},
)

SPECS: dict[str, tuple[dict[str, Checker], dict[str, Checker]]] = {
    "listing": (
        {
            "slug": slug, "kind": one_of(*LISTING_KINDS), "title": text, "city": text,
            "state": state, "status": one_of(*LISTING_STATUSES), "description": bilingual,
            **COMMON,
        },
        {
            "title_es": text, "address": text, "zip": zip_code, "lat": number(-90, 90),
            "lon": number(-180, 180), "starts": date_or_datetime, "ends": date_or_datetime,
            "schedule": SCHEDULE,
            "links": list_of(table({"label": text}, {"url": url})),
            "needs": list_of(bilingual), "facility": slug, "statement": slug,
            "contact": table({"value": public_contact}, {"label": text}),
        },
    ),
    "facility": (
        {"slug": slug, "name": text, "kind": one_of(*FACILITY_KINDS), "city": text,
         "state": state, **COMMON},
        {"address": text, "lat": number(-90, 90), "lon": number(-180, 180), "operator": text,
         "website": url, "note": bilingual},
    ),
    "contact": (
        {"slug": slug, "organization": text, "role": one_of(*CONTACT_ROLES),
         "description": bilingual,
         "states": states_served, "languages": list_of(text), "sources": sources, **COMMON},
        {"phones": list_of(table({"label": bilingual, "number": phone_number,
                                  "purpose": one_of(*PHONE_PURPOSES), "source": url,
                                  "read": iso_date},
                                 {"hours": bilingual, "languages": list_of(text)})),
         "hours": bilingual, "website": url},
    ),
    "article": (
        {"slug": slug, "title": text, "publisher": text, "date": iso_date, **COMMON},
        {"url": url},
    ),
    "organization": (
        {"slug": slug, "name": text, "about": bilingual, **COMMON},
        {"website": url},
    ),
    "statement": (
        {"slug": slug, "title": text, "date": iso_date, "summary": bilingual,
         "attribution": text, **COMMON},
        {},
    ),
    "rights": (
        {"title": text, "summary": text, "order": integer, "written": iso_date, "source": text,
         "sources": sources},
        {},
    ),
}

FILES = {
    "listings.toml": ("listing",),
    "facilities.toml": ("facility",),
    "contacts.toml": ("contact",),
    "resources.toml": ("article", "organization"),
    "statements.toml": ("statement",),
}


def validate_record(kind: str, record: Any, where: Where) -> dict:
    """Check one record against its kind's fields; return it normalized."""
    if not isinstance(record, dict):
        raise DataError(f"{where.file}: {where.record}: must be a table of fields")
    required, optional = SPECS[kind]
    return _fields(where, record, required, optional)


def _unique(kind: str, records: list[dict], file: str) -> None:
    seen: set[str] = set()
    for rec in records:
        if rec["slug"] in seen:
            raise DataError(f"{file}: {kind} '{rec['slug']}': field 'slug' is used twice")
        seen.add(rec["slug"])


def split_front_matter(raw: str, file: str) -> tuple[dict, str]:
    lines = raw.splitlines()
    if not lines or lines[0].strip() != "+++":
        raise DataError(f"{file}: the file must start with a '+++' front-matter line")
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "+++")
    except StopIteration:
        raise DataError(f"{file}: the front matter has no closing '+++' line") from None
    try:
        meta = tomllib.loads("\n".join(lines[1:end]))
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{file}: front matter is not valid TOML: {exc}") from None
    body = "\n".join(lines[end + 1 :]).strip()
    if not body:
        raise DataError(f"{file}: the article has no body")
    return meta, body


def read_dataset(data_dir: Path) -> dict[str, list[dict]]:
    """Read and validate every file in data_dir; raise DataError naming file, record and field."""
    out: dict[str, list[dict]] = {}
    for file, kinds in FILES.items():
        path = data_dir / file
        if not path.exists():
            raise DataError(f"{file}: the file is missing from {data_dir}")
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{file}: not valid TOML: {exc}") from None
        unknown = set(doc) - set(kinds)
        if unknown:
            raise DataError(f"{file}: unknown table '{sorted(unknown)[0]}' (expected {kinds})")
        for kind in kinds:
            records = doc.get(kind, [])
            if not isinstance(records, list):
                raise DataError(f"{file}: '{kind}' must be an array of tables ([[{kind}]])")
            valid = []
            for i, rec in enumerate(records):
                label = rec.get("slug", f"#{i + 1}") if isinstance(rec, dict) else f"#{i + 1}"
                valid.append(validate_record(kind, rec, Where(file, f"{kind} '{label}'")))
            _unique(kind, valid, file)
            out[kind] = valid
    rights = []
    by_slug: dict[str, set[str]] = {}
    for path in sorted((data_dir / "rights").glob("*.md")):
        name = f"rights/{path.name}"
        parts = path.name.split(".")
        if len(parts) != 3 or parts[1] not in LANGUAGES or not SLUG.match(parts[0]):
            raise DataError(f"{name}: file names must look like <slug>.<language>.md, the "
                            f"language one of {', '.join(LANGUAGES)}")
        meta, body = split_front_matter(path.read_text(encoding="utf-8"), name)
        rec = validate_record("rights", meta, Where(name, "front matter"))
        rights.append({"slug": parts[0], "lang": parts[1], "body": body, **rec})
        by_slug.setdefault(parts[0], set()).add(parts[1])
    for slug_, langs in by_slug.items():
        if not langs >= set(LANGS):
            missing = (set(LANGS) - langs).pop()
            raise DataError(f"rights/{slug_}.{missing}.md: missing (every article needs en and es)")
    out["rights"] = rights
    _check_references(out)
    return out


def _check_references(data: dict[str, list[dict]]) -> None:
    facilities = {f["slug"] for f in data["facility"]}
    statements = {s["slug"] for s in data["statement"]}
    for rec in data["listing"]:
        if rec["facility"] and rec["facility"] not in facilities:
            raise DataError(
                f"listings.toml: listing '{rec['slug']}': field 'facility' names unknown "
                f"facility '{rec['facility']}'"
            )
        if rec["statement"] and rec["statement"] not in statements:
            raise DataError(
                f"listings.toml: listing '{rec['slug']}': field 'statement' names unknown "
                f"statement '{rec['statement']}'"
            )


# --- rows: the database shape of each record --------------------------------------------

def _j(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def listing_row(rec: dict, now: str) -> dict:
    return {
        "slug": rec["slug"], "kind": rec["kind"], "title": rec["title"],
        "title_es": rec["title_es"], "description_en": rec["description"]["en"],
        "description_es": rec["description"]["es"],
        "address": rec["address"], "city": rec["city"], "state": rec["state"],
        "zip": rec.get("zip"), "lat": rec["lat"], "lon": rec["lon"], "starts": rec["starts"],
        "ends": rec["ends"],
        "schedule": _j(rec["schedule"]), "status": rec["status"],
        "links": _j(rec["links"] or []), "needs": _j(rec["needs"] or []),
        "facility": rec["facility"], "statement": rec["statement"],
        "contact": _j({k: v for k, v in rec["contact"].items() if v is not None})
        if rec["contact"] else None,
        "source": rec["source"], "added": rec["added"], "verified": "", "created": now,
        "updated": now,
    }


def facility_row(rec: dict) -> dict:
    note = rec["note"] or {}
    return {
        **{k: rec[k] for k in ("slug", "name", "kind", "address", "city", "state", "lat", "lon",
                               "operator", "website", "source", "added")},
        "verified": "",
        "note_en": note.get("en"), "note_es": note.get("es"),
    }


def contact_row(rec: dict) -> dict:
    hours = rec["hours"] or {}
    return {
        "slug": rec["slug"], "organization": rec["organization"], "role": rec["role"],
        "description_en": rec["description"]["en"], "description_es": rec["description"]["es"],
        "phones": _j(rec["phones"] or []), "hours_en": hours.get("en"),
        "hours_es": hours.get("es"), "website": rec["website"], "states": _j(rec["states"]),
        "languages": _j(rec["languages"]), "source": rec["source"], "added": rec["added"],
        "sources": _j(rec["sources"]), "verified": "",
    }


def organization_row(rec: dict) -> dict:
    return {
        "slug": rec["slug"], "name": rec["name"], "about_en": rec["about"]["en"],
        "about_es": rec["about"]["es"], "website": rec["website"], "source": rec["source"],
        "added": rec["added"], "verified": "",
    }


def statement_row(rec: dict) -> dict:
    return {
        "slug": rec["slug"], "title": rec["title"], "date": rec["date"],
        "summary_en": rec["summary"]["en"], "summary_es": rec["summary"]["es"],
        "attribution": rec["attribution"], "source": rec["source"], "added": rec["added"],
        "verified": "",
    }


def rights_row(rec: dict) -> dict:
    return {
        "slug": rec["slug"], "lang": rec["lang"], "title": rec["title"],
        "summary": rec["summary"], "body": rec["body"], "ord": rec["order"],
        "added": rec["written"], "reviewed": "", "source": rec["source"],
        "sources": _j(rec["sources"]),
    }


def dataset_rows(data: dict[str, list[dict]], now: str) -> dict[str, list[dict]]:
    """Turn a validated dataset into rows per table."""
    return {
        "listings": [listing_row(r, now) for r in data["listing"]],
        "facilities": [facility_row(r) for r in data["facility"]],
        "contacts": [contact_row(r) for r in data["contact"]],
        "articles": [{**r, "verified": ""} for r in data["article"]],
        "organizations": [organization_row(r) for r in data["organization"]],
        "statements": [statement_row(r) for r in data["statement"]],
        "rights": [rights_row(r) for r in data["rights"]],
    }


# Tables an export carries, with the key that identifies a row across databases.
EXPORT_TABLES: dict[str, tuple[str, ...]] = {
    "listings": ("slug",),
    "facilities": ("slug",),
    "contacts": ("slug",),
    "rights": ("slug", "lang"),
    "articles": ("slug",),
    "organizations": ("slug",),
    "statements": ("slug",),
    "alerts": ("id",),
}
# An import batch is an organizer workflow of this database, not data to carry elsewhere.
COLUMNS_NOT_EXPORTED = {"id", "batch_id"}
CHECK_COLUMNS = ("verified", "reviewed")


async def _columns(conn: aiosqlite.Connection, name: str) -> list[str]:
    async with conn.execute(dialect_of(conn).table_columns, (name,)) as cur:
        return [row[0] for row in await cur.fetchall()]


async def upsert_rows(conn: aiosqlite.Connection, name: str, rows: list[dict]) -> int:
    """Insert or update rows by their natural key; return how many rows changed."""
    key = EXPORT_TABLES[name]
    columns = await _columns(conn, name)
    changed = 0
    for row in rows:
        unknown = set(row) - set(columns)
        if unknown:
            raise DataError(f"import: {name}: unknown column '{sorted(unknown)[0]}'")
        missing = [k for k in key if k not in row]
        if missing:
            raise DataError(f"import: {name}: a row has no '{missing[0]}'")
        cols = list(row)
        # A reload of data/ never clears a check an organizer recorded.
        updates = [c for c in cols if c not in key and c not in ("created",)
                   and not (c in CHECK_COLUMNS and row[c] == "")]
        set_clause = (", ".join(f"{c} = excluded.{c}" for c in updates)
                      or f"{key[0]} = {name}.{key[0]}")
        differs = " OR ".join(f"{name}.{c} IS DISTINCT FROM excluded.{c}"
                              for c in updates) or "FALSE"
        sql = (
            f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {set_clause} WHERE {differs}"
        )
        try:
            cur = await conn.execute(sql, [row[c] for c in cols])
        except Exception as exc:  # a constraint's error carries the useful part
            ident = "/".join(str(row[k]) for k in key)
            said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"import: {name} '{ident}': {said}") from None
        changed += cur.rowcount
    return changed


async def load_dataset(db: Database, data_dir: Path, now: str) -> dict[str, int]:
    """Validate data_dir completely, then load it in one transaction (all or nothing)."""
    rows = dataset_rows(read_dataset(data_dir), now)

    async def run(conn: aiosqlite.Connection) -> dict[str, int]:
        return {name: await upsert_rows(conn, name, batch) for name, batch in rows.items()}

    return await db.write_fn(run, public=True)


async def load_new_languages(db: Database, data_dir: Path) -> int:
    """Load the rights articles of languages the database has no article in yet (a
    language added since the database was made), and nothing else: an article already
    stored, in any language, stays as organizers left it. Returns the articles loaded."""
    articles = [rights_row(r) for r in read_dataset(data_dir)["rights"]]

    async def run(conn: aiosqlite.Connection) -> int:
        async with conn.execute("SELECT DISTINCT lang FROM rights") as cur:
            present = {row[0] for row in await cur.fetchall()}
        fresh = [a for a in articles if a["lang"] not in present]
        return await upsert_rows(conn, "rights", fresh) if fresh else 0

    return await db.write_fn(run, public=True)


async def export_data(db: Database, exported: str) -> dict:
    """Everything public plus organizer-authored content; no secrets, no subscriptions."""
    out: dict[str, Any] = {"vigil_export": EXPORT_VERSION, "exported": exported}
    for name, key in EXPORT_TABLES.items():
        cols = [c for c in await table_columns(db, name) if c not in COLUMNS_NOT_EXPORTED]
        if name == "alerts":
            cols = ["id", *cols]
        order = ", ".join(key)
        rows = await db.execute(f"SELECT {', '.join(cols)} FROM {name} ORDER BY {order}")
        out[name] = [dict(zip(cols, tuple(r), strict=True)) for r in rows]
    return out


async def table_columns(db: Database, name: str) -> list[str]:
    """A table's column names, in order."""
    return [row[0] for row in await db.execute(db.dialect.table_columns, (name,))]


async def import_data(db: Database, doc: Any) -> dict[str, int]:
    """Load an export in one transaction; a second import of the same export changes nothing."""
    if not isinstance(doc, dict) or doc.get("vigil_export") != EXPORT_VERSION:
        raise DataError("import: this is not a Vigil export (no 'vigil_export': 1)")
    for name in EXPORT_TABLES:
        if not isinstance(doc.get(name, []), list):
            raise DataError(f"import: '{name}' must be a list")

    async def run(conn: aiosqlite.Connection) -> dict[str, int]:
        counts = {}
        for name in EXPORT_TABLES:
            rows = doc.get(name, [])
            for row in rows:
                if not isinstance(row, dict):
                    raise DataError(f"import: {name}: every row must be an object")
            counts[name] = await upsert_rows(conn, name, rows)
        return counts

    return await db.write_fn(run, public=True)
