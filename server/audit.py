"""The audit log: who did what to which record, with before and after. Append-only."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from server.content import iso_now
from server.database import Database


def _snapshot(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "keys"):
        value = {k: value[k] for k in value.keys()}  # sqlite3.Row or dict
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


async def record(
    conn: aiosqlite.Connection, organizer: str, action: str, entity: str,
    key: str | None = None, before: Any = None, after: Any = None,
) -> None:
    """Append one entry, inside the caller's write transaction so it commits with the change."""
    await conn.execute(
        "INSERT INTO audit (at, organizer, action, entity, entity_key, before, after) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (iso_now(), organizer, action, entity, key, _snapshot(before), _snapshot(after)),
    )


async def recent(db: Database, limit: int = 50, offset: int = 0) -> list[dict]:
    rows = await db.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ? OFFSET ?",
                            (limit, offset))
    return [dict(r) for r in rows]
