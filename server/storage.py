"""Opens the database VIGIL_DB names: a SQLite file, or PostgreSQL at a postgresql:// URL."""

from __future__ import annotations

from pathlib import Path

from server.database import Database
from server.postgresql import PostgresDatabase, is_postgresql


def open_database(target: Path | str, readers: int = 3) -> Database:
    """A Database for target, not yet connected."""
    if is_postgresql(target):
        return PostgresDatabase(str(target), readers)
    return Database(target, readers)
