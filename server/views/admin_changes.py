"""Proposed changes to published facts: a second organizer sees before and after, then
approves or declines. The public keeps the approved version until then."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiosqlite
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import approvals, audit
from server.content import iso_now
from server.content_kinds import KINDS, Kind, on
from server.views.admin import admin_page, form_of, organizer, see_other
from server.views.admin_content import remove_record
from server.views.base import services

Apply = Callable[[aiosqlite.Connection, str, dict], Awaitable[None]]
Load = Callable[[aiosqlite.Connection, str], Awaitable[dict | None]]


async def _update_listing(conn: aiosqlite.Connection, slug: str, fields: dict) -> None:
    await conn.execute(
        f"UPDATE listings SET {', '.join(f'{k} = ?' for k in fields)}, updated = ? "
        "WHERE slug = ?", [*fields.values(), iso_now(), slug])


async def _current_listing(conn: aiosqlite.Connection, slug: str) -> dict | None:
    async with conn.execute("SELECT * FROM listings WHERE slug = ?", (slug,)) as cur:
        row = await cur.fetchone()
    return dict(row) if row else None


def _handlers(entity: str) -> tuple[Load, Apply, Apply | None, str]:
    """(load the record as it is now, apply fields to it, create it from fields, its
    organizer page)."""
    if entity == "listing":
        return _current_listing, _update_listing, None, "/admin/listings/{key}/edit"
    for kind in KINDS:
        if kind.entity == entity:
            async def load(conn: aiosqlite.Connection, key: str, kind=kind) -> dict | None:
                return await kind.load(on(conn), key)

            async def create(conn: aiosqlite.Connection, key: str, fields: dict,
                             kind=kind) -> None:
                await kind.insert(conn, key, fields, "published")

            return load, kind.update, create, kind.base + "/{key}/edit"
    raise HTTPException(404, "Unknown kind of record.")


def _kind(entity: str) -> Kind:
    return next(k for k in KINDS if k.entity == entity)


async def _row(request: Request):
    row = await services(request).db.first("SELECT * FROM changes WHERE id = ?",
                                            (request.path_params["id"],))
    if row is None:
        raise HTTPException(404, "No such change.")
    return row


async def index(request: Request) -> Response:
    changes = await approvals.pending_changes(services(request).db)
    return admin_page(request, "admin/changes.html", changes=changes,
                      me=organizer(request)["name"])


async def detail(request: Request, status: int = 200, **extra) -> Response:
    row = await _row(request)
    change = approvals.as_change(row)
    page = _handlers(row["entity"])[3]
    return admin_page(request, "admin/change.html", status=status, change=change,
                      me=organizer(request)["name"], record_url=page.format(key=row["entity_key"]),
                      changed=extra.pop("changed", []), **extra)


async def approve(request: Request) -> Response:
    row = await _row(request)
    svc = services(request)
    me = organizer(request)["name"]
    form = await form_of(request)
    version = approvals.change_version(row)
    load, apply, create, page = _handlers(row["entity"])
    try:
        if row["proposed_by"] == me:
            raise approvals.Refused("A second organizer must approve what you proposed: "
                                    "nothing changed.", 403)
        if row["status"] != "pending":
            raise approvals.Refused(f"This change is no longer waiting ({row['status']}): "
                                    "nothing changed. See the list for what waits now.", 409)
        approvals.check_seen(form, version)
    except approvals.Refused as exc:
        await approvals.record_refusal(svc.db, me, row["entity"], row["entity_key"], str(exc),
                                       approvals.read_seen(form), version)
        return await detail(request, status=exc.status, flash=str(exc), changed=exc.changed)
    before, after = json.loads(row["before"]), json.loads(row["after"])

    async def approve_change(conn: aiosqlite.Connection) -> str:
        current = await load(conn, row["entity_key"])
        if not before:  # a new record
            if current is not None or create is None:
                return "taken"
        elif current is None:
            return "gone"
        elif any(current.get(k) != v for k, v in before.items() if k in current):
            return "moved"
        if not await approvals.decide_change(conn, row["id"], me, "approved"):
            return "decided"
        if before and not after:  # a deletion, of the record as it was proposed
            assert current is not None
            await remove_record(conn, me, _kind(row["entity"]), row["entity_key"], current)
        elif before:
            await apply(conn, row["entity_key"], after)
        else:
            assert create is not None
            await create(conn, row["entity_key"], after)
        await audit.record(conn, me, "approve-change", row["entity"], row["entity_key"],
                           {**before, "proposed_by": row["proposed_by"]}, after or None)
        return "approved"

    outcome = await svc.db.write_fn(approve_change, public=True)
    if outcome != "approved":
        reason = {
            "gone": "The record no longer exists: nothing changed.",
            "taken": "A record with this address exists now: nothing changed.",
            "moved": "The record changed since this was proposed, so its 'before' is out of "
                     "date: nothing changed. Decline it and propose the change again.",
            "decided": "Another organizer decided this change first.",
        }[outcome]
        await approvals.record_refusal(svc.db, me, row["entity"], row["entity_key"], reason,
                                       approvals.read_seen(form), version)
        return await detail(request, status=409, flash=reason)
    if before and not after:
        return see_other("/admin/deleted?done=Approved:+removed+from+the+site.")
    return see_other(page.format(key=row["entity_key"]) + "?done=Change+approved+and+public.")


async def decline(request: Request) -> Response:
    row = await _row(request)
    svc = services(request)
    me = organizer(request)["name"]

    async def decline_change(conn: aiosqlite.Connection) -> bool:
        if not await approvals.decide_change(conn, row["id"], me, "declined"):
            return False
        await audit.record(conn, me, "decline-change", row["entity"], row["entity_key"],
                           json.loads(row["before"]),
                           {**json.loads(row["after"]), "proposed_by": row["proposed_by"]})
        return True

    declined = await svc.db.write_fn(decline_change)
    done = "Declined:+the+public+keeps+the+approved+version." if declined \
        else "This+change+was+no+longer+waiting."
    return see_other(f"/admin/changes?done={done}")


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/changes", index),
        Route("/admin/changes/{id:int}", detail),
        Route("/admin/changes/{id:int}/approve", approve, methods=["POST"]),
        Route("/admin/changes/{id:int}/decline", decline, methods=["POST"]),
    ]
