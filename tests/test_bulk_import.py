"""Bulk import of listings from a CSV: every row validated, the whole file one proposal under
the two-person rule."""

from __future__ import annotations

import re
import sqlite3

import pytest
from starlette.testclient import TestClient

from server.app import create_app
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
