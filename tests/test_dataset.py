"""The default dataset: validation with clear errors, all-or-nothing loads, export/import."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import pytest

from server import ROOT, database
from server.database import migration_files
from server.dataset import DataError, export_data, import_data, load_dataset, read_dataset
from server.storage import open_database
from tests import dbtools

NOW = "2026-11-27T00:00:00+00:00"
SOURCE_CITIES = ["Portland", "Tacoma", "Los Angeles", "San Diego", "New York", "Detroit",
                 "Atlanta", "Philadelphia", "San Francisco", "Louisville", "Wichita",
                 "San Antonio", "Tampa", "Sacramento"]


def test_default_dataset_has_what_the_source_lists():
    data = read_dataset(ROOT / "data")
    listings = data["listing"]
    assert len(listings) == 15
    assert sorted({r["city"] for r in listings}) == sorted(SOURCE_CITIES)
    assert sum(r["city"] == "New York" for r in listings) == 2
    assert len(data["article"]) == 6 and len(data["organization"]) == 6
    assert len(data["statement"]) == 2
    rights = {r["slug"] for r in data["rights"]}
    assert {"at-your-door", "remain-silent", "at-a-protest", "if-someone-is-detained",
            "rights-card"} <= rights
    for rec in listings + data["facility"] + data["contact"]:
        assert rec["source"] and rec["added"]


def test_no_spam_from_the_source_document_in_data():
    for path in (ROOT / "data").rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8").lower()
            for marker in ("adultcams", "jessamine", "cams.chat", "adult industry"):
                assert marker not in text, (path, marker)


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(ROOT / "data", target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    "file,old,new,message",
    [
        ("listings.toml", 'state = "OR"', 'state = "ZZ"',
         "listings.toml: listing 'portland-or-macadam': field 'state' must be a two-letter"),
        ("listings.toml", 'kind = "occupation"', 'kind = "picnic"',
         "listings.toml: listing 'portland-or-macadam': field 'kind' must be one of"),
        ("listings.toml", 'slug = "portland-or-macadam"', 'slug = "Portland OR"',
         "field 'slug' must be lower-case"),
        ("listings.toml", '\nstatus = "ended"', '\nstat = "ended"', "field 'stat' is not a known"),
        ("listings.toml", "[[listing]]", "[[listing]]\nbroken = ", "listings.toml: not valid TOML"),
        ("contacts.toml", "added = ", "added_on = ", "contacts.toml: contact"),
    ],
)
def test_validation_errors_name_file_record_and_field(data_copy, file, old, new, message):
    _edit(data_copy / file, old, new)
    with pytest.raises(DataError) as err:
        read_dataset(data_copy)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_translation_is_an_error(data_copy):
    (data_copy / "rights" / "remain-silent.es.md").unlink()
    with pytest.raises(DataError, match=r"rights/remain-silent\.es\.md: missing"):
        read_dataset(data_copy)


def test_unknown_reference_is_an_error(data_copy):
    _edit(data_copy / "listings.toml", 'facility = "', 'facility = "nowhere-')
    with pytest.raises(DataError, match="names unknown facility"):
        read_dataset(data_copy)


async def test_bad_file_loads_nothing(tmp_path, data_copy):
    _edit(data_copy / "statements.toml", "attribution", "attributed")
    async with dbtools.database(tmp_path / "v.db") as db:
        with pytest.raises(DataError):
            await load_dataset(db, data_copy, NOW)
        assert await db.scalar("SELECT COUNT(*) FROM listings") == 0


@dbtools.sqlite_only
async def test_migrations_from_an_empty_file(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    async with dbtools.database(path) as db:
        version = await db.scalar("PRAGMA user_version")
        assert version >= 1
        assert await db.scalar("PRAGMA journal_mode") == "wal"
        assert await db.scalar("PRAGMA foreign_keys") == 1
        assert await db.scalar("PRAGMA quick_check") == "ok"
    async with dbtools.database(path) as db:  # second start: nothing to apply, nothing breaks
        assert await db.scalar("PRAGMA user_version") == version


@dbtools.postgresql_only
async def test_migrations_on_an_empty_postgresql_database(tmp_path):
    url = dbtools.target(tmp_path / "empty.db", empty=True)
    async with open_database(url) as db:
        version = await db.scalar("SELECT MAX(version) FROM vigil_schema")
        assert version == migration_files()[-1][0]
        assert await db.scalar("SELECT value FROM meta WHERE key = 'revision'") is not None
    async with open_database(url) as db:  # second start: nothing to apply, nothing breaks
        assert await db.scalar("SELECT COUNT(*) FROM vigil_schema") == len(migration_files())


def _strip(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "exported"}


async def test_export_import_roundtrip_is_identical(tmp_path):
    async with dbtools.database(tmp_path / "a.db") as db:
        await load_dataset(db, ROOT / "data", NOW)
        first = await export_data(db, NOW)
    assert first["listings"] and "password_hash" not in json.dumps(first)
    async with dbtools.database(tmp_path / "b.db") as db:
        await import_data(db, first)
        second = await export_data(db, "later")
        rev = await db.revision()
        counts = await import_data(db, first)
        assert sum(counts.values()) == 0, counts
        third = await export_data(db, "even later")
    assert json.dumps(_strip(first), sort_keys=True) == json.dumps(_strip(second), sort_keys=True)
    assert _strip(second) == _strip(third)
    assert rev > 0


async def test_import_refuses_non_exports(tmp_path):
    async with dbtools.database(tmp_path / "c.db") as db:
        for doc in ([], {"listings": []}, {"vigil_export": 1, "listings": "x"},
                    {"vigil_export": 1, "listings": [{"title": "no slug"}]},
                    {"vigil_export": 1, "listings": [{"slug": "x", "bogus": 1}]}):
            with pytest.raises(DataError):
                await import_data(db, doc)
        assert await db.scalar("SELECT COUNT(*) FROM listings") == 0


def bump_revision_from_another_process(path: Path) -> None:
    other = dbtools.connect(path)
    other.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
    other.commit()
    other.close()


async def test_the_revision_follows_our_writes_at_once_and_another_process_soon(tmp_path):
    async with dbtools.database(tmp_path / "r.db") as db:
        await load_dataset(db, ROOT / "data", NOW)
        start = await db.revision()
        await db.write("UPDATE listings SET title = title || '!' WHERE id = 1", public=True)
        assert await db.revision() == start + 1  # our own write: no wait
        bump_revision_from_another_process(tmp_path / "r.db")
        deadline = time.monotonic() + 2 * database.REVISION_CHECK_EVERY + 1
        while await db.revision() != start + 2:
            assert time.monotonic() < deadline, "another process's commit never showed"
            await asyncio.sleep(0.02)


@dbtools.sqlite_only
async def test_the_revision_is_read_again_only_after_a_commit(tmp_path):
    """Between commits a check costs one PRAGMA, not a read of the revision; another
    connection's commit is noticed at the next check."""
    async with dbtools.database(tmp_path / "g.db") as db:
        await load_dataset(db, ROOT / "data", NOW)
        start = await db.revision()
        statements: list[str] = []
        await db._readers[0].set_trace_callback(statements.append)
        for _ in range(3):
            await asyncio.sleep(database.REVISION_CHECK_EVERY * 1.2)
            assert await db.revision() == start
        assert statements and not any("meta" in sql for sql in statements), statements
        bump_revision_from_another_process(tmp_path / "g.db")
        await asyncio.sleep(database.REVISION_CHECK_EVERY * 1.2)
        assert await db.revision() == start + 1
        assert any("meta" in sql for sql in statements)
