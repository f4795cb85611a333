"""Provenance: rights articles and contacts name their sources, and a page says "verified" or
"reviewed" only when an organizer's check of that record is in the audit log."""

from __future__ import annotations

import asyncio
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server import ROOT, content
from server.app import create_app
from server.database import Database
from server.dataset import DataError, load_dataset, read_dataset
from tests import dbtools
from tests.admin_support import create_organizer, sign_in
from tests.conftest import make_settings

NOW = "2026-11-29T00:00:00+00:00"
FIRST_CONTACT = "immigration-law-help-directory"
ICE_LINE_SOURCE = "https://www.ice.gov/ICEcasereview"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def unbacked_checks(db: Database) -> list[str]:
    """Stored "verified"/"reviewed" dates that no organizer check in the audit log accounts for."""
    problems = []
    for entity, kind in content.CHECKABLE.items():
        table, column = kind.table, kind.column
        done = await content.checks(db, entity)
        for row in await db.execute(
            f"SELECT DISTINCT slug, {column} AS checked FROM {table} WHERE {column} != ''"
        ):
            if done.get(row["slug"], {}).get("on") != row["checked"]:
                problems.append(f"{entity} '{row['slug']}': {column} {row['checked']} "
                                "has no matching organizer check in the audit log")
    return problems


# --- the data files ----------------------------------------------------------------------------

def test_every_rights_article_and_contact_links_its_sources():
    data = read_dataset(ROOT / "data")
    for rec in data["rights"] + data["contact"]:
        assert rec["sources"], rec.get("slug")
        for source in rec["sources"]:
            assert source["title"] and source["url"].startswith("https://"), source
    for rec in data["contact"]:
        for phone in rec["phones"] or []:
            assert phone["source"].startswith("https://") and phone["purpose"], phone
    for rec in data["rights"]:
        assert rec["written"] and not rec.get("reviewed")


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(ROOT / "data", target)
    return target


