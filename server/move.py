"""Copies every record of one Vigil database into a new one: how an operator moves from
SQLite to PostgreSQL (or back) keeping subscribers, accounts, alerts and the audit log.

`export` and `import` carry the public dataset only (no push subscriptions, no accounts);
a move carries everything, ids included, in one transaction on the target, and then
counts the rows on both sides.

    python -m server.move var/vigil.db postgresql://vigil:…@db.example/vigil
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from server.database import Database
from server.dataset import table_columns
from server.postgresql import is_postgresql, without_password
from server.storage import open_database

CHUNK = 5000
# A target holding any of these is in use: a move never merges two deployments.
IN_USE = ("listings", "organizers", "subscriptions", "alerts", "audit", "sms_subscribers")


class MoveError(Exception):
    """The move cannot start, or what arrived is not what left."""


async def _tables(db: Database) -> list[str]:
    """Every table, each after the tables its foreign keys point at."""
    names = sorted(r[0] for r in await db.execute(db.dialect.tables))
    parents = {name: {r[0] for r in await db.execute(db.dialect.table_parents, (name,))}
               for name in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= {*ordered, n}]
        if not ready:
            left = sorted(set(names) - set(ordered))
            raise MoveError(f"foreign keys run in a circle among {left}")
        ordered += ready
    return ordered


async def _counts(db: Database, tables: list[str]) -> dict[str, int]:
    return {t: await db.scalar(f"SELECT COUNT(*) FROM {t}") for t in tables}


async def move(source: Database, target: Database) -> dict[str, int]:
    """Copy every row of source into target (migrated, and holding no one's data); the
    rows per table."""
    tables = await _tables(source)
    missing = sorted(set(tables) - set(await _tables(target)))
    if missing:
        raise MoveError(f"the target has no table {', '.join(missing)}: is it older Vigil?")
    used = [t for t in IN_USE if await target.scalar(f"SELECT COUNT(*) FROM {t}")]
    if used:
        raise MoveError(f"the target already holds {', '.join(used)}; move into a new, "
                        "empty database")
    columns = {}
    for table in tables:
        kept = set(await table_columns(target, table))
        columns[table] = [c for c in await table_columns(source, table) if c in kept]

    async def copy(conn) -> None:
        # What the target's migrations put there (the revision, the SMS sender's row) gives
        # way to the source's.
        for table in reversed(tables):
            await conn.execute(f"DELETE FROM {table}")
        for table in tables:
            names = columns[table]
            insert = (f"INSERT INTO {table} ({', '.join(names)}) "
                      f"VALUES ({', '.join('?' * len(names))})")
            # Every column, in order: no two rows are alike, so the chunks neither overlap
            # nor leave a gap, on either database.
            every = ", ".join(str(i) for i in range(1, len(names) + 1))
            offset = 0
            while True:
                rows = await source.execute(
                    f"SELECT {', '.join(names)} FROM {table} ORDER BY {every} "
                    "LIMIT ? OFFSET ?", (CHUNK, offset))
                if not rows:
                    break
                await conn.executemany(insert, [tuple(r) for r in rows])
                offset += len(rows)
            if target.dialect.reset_ids and "id" in names:
                await conn.execute(target.dialect.reset_ids.format(table=table))

    await target.write_fn(copy, public=True)
    before, after = await _counts(source, tables), await _counts(target, tables)
    if before != after:
        differ = {t: (before[t], after[t]) for t in tables if before[t] != after[t]}
        raise MoveError(f"rows differ after the move (source, target): {differ}")
    return after


async def _main(source: str, target: str) -> str:
    async with open_database(source) as a, open_database(target) as b:
        counts = await move(a, b)
    return (f"moved {sum(counts.values())} rows in {len(counts)} tables from "
            f"{without_password(source)} to {without_password(target)}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m server.move SOURCE TARGET  (each a SQLite file or a "
              "postgresql:// URL)", file=sys.stderr)
        return 2
    if not is_postgresql(args[0]) and not Path(args[0]).is_file():
        print(f"vigil: error: no database at {args[0]}", file=sys.stderr)
        return 2
    try:
        print(asyncio.run(_main(*args)))
    except (MoveError, ConnectionError) as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
