"""All SQLite access: concurrent reads, one serialized writer, numbered migrations.

server/postgresql.py gives the same interface on PostgreSQL; server/storage.py opens
whichever VIGIL_DB names."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from server.dialect import SQLITE

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")
# How often revision() asks SQLite whether another connection has committed: a query per
# request would cost more than the rest of serving a cached page.
REVISION_CHECK_EVERY = 0.1


def migration_files() -> list[tuple[int, Path]]:
    files = []
    for path in MIGRATIONS.glob("*.sql"):
        files.append((int(path.name.split("_", 1)[0]), path))
    return sorted(files)


async def _configure(conn: aiosqlite.Connection) -> None:
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA busy_timeout = 5000")
    await conn.execute("PRAGMA synchronous = NORMAL")


class Database:
    """One long-lived writer connection and a small pool of readers."""

    dialect = SQLITE

    def __init__(self, path: Path | str, readers: int = 3):
        self.path = Path(path)
        self._reader_count = readers
        self._writer: aiosqlite.Connection | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._next_reader = itertools.cycle(range(readers))
        self._write_lock = asyncio.Lock()
        self._revision: int | None = None
        self._revision_checked = 0.0
        self._revision_check: asyncio.Future[int] | None = None
        self._writes = 0  # public writes made through this object
        self._data_version: int | None = None

    @property
    def name(self) -> str:
        """The database as messages name it."""
        return str(self.path)

    async def connect(self) -> Database:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE in write_fn).
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        await self._writer.execute("PRAGMA journal_mode = WAL")
        await _configure(self._writer)
        await self.migrate()
        for _ in range(self._reader_count):
            reader = await aiosqlite.connect(self.path, isolation_level=None)
            await _configure(reader)
            await reader.execute("PRAGMA query_only = ON")
            self._readers.append(reader)
        return self

    async def close(self) -> None:
        for conn in [*self._readers, self._writer]:
            if conn is not None:
                await conn.close()
        self._readers = []
        self._writer = None

    async def __aenter__(self) -> Database:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def migrate(self) -> int:
        """Apply every migration newer than PRAGMA user_version; return the version."""
        assert self._writer is not None
        async with self._writer.execute("PRAGMA user_version") as cur:
            (current,) = await cur.fetchone()
        for number, path in migration_files():
            if number <= current:
                continue
            script = path.read_text()
            await self._writer.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
            current = number
        return current

    def _reader(self) -> aiosqlite.Connection:
        return self._readers[next(self._next_reader)]

    async def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> list[sqlite3.Row]:
        """Run a read query on one of the reader connections."""
        async with self._reader().execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def first(self, sql: str, params: Sequence[Any] | dict = ()) -> sqlite3.Row | None:
        rows = await self.execute(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Sequence[Any] | dict = ()) -> Any:
        row = await self.first(sql, params)
        return None if row is None else row[0]

    async def write_fn(
        self, fn: Callable[[aiosqlite.Connection], Awaitable[T]], *, public: bool = False,
        exclusive: bool = True,
    ) -> T:
        """Run fn(conn) in one BEGIN IMMEDIATE transaction on the writer connection.

        public=True marks a change to public content, which bumps the revision that
        ETags, page caches and the offline manifest key on. exclusive=False says fn locks
        the rows it changes itself (with dialect.skip_locked), which PostgreSQL lets run
        beside other writes; in SQLite every write is exclusive.
        """
        assert self._writer is not None, "database is not connected"
        async with self._write_lock:
            conn = self._writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                result = await fn(conn)
                if public:
                    await conn.execute(
                        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'"
                    )
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            if public:
                # Read again by the next caller, not by a check begun before this commit.
                self._revision, self._revision_check = None, None
                self._writes += 1
            return result

    async def write(
        self, sql: str, params: Sequence[Any] | dict = (), *, public: bool = False
    ) -> int:
        """Run one write statement in its own transaction; return how many rows it changed."""

        async def run(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(sql, params)
            return cur.rowcount

        return await self.write_fn(run, public=public)

    async def revision(self) -> int:
        """The public content's revision, which ETags and cached pages key on.

        Our own public writes reset it at once. Another process's commit (an import, say)
        changes PRAGMA data_version on the reader that asks, which is looked at every
        REVISION_CHECK_EVERY seconds; only then is the revision itself read again.
        """
        now = time.monotonic()
        if self._revision is not None and now - self._revision_checked < REVISION_CHECK_EVERY:
            return self._revision
        # One check at a time, and whoever asks meanwhile waits for its answer: the value
        # from before the check may be the one the check is about to replace.
        if self._revision_check is None:
            self._revision_check = asyncio.ensure_future(self._check_revision(now))
        check = self._revision_check
        try:
            return await asyncio.shield(check)
        finally:
            if check.done() and self._revision_check is check:
                self._revision_check = None

    async def _check_revision(self, now: float) -> int:
        writes = self._writes
        # Always the same reader: data_version is per connection.
        reader = self._readers[0]
        async with reader.execute("PRAGMA data_version") as cur:
            (version,) = await cur.fetchone()
        if self._revision is None or version != self._data_version:
            async with reader.execute("SELECT value FROM meta WHERE key = 'revision'") as cur:
                (value,) = await cur.fetchone()
            if writes != self._writes:  # a public write of ours committed meanwhile
                return int(value)
            self._revision, self._data_version = int(value), version
        self._revision_checked = now
        return self._revision
