"""The kinds of record organizers edit beside listings, and how each is read and written.

A `Kind` names a record's table, form, audit name and pages; its methods are the queries the
organizer pages, the two-person rule's reviews and Recently deleted run on it, inside the
caller's transaction (`on(conn)` reads through the writer). Every kind is one table row per
record, except a rights article: an English and a Spanish row edited as one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from server.content_forms import (
    RIGHTS_TEXT,
    Parsed,
    Values,
    article_values,
    contact_values,
    facility_values,
    organization_values,
    parse_article,
    parse_contact,
    parse_facility,
    parse_organization,
    parse_rights,
    rights_values,
)
from server.dataset import LANGS
from server.i18n import N_

BASE = "/admin/content"
NEW_LABELS = {"facility": N_("New facility"), "contact": N_("New contact"),
              "rights": N_("New rights article"), "article": N_("New article"),
              "organization": N_("New organization")}
# A translated article's columns, as a deleted article's copy keeps them.
TRANSLATION_COLUMNS = ("lang", "title", "summary", "body", "ord", "reviewed", "source",
                       "added", "sources")

Query = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def on(conn: aiosqlite.Connection) -> Query:
    """Read through the writer connection, inside its transaction."""
    async def run(sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    return run


class Kind:
    """One kind of record: its table, form, audit name and pages."""

    def __init__(self, path: str, table: str, entity: str, label: str, name_column: str,
                 parse: Callable[[Any], Parsed], values: Callable[[dict], Values],
                 public_url_pattern: str, date_column: str = "verified", publishable: bool = False,
                 defaults: Values | None = None, name_field: str | None = None,
                 noun: str | None = None):
        self.path, self.table, self.entity, self.label = path, table, entity, label
        self.name_column, self.parse, self.values = name_column, parse, values
        # Where the public sees a record, e.g. "/legal#{slug}".
        self.public_url_pattern = public_url_pattern
        self.date_column, self.publishable = date_column, publishable
        self.default_values = defaults or {}
        # The form field (and record key) naming a record; a new slug is made from it.
        self.name_field = name_field or name_column
        self.noun = noun or entity
        self.new_label = NEW_LABELS[entity]
        self.base = f"{BASE}/{path}"
        self.template = f"admin/content_{entity}.html"
        self.date_word = "reviewed" if date_column == "reviewed" else "verified"

    def public_url(self, slug: str) -> str:
        return self.public_url_pattern.format(slug=slug)

    def list_sql(self) -> str:
        if self.publishable:  # drafts first: they wait for an organizer
            return (f"SELECT slug, {self.name_column} AS name, {self.date_column} AS checked, "
                    f"status FROM {self.table} ORDER BY status = 'published', checked, name")
        return (f"SELECT slug, {self.name_column} AS name, {self.date_column} AS checked "
                f"FROM {self.table} ORDER BY checked, name")

    async def load(self, query: Query, slug: str) -> dict | None:
        rows = await query(f"SELECT * FROM {self.table} WHERE slug = ?", (slug,))
        if not rows:
            return None
        rec = dict(rows[0])
        rec.pop("id", None)
        return rec

    async def taken(self, query: Query, slug: str) -> bool:
        return bool(await query(f"SELECT 1 FROM {self.table} WHERE slug = ?", (slug,)))

    async def defaults(self, query: Query) -> Values:
        return dict(self.default_values)

    async def insert(self, conn: aiosqlite.Connection, slug: str, fields: dict,
                     status: str) -> None:
        row = {"slug": slug, **fields, self.date_column: today()}
        if self.publishable:
            row["status"] = status
        await conn.execute(f"INSERT INTO {self.table} ({', '.join(row)}) "
                           f"VALUES ({', '.join('?' * len(row))})", list(row.values()))

    async def update(self, conn: aiosqlite.Connection, slug: str, fields: dict) -> None:
        await conn.execute(
            f"UPDATE {self.table} SET {', '.join(f'{k} = ?' for k in fields)} WHERE slug = ?",
            [*fields.values(), slug])

    async def remove(self, conn: aiosqlite.Connection, slug: str) -> None:
        await conn.execute(f"DELETE FROM {self.table} WHERE slug = ?", (slug,))

    async def mark_checked(self, conn: aiosqlite.Connection, slug: str) -> None:
        await conn.execute(f"UPDATE {self.table} SET {self.date_column} = ? WHERE slug = ?",
                           (today(), slug))


class RightsKind(Kind):
    """A rights article: an English and a Spanish row sharing slug, order, review and source."""

    def list_sql(self) -> str:
        return ("SELECT slug, COALESCE(MAX(CASE WHEN lang = 'en' THEN title END), MAX(title)) "
                "AS name, MIN(reviewed) AS checked, MIN(ord) AS ord FROM rights "
                "GROUP BY slug ORDER BY checked, ord, slug")

    async def load(self, query: Query, slug: str) -> dict | None:
        rows = {r["lang"]: dict(r) for r in await query(
            "SELECT * FROM rights WHERE slug = ?", (slug,))}
        if not rows:
            return None
        # An import may carry one language only; the form then starts from the other.
        en = rows.get("en") or rows["es"]
        es = rows.get("es") or en
        rec = {"slug": slug, "ord": en["ord"], "reviewed": en["reviewed"],
               "source": en["source"], "source_es": es["source"], "added": en["added"]}
        for lang, row in (("en", en), ("es", es)):
            rec.update({f"{f}_{lang}": row[f] for f in RIGHTS_TEXT})
            rec[f"sources_{lang}"] = row["sources"]
        # The other languages' articles come from data files, not this form; a deleted
        # article's copy keeps them, so restoring it brings every language back.
        others = [{k: row[k] for k in TRANSLATION_COLUMNS} for lang, row in sorted(rows.items())
                  if lang not in LANGS]
        if others:
            rec["translations"] = json.dumps(others, ensure_ascii=False)
        return rec

    async def defaults(self, query: Query) -> Values:
        rows = await query("SELECT COALESCE(MAX(ord), 0) + 1 FROM rights", ())
        return {"order": str(rows[0][0]), "reviewed": today()}

    async def insert(self, conn: aiosqlite.Connection, slug: str, fields: dict,
                     status: str) -> None:
        await self.update(conn, slug, fields)

    async def update(self, conn: aiosqlite.Connection, slug: str, fields: dict) -> None:
        for lang in LANGS:
            await conn.execute(
                "INSERT INTO rights (slug, lang, title, summary, body, ord, reviewed, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug, lang) DO UPDATE SET "
                "title = excluded.title, summary = excluded.summary, body = excluded.body, "
                "ord = excluded.ord, reviewed = excluded.reviewed, source = excluded.source",
                (slug, lang, fields[f"title_{lang}"], fields[f"summary_{lang}"],
                 fields[f"body_{lang}"], fields["ord"], fields["reviewed"],
                 fields.get(f"source_{lang}", fields["source"])))
            if f"sources_{lang}" in fields:  # a restored copy brings its provenance back
                await conn.execute(
                    "UPDATE rights SET sources = ?, added = ? WHERE slug = ? AND lang = ?",
                    (fields[f"sources_{lang}"], fields.get("added"), slug, lang))
        for row in json.loads(fields.get("translations") or "[]"):
            await conn.execute(
                f"INSERT INTO rights (slug, {', '.join(TRANSLATION_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' for _ in TRANSLATION_COLUMNS)}) "
                "ON CONFLICT (slug, lang) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in TRANSLATION_COLUMNS if c != "lang"),
                (slug, *(row[k] for k in TRANSLATION_COLUMNS)))


KINDS = (
    Kind("facilities", "facilities", "facility", N_("Facilities"), "name", parse_facility,
         facility_values, "/facilities#{slug}", defaults={"kind": "ero-field-office"}),
    Kind("contacts", "contacts", "contact", N_("Legal contacts"), "organization", parse_contact,
         contact_values, "/legal#{slug}", defaults={"states": "*", "languages": "en, es"}),
    RightsKind("rights", "rights", "rights", N_("Know-your-rights articles"), "title",
               parse_rights, rights_values, "/rights/{slug}", date_column="reviewed",
               name_field="title_en", noun="rights article"),
    Kind("articles", "articles", "article", N_("Articles to share"), "title", parse_article,
         article_values, "/resources", publishable=True),
    Kind("organizations", "organizations", "organization", N_("Organizations"), "name",
         parse_organization, organization_values, "/resources", publishable=True),
)
