"""Every seeded record opens in its organizer form and saves back unchanged."""

from __future__ import annotations

import html
import re
import sqlite3

import pytest

from server.admin_guard import sign_notice
from tests import dbtools
from tests.admin_support import create_organizer, csrf_from, sign_in
from tests.conftest import TEST_SECRET, make_settings

FIELD = re.compile(
    r"<(input|select|textarea)\b([^>]*)>(.*?)(?=<(?:input|select|textarea|/p|/form)\b)", re.S)


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
    conn = dbtools.connect(settings.db_path)
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
    every = f"SELECT * FROM {table} ORDER BY slug, {dbtools.row_order(table)}"
    before = rows(settings, every)
    assert before
    for slug in sorted({r["slug"] for r in before}):
        save_through_form(client, f"/admin/content/{kind}/{slug}/edit")
    assert rows(settings, every) == before


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


# --- destructive actions ask first, are logged, and can be undone ---------------------------

def post(client, path: str, **data):
    page = client.get("/admin/")
    return client.post(path, data={"csrf": csrf_from(page.text), **data},
                       follow_redirects=False)


def test_delete_asks_first_then_can_be_restored_exactly(admin):
    client, settings = admin
    slug = "portland-or-macadam"
    before = rows(settings, f"SELECT * FROM listings WHERE slug = '{slug}'")
    edit = client.get(f"/admin/listings/{slug}/edit").text
    # Delete is a link to a page that asks, styled apart from Save; no form acts at once.
    assert f'<a class="btn danger" href="/admin/listings/{slug}/delete">Delete</a>' in edit
    assert f'action="/admin/listings/{slug}/delete"' not in edit
    ask = client.get(f"/admin/listings/{slug}/delete")
    assert ask.status_code == 200 and "Delete “Occupy ICE PDX”?" in ask.text
    assert 'name="confirm" value="yes"' in ask.text
    # A post without the confirmation only asks again.
    assert post(client, f"/admin/listings/{slug}/delete").status_code == 200
    assert rows(settings, f"SELECT slug FROM listings WHERE slug = '{slug}'")
    res = post(client, f"/admin/listings/{slug}/delete", confirm="yes")
    assert res.headers["location"].startswith("/admin/deleted?done=Deleted")
    assert not rows(settings, f"SELECT slug FROM listings WHERE slug = '{slug}'")
    assert client.get(f"/listings/{slug}").status_code == 404
    page = client.get("/admin/deleted").text
    entry = re.search(r'action="/admin/deleted/(\d+)/restore"', page).group(1)
    res = post(client, f"/admin/deleted/{entry}/restore")
    assert res.headers["location"] == sign_notice(
        TEST_SECRET, f"/admin/listings/{slug}/edit?done=Restored.")
    after = rows(settings, f"SELECT * FROM listings WHERE slug = '{slug}'")
    assert [without(r, "updated") for r in after] == [without(r, "updated") for r in before]
    # Restoring twice does nothing; both steps are in the audit log.
    res = post(client, f"/admin/deleted/{entry}/restore")
    assert "Already+restored" in res.headers["location"] or "Already%20restored" in \
        res.headers["location"]
    assert len(rows(settings, f"SELECT * FROM listings WHERE slug = '{slug}'")) == 1
    actions = [r["action"] for r in rows(
        settings, f"SELECT action FROM audit WHERE entity_key = '{slug}' ORDER BY id")]
    assert actions == ["delete", "undelete"]


@pytest.mark.parametrize("kind, table, slug", [
    ("contacts", "contacts", "united-we-dream"), ("rights", "rights", "remain-silent"),
    ("facilities", "facilities", "northwest-detention-center-tacoma"),
    ("articles", "articles", "guardian-occupy-ice-protest-camps-expand")])
def test_deleted_content_asks_first_and_restores_exactly(admin, kind, table, slug):
    client, settings = admin
    rows_of_slug = (f"SELECT * FROM {table} WHERE slug = '{slug}' "
                    f"ORDER BY {dbtools.row_order(table)}")
    before = rows(settings, rows_of_slug)
    assert post(client, f"/admin/content/{kind}/{slug}/delete").status_code == 200
    assert rows(settings, f"SELECT * FROM {table} WHERE slug = '{slug}'")
    post(client, f"/admin/content/{kind}/{slug}/delete", confirm="yes")
    assert not rows(settings, f"SELECT * FROM {table} WHERE slug = '{slug}'")
    entry = re.search(r'action="/admin/deleted/(\d+)/restore"',
                      client.get("/admin/deleted").text).group(1)
    assert post(client, f"/admin/deleted/{entry}/restore").status_code == 303
    after = rows(settings, rows_of_slug)
    # Every row back as it was (a rights article has a row per language, in any order).
    assert sorted((without(r, "id") for r in after), key=repr) == sorted(
        (without(r, "id") for r in before), key=repr)


