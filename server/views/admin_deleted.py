"""Deleted records stay restorable for a while from the copy the audit log keeps.

Every delete writes the whole record into its audit entry, inside the same transaction, so
that entry is the restorable copy; restoring writes it back and logs that too. Only the
latest deletion of a record is offered, and only while nothing else holds its address.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import aiosqlite
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import audit
from server.content import iso_now
from server.content_kinds import KINDS, RightsKind, on
from server.views.admin import admin_page, organizer, see_other
from server.views.base import services

RESTORE_DAYS = 30
_KINDS = {kind.entity: kind for kind in KINDS}
_NAMES = {"listing": "title", **{k.entity: k.name_column for k in KINDS}, "rights": "title_en"}


def _since() -> str:
    return (datetime.now(UTC) - timedelta(days=RESTORE_DAYS)).isoformat(timespec="seconds")


async def _exists(conn_or_query, entity: str, key: str) -> bool:
    table = "listings" if entity == "listing" else _KINDS[entity].table
    return bool(await conn_or_query(f"SELECT 1 FROM {table} WHERE slug = ?", (key,)))


async def _latest(query, entity: str, key: str) -> int | None:
    rows = await query("SELECT MAX(id) FROM audit WHERE entity = ? AND entity_key = ? "
                       "AND action IN ('delete', 'undelete')", (entity, key))
    return rows[0][0] if rows else None


async def deleted_page(request: Request) -> Response:
    db = services(request).db
    rows = await db.execute(
        "SELECT id, at, organizer, entity, entity_key, before FROM audit WHERE action = 'delete'"
        " AND at >= ? AND before IS NOT NULL ORDER BY id DESC LIMIT 200", (_since(),))
    entries = []
    for row in rows:
        entity, key = row["entity"], row["entity_key"]
        if entity != "listing" and entity not in _KINDS:
            continue
        before = json.loads(row["before"])
        entry = {"id": row["id"], "at": row["at"], "organizer": row["organizer"],
                 "entity": entity, "name": before.get(_NAMES[entity]) or key,
                 "restorable": False, "why_not": ""}
        if await _latest(db.execute, entity, key) != row["id"]:
            entry["why_not"] = "Already restored, or deleted again later."
        elif await _exists(db.execute, entity, key):
            entry["why_not"] = "Another record now has this address."
        else:
            entry["restorable"] = True
        entries.append(entry)
    return admin_page(request, "admin/deleted.html", entries=entries, days=RESTORE_DAYS)


async def _put_back(conn: aiosqlite.Connection, entity: str, rec: dict) -> None:
    kind = _KINDS.get(entity)
    if isinstance(kind, RightsKind):
        await kind.update(conn, rec["slug"], rec)
        return
    table = "listings" if entity == "listing" else kind.table
    row = dict(rec)
    if "id" in row:  # the old row number comes back too, unless something took it since
        async with conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row["id"],)) as cur:
            if await cur.fetchone():
                del row["id"]
    if entity == "listing":
        row["updated"] = iso_now()
    await conn.execute(f"INSERT INTO {table} ({', '.join(row)}) "
                       f"VALUES ({', '.join('?' * len(row))})", list(row.values()))


async def restore(request: Request) -> Response:
    me = organizer(request)["name"]
    entry_id = request.path_params["id"]

    async def undelete(conn: aiosqlite.Connection) -> tuple[str, str]:
        query = on(conn)
        rows = await query("SELECT * FROM audit WHERE id = ? AND action = 'delete'",
                           (entry_id,))
        if not rows or not rows[0]["before"]:
            raise HTTPException(404, "No deletion with that number.")
        entry = dict(rows[0])
        entity, key = entry["entity"], entry["entity_key"]
        if entity != "listing" and entity not in _KINDS:
            raise HTTPException(404, "That kind of record cannot be restored here.")
        if entry["at"] < _since():
            return "", f"Deleted more than {RESTORE_DAYS} days ago: it can no longer be restored."
        if await _latest(query, entity, key) != entry["id"]:
            return "", "Already restored, or deleted again later."
        if await _exists(query, entity, key):
            return "", "Another record now has this address; nothing was restored."
        rec = json.loads(entry["before"])
        await _put_back(conn, entity, rec)
        await audit.record(conn, me, "undelete", entity, key, None, rec)
        return entity, key

    entity, outcome = await services(request).db.write_fn(undelete, public=True)
    if not entity:
        return see_other(f"/admin/deleted?done={quote(outcome)}")
    url = (f"/admin/listings/{quote(outcome)}/edit" if entity == "listing"
           else f"{_KINDS[entity].base}/{quote(outcome)}/edit")
    return see_other(f"{url}?done=Restored.")


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/deleted", deleted_page),
        Route("/admin/deleted/{id:int}/restore", restore, methods=["POST"]),
    ]
