"""Every seeded record opens in its organizer form and saves back unchanged."""

from __future__ import annotations

import html
import re
import sqlite3

import pytest

from tests.admin_support import create_organizer, csrf_from, sign_in
from tests.conftest import make_settings

FIELD = re.compile(r'<(input|select|textarea)\b([^>]*)>(.*?)(?=<(?:input|select|textarea|/p|/form)\b)',
                   re.S)


def form_fields(page: str, action: str) -> dict[str, str]:
    """What a browser would submit from the form posting to `action`, as filled in."""
    form = re.search(r'<form[^>]*action="' + re.escape(action) + r'"[^>]*>(.*?)</form>',
                     page, re.S).group(1)
    values: dict[str, str] = {}
    for tag, attrs, rest in FIELD.findall(form):
        name = re.search(r'\bname="([^"]+)"', attrs)
        if not name:
            continue
        kind = re.search(r'\btype="([^"]+)"', attrs)
        if tag == "input" and kind and kind.group(1) in ("checkbox", "radio"):
            if " checked" in attrs:
                values[name.group(1)] = html.unescape(
                    re.search(r'\bvalue="([^"]*)"', attrs).group(1))
            continue
        if tag == "input" and kind and kind.group(1) == "submit":
            continue
        if tag == "input":
            value = re.search(r'\bvalue="([^"]*)"', attrs)
            values[name.group(1)] = html.unescape(value.group(1)) if value else ""
        elif tag == "textarea":
            values[name.group(1)] = html.unescape(rest.split("</textarea>")[0])
        else:
            chosen = re.search(r'<option value="([^"]*)" selected>', rest)
            first = re.search(r'<option value="([^"]*)"', rest)
            values[name.group(1)] = html.unescape((chosen or first).group(1))
    return values


@pytest.fixture
def admin(tmp_path):
    from starlette.testclient import TestClient

    from server.app import create_app

    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        sign_in(client, "ana")
        yield client, settings


def rows(settings, sql: str) -> list[dict]:
    conn = sqlite3.connect(settings.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def without(row: dict, *names: str) -> dict:
    return {k: v for k, v in row.items() if k not in names}


def save_through_form(client, edit: str) -> None:
    page = client.get(edit)
    assert page.status_code == 200, edit
    data = form_fields(page.text, edit)
    data["csrf"] = csrf_from(page.text)
    res = client.post(edit, data=data, follow_redirects=False)
    assert res.status_code == 303, (edit, re.findall(r'class="error"[^>]*>([^<]*)', res.text))
    assert "done=Saved" in res.headers["location"], res.headers["location"]


def test_every_seeded_listing_saves_unchanged_through_its_form(admin):
    client, settings = admin
    before = {r["slug"]: r for r in rows(settings, "SELECT * FROM listings")}
    assert len(before) >= 10
    for slug in before:
        save_through_form(client, f"/admin/listings/{slug}/edit")
    after = {r["slug"]: r for r in rows(settings, "SELECT * FROM listings")}
    for slug, row in before.items():
        assert without(after[slug], "updated") == without(row, "updated"), slug


@pytest.mark.parametrize("kind, table", [("contacts", "contacts"), ("rights", "rights"),
                                         ("articles", "articles"),
                                         ("organizations", "organizations"),
                                         ("facilities", "facilities")])
def test_every_seeded_record_saves_unchanged_through_its_form(admin, kind, table):
    client, settings = admin
    before = rows(settings, f"SELECT * FROM {table} ORDER BY slug, rowid")
    assert before
    for slug in sorted({r["slug"] for r in before}):
        save_through_form(client, f"/admin/content/{kind}/{slug}/edit")
    assert rows(settings, f"SELECT * FROM {table} ORDER BY slug, rowid") == before


def test_a_link_without_an_address_round_trips(admin):
    client, settings = admin
    slug = next(r["slug"] for r in rows(settings, "SELECT slug, links FROM listings")
                if '"url": null' in r["links"])
    page = client.get(f"/admin/listings/{slug}/edit").text
    links = form_fields(page, f"/admin/listings/{slug}/edit")["links"]
    assert links and "None" not in links and "|" not in links
    stored = rows(settings, f"SELECT links FROM listings WHERE slug = '{slug}'")[0]["links"]
    save_through_form(client, f"/admin/listings/{slug}/edit")
    assert rows(settings, f"SELECT links FROM listings WHERE slug = '{slug}'")[0]["links"] == stored
