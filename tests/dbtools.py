"""The database a test reads behind the app's back, on whichever backend the run tests.

`VIGIL_TEST_DB=postgresql` runs the suite on PostgreSQL: every SQLite file a test names
(`tmp_path / "vigil.db"`, say) stands for a database of its own in a throw-away cluster,
made from a migrated template, so a test keeps naming paths and reads the same data.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from server.database import Database
from server.dialect import POSTGRESQL as POSTGRESQL_DIALECT
from server.dialect import SQLITE, pyformat
from server.postgresql import PostgresDatabase, adapt
from server.storage import open_database

BACKEND = os.environ.get("VIGIL_TEST_DB", "sqlite")
POSTGRESQL = BACKEND == "postgresql"
TEMPLATE = "vigil_template"

# For tests of one backend's own machinery (SQLite's PRAGMAs, PostgreSQL's schema table).
sqlite_only = pytest.mark.skipif(POSTGRESQL, reason="tests SQLite's own machinery")
postgresql_only = pytest.mark.skipif(not POSTGRESQL, reason="tests PostgreSQL's own machinery")

_databases: dict[Path, str] = {}
_numbers = itertools.count(1)
_admin: psycopg.Connection | None = None
_cluster: Any = None


def server_url(database: str = "postgres") -> str:
    base = os.environ["VIGIL_TEST_PG_URL"]
    return base.rsplit("/", 1)[0] + "/" + database


def start() -> None:
    """Start the run's cluster (unless VIGIL_TEST_PG_URL names one) and its template."""
    global _admin, _cluster
    if "VIGIL_TEST_PG_URL" not in os.environ:
        from tests.pgcluster import Cluster

        _cluster = Cluster().start()
        os.environ["VIGIL_TEST_PG_URL"] = _cluster.url()
    _admin = psycopg.connect(server_url(), autocommit=True)
    _admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
    _admin.execute(f"CREATE DATABASE {TEMPLATE}")

    async def migrate() -> None:
        await PostgresDatabase(server_url(TEMPLATE)).connect()

    asyncio.run(migrate())


def stop() -> None:
    if _admin is not None:
        _admin.close()
    if _cluster is not None:
        _cluster.stop()


def target(path: Path | str, *, empty: bool = False) -> Path | str:
    """What VIGIL_DB is for the SQLite file at path: the file, or its PostgreSQL database
    (migrated already, unless empty)."""
    if not POSTGRESQL:
        return path
    path = Path(path).resolve()
    if path not in _databases:
        assert _admin is not None, "the PostgreSQL cluster was not started"
        name = f"test_{os.getpid()}_{next(_numbers)}"
        _admin.execute(f"CREATE DATABASE {name} TEMPLATE {'template0' if empty else TEMPLATE}")
        _databases[path] = name
    return server_url(_databases[path])


def drop_under(folder: Path) -> None:
    """Drop the databases standing for files under folder (a finished test's tmp_path)."""
    folder = folder.resolve()
    for path in [p for p in _databases if p.is_relative_to(folder)]:
        assert _admin is not None
        _admin.execute(f"DROP DATABASE IF EXISTS {_databases.pop(path)} WITH (FORCE)")


DIALECT = POSTGRESQL_DIALECT if POSTGRESQL else SQLITE
# A table's column names, in order; one parameter, the table's name.
table_columns_sql = DIALECT.table_columns


def row_order(table: str) -> str:
    """An ORDER BY that lists a table's rows the same way every time."""
    return DIALECT.row_order.format(table=table)


def database(path: Path | str, readers: int = 3) -> Database:
    """A Database (not yet connected) on the test's backend for the file at path."""
    return open_database(target(path), readers)


class _Connection:
    """A psycopg connection that takes sqlite3's calls: `?` placeholders, commit, `with`."""

    def __init__(self, conn: psycopg.Connection):
        self._conn = conn
        self.row_factory: Any = None  # rows read by name and by position either way

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> psycopg.Cursor:
        return self._conn.execute(pyformat(sql), params)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> psycopg.Cursor:
        cur = self._conn.cursor()
        cur.executemany(pyformat(sql), seq)
        return cur

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def close(self) -> None:
        self._conn.close()

    def __del__(self) -> None:
        # sqlite3 closes a connection nobody holds; so does this one (its cursors have
        # their rows already).
        if not self._conn.closed:
            self._conn.close()

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self._conn.commit()
        else:
            self._conn.rollback()


def connect(path: Path | str, timeout: float = 5.0) -> Any:
    """sqlite3.connect(path), or the same calls on its PostgreSQL database."""
    if not POSTGRESQL:
        return sqlite3.connect(path, timeout=timeout)
    conn = psycopg.connect(str(target(path)))
    adapt(conn)
    return _Connection(conn)


def tables(conn: Any) -> list[str]:
    """The names of the tables in the database conn (from connect) reads."""
    return [r[0] for r in conn.execute(DIALECT.tables).fetchall()]


def stored_bytes(path: Path | str) -> bytes:
    """Everything the database holds, to search for what must not be kept: SQLite's file and
    its write-ahead log as they are on disk; on PostgreSQL, every row of every table."""
    if not POSTGRESQL:
        path = Path(path)
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    conn = connect(path)
    try:
        return b"\n".join(repr(tuple(row)).encode() + b"".join(
            v for v in row if isinstance(v, bytes))
            for table in tables(conn) for row in conn.execute(f"SELECT * FROM {table}"))
    finally:
        conn.close()


def intact(path: Path | str) -> bool:
    """SQLite's integrity check; on PostgreSQL, that every table reads to its end."""
    conn = connect(path)
    try:
        if not POSTGRESQL:
            return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for table in tables(conn):
            conn.execute(f"SELECT * FROM {table}").fetchall()
        return True
    finally:
        conn.close()