def test_end_asks_first_and_restore_puts_it_back(admin):
    client, settings = admin
    edit = client.get("/admin/listings/new").text
    res = client.post("/admin/listings/new", data={
        "csrf": csrf_from(edit), "title": "Nightly vigil", "kind": "vigil", "city": "Tacoma",
        "state": "WA", "description": "Candles.", "repeat": "daily", "time": "20:00",
        "action": "publish"}, follow_redirects=False)
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    assert 'class="btn danger"' in client.get(f"/admin/listings/{slug}/edit").text
    assert post(client, f"/admin/listings/{slug}/end").status_code == 200
    assert rows(settings, f"SELECT status FROM listings WHERE slug = '{slug}'")[0][
        "status"] == "active"
    post(client, f"/admin/listings/{slug}/end", confirm="yes")
    assert rows(settings, f"SELECT status FROM listings WHERE slug = '{slug}'")[0][
        "status"] == "ended"
    post(client, f"/admin/listings/{slug}/restore")
    assert rows(settings, f"SELECT status FROM listings WHERE slug = '{slug}'")[0][
        "status"] == "active"


def test_a_listing_that_is_not_live_cannot_be_ended_and_restored_into_public(admin):
    client, settings = admin
    edit = client.get("/admin/listings/new").text
    res = client.post("/admin/listings/new", data={
        "csrf": csrf_from(edit), "title": "Draft vigil", "kind": "vigil", "city": "Tacoma",
        "state": "WA", "description": "Candles.", "action": "draft"}, follow_redirects=False)
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    post(client, f"/admin/listings/{slug}/end", confirm="yes")
    post(client, f"/admin/listings/{slug}/restore")
    assert rows(settings, f"SELECT status FROM listings WHERE slug = '{slug}'")[0][
        "status"] == "draft"


# --- the alert form on a phone -----------------------------------------------------------------

def test_alert_form_offers_checkboxes_and_a_page_picker(admin):
    client, settings = admin
    page = client.get("/admin/alerts/new").text
    assert "Ctrl" not in page and "multiple" not in page
    assert re.search(r'<input type="checkbox" name="states" value="ALL"> All states', page)
    assert re.search(r'<input type="checkbox" name="states" value="OR"> Oregon', page)
    assert '<option value="/legal">Legal help</option>' in page
    # Choosing a page sends its address; a typed Link still wins.
    sent = post(client, "/admin/alerts/new", title="Raid reported", message="Stay home.",
                states=["OR", "WA"], expires="4", page="/legal", action="send")
    assert sent.status_code == 303
    typed = post(client, "/admin/alerts/new", title="Vigil moved", message="Come here.",
                 states="ALL", expires="4", page="/legal", link="/rights", action="send")
    assert typed.status_code == 303
    urls = [r["url"] for r in rows(settings, "SELECT url FROM alerts ORDER BY id")]
    assert [u.rsplit("/", 1)[-1] for u in urls] == ["legal", "rights"]
    states = [r["states"] for r in rows(settings, "SELECT states FROM alerts ORDER BY id")]
    assert states == ['["OR", "WA"]', "[]"]


def test_a_spanish_title_shows_on_the_spanish_pages(admin):
    client, settings = admin
    res = post(client, "/admin/listings/new", title="Nightly vigil", title_es="Vigilia nocturna",
               kind="vigil", city="Tacoma", state="WA", description="Candles.",
               description_es="Velas.", repeat="daily", time="20:00", action="publish")
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    assert "Vigilia nocturna" in client.get(f"/es/listings/{slug}").text
    assert "Vigilia nocturna" not in client.get(f"/listings/{slug}").text
    assert "Nightly vigil" in client.get(f"/listings/{slug}").text
    row = rows(settings, f"SELECT title_es, schedule FROM listings WHERE slug = '{slug}'")[0]
    assert row["title_es"] == "Vigilia nocturna"
    assert '"tz": "America/Los_Angeles"' in row["schedule"]


# --- organizer pages in Spanish ----------------------------------------------------------------

INTERFACE_LABELS = ("Title", "Kind", "Address", "City", "State", "Starts", "Ends", "Description")