def _rewrite(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text(encoding="utf-8")
    changed, count = re.subn(pattern, replacement, text, count=1, flags=re.S)
    assert count == 1, pattern
    path.write_text(changed, encoding="utf-8")


@pytest.mark.parametrize(
    "file,pattern,replacement,message",
    [
        ("rights/remain-silent.en.md", r"sources = \[\n.*?\n\]\n", "",
         "rights/remain-silent.en.md: front matter: field 'sources' is missing"),
        ("rights/at-your-door.es.md", r"sources = \[\n.*?\n\]\n", "sources = []\n",
         "rights/at-your-door.es.md: front matter: field 'sources' must list at least one"),
        ("contacts.toml", r"sources = \[\n.*?\n\]\n", "",
         f"contacts.toml: contact '{FIRST_CONTACT}': field 'sources' is missing"),
        ("contacts.toml", r"sources = \[\n.*?\n\]\n", 'sources = [ { title = "ACLU" } ]\n',
         f"contacts.toml: contact '{FIRST_CONTACT}': field 'sources[0].url' is missing"),
        ("contacts.toml", re.escape(f', source = "{ICE_LINE_SOURCE}"'), "",
         "contacts.toml: contact 'ice-online-detainee-locator': field 'phones[0].source' is "
         "missing"),
        ("contacts.toml", r', purpose = "find-someone"', "",
         "contacts.toml: contact 'ice-online-detainee-locator': field 'phones[0].purpose' is "
         "missing"),
        ("contacts.toml", r', read = "2026-12-06"', "",
         "contacts.toml: contact 'ice-online-detainee-locator': field 'phones[0].read' is "
         "missing"),
        # A data file cannot claim a check: only an organizer's check in the audit log can.
        ("contacts.toml", r'added = "2026-11-27"', 'added = "2026-11-27"\nverified = "2026-11-27"',
         f"contacts.toml: contact '{FIRST_CONTACT}': field 'verified' is not a known field"),
        ("rights/rights-card.en.md", r'written = "2026-12-06"',
         'written = "2026-12-06"\nreviewed = "2026-12-06"',
         "rights/rights-card.en.md: front matter: field 'reviewed' is not a known field"),
    ],
)
def test_a_record_without_sources_or_claiming_a_check_is_refused(
    data_copy, file, pattern, replacement, message
):
    _rewrite(data_copy / file, pattern, replacement)
    with pytest.raises(DataError) as err:
        read_dataset(data_copy)
    assert message in str(err.value)


# --- checks come only from the audit log -------------------------------------------------------

def _load_then(settings, sql: str = "", params: tuple = ()) -> None:
    """Load the default data, then change the database behind the app's back (an import, a
    hand edit), before the app starts."""
    async def run() -> None:
        async with dbtools.database(settings.db_path) as db:
            await load_dataset(db, settings.data_dir, NOW)
            assert await unbacked_checks(db) == []

    asyncio.run(run())
    if sql:
        with dbtools.connect(settings.db_path) as conn:
            conn.execute(sql, params)


def _unbacked(settings) -> list[str]:
    async def run() -> list[str]:
        async with dbtools.database(settings.db_path) as db:
            return await unbacked_checks(db)

    return asyncio.run(run())


def _card(page: str, slug: str) -> str:
    start = page.index(f'id="{slug}"')
    return page[start:page.index("</li>", start)]


CHECK_WORDS = ("Verified <time", "Verificado el <time", "Reviewed <time", "Revisado el <time",
               "Checked by a Vigil organizer <time",
               "Comprobado por un organizador de Vigil el <time")


def test_the_default_data_claims_no_check(tmp_path):
    settings = make_settings(tmp_path)
    _load_then(settings)
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        pages = ["/legal", "/es/legal", "/facilities", "/es/facilities", "/rights", "/es/rights"]
        pages += [f"{p}/rights/{slug}" for p in ("", "/es")
                  for slug in ("at-your-door", "remain-silent", "at-a-protest",
                               "if-someone-is-detained", "rights-card")]
        for path in pages:
            html = client.get(path).text
            for word in CHECK_WORDS:
                assert word not in html, (path, word)
        legal = client.get("/legal").text
        assert "Source:" in _card(legal, "united-we-dream")
        assert 'Added <time datetime="2026-11-27">' in _card(legal, "united-we-dream")
        article = client.get("/es/rights/at-your-door").text
        assert 'Escrito el <time datetime="2026-12-06">' in article
        assert "Todavía no lo comprobó un organizador de Vigil" in article
        for rec in client.get("/api/v1/contacts").json()["contacts"]:
            assert rec["verified"] is None and rec["added"] in ("2026-11-27", "2026-12-06")


def test_a_stored_date_without_an_audit_entry_is_flagged_and_never_shown(tmp_path):
    settings = make_settings(tmp_path)
    _load_then(settings, "UPDATE contacts SET verified = '2026-11-27'")
    with dbtools.connect(settings.db_path) as conn:
        conn.execute("UPDATE rights SET reviewed = '2026-11-27' WHERE slug = 'remain-silent'")
    problems = _unbacked(settings)
    contacts = len(read_dataset(ROOT / "data")["contact"])
    assert len(problems) == contacts + 1
    assert any(p.startswith("contact 'united-we-dream': verified 2026-11-27 has no matching")
               for p in problems)
    assert any(p.startswith("rights 'remain-silent': reviewed 2026-11-27") for p in problems)
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        assert "Verified <time" not in client.get("/legal").text
        assert "Revisado el <time" not in client.get("/es/rights/remain-silent").text
        assert all(c["verified"] is None
                   for c in client.get("/api/v1/contacts").json()["contacts"])


def test_marking_a_record_checked_records_who_and_when_and_shows_that_date(tmp_path):
    settings = make_settings(tmp_path)
    _load_then(settings, "UPDATE contacts SET verified = '2020-01-02' WHERE slug = ?",
               ("national-lawyers-guild",))
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        assert client.post("/admin/checks/contact/united-we-dream",
                           follow_redirects=False).status_code in (303, 403)
        csrf = sign_in(client, "ana")
        listing = client.get("/admin/checks").text
        assert "MigraWatch" not in listing and "United We Dream" in listing
        res = client.post("/admin/checks/contact/united-we-dream", data={"csrf": csrf},
                          follow_redirects=False)
        assert res.status_code == 303
        assert "checked" in res.headers["location"]
        res = client.post("/admin/checks/rights/remain-silent", data={"csrf": csrf},
                          follow_redirects=False)
        assert res.status_code == 303
        assert client.post("/admin/checks/contact/no-such-contact",
                           data={"csrf": csrf}).status_code == 404
        assert client.post("/admin/checks/alert/1", data={"csrf": csrf}).status_code == 404
        assert client.post("/admin/checks/contact/united-we-dream",
                           data={"csrf": "forged"}).status_code == 403

        legal = client.get("/legal").text
        assert f'Verified <time datetime="{today()}">' in _card(legal, "united-we-dream")
        # The guild's stored 2020 date has no check behind it: still not shown.
        assert "Verified <time" not in _card(legal, "national-lawyers-guild")
        for path, word in (("/rights/remain-silent", "Checked by a Vigil organizer"),
                           ("/es/rights/remain-silent",
                            "Comprobado por un organizador de Vigil el")):
            assert f'{word} <time datetime="{today()}">' in client.get(path).text
        assert f"{today()} by ana" in client.get("/admin/checks").text

    with dbtools.connect(settings.db_path) as conn:
        entries = conn.execute(
            "SELECT organizer, action, entity, entity_key, at FROM audit "
            "WHERE action = 'mark-verified' ORDER BY id").fetchall()
    assert [(o, a, e, k) for o, a, e, k, _at in entries] == [
        ("ana", "mark-verified", "contact", "united-we-dream"),
        ("ana", "mark-verified", "rights", "remain-silent"),
    ]
    assert all(at.startswith(today()) for *_rest, at in entries)
    assert _unbacked(settings) == [
        "contact 'national-lawyers-guild': verified 2020-01-02 has no matching organizer "
        "check in the audit log"]


def test_a_check_does_not_survive_deleting_and_recreating_the_record(tmp_path):
    settings = make_settings(tmp_path)
    _load_then(settings)
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        csrf = sign_in(client, "ana")
        client.post("/admin/checks/contact/united-we-dream", data={"csrf": csrf})
    with dbtools.connect(settings.db_path) as conn:
        conn.execute("INSERT INTO audit (at, organizer, action, entity, entity_key) "
                     "VALUES (?, 'ana', 'delete', 'contact', 'united-we-dream')", (NOW,))

    async def shown() -> dict:
        async with dbtools.database(settings.db_path) as db:
            return await content.checks(db, "contact")

    assert "united-we-dream" not in asyncio.run(shown())
