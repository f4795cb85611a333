"""A CSV import on a 360x740 phone in a real Chromium: a file with one bad row is refused
with the row named and comes back to be fixed; the fixed file waits for a second
organizer, who approves it as a whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import dbtools
from tests.live import live_server
from tests.test_bulk_import import csv_text, good_rows
from tests.test_push_browser import add_organizer

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}
SHOTS = Path("/tmp/csv-import")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("import")
    with live_server(tmp) as srv:
        add_organizer(srv, "ana")
        add_organizer(srv, "ben")
        yield srv


def signed_in(browser, server, name: str, lang: str = "en"):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto(server.url + "/admin/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/")
    if lang != "en":
        page.goto(f"{server.url}/admin/language?to={lang}&next=/admin/")
    return ctx, page


def fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_file_with_one_bad_row_is_refused_naming_the_row(browser, server, tmp_path, lang):
    SHOTS.mkdir(exist_ok=True)
    rows = good_rows(9, city=f"Portland {lang}")
    rows[5] = rows[5].replace(",OR,", ",XX,")  # row 7 as the spreadsheet numbers it
    path = tmp_path / "events.csv"
    path.write_text(csv_text(rows), encoding="utf-8-sig")
    batches = server_count(server, "SELECT COUNT(*) FROM import_batches")
    ctx, page = signed_in(browser, server, "ana", lang)
    try:
        page.goto(server.url + "/admin/")
        page.get_by_role("link", name=re.compile("Import listings from a CSV|Importar anuncios "
                                                 "desde un CSV")).first.tap()
        page.wait_for_url("**/admin/import")
        fits(page)
        page.screenshot(path=SHOTS / f"{lang}-upload.png", full_page=True)
        label = {"en": "CSV file", "es": "Archivo CSV"}[lang]
        page.get_by_label(label).set_input_files(path)
        button = {"en": "Check and import", "es": "Revisar e importar"}[lang]
        page.get_by_role("button", name=button).tap()
        problems = page.get_by_role("alert")
        row = {"en": "Row 7, state:", "es": "Fila 7, state:"}[lang]
        expect(problems).to_contain_text(row)
        expect(problems.locator("li")).to_have_count(1)
        fits(page)
        page.screenshot(path=SHOTS / f"{lang}-refused.png", full_page=True)
        assert server_count(server, "SELECT COUNT(*) FROM import_batches") == batches
        # The file is in the text box: fixed there and sent again, without choosing it again.
        box = page.get_by_label({"en": "Or paste the CSV here", "es": "O pegue el CSV aquí"}[lang])
        text = box.input_value()
        assert text == csv_text(rows)
        box.fill(text.replace(",XX,", ",OR,"))
        page.get_by_role("button", name=button).tap()
        page.wait_for_url(re.compile(r"/admin/import/\d+\?done="))
        expect(page.locator("h1")).to_contain_text("9")
        fits(page)
        page.screenshot(path=SHOTS / f"{lang}-batch-proposer.png", full_page=True)
        batch = re.search(r"/admin/import/\d+", page.url).group(0)
    finally:
        ctx.close()
    slugs = server_rows(server, "SELECT slug FROM listings WHERE city = ?", (f"Portland {lang}",))
    assert len(slugs) == 9
    ctx, page = signed_in(browser, server, "ben", lang)
    try:
        page.goto(server.url + batch)
        fits(page)
        page.screenshot(path=SHOTS / f"{lang}-batch-approver.png", full_page=True)
        assert page.goto(f"{server.url}/listings/{slugs[0][0]}").status == 404
        page.goto(server.url + batch)
        page.get_by_role("button", name={"en": "Approve", "es": "Aprobar"}[lang]).tap()
        page.wait_for_url(re.compile(r"/admin/import/\d+\?done=Approved"))
        assert page.goto(f"{server.url}/listings/{slugs[0][0]}").status == 200
    finally:
        ctx.close()


def server_rows(server, query: str, params: tuple = ()) -> list[tuple]:

    conn = dbtools.connect(server.db_path, timeout=10)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def server_count(server, query: str) -> int:
    return server_rows(server, query)[0][0]
