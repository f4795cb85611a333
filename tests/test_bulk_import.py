"""Bulk import of listings from a CSV: every row validated, the whole file one proposal under
the two-person rule."""

from __future__ import annotations

import asyncio
import html
import re

import httpx
import pytest
from starlette.testclient import TestClient

from server import bulk_import
from server.app import create_app
from server.approvals import seen_fields
from tests import dbtools
from tests.admin_support import (
    Browser,
    async_sign_in,
    create_organizer,
    hidden_fields,
    sign_in,
    sql,
)
from tests.conftest import make_settings

HEADER = "title,start,end,address,city,state,zip,description,description_es,link"


def good_rows(n: int, state: str = "OR", city: str = "Portland") -> list[str]:
    return [f"Vigil {i} at the ICE office,2030-06-{1 + i % 28:02d} 20:00,"
            f"2030-06-{1 + i % 28:02d} 21:00,4310 SW Macadam Ave,{city},{state},97239,"
            f"Candles and songs {i}.,Velas y canciones {i}.,https://example.org/e/{i}"
            for i in range(n)]


def csv_text(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


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
    # Announced in the same transaction that made them live: one message per state, not one
    # per listing, so a file of vigils rings a subscriber's phone once.
    assert fanouts(settings) == 2
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
    assert again.status_code == 303 and fanouts(settings) == 2


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
        async with dbtools.database(settings.db_path) as db:
            return await bulk_import.batch_version(db.execute, int(batch.rsplit("/", 1)[1]))

    return seen_fields(asyncio.run(run()))


def test_an_approval_is_for_the_batch_the_approver_saw(pair):
    settings, ana, ben = pair
    batch = batch_url(upload(ana, sign_in(ana, "ana"), csv_text(good_rows(5))))
    page = ben_view(ben, batch)
    slug = imported(settings)[4][0]  # a row the page does not need to show, changed behind
    conn = dbtools.connect(settings.db_path)
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
    assert res.status_code == 303 and fanouts(settings) == 1


def test_one_bad_row_refuses_the_whole_file_naming_row_and_column(pair):
    settings, ana, _ben = pair
    csrf = sign_in(ana, "ana")
    rows = good_rows(10)
    rows[5] = rows[5].replace(",Portland,OR,", ",Portland,XX,")  # spreadsheet row 7
    text = csv_text(rows)
    res = upload(ana, csrf, text)
    assert res.status_code == 400
    assert "Nothing was imported" in res.text
    assert "Row 7, state: Not a US state" in res.text
    assert "Row 6" not in res.text and "Row 8" not in res.text
    assert sql(settings, "SELECT COUNT(*) FROM import_batches")[0][0] == 0
    assert imported(settings) == []
    # The content comes back, ready to fix and send again from the text box.
    box = re.search(r'<textarea id="f-csv" name="csv"[^>]*>(.*?)</textarea>', res.text, re.S)
    assert box and html.unescape(box.group(1)) == text
    fixed = html.unescape(box.group(1)).replace(",Portland,XX,", ",Portland,OR,")
    res = ana.post("/admin/import", data={"csrf": csrf, "csv": fixed},
                   files={"file": ("", b"", "application/octet-stream")},
                   follow_redirects=False)
    assert res.status_code == 303 and len(imported(settings)) == 10


def test_every_problem_is_listed_with_its_row_and_column():
    text = csv_text([
        "Vigil,2030-06-01 20:00,,1 Main St,Portland,OR,,Candles.,,",
        ",tomorrow,,1 Main St,Portland,OR,,Candles.,,",
        "Vigil,2030-06-01 20:00,2030-06-01 19:00,,Portland,Oregon,,Candles.,,ftp://x",
        'Vigil,2030-06-01 20:00,,"1 Main St, Suite 2",Portland,OR,,,,',
        "Vigil,2030-06-01 20:00,,1 Main St,Portland,OR,97239,Candles.,,,extra",
    ])
    parsed = bulk_import.read_csv(text)
    assert not parsed.ok and parsed.rows == []
    found = {(e.row, e.column, e.message) for e in parsed.errors}
    assert (3, "title", "Required.") in found
    assert (3, "start", bulk_import.DATE_MESSAGE) in found
    assert (4, "end", "The end must be after the start.") in found
    assert (4, "link", bulk_import.LINK_MESSAGE) in found
    assert (5, "description", "Required.") in found
    assert any(e.row == 6 and "more cells" in e.message for e in parsed.errors)
    assert not any(e.row == 2 for e in parsed.errors)


@pytest.mark.parametrize("header, row", [
    # Mobilize-like
    ("Event title,Timeslot start,Timeslot end,Address line 1,City,State,Zip,Description,"
     "Event URL",
     "Vigil,2030-06-01T20:00:00-07:00,2030-06-01T21:00:00-07:00,4310 SW Macadam Ave,Portland,"
     "OR,97239,Candles.,https://www.mobilize.us/e/1"),
    # Action Network-like
    ("title,start_date,address,city,region,postal_code,description,url",
     "Vigil,06/01/2030 8:00 PM,4310 SW Macadam Ave,Portland,Oregon,97239,Candles.,"
     "https://actionnetwork.org/events/1"),
    # Eventbrite-like, with the date and time in columns of their own
    ("Event Name,Event Start Date,Event Start Time,Event End Date,Event End Time,"
     "Venue Address,Venue City,Venue State,Venue Zip,Event Description,Event URL",
     "Vigil,2030-06-01,8:00 PM,2030-06-01,9:00 PM,4310 SW Macadam Ave,Portland,OR,97239,"
     "Candles.,https://www.eventbrite.com/e/1"),
    # Spanish description, separated by semicolons as some spreadsheets save
    ("title;start;city;state;description;description_es",
     "Vigil;2030-06-01 20:00;Portland;or;Candles.;Velas."),
])
def test_header_names_event_platforms_export_are_understood(header, row):
    parsed = bulk_import.read_csv(csv_text([row], header))
    assert parsed.ok, parsed.errors
    listing = parsed.rows[0]
    assert listing["title"] == "Vigil" and listing["state"] == "OR"
    assert listing["city"] == "Portland" and listing["description_en"] == "Candles."
    assert listing["starts"] == "2030-06-01T20:00:00-07:00"
    assert listing["source"] == "Vigil organizers" and listing["kind"] == "vigil"
    if "Velas" in row:
        assert listing["description_es"] == "Velas."


def test_a_header_without_a_required_column_says_which_and_what_names_work():
    parsed = bulk_import.read_csv("title,start,city,state\nVigil,2030-06-01 20:00,Portland,OR\n")
    assert [(e.row, e.column) for e in parsed.errors] == [(1, "description")]
    assert "details" in parsed.errors[0].params["names"]
    parsed = bulk_import.read_csv("title,event name,city,state,description\n")
    assert [(e.row, e.column) for e in parsed.errors] == [(1, "event name")]


def test_a_byte_order_mark_is_not_part_of_the_first_column(pair):
    settings, ana, _ben = pair
    data = ("\ufeff" + csv_text(good_rows(3))).encode()
    res = upload(ana, sign_in(ana, "ana"), data)
    batch_url(res)
    assert len(imported(settings)) == 3
    assert bulk_import.read_csv(bulk_import.decode(data)).ok


def test_too_big_too_long_or_not_utf8_is_refused_with_a_clear_message(pair):
    settings, ana, _ben = pair
    csrf = sign_in(ana, "ana")
    big = csv_text(good_rows(1)) + "x" * bulk_import.MAX_BYTES
    res = upload(ana, csrf, big)
    assert res.status_code == 413 and "larger than 1 MB" in res.text
    many = csv_text(good_rows(bulk_import.MAX_ROWS + 1))
    assert len(many.encode()) < bulk_import.MAX_BYTES
    res = upload(ana, csrf, many)
    assert res.status_code == 400 and "More than 2,000 rows" in res.text
    res = upload(ana, csrf, csv_text(good_rows(2)).replace("Candles", "Caf\xe9").encode("cp1252"))
    assert res.status_code == 400 and "not UTF-8" in res.text
    # Past the upload's own limit the edge refuses before reading the body.
    res = upload(ana, csrf, b"x" * (4 * bulk_import.MAX_BYTES + 1))
    assert res.status_code == 413
    assert sql(settings, "SELECT COUNT(*) FROM import_batches")[0][0] == 0
    # Other organizer forms keep the small limit.
    res = ana.post("/admin/listings/new", data={"csrf": csrf, "description": "x" * 70_000})
    assert res.status_code == 413


def test_an_upload_without_the_csrf_token_is_refused(pair):
    settings, ana, _ben = pair
    sign_in(ana, "ana")
    res = upload(ana, "forged", csv_text(good_rows(2)))
    assert res.status_code == 403 and "CSRF" in res.text
    assert sql(settings, "SELECT COUNT(*) FROM import_batches")[0][0] == 0


def test_rejecting_removes_the_batch_and_sends_nothing(pair):
    settings, ana, ben = pair
    batch = batch_url(upload(ana, sign_in(ana, "ana"), csv_text(good_rows(4))))
    csrf_b = sign_in(ben, "ben")
    asked = ben.get(batch + "/reject")
    assert "Reject this import of 4 listings?" in asked.text
    assert imported(settings) and fanouts(settings) == 0
    res = ben.post(batch + "/reject", data={"csrf": csrf_b, "confirm": "yes"},
                   follow_redirects=False)
    assert res.status_code == 303
    assert imported(settings) == [] and fanouts(settings) == 0
    assert sql(settings, "SELECT status, decided_by FROM import_batches") == [
        ("rejected", "ben")]
    assert sql(settings, "SELECT COUNT(*) FROM audit WHERE action = 'reject' AND "
                         "entity = 'listing' AND before IS NOT NULL")[0][0] == 4


def test_with_one_organizer_an_import_goes_live_at_once(tmp_path):
    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        ana = Browser(client)
        res = upload(ana, sign_in(ana, "ana"), csv_text(good_rows(3)))
        assert "published" in res.headers["location"]
        assert {r[1] for r in imported(settings)} == {"active"}
        assert fanouts(settings) == 1


def test_the_import_pages_are_in_spanish_for_an_organizer_who_chose_it(pair):
    _settings, ana, _ben = pair
    csrf = sign_in(ana, "ana")
    ana.get("/admin/language?to=es&next=/admin/import")
    rows = good_rows(8)
    rows[5] = rows[5].replace(",OR,", ",XX,")
    res = upload(ana, csrf, csv_text(rows))
    assert "Fila 7, state:" in res.text and "No es un estado" in res.text
    assert "Importar anuncios" in res.text


@pytest.fixture
def ana_and_ben(tmp_path):
    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    create_organizer(settings, "ben")
    return settings


async def test_simultaneous_approvals_publish_the_batch_once(ana_and_ben):
    settings = ana_and_ben
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as a, \
                httpx.AsyncClient(transport=transport, base_url="http://testserver") as b:
            res = await a.post("/admin/import", data={"csrf": await async_sign_in(a, "ana")},
                               files={"file": ("e.csv", csv_text(good_rows(6)).encode())})
            batch = batch_url(res)
            await async_sign_in(b, "ben")
            form = hidden_fields((await b.get(batch)).text, batch + "/approve")
            answers = await asyncio.gather(*(b.post(batch + "/approve", data=form)
                                             for _ in range(5)))
    assert [r.status_code for r in answers] == [303] * 5
    assert fanouts(settings) == 1
    assert sql(settings, "SELECT COUNT(*) FROM audit WHERE action = 'approve' AND "
                         "entity = 'import'")[0][0] == 1


def test_a_rows_problems_come_in_the_order_of_its_columns():
    parsed = bulk_import.read_csv(csv_text([",someday,,,Portland,XX,,,,ftp://x"]))
    assert [e.column for e in parsed.errors] == ["title", "start", "state", "description",
                                                 "link"]


def test_the_same_file_twice_shows_as_possible_duplicates(pair):
    _settings, ana, ben = pair
    csrf = sign_in(ana, "ana")
    first = batch_url(upload(ana, csrf, csv_text(good_rows(3))))
    assert "Possible duplicates" not in ana.get(first).text
    second = batch_url(upload(ana, csrf, csv_text(good_rows(3))))
    page = ben_view(ben, second)
    assert "Possible duplicates" in page and "3 listings have the same title and city" in page


def test_the_zip_column_is_kept_and_a_bad_one_is_named(tmp_path):
    """An event platform's ZIP column is stored with each listing, not dropped; a ZIP that
    is not one is refused with its row and column, like any other field."""
    parsed = bulk_import.read_csv(csv_text([good_rows(1)[0].replace(",97239,", ",9723,")]))
    assert (2, "zip", "Five digits, as in 98421, or nine as in 98421-1234; or empty.") in {
        (e.row, e.column, e.message) for e in parsed.errors}
    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        ana = Browser(client)
        rows = good_rows(2)
        rows[1] = rows[1].replace(",97239,", ",97239-1234,")
        upload(ana, sign_in(ana, "ana"), csv_text(rows))
        assert sql(settings, "SELECT zip FROM listings WHERE batch_id IS NOT NULL "
                             "ORDER BY id") == [("97239",), ("97239-1234",)]


def test_an_import_approval_binds_every_column_of_every_row(pair):
    """After ben opened the import, ana gives a row a fake "Legal hotline" contact and a
    facility: ben's approval of what he saw is refused, and nothing is public."""
    settings, ana, ben = pair
    batch = batch_url(upload(ana, sign_in(ana, "ana"), csv_text(good_rows(3))))
    page = ben_view(ben, batch)
    slug = imported(settings)[2][0]
    facility = sql(settings, "SELECT slug FROM facilities LIMIT 1")[0][0]
    conn = dbtools.connect(settings.db_path)
    conn.execute("UPDATE listings SET contact = ?, facility = ? WHERE slug = ?",
                 ('{"label": "Legal hotline", "value": "+1-555-555-0199"}', facility, slug))
    conn.commit()
    conn.close()
    res = ben.post(batch + "/approve", data=hidden_fields(page, batch + "/approve"))
    assert res.status_code == 409 and "changed since you opened it" in res.text
    assert {r[1] for r in imported(settings)} == {"pending"} and fanouts(settings) == 0
    assert "555-0199" not in ben.get(f"/listings/{slug}").text


def test_the_approver_sees_every_row_whole_a_page_at_a_time(pair):
    settings, ana, ben = pair
    rows = good_rows(60)
    batch = batch_url(upload(ana, sign_in(ana, "ana"), csv_text(rows)))
    first = ben_view(ben, batch)
    assert "4310 SW Macadam Ave" in first and "https://example.org/e/0" in first
    assert "Candles and songs 0." in first and "97239" in first
    assert "Vigil 49 at the ICE office" in first and "Vigil 50 at" not in first
    second = ben.get(batch + "?page=2").text
    assert "Vigil 59 at the ICE office" in second and "https://example.org/e/59" in second
