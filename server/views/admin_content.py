"""Organizers edit facilities, legal contacts, rights articles and resources.

Each kind of record has its form (parsed in `content_forms`), its table and its pages. Every
change is one write transaction that also appends to the audit log, so the log cannot miss a
change or record one that rolled back. A rights article is two rows (en and es) edited as one
record.

With two or more organizers, what visitors rely on (approvals.PUBLIC_FACTS: a contact's
phones and hours, a facility's address, a rights article's text, a resource's link) is
not changed by one organizer alone: a new record, a draft going public, or an edit touching
those fields becomes a proposed change for a second organizer, and the public keeps the
approved version until then.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiosqlite
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import approvals, audit
from server.content_forms import (
    RIGHTS_TEXT,
    Errors,
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
from server.dataset import LANGS, SLUG, slugify, unique_slug
from server.i18n import N_
from server.places import states_sorted
from server.views.admin import admin_page, form_of, organizer, see_other, translator
from server.views.base import services

BASE = "/admin/content"
FACILITY_KIND_LABELS = {
    "ero-field-office": N_("ICE Enforcement and Removal Operations office"),
    "hsi-office": N_("ICE Homeland Security Investigations office"),
    "detention-center": N_("Detention center"), "federal-building": N_("Federal building"),
    "other": N_("Other facility"),
}
FIX_FIELDS = "Not saved: fix the fields marked below."
WAITS = ("Your change waits for a second organizer; visitors see the approved version "
         "until then.")
NEW_LABELS = {"facility": N_("New facility"), "contact": N_("New contact"),
              "rights": N_("New rights article"), "article": N_("New article"),
              "organization": N_("New organization")}
# A translated article's columns, as a deleted article's copy keeps them.
TRANSLATION_COLUMNS = ("lang", "title", "summary", "body", "ord", "reviewed", "source",
                       "added", "sources")

Query = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]


def today() -> str:
    return datetime.now(UTC).date().isoformat()


# --- storage: one table row per record, except rights -------------------------------------

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


# --- views --------------------------------------------------------------------------------

def _form_page(request: Request, kind: Kind, values: Values, errors: Errors,
               record: dict | None = None, status: int = 200, **extra: Any) -> Response:
    tr = translator(request)
    return admin_page(
        request, kind.template, status=status, kind=kind, values=values, errors=errors,
        record=record, preview=extra.pop("preview", False),
        states=[("", tr.gettext("Choose…")), *states_sorted(tr.lang)],
        facility_kinds=[(k, tr.gettext(v)) for k, v in FACILITY_KIND_LABELS.items()], **extra,
    )


async def _record(request: Request, kind: Kind) -> dict:
    rec = await kind.load(services(request).db.execute, request.path_params["slug"])
    if rec is None:
        raise HTTPException(404, f"No {kind.entity} with that address.")
    return rec


def _edit_url(kind: Kind, slug: str, done: str) -> str:
    return f"{kind.base}/{quote(slug)}/edit?done={quote(done)}"


async def index(request: Request) -> Response:
    db = services(request).db
    sections = [(kind, [dict(r) for r in await db.execute(kind.list_sql())]) for kind in KINDS]
    return admin_page(request, "admin/content.html", sections=sections)


async def list_page(request: Request, kind: Kind) -> Response:
    rows = await services(request).db.execute(kind.list_sql())
    return admin_page(request, "admin/content_list.html", kind=kind,
                      records=[dict(r) for r in rows])


async def new(request: Request, kind: Kind) -> Response:
    svc = services(request)
    if request.method == "GET":
        return _form_page(request, kind, await kind.defaults(svc.db.execute), {})
    form = await form_of(request)
    values, errors, fields = kind.parse(form)
    values["slug"] = str(form.get("slug", "")).strip()
    wanted = values["slug"]
    if wanted and not (SLUG.fullmatch(wanted) and len(wanted) <= 80):
        errors["slug"] = "Lower-case letters a-z, digits and single hyphens, or empty."
    if form.get("action") == "preview":
        return _form_page(request, kind, values, errors, preview=True)
    if errors or fields is None:
        return _form_page(request, kind, values, errors, status=400, flash=FIX_FIELDS)
    me = organizer(request)["name"]
    status = "draft" if form.get("action") == "draft" else "published"
    base = slugify(values[kind.name_field]) or kind.entity
    second = status == "published" and await approvals.organizer_count(svc.db) >= 2
    if second and kind.publishable:
        # Saved as a draft, and going public is the proposed change.
        status = "draft"

    async def create(conn: aiosqlite.Connection) -> str | None:
        query = on(conn)
        if wanted:
            if await kind.taken(query, wanted):
                return None
            slug = wanted
        else:
            slug = await unique_slug(conn, kind.table, base)
            if second and not kind.publishable:
                async with conn.execute("SELECT 1 FROM changes WHERE entity = ? AND "
                                        "entity_key = ? AND status = 'pending'",
                                        (kind.entity, slug)) as cur:
                    if await cur.fetchone():
                        slug = f"{slug}-{secrets.token_hex(2)}"
        if second and not kind.publishable:
            await approvals.propose_change(conn, me, kind.entity, slug, {}, fields)
            return slug
        await kind.insert(conn, slug, fields, status)
        await audit.record(conn, me, "create", kind.entity, slug, None,
                           await kind.load(query, slug))
        if second:
            await propose_publishing(conn, me, kind, slug)
        return slug

    slug = await svc.db.write_fn(create, public=True)
    if slug is None:
        errors["slug"] = f"Another {kind.entity} already has this address."
        return _form_page(request, kind, values, errors, status=400, flash=FIX_FIELDS)
    if second and not kind.publishable:
        return see_other(f"/admin/changes?done={quote(WAITS)}")
    done = (WAITS if second else "Saved as a draft: not public yet." if status == "draft"
            else "Created.")
    return see_other(_edit_url(kind, slug, done))


async def edit(request: Request, kind: Kind) -> Response:
    record = await _record(request, kind)
    if request.method == "GET":
        return _form_page(request, kind, kind.values(record), {}, record,
                          preview=kind.entity == "rights")
    svc = services(request)
    form = await form_of(request)
    values, errors, fields = kind.parse(form)
    if form.get("action") == "preview":
        return _form_page(request, kind, values, errors, record, preview=True)
    if fields is None:
        return _form_page(request, kind, values, errors, record, status=400, flash=FIX_FIELDS)
    me = organizer(request)["name"]
    slug = record["slug"]
    many = await approvals.organizer_count(svc.db) >= 2

    async def save(conn: aiosqlite.Connection) -> bool:
        before = await kind.load(on(conn), slug)
        if before is None:
            raise HTTPException(404, f"No {kind.entity} with that address.")
        public = before.get("status", "published") == "published"
        if many and public and approvals.touches_public_facts(kind.entity, before, fields):
            await approvals.propose_change(conn, me, kind.entity, slug,
                                           {k: before.get(k) for k in fields}, fields)
            return False
        await kind.update(conn, slug, fields)
        await audit.record(conn, me, "edit", kind.entity, slug, before,
                           await kind.load(on(conn), slug))
        return True

    saved = await svc.db.write_fn(save, public=True)
    return see_other(_edit_url(kind, slug, "Saved." if saved else WAITS))


async def verify(request: Request, kind: Kind) -> Response:
    slug = request.path_params["slug"]
    me = organizer(request)["name"]

    async def mark(conn: aiosqlite.Connection) -> None:
        before = await kind.load(on(conn), slug)
        if before is None:
            raise HTTPException(404, f"No {kind.entity} with that address.")
        await kind.mark_checked(conn, slug)
        await audit.record(conn, me, "mark-verified", kind.entity, slug, before,
                           await kind.load(on(conn), slug))

    await services(request).db.write_fn(mark, public=True)
    return see_other(_edit_url(kind, slug, f"Marked {kind.date_word} today."))


async def delete(request: Request, kind: Kind) -> Response:
    slug = request.path_params["slug"]
    if request.method != "POST" or (await form_of(request)).get("confirm") != "yes":
        record = await _record(request, kind)
        tr = translator(request)
        consequence = tr.gettext("It disappears from the site at once. For 30 days it can be "
                                 "restored from Recently deleted.")
        if kind.entity == "facility":
            consequence += " " + tr.gettext("Listings that name this facility will no longer "
                                            "name it.")
        return admin_page(
            request, "admin/confirm.html",
            heading=tr.gettext("Delete “%(name)s”?", name=record[kind.name_field]),
            consequence=consequence, button=tr.gettext("Delete"),
            cancel=_edit_url(kind, slug, "").split("?")[0], action=request.url.path)
    me = organizer(request)["name"]
    many = await approvals.organizer_count(services(request).db) >= 2

    async def remove(conn: aiosqlite.Connection) -> list[str] | None:
        before = await kind.load(on(conn), slug)
        if before is None:
            raise HTTPException(404, f"No {kind.entity} with that address.")
        if many and before.get("status", "published") == "published":
            # Taking a public record away is a change to what the public sees, like any
            # other: it waits for a second organizer (an empty "after").
            await approvals.propose_change(conn, me, kind.entity, slug, before, {})
            return None
        return await remove_record(conn, me, kind, slug, before)

    detached = await services(request).db.write_fn(remove, public=True)
    if detached is None:
        return see_other(_edit_url(kind, slug, WAITS))
    done = f"Deleted {slug}."
    if detached:
        done += f" These listings no longer name it: {', '.join(detached)}."
    return see_other(f"/admin/deleted?done={quote(done)}")


async def remove_record(conn: aiosqlite.Connection, me: str, kind: Kind, slug: str,
                        before: dict) -> list[str]:
    """Delete a record, audited (restorable from Recently deleted); a facility's listings
    stay, without it. The slugs of the listings that no longer name it."""
    query = on(conn)
    detached = []
    if kind.entity == "facility":
        # Listings name their facility; they stay, without it, and the log says so.
        for row in await query("SELECT slug, facility FROM listings WHERE facility = ?",
                               (slug,)):
            await conn.execute("UPDATE listings SET facility = NULL WHERE slug = ?",
                               (row["slug"],))
            await audit.record(conn, me, "edit", "listing", row["slug"],
                               {"facility": slug}, {"facility": None})
            detached.append(row["slug"])
    await kind.remove(conn, slug)
    await audit.record(conn, me, "delete", kind.entity, slug, before, None)
    return detached


async def propose_publishing(conn: aiosqlite.Connection, me: str, kind: Kind,
                             slug: str) -> None:
    """Propose the draft as it stands, whole, for a second organizer to make public: the
    approval checks every column against this, so a change to the draft after the proposal
    (by anyone) voids it."""
    draft = await kind.load(on(conn), slug)
    assert draft is not None
    await approvals.propose_change(conn, me, kind.entity, slug, draft,
                                   {**draft, "status": "published"})


async def publish(request: Request, kind: Kind) -> Response:
    """Make a draft public, once it passes the same checks as the form."""
    slug = request.path_params["slug"]
    me = organizer(request)["name"]
    many = await approvals.organizer_count(services(request).db) >= 2

    async def go_public(conn: aiosqlite.Connection) -> tuple[str, dict | None, Errors]:
        before = await kind.load(on(conn), slug)
        if before is None:
            raise HTTPException(404, f"No {kind.entity} with that address.")
        if before["status"] != "draft":
            return "already", before, {}
        _values, errors, _fields = kind.parse(kind.values(before))
        if errors:
            return "invalid", before, errors
        if many:
            await propose_publishing(conn, me, kind, slug)
            return "proposed", None, {}
        await conn.execute(f"UPDATE {kind.table} SET status = 'published' WHERE slug = ?",
                           (slug,))
        await audit.record(conn, me, "publish", kind.entity, slug, before,
                           await kind.load(on(conn), slug))
        return "published", None, {}

    outcome, record, errors = await services(request).db.write_fn(go_public, public=True)
    if outcome == "invalid":
        assert record is not None
        return _form_page(request, kind, kind.values(record), errors, record, status=400,
                          flash="Not published: fix the fields marked below and save first.")
    done = {"already": "Already published.", "proposed": WAITS}.get(outcome, "Published.")
    return see_other(_edit_url(kind, slug, done))


def _bound(view: Callable[[Request, Kind], Awaitable[Response]],
           kind: Kind) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await view(request, kind)

    endpoint.__name__ = f"{view.__name__}_{kind.path}"
    return endpoint


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = [Route(BASE, index)]
    for kind in KINDS:
        one = f"{kind.base}/{{slug:str}}"
        out += [
            Route(kind.base, _bound(list_page, kind)),
            Route(f"{kind.base}/new", _bound(new, kind), methods=["GET", "POST"]),
            Route(f"{one}/edit", _bound(edit, kind), methods=["GET", "POST"]),
            Route(f"{one}/verify", _bound(verify, kind), methods=["POST"]),
            Route(f"{one}/delete", _bound(delete, kind), methods=["GET", "POST"]),
        ]
        if kind.publishable:
            out.append(Route(f"{one}/publish", _bound(publish, kind), methods=["POST"]))
    return out
