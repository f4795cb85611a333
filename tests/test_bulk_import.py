"""Bulk import of listings from a CSV: every row validated, the whole file one proposal under
the two-person rule."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest
from starlette.testclient import TestClient

from server import bulk_import
from server.app import create_app
from server.approvals import seen_fields
from server.database import Database
from tests.admin_support import create_organizer, hidden_fields, sign_in
from tests.conftest import make_settings
from tests.test_two_person_rule import Browser

HEADER = "title,start,end,address,city,state,zip,description,description_es,link"


def good_rows(n: int, state: str = "OR", city: str = "Portland") -> list[str]:
    return [f"Vigil {i} at the ICE office,2030-06-{1 + i % 28:02d} 20:00,"
            f"2030-06-{1 + i % 28:02d} 21:00,4310 SW Macadam Ave,{city},{state},97239,"
            f"Candles and songs {i}.,Velas y canciones {i}.,https://example.org/e/{i}"
            for i in range(n)]


def csv_text(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture
def pair(tmp_path):
    """An app with two organizers, ana and ben, and one browser for each."""
    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    create_organizer(settings, "ben")
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        yield settings, Browser(client), Browser(client)


def sql(settings, query: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(settings.db_path)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def upload(browser: Browser, csrf: str, text: str | bytes, name: str = "events.csv"):
    body = text.encode() if isinstance(text, str) else text
    return browser.post("/admin/import", data={"csrf": csrf},
                        files={"file": (name, body, "text/csv")}, follow_redirects=False)


def batch_url(res) -> str:
    assert res.status_code == 303, res.text
    return re.match(r"(/admin/import/\d+)", res.headers["location"]).group(1)


def imported(settings) -> list[tuple]:
    return sql(settings, "SELECT slug, status, author FROM listings WHERE batch_id IS NOT NULL "
                         "ORDER BY id")


def fanouts(settings) -> int:
    return sql(settings, "SELECT COUNT(*) FROM push_messages")[0][0]


def test_one_organizer_account_cannot_bulk_publish_alone(pair):
    """A hostile organizer uploads 30 listings and tries every way to make them public
    without the second organizer."""
    settings, ana, ben = pair
    csrf = sign_in(ana, "ana")
    batch = batch_url(upload(ana, csrf, csv_text(good_rows(30))))
    rows = imported(settings)
    assert len(rows) == 30 and {r[1] for r in rows} == {"pending"}
    assert {r[2] for r in rows} == {"ana"}
    # Her own approval of the batch, with the version she saw: refused.
    page = ana.get(batch).text
    assert ">Approve</button>" not in page
    seen = hidden_fields(ben_page := ben_view(ben, batch), batch + "/approve")
    res = ana.post(batch + "/approve", data={**seen, "csrf": csrf})
    assert res.status_code == 403 and "second organizer" in res.text
    # One listing of the batch at a time: refused too.
    slug = rows[0][0]
    res = ana.post(f"/admin/listings/{slug}/approve",
                   data={**hidden_fields(ben_page, batch + "/approve"), "csrf": csrf},
                   follow_redirects=False)
    assert res.status_code in (303, 403)
    assert {r[1] for r in imported(settings)} == {"pending"}
    assert fanouts(settings) == 0
    assert ana.get(f"/listings/{slug}").status_code == 404
    assert slug not in ana.get("/api/v1/listings").text
    refusals = sql(settings, "SELECT COUNT(*) FROM audit WHERE action = 'refuse'")[0][0]
    assert refusals >= 1


def ben_view(ben: Browser, batch: str) -> str:
    sign_in(ben, "ben")
    return ben.get(batch).text


def test_a_good_file_is_one_pending_batch_until_a_second_organizer_approves(pair):
    settings, ana, ben = pair
    csrf = sign_in(ana, "ana")
    res = upload(ana, csrf, csv_text(good_rows(12) + good_rows(3, "TX", "El Paso")))
    batch = batch_url(res)
    assert sql(settings, "SELECT status, row_count, proposed_by FROM import_batches") == [
        ("pending", 15, "ana")]
    rows = imported(settings)
    assert len(rows) == 15 and len({r[0] for r in rows}) == 15  # one slug each
    assert fanouts(settings) == 0
    assert all(ana.get(f"/listings/{slug}").status_code == 404 for slug, *_ in rows)
    # The dashboard counts the import once, not its 15 listings.
    assert "Imports waiting for approval: <strong>1</strong>" in ana.get("/admin/").text
    # The second organizer sees the whole batch on one page: count, states, first rows.
    page = ben_view(ben, batch)
    assert "15 listings" in page and "Oregon: 12" in page and "Texas: 3" in page
    assert "Vigil 0 at the ICE office" in page
    res = ben.post(batch + "/approve", data=hidden_fields(page, batch + "/approve"),
                   follow_redirects=False)
    assert res.status_code == 303 and "Approved" in res.headers["location"]
    assert {r[1] for r in imported(settings)} == {"active"}
    assert sql(settings, "SELECT DISTINCT approver FROM listings WHERE batch_id IS NOT NULL"
               ) == [("ben",)]
    # Each listing is announced, in the same transaction that made it live.
    assert fanouts(settings) == 15
    assert sql(settings, "SELECT COUNT(*) FROM listings WHERE batch_id IS NOT NULL AND "
                         "message_id IS NULL")[0][0] == 0
    slug = rows[0][0]
    public = ana.get(f"/listings/{slug}")
    assert public.status_code == 200 and "4310 SW Macadam Ave" in public.text
    # Time zones follow the state (and the city where a state has two).
    starts = dict(sql(settings, "SELECT city, starts FROM listings WHERE batch_id IS NOT NULL"))
    assert starts["Portland"].endswith("-07:00") and starts["El Paso"].endswith("-06:00")
    # Everything is in the audit log.
    actions = sql(settings, "SELECT organizer, action, entity, COUNT(*) FROM audit WHERE "
                            "entity IN ('import', 'listing') AND action != 'refuse' "
                            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
    assert actions == [("ana", "create", "listing", 15), ("ana", "propose", "import", 1),
                       ("ben", "approve", "import", 1), ("ben", "approve", "listing", 15)]
    # A second approval of the same page announces nothing more.
    again = ben.post(batch + "/approve", data=hidden_fields(page, batch + "/approve"),
                     follow_redirects=False)
    assert again.status_code == 303 and fanouts(settings) == 15


def test_whoever_edited_a_row_cannot_approve_the_batch(pair):
    settings, ana, ben = pair
    csrf_a = sign_in(ana, "ana")
    batch = batch_url(upload(ana, csrf_a, csv_text(good_rows(5))))
    slug = imported(settings)[2][0]
    csrf_b = sign_in(ben, "ben")
    # A listing of the batch offers no approval of its own.
    edit_page = ben.get(f"/admin/listings/{slug}/edit").text
    assert ">Approve</button>" not in edit_page and f'href="{batch}"' in edit_page
    res = ben.post(f"/admin/listings/{slug}/edit", follow_redirects=False, data={
        "csrf": csrf_b, "title": "Vigil moved", "kind": "vigil", "address": "999 Trap Rd",
        "city": "Portland", "state": "OR", "description": "Come now."})
    assert res.status_code == 303
    assert ">Approve</button>" not in ben.get(batch).text
    # Even with a form naming the current version exactly, ben wrote part of it.
    res = ben.post(batch + "/approve", data={**current_seen(settings, batch), "csrf": csrf_b})
    assert res.status_code == 403 and "second organizer" in res.text
    assert {r[1] for r in imported(settings)} == {"pending"} and fanouts(settings) == 0


def current_seen(settings, batch: str) -> dict:
    """The approval form's fields for the batch as it is now, built by hand."""
    async def run():
        async with Database(settings.db_path) as db:
            return await bulk_import.batch_version(db.execute, int(batch.rsplit("/", 1)[1]))

    return seen_fields(asyncio.run(run()))


def test_an_approval_is_for_the_batch_the_approver_saw(pair):
    settings, ana, ben = pair
    batch = batch_url(upload(ana, sign_in(ana, "ana"), csv_text(good_rows(5))))
    page = ben_view(ben, batch)
    slug = imported(settings)[4][0]  # a row the page does not need to show, changed behind
    conn = sqlite3.connect(settings.db_path)
    conn.execute("UPDATE listings SET address = '999 Trap Rd' WHERE slug = ?", (slug,))
    conn.commit()
    conn.close()
    res = ben.post(batch + "/approve", data=hidden_fields(page, batch + "/approve"))
    assert res.status_code == 409 and "changed since you opened it" in res.text
    assert {r[1] for r in imported(settings)} == {"pending"} and fanouts(settings) == 0
    assert sql(settings, "SELECT COUNT(*) FROM audit WHERE action = 'refuse' AND "
                         "entity = 'import'")[0][0] == 1
    # The page it answers with is the current version, which can be approved knowingly.
    res = ben.post(batch + "/approve", data=hidden_fields(res.text, batch + "/approve"),
                   follow_redirects=False)
    assert res.status_code == 303 and fanouts(settings) == 5
