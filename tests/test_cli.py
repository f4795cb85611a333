"""The command line, run as operators run it: bad input gives one line and a non-zero exit."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from server import ROOT
from tests import dbtools


def run(args: list[str], cwd: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "server", *args], cwd=cwd, input=stdin, capture_output=True,
        text=True, env=full_env, timeout=60,
    )


def assert_one_line_error(res: subprocess.CompletedProcess, fragment: str) -> None:
    assert res.returncode != 0
    lines = [line for line in res.stderr.splitlines() if not line.startswith("WARNING")]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert fragment in lines[0]


def test_init_export_import_from_any_directory(tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    res = run(["init"], work)
    assert res.returncode == 0, res.stderr
    assert (work / "var" / "vigil.db").exists()
    key = work / "var" / "vapid.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((work / "var" / "secret.key").stat().st_mode) == 0o600
    exported = run(["export"], work)
    assert exported.returncode == 0, exported.stderr
    doc = json.loads(exported.stdout)
    assert len(doc["listings"]) == 15
    assert "subscriptions" not in doc and "password" not in exported.stdout
    dump = tmp_path / "dump.json"
    dump.write_text(exported.stdout)
    fresh = run(["import", str(dump)], tmp_path, VIGIL_DB=str(dbtools.target(tmp_path / "new.db")))
    assert fresh.returncode == 0, fresh.stderr
    again = run(["export"], tmp_path, VIGIL_DB=str(dbtools.target(tmp_path / "new.db")))
    strip = lambda d: {k: v for k, v in json.loads(d).items() if k != "exported"}  # noqa: E731
    assert strip(again.stdout) == strip(exported.stdout)
    twice = run(["import", str(dump)], tmp_path, VIGIL_DB=str(dbtools.target(tmp_path / "new.db")))
    assert "0 records changed" in twice.stdout


def test_vapid_key_is_created_once_and_reused(tmp_path):
    first = run(["vapid-public-key"], tmp_path)
    second = run(["vapid-public-key"], tmp_path)
    assert first.returncode == 0 and first.stdout == second.stdout
    assert len(first.stdout.strip()) == 87  # 65 bytes, base64url without padding


def test_add_organizer(tmp_path):
    res = run(["add-organizer", "ana", "--password-stdin"], tmp_path,
              stdin="correct horse battery\n")
    assert res.returncode == 0, res.stderr
    dup = run(["add-organizer", "ana", "--password-stdin"], tmp_path,
              stdin="correct horse battery\n")
    assert_one_line_error(dup, "already exists")


@pytest.mark.parametrize(
    "args,stdin,fragment",
    [
        (["add-organizer", "bo", "--password-stdin"], "short\n", "at least 12"),
        (["add-organizer", "no spaces!", "--password-stdin"], "long enough password\n",
         "organizer names"),
        (["add-organizer", "cy", "--password-stdin"], "", "no password"),
        (["add-organizer", "cy"], "", "use --password-stdin"),
        (["import", "/nonexistent.json"], "", "no such file"),
        (["frobnicate"], "", "invalid choice"),
        ([], "", "required"),
        (["serve", "--port", "eighty"], "", "invalid int"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, args, stdin, fragment):
    assert_one_line_error(run(args, tmp_path, stdin=stdin), fragment)


def test_import_bad_json_and_non_export(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_line_error(run(["import", str(bad)], tmp_path), "not valid JSON")
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    assert_one_line_error(run(["import", str(other)], tmp_path), "not a Vigil export")


def test_an_import_the_database_refuses_is_one_line_and_changes_nothing(tmp_path):
    """A row the database's constraints refuse (a listing with no city) is one line naming
    the row, on either database, and nothing of the file is kept."""
    db = str(dbtools.target(tmp_path / "vigil.db"))
    doc = {"vigil_export": 1, "listings": [
        {"slug": "fine", "kind": "vigil", "title": "Fine", "city": "Portland", "state": "OR",
         "verified": "", "created": "2026-12-06", "updated": "2026-12-06"},
        {"slug": "no-city", "kind": "vigil", "title": "No city", "city": None, "state": "OR",
         "verified": "", "created": "2026-12-06", "updated": "2026-12-06"}]}
    file = tmp_path / "refused.json"
    file.write_text(json.dumps(doc))
    res = run(["import", str(file)], tmp_path, VIGIL_DB=db, VIGIL_SECRET_KEY="x" * 40)
    assert_one_line_error(res, "import: listings 'no-city': ")
    assert "city" in res.stderr
    exported = json.loads(run(["export"], tmp_path, VIGIL_DB=db).stdout)
    assert exported["listings"] == []


def test_bad_settings_are_one_line(tmp_path):
    res = run(["init"], tmp_path, VIGIL_VAPID_SUBJECT="admin@example.org")
    assert_one_line_error(res, "VIGIL_VAPID_SUBJECT")
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    res = run(["vapid-public-key"], tmp_path, VIGIL_VAPID_KEY=str(bad_key))
    assert_one_line_error(res, "not a PEM private key")


def test_export_without_database(tmp_path):
    assert_one_line_error(run(["export"], tmp_path), "no database")


def test_data_dir_is_found_from_anywhere():
    assert (ROOT / "data" / "listings.toml").exists()


def test_a_move_carries_every_record_and_gives_the_same_export(tmp_path):
    """`python -m server.move`, as the README tells an operator to move: a deployment with an
    organizer, a session and a push subscriber, copied whole into a new database
    (PostgreSQL when the suite runs there), ids and all; the export is identical, and a
    second move into the same target is refused."""
    work = tmp_path / "old"
    work.mkdir()
    assert run(["init"], work).returncode == 0
    added = run(["add-organizer", "ana", "--password-stdin"], work,
                stdin="a long enough password 1234\n")
    assert added.returncode == 0, added.stderr
    source = work / "var" / "vigil.db"
    with sqlite3.connect(source) as conn:
        conn.execute("INSERT INTO subscriptions (endpoint, p256dh, auth, created) "
                     "VALUES ('https://push.example/1', 'k', 'a', '2026-12-06')")
        conn.execute("INSERT INTO subscription_topics VALUES (1, 'OR')")
        conn.execute("INSERT INTO audit (id, at, organizer, action, entity) "
                     "VALUES (50, '2026-12-06', 'ana', 'test', 'x')")
    target = str(dbtools.target(tmp_path / "new.db", empty=True))

    def move() -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        return subprocess.run([sys.executable, "-m", "server.move", str(source), target],
                              cwd=tmp_path, capture_output=True, text=True, env=env,
                              timeout=120)

    moved = move()
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.startswith("moved ")
    exports = [run(["export"], tmp_path, VIGIL_DB=db).stdout for db in (str(source), target)]
    strip = lambda d: {k: v for k, v in json.loads(d).items() if k != "exported"}  # noqa: E731
    assert strip(exports[0]) == strip(exports[1])
    query = "SELECT name, password_hash FROM organizers"
    with sqlite3.connect(source) as old:
        before = old.execute(query).fetchall()
        audit = old.execute("SELECT MAX(id) FROM audit").fetchone()[0]
    new = dbtools.connect(tmp_path / "new.db")
    try:
        assert new.execute(query).fetchall() == before
        assert new.execute("SELECT subscription_id, topic FROM subscription_topics").fetchall() \
            == [(1, "OR")]
        # Ids go on from the largest moved, so the next record collides with none.
        cur = new.execute("INSERT INTO audit (at, organizer, action, entity) "
                          "VALUES ('2026-12-06', 'ana', 'test', 'x') RETURNING id")
        assert cur.fetchone()[0] > audit >= 50
        new.commit()
    finally:
        new.close()
    again = move()
    assert again.returncode == 2 and "already holds" in again.stderr


@dbtools.postgresql_only
@pytest.mark.parametrize("database, says", [
    ("nobody@127.0.0.1:1/vigil", "Connection refused"),
    (None, 'database "no_such_database" does not exist'),
])
def test_an_unreachable_postgresql_is_one_line_saying_why(tmp_path, database, says):
    # The test cluster trusts its user, so the password is there only to be hidden.
    url = ("postgresql://" + database if database
           else dbtools.server_url("no_such_database").replace("@", ":hunter2@", 1))
    res = run(["init"], tmp_path, VIGIL_DB=url, VIGIL_SECRET_KEY="x" * 40)
    assert_one_line_error(res, "cannot reach PostgreSQL at postgresql://")
    assert says in res.stderr and res.returncode == 2
    assert "hunter2" not in res.stderr  # a password in the URL is never printed