def test_organizer_pages_switch_to_spanish_and_back(admin):
    client, settings = admin
    english = client.get("/admin/listings/new").text
    for label in INTERFACE_LABELS:
        assert re.search(rf'<label for="f-\w+">{label}</label>', english), label
    assert '<html lang="en">' in english and ">Publish</button>" in english
    res = client.get("/admin/language?to=es&next=/admin/listings/new", follow_redirects=False)
    assert res.headers["location"] == "/admin/listings/new"
    spanish = client.get("/admin/listings/new").text
    assert '<html lang="es">' in spanish
    for label in ("Título", "Dirección", "Ciudad", "Estado", "Descripción", "Todas las noches"):
        assert f">{label}</label>" in spanish or f"> {label}</label>" in spanish, label
    assert ">Publicar</button>" in spanish and ">Publish</button>" not in spanish
    # Errors and the message after an action follow the language.
    bad = post(client, "/admin/listings/new", title="", city="", state="", kind="vigil",
               description="", action="publish")
    assert "Obligatorio." in bad.text and "Elija un estado." in bad.text
    signed = sign_notice(TEST_SECRET, "/admin/listings/san-diego-ca/edit?done=Saved.")
    assert "Guardado." in client.get(signed).text
    client.get("/admin/language?to=en&next=/admin/")
    assert '<html lang="en">' in client.get("/admin/").text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin",
                                    "/admin\\@evil", "/adminx", "javascript:alert(1)"])
def test_the_language_switch_only_goes_back_to_organizer_pages(admin, target):
    client, _settings = admin
    res = client.get("/admin/language", params={"to": "es", "next": target},
                     follow_redirects=False)
    assert res.headers["location"] == "/admin/"


@pytest.mark.parametrize("state, city, zone", [
    ("WA", "Tacoma", "America/Los_Angeles"), ("TX", "Houston", "America/Chicago"),
    ("TX", "El  Paso", "America/Denver"), ("FL", "Miami", "America/New_York"),
    ("FL", "Pensacola", "America/Chicago"), ("IN", "Gary", "America/Chicago"),
    ("AZ", "Phoenix", "America/Phoenix"), ("PR", "San Juan", "America/Puerto_Rico"),
    ("OR", "Ontario", "America/Denver"), ("NY", "New York", "America/New_York")])
def test_the_time_zone_follows_the_state_and_city(state, city, zone):
    from server.listing_form import parse, zone_for

    assert zone_for(state, city) == zone
    _values, errors, row = parse({"title": "Vigil", "kind": "vigil", "city": city,
                                  "state": state, "description": "x", "repeat": "daily",
                                  "time": "20:00", "starts": "2030-06-01T20:00"})
    assert not errors
    assert f'"tz": "{zone}"' in row["schedule"]
    from datetime import datetime
    from zoneinfo import ZoneInfo
    assert datetime.fromisoformat(row["starts"]) == datetime(2030, 6, 1, 20, 0,
                                                             tzinfo=ZoneInfo(zone))


def test_no_listing_is_placed_at_0_0(admin):
    client, settings = admin
    res = post(client, "/admin/listings/new", title="Vigil", kind="vigil", city="Nowhere",
               state="WY", description="x", lat="0", lon="0", action="publish")
    assert res.status_code == 400 and "0, 0 is in the ocean" in res.text
    res = post(client, "/admin/listings/new", title="Vigil", kind="vigil", city="Nowhere",
               state="WY", description="x", action="publish")
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    row = rows(settings, f"SELECT lat, lon FROM listings WHERE slug = '{slug}'")[0]
    assert row == {"lat": None, "lon": None}
    # With a facility and no coordinates, the listing stands at the facility.
    conn = dbtools.connect(settings.db_path)
    with conn:
        conn.execute("UPDATE facilities SET lat = 47.2496, lon = -122.4214 "
                     "WHERE slug = 'northwest-detention-center-tacoma'")
    conn.close()
    res = post(client, "/admin/listings/new", title="Vigil at NWDC", kind="vigil",
               city="Tacoma", state="WA", description="x",
               facility="northwest-detention-center-tacoma", action="publish")
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    row = rows(settings, f"SELECT lat, lon, facility FROM listings WHERE slug = '{slug}'")[0]
    facility = rows(settings, "SELECT lat, lon FROM facilities "
                              "WHERE slug = 'northwest-detention-center-tacoma'")[0]
    assert row == {**facility, "facility": "northwest-detention-center-tacoma"}
    res = post(client, "/admin/listings/new", title="Vigil", kind="vigil", city="Tacoma",
               state="WA", description="x", facility="no-such-place", action="publish")
    assert res.status_code == 400 and "Choose a facility from the list." in res.text
