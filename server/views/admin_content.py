"""The organizer pages for facilities, legal contacts, rights articles and resources.

Each kind of record (`content_kinds.KINDS`) gets the same pages: a list, a new-record form,
an edit form, verify, delete and, for drafts, publish. Every change is one write transaction
that also appends to the audit log, so the log cannot miss a change or record one that
rolled back.

With two or more organizers, what visitors rely on (approvals.PUBLIC_FACTS: a contact's
phones and hours, a facility's address, a rights article's text, a resource's link) is
not changed by one organizer alone: a new record, a draft going public, or an edit touching
those fields becomes a proposed change for a second organizer, and the public keeps the
approved version until then.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiosqlite
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import approvals, audit
from server.content_forms import Errors, Values
from server.content_kinds import BASE, KINDS, Kind, on
from server.dataset import SLUG, slugify, unique_slug
from server.i18n import N_
from server.places import states_sorted
from server.views.admin import admin_page, form_of, organizer, see_other, translator
from server.views.base import services

FACILITY_KIND_LABELS = {
    "ero-field-office": N_("ICE Enforcement and Removal Operations office"),
    "hsi-office": N_("ICE Homeland Security Investigations office"),
    "detention-center": N_("Detention center"), "federal-building": N_("Federal building"),
    "other": N_("Other facility"),
}
FIX_FIELDS = "Not saved: fix the fields marked below."
WAITS = ("Your change waits for a second organizer; visitors see the approved version "
         "until then.")


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
