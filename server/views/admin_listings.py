"""Organizers publish, edit, verify, end and delete listings.

A new listing that goes live notifies subscribers, so when the deployment has two or more
organizers it waits (status 'pending') until a second organizer approves it: a fake vigil
location is as dangerous as a fake urgent call.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import approvals, audit, push
from server.content import iso_now, listing_record
from server.dataset import LISTING_KINDS, slugify
from server.listing_form import TIME_ZONES, parse, values_from_row
from server.places import states_sorted
from server.views.admin import admin_page, form_of, organizer, see_other
from server.views.base import services

KIND_LABELS = {"occupation": "Occupation", "vigil": "Vigil", "rally": "Rally", "action": "Action"}


async def _row(request: Request) -> dict:
    row = await services(request).db.first(
        "SELECT * FROM listings WHERE slug = ?", (request.path_params["slug"],)
    )
    if row is None:
        raise HTTPException(404, "No listing with that address.")
    return dict(row)


def _form_page(request: Request, values: dict, errors: dict, status: int = 200,
               listing: dict | None = None, **extra) -> Response:
    return admin_page(
        request, "admin/listing_form.html", status=status, values=values, errors=errors,
        listing=listing, kinds=[(k, KIND_LABELS[k]) for k in LISTING_KINDS],
        states=[("", "Choose…"), *states_sorted("en")], zones=list(TIME_ZONES), **extra,
    )


async def index(request: Request) -> Response:
    rows = await services(request).db.execute(
        "SELECT slug, title, city, state, status, verified, author FROM listings "
        "ORDER BY CASE status WHEN 'pending' THEN 0 WHEN 'draft' THEN 1 WHEN 'active' THEN 2 "
        "ELSE 3 END, updated DESC"
    )
    return admin_page(request, "admin/listings.html", listings=[dict(r) for r in rows])


async def new(request: Request) -> Response:
    if request.method == "GET":
        return _form_page(request, {"kind": "vigil", "tz": "America/New_York"}, {})
    svc = services(request)
    me = organizer(request)
    form = await form_of(request)
    values, errors, fields = parse(dict(form))
    if fields is None:
        return _form_page(request, values, errors, status=400)
    as_draft = form.get("action") == "draft"
    now = iso_now()
    today = now[:10]
    base_slug = slugify(f"{fields['title']}-{fields['city']}")

    async def create(conn) -> tuple[str, str]:
        slug = base_slug
        n = 1
        while True:
            async with conn.execute("SELECT 1 FROM listings WHERE slug = ?", (slug,)) as cur:
                if not await cur.fetchone():
                    break
            n += 1
            slug = f"{base_slug}-{n}"
        row = {**fields, "slug": slug, "status": "draft", "verified": today, "created": now,
               "updated": now, "author": me["name"]}
        cols = ", ".join(row)
        await conn.execute(f"INSERT INTO listings ({cols}) VALUES ({', '.join('?' * len(row))})",
                           list(row.values()))
        await audit.record(conn, me["name"], "create", "listing", slug, None, row)
        return slug

    slug = await svc.db.write_fn(create, public=True)
    if as_draft:
        return see_other(f"/admin/listings/{slug}/edit?done=Saved+as+a+draft.")
    return await _publish(request, slug)


async def publish(request: Request) -> Response:
    row = await _row(request)
    if row["status"] not in ("draft",):
        return see_other(f"/admin/listings/{row['slug']}/edit?done=Already+{row['status']}.")
    return await _publish(request, row["slug"])


async def _publish(request: Request, slug: str) -> Response:
    """Make a draft live now, or send it for approval under the two-person rule."""
    svc = services(request)
    me = organizer(request)
    row = dict(await svc.db.first("SELECT * FROM listings WHERE slug = ?", (slug,)))
    if await approvals.needs_second_organizer(svc.db, svc.settings, urgent=False,
                                              states=[row["state"]]):
        async def hold(conn) -> None:
            await conn.execute(
                "UPDATE listings SET status = 'pending', author = ?, updated = ? WHERE slug = ?",
                (me["name"], iso_now(), slug))
            await audit.record(conn, me["name"], "propose", "listing", slug)

        await svc.db.write_fn(hold, public=True)
        return see_other(f"/admin/listings/{slug}/edit?done=Waiting+for+a+second+organizer"
                         "+to+approve.+Nothing+is+public+or+sent+yet.")
    await _go_live(request, slug, approver=None)
    return see_other(f"/admin/listings/{slug}/edit?done=Published.")


async def _go_live(request: Request, slug: str, approver: str | None) -> None:
    """Make the listing active and queue its announcement in one transaction."""
    svc = services(request)
    me = organizer(request)

    async def activate(conn) -> None:
        await conn.execute(
            "UPDATE listings SET status = 'active', approver = ?, updated = ? WHERE slug = ?",
            (approver, iso_now(), slug))
        await audit.record(conn, me["name"], "approve" if approver else "publish", "listing",
                           slug)
        async with conn.execute("SELECT * FROM listings WHERE slug = ?", (slug,)) as cur:
            rec = listing_record(await cur.fetchone())
        if rec["status"] == "active":  # a listing whose end has passed announces nothing
            message_id = await push.enqueue(conn, push.listing_message(
                rec, svc.settings.base_url))
            await conn.execute("UPDATE listings SET message_id = ? WHERE slug = ?",
                               (message_id, slug))

    await svc.db.write_fn(activate, public=True)
    svc.push.wake()


async def approve(request: Request) -> Response:
    row = await _row(request)
    me = organizer(request)
    if row["status"] != "pending":
        return see_other(f"/admin/listings/{row['slug']}/edit?done=Nothing+to+approve.")
    if row["author"] == me["name"]:
        return await edit_page(request, row, status=403,
                               flash="A second organizer must approve what you proposed.")
    await _go_live(request, row["slug"], approver=me["name"])
    return see_other(f"/admin/listings/{row['slug']}/edit?done=Approved+and+published.")


async def edit_page(request: Request, row: dict, status: int = 200, **extra) -> Response:
    svc = services(request)
    counts = await push.counts(svc.db, row["message_id"]) if row.get("message_id") else None
    return _form_page(request, values_from_row(row), {}, status=status, listing=row,
                      counts=counts, me=organizer(request)["name"], **extra)


async def edit(request: Request) -> Response:
    row = await _row(request)
    if request.method == "GET":
        return await edit_page(request, row)
    svc = services(request)
    me = organizer(request)
    values, errors, fields = parse(dict(await form_of(request)))
    if fields is None:
        return _form_page(request, values, errors, status=400, listing=row,
                          me=me["name"], counts=None)

    async def save(conn) -> None:
        await conn.execute(
            f"UPDATE listings SET {', '.join(f'{k} = ?' for k in fields)}, updated = ? "
            "WHERE slug = ?", [*fields.values(), iso_now(), row["slug"]])
        await audit.record(conn, me["name"], "edit", "listing", row["slug"],
                           {k: row[k] for k in fields}, fields)

    await svc.db.write_fn(save, public=True)
    return see_other(f"/admin/listings/{row['slug']}/edit?done=Saved.")


def _simple_change(action: str, sql: str, done: str):
    async def endpoint(request: Request) -> Response:
        row = await _row(request)
        me = organizer(request)
        svc = services(request)

        async def change(conn) -> None:
            await conn.execute(sql, {"slug": row["slug"], "now": iso_now(),
                                     "today": datetime.now(UTC).date().isoformat()})
            await audit.record(conn, me["name"], action, "listing", row["slug"], row, None)

        await svc.db.write_fn(change, public=True)
        if action == "delete":
            return see_other(f"/admin/listings?done={done}")
        return see_other(f"/admin/listings/{row['slug']}/edit?done={done}")

    endpoint.__name__ = action.replace("-", "_")
    return endpoint


verify = _simple_change(
    "mark-verified", "UPDATE listings SET verified = :today, updated = :now WHERE slug = :slug",
    "Marked+verified+today.")
end = _simple_change(
    "end", "UPDATE listings SET status = 'ended', updated = :now WHERE slug = :slug",
    "Ended.+It+now+shows+as+ended.")
delete = _simple_change("delete", "DELETE FROM listings WHERE slug = :slug", "Deleted.")


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/listings", index),
        Route("/admin/listings/new", new, methods=["GET", "POST"]),
        Route("/admin/listings/{slug:str}/edit", edit, methods=["GET", "POST"]),
        Route("/admin/listings/{slug:str}/publish", publish, methods=["POST"]),
        Route("/admin/listings/{slug:str}/approve", approve, methods=["POST"]),
        Route("/admin/listings/{slug:str}/verify", verify, methods=["POST"]),
        Route("/admin/listings/{slug:str}/end", end, methods=["POST"]),
        Route("/admin/listings/{slug:str}/delete", delete, methods=["POST"]),
    ]
