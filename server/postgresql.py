"""The same Database on PostgreSQL: a pool of connections, writes taken one at a time.

Queries keep SQLite's spelling (server/dialect.py rewrites the placeholders), and values
travel the way SQLite takes them: numbers and text as untyped literals that PostgreSQL
reads in the column's type, sums and averages back as plain numbers, rows readable by
position and by column name. A write transaction first takes one advisory lock, so writes
from every machine follow each other as they do in SQLite's single writer; a claim of
outbox rows passes `exclusive=False` and locks only the rows it takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql
from psycopg.adapt import Dumper, Loader
from psycopg.rows import RowMaker
from psycopg.types.string import StrDumperUnknown
from psycopg_pool import AsyncConnectionPool

from server.database import Database, migration_files
from server.dialect import POSTGRESQL, postgresql_ddl, pyformat

T = TypeVar("T")
# Any fixed number: the key of the advisory lock every exclusive write takes.
WRITE_LOCK = 0x76696769
SCHEMA_TABLE = "vigil_schema"
# How long a query waits for a connection: while the database is away, a request fails
# after this instead of hanging, and the pool keeps trying to reconnect behind it.
POOL_WAIT = 8.0


def is_postgresql(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def without_password(url: str) -> str:
    """The URL as logs and messages may show it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class _Untyped(Dumper):
    """A number sent as a literal of no type, as SQLite would take it: PostgreSQL reads it
    as the column it meets (`text_column = ?` works as in SQLite)."""

    oid = 0

    def dump(self, obj: Any) -> bytes:
        return str(int(obj)).encode()


class _Text(StrDumperUnknown):
    """Text as psycopg sends it, but for NUL, which PostgreSQL's text cannot hold: it
    becomes U+FFFD, the mark for a character that could not be kept, in what is stored
    and in what is looked for alike."""

    def dump(self, obj: str) -> Any:
        return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)


class _Number(Loader):
    """numeric (what SUM and AVG give) as int or float, as SQLite gives it."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


class Row(tuple):
    """A row read by position or by column name, like sqlite3.Row; equal to its tuple."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _rows(cursor: Any) -> RowMaker[Row]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


def adapt(conn: psycopg.AsyncConnection | psycopg.Connection) -> None:
    """Make a connection take and give values as the SQLite code expects."""
    conn.adapters.register_dumper(int, _Untyped)
    conn.adapters.register_dumper(bool, _Untyped)
    conn.adapters.register_dumper(str, _Text)
    conn.adapters.register_loader("numeric", _Number)
    conn.row_factory = _rows


class _Pending:
    """What Connection.execute returns: awaited, a cursor; or `async with`, one closed after."""

    def __init__(self, started: Awaitable[psycopg.AsyncCursor]):
        self._started = started
        self._cursor: psycopg.AsyncCursor | None = None

    def __await__(self):
        return self._started.__await__()

    async def __aenter__(self) -> psycopg.AsyncCursor:
        self._cursor = await self._started
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class Connection:
    """A psycopg connection with aiosqlite's surface, which write_fn's callbacks use."""

    dialect = POSTGRESQL

    def __init__(self, conn: psycopg.AsyncConnection):
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> _Pending:
        return _Pending(self._conn.execute(pyformat(sql), params))

    async def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> psycopg.AsyncCursor:
        cur = self._conn.cursor()
        await cur.executemany(pyformat(sql), seq)
        return cur


class PostgresDatabase(Database):
    """Database's interface on PostgreSQL at a postgresql:// URL."""

    dialect = POSTGRESQL

    def __init__(self, url: str, readers: int = 3):
        super().__init__(url, readers)
        self.url = url
        self._pool: AsyncConnectionPool | None = None

    @property
    def name(self) -> str:
        return without_password(self.url)

    async def connect(self) -> PostgresDatabase:
        # One connection first, for an error that says why (refused, no such database, bad
        # password); the pool would only say that it timed out.
        try:
            probe = await psycopg.AsyncConnection.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConnectionError(f"cannot reach PostgreSQL at {self.name}: {reason}") from None
        await probe.close()
        pool = AsyncConnectionPool(
            self.url, min_size=1, max_size=self._reader_count + 2, open=False,
            kwargs={"autocommit": True}, configure=self._configure, timeout=POOL_WAIT,
        )
        try:
            await pool.open(wait=True, timeout=30)
        except Exception as exc:  # the pool's own error says only that it timed out
            await pool.close()
            raise ConnectionError(f"cannot reach PostgreSQL at {self.name}: {exc}") from None
        self._pool = pool
        await self.migrate()
        return self

    @staticmethod
    async def _configure(conn: psycopg.AsyncConnection) -> None:
        adapt(conn)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def migrate(self) -> int:
        """Apply every migration newer than the version recorded in vigil_schema.

        The advisory lock makes two machines starting at once take turns.
        """
        assert self._pool is not None
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            await conn.execute(
                pgsql.SQL("CREATE TABLE IF NOT EXISTS {} (version BIGINT NOT NULL)").format(
                    pgsql.Identifier(SCHEMA_TABLE)))
            cur = await conn.execute(f"SELECT MAX(version) FROM {SCHEMA_TABLE}")
            (current,) = await cur.fetchone() or (None,)
            current = current or 0
            for number, path in migration_files():
                if number <= current:
                    continue
                await conn.execute(postgresql_ddl(path.read_text()))
                await conn.execute(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (%s)",
                                   (number,))
                current = number
            return current

    async def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> list:
        assert self._pool is not None, "database is not connected"
        async with self._pool.connection() as conn:
            cur = await conn.execute(pyformat(sql), params)
            return await cur.fetchall() if cur.description else []

    async def write_fn(
        self, fn: Callable[[Any], Awaitable[T]], *, public: bool = False,
        exclusive: bool = True,
    ) -> T:
        """Run fn(conn) in one transaction. Exclusive writes (all but claims of outbox rows,
        which lock their own rows) take the cluster-wide write lock first."""
        assert self._pool is not None, "database is not connected"
        async with self._write_lock, self._pool.connection() as conn:
            async with conn.transaction():
                if exclusive or public:
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                result = await fn(Connection(conn))
                if public:
                    await conn.execute(
                        "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) "
                        "WHERE key = 'revision'"
                    )
            if public:
                self._revision, self._revision_check = None, None
                self._writes += 1
            return result

    async def _check_revision(self, now: float) -> int:
        """PostgreSQL has no data_version to ask first: the revision row is read, every
        REVISION_CHECK_EVERY seconds at most, which is how one machine sees another's edit."""
        writes = self._writes
        value = await self.scalar("SELECT value FROM meta WHERE key = 'revision'")
        if writes != self._writes:
            return int(value)
        self._revision = int(value)
        self._revision_checked = now
        return self._revision
