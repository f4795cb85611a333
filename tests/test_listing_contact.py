"""A listing's public contact for its organizers: typed in the organizer form, checked, shown
as a link that dials, writes or opens, carried by the API, the data files and exports."""

from __future__ import annotations

import re
import time

import pytest

from server import ROOT
from server.dataset import DataError, export_data, import_data, load_dataset, read_dataset
from tests import dbtools
from tests.admin_support import create_organizer, csrf_from, sign_in
from tests.conftest import make_settings
from tests.test_admin_roundtrip import form_fields, rows, save_through_form

NOW = "2026-11-29T12:00:00+00:00"
VIGIL = {"title": "Nightly vigil", "kind": "vigil", "city": "Tacoma", "state": "WA",
         "description": "Candles.", "repeat": "daily", "time": "20:00", "action": "publish"}


@pytest.fixture
def admin(tmp_path):
    from starlette.testclient import TestClient

    from server.app import create_app

    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        sign_in(client, "ana")
        yield client, settings


def publish(client, **fields):
    page = client.get("/admin/listings/new").text
    return client.post("/admin/listings/new", data={"csrf": csrf_from(page), **VIGIL, **fields},
                       follow_redirects=False)


def slug_of(res) -> str:
    assert res.status_code == 303, re.findall(r'class="error"[^>]*>([^<]*)', res.text)
    return re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)


@pytest.mark.parametrize("typed, href", [
    ("(253) 555-0147", "tel:+12535550147"),
    ("+1 253 555 0147", "tel:+12535550147"),
    ("+44 20 7946 0958", "tel:+442079460958"),
    ("vigil.tacoma@example.org", "mailto:vigil.tacoma@example.org"),
    ("https://signal.group/#CjQKIExample", "https://signal.group/#CjQKIExample"),
])
def test_a_contact_is_shown_as_the_link_that_reaches_it(admin, typed, href):
    client, settings = admin
    slug = slug_of(publish(client, contact=typed, contact_label="Text the organizers"))
    for page in (client.get(f"/listings/{slug}").text, client.get(f"/es/listings/{slug}").text):
        link = re.search(r'<p class="contact"><a class="btn secondary" href="([^"]*)"[^>]*>'
                         r'([^<]*)</a>', page)
        assert link and link.groups() == (href, typed)
        assert "Text the organizers" in page
    assert "Contact the organizers" in client.get(f"/listings/{slug}").text
    assert "Contacto de los organizadores" in client.get(f"/es/listings/{slug}").text
    record = client.get(f"/api/v1/listings/{slug}").json()["listing"]
    assert record["contact"] == {"label": "Text the organizers", "value": typed, "href": href}
    # The form shows it as typed and saves it back unchanged.
    stored = rows(settings, f"SELECT * FROM listings WHERE slug = '{slug}'")[0]
    values = form_fields(client.get(f"/admin/listings/{slug}/edit").text,
                         f"/admin/listings/{slug}/edit")
    assert (values["contact"], values["contact_label"]) == (typed, "Text the organizers")
    save_through_form(client, f"/admin/listings/{slug}/edit")
    after = rows(settings, f"SELECT * FROM listings WHERE slug = '{slug}'")[0]
    assert {**after, "updated": ""} == {**stored, "updated": ""}


def test_a_listing_without_a_contact_shows_no_contact_section(admin):
    client, _settings = admin
    slug = slug_of(publish(client))
    assert "contact-h" not in client.get(f"/listings/{slug}").text
    assert client.get(f"/api/v1/listings/{slug}").json()["listing"]["contact"] is None
    plain = slug_of(publish(client, title="Second vigil", contact="253-555-0147"))
    page = client.get(f"/listings/{plain}").text
    assert 'href="tel:+12535550147" rel="noreferrer">253-555-0147</a>' in page


@pytest.mark.parametrize("contact, label, field, message", [
    ("javascript:alert(1)", "", "contact", "a phone number, an email address"),
    ("JaVaScRiPt:alert(1)//.example.org", "", "contact", "a phone number, an email address"),
    ("data:text/html,<script>alert(1)</script>", "", "contact", "a phone number"),
    ("vbscript:msgbox(1)", "", "contact", "a phone number"),
    ("555-0147", "", "contact", "area code"),
    ("12345678901234567890", "", "contact", "a phone number"),
    ("https://example.org/" + "a" * 200, "", "contact", "At most 200 characters."),
    ("253-555-0147", "x" * 81, "contact_label", "At most 80 characters."),
    ("", "Call us", "contact", "Give the contact itself"),
])
def test_a_contact_that_cannot_be_a_safe_link_is_refused_and_nothing_is_lost(
        admin, contact, label, field, message):
    client, settings = admin
    before = rows(settings, "SELECT COUNT(*) AS n FROM listings")[0]["n"]
    res = publish(client, contact=contact, contact_label=label, description="Keep this text.")
    assert res.status_code == 400
    error = re.search(rf'<span class="error" id="e-{field}">([^<]*)</span>', res.text)
    assert error and message.lower() in error.group(1).lower(), error
    # The form comes back open at the field, with everything typed still there.
    assert re.search(r'<details class="more" open>', res.text)
    assert "Keep this text." in res.text
    assert rows(settings, "SELECT COUNT(*) AS n FROM listings")[0]["n"] == before


def test_a_contact_change_on_a_live_listing_waits_for_a_second_organizer(admin):
    client, settings = admin
    slug = slug_of(publish(client, contact="253-555-0147"))
    create_organizer(settings, "ben")
    values = form_fields(client.get(f"/admin/listings/{slug}/edit").text,
                         f"/admin/listings/{slug}/edit")
    page = client.get(f"/admin/listings/{slug}/edit").text
    res = client.post(f"/admin/listings/{slug}/edit", follow_redirects=False,
                      data={**values, "contact": "https://attacker.example/x",
                            "csrf": csrf_from(page)})
    assert "waits" in res.headers["location"]
    assert "attacker.example" not in client.get(f"/listings/{slug}").text
    assert "tel:+12535550147" in client.get(f"/listings/{slug}").text


def test_a_contact_stored_in_any_shape_never_becomes_an_unsafe_link(admin):
    """What an import or a hand edit may leave in the column: pages still answer, and only a
    phone, an email or a web address becomes a link."""
    client, settings = admin
    slugs = [slug_of(publish(client, title=f"Vigil {n}")) for n in range(8)]
    shapes = ['{"label": "Script", "value": "javascript:alert(1)"}',
              '{"label": "<b>x</b>", "value": "mailto:x@example.org?body=<script>"}',
              '{"value": " https://ok.example/a\\"onmouseover=alert(1) "}',
              '"253-555-0147"', "[1, 2]", "{not json", '{"label": 5, "value": null}',
              '{"label": "Form feed", "value": "tel:+1253\\u000c5550147"}']
    conn = dbtools.connect(settings.db_path)
    try:
        for slug, shape in zip(slugs, shapes, strict=True):
            conn.execute("UPDATE listings SET contact = ? WHERE slug = ?", (shape, slug))
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
                     "WHERE key = 'revision'")
        conn.commit()
    finally:
        conn.close()
    deadline = time.monotonic() + 10
    while not client.get(f"/api/v1/listings/{slugs[3]}").json()["listing"]["contact"]:
        assert time.monotonic() < deadline, "the change was never seen"
        time.sleep(0.1)
    for slug in slugs:
        for url in (f"/listings/{slug}", f"/es/listings/{slug}"):
            res = client.get(url)
            assert res.status_code == 200, url
            assert "javascript:" not in res.text and "onmouseover=alert" not in res.text
            assert "<b>x</b>" not in res.text and "<script>" not in res.text.split("</head>")[1]
            hrefs = re.findall(r'href="([^"]*)"', res.text.split("contact-h")[-1])
            assert all(h.startswith(("/", "#", "https://", "http://", "tel:+", "mailto:", "geo:"))
                       for h in hrefs), hrefs
        record = client.get(f"/api/v1/listings/{slug}").json()["listing"]
        assert record["contact"] is None or record["contact"]["href"].startswith(
            ("tel:+", "mailto:", "https://", "http://"))
    # A bare phone number left as a string is still a phone number.
    assert client.get(f"/api/v1/listings/{slugs[3]}").json()["listing"]["contact"] == {
        "label": None, "value": "253-555-0147", "href": "tel:+12535550147"}


def test_a_data_file_may_give_a_listing_its_contact(tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    listings = data / "listings.toml"
    good = 'contact = { label = "Organizers", value = "vigil@example.org" }\n'
    listings.write_text(listings.read_text().replace("[[listing]]\n", "[[listing]]\n" + good, 1))
    record = read_dataset(data)["listing"][0]
    assert record["contact"] == {"label": "Organizers", "value": "vigil@example.org"}
    listings.write_text(listings.read_text().replace("vigil@example.org", "javascript:x"))
    with pytest.raises(DataError, match=r"listings.toml: listing '[a-z0-9-]+': field "
                                        r"'contact.value' must be a phone number"):
        read_dataset(data)


async def test_an_export_with_contacts_imports_to_the_same_data(tmp_path):

    async with dbtools.database(tmp_path / "a.db") as db:
        await load_dataset(db, ROOT / "data", NOW)
        await db.write("UPDATE listings SET contact = ? WHERE slug = (SELECT MIN(slug) "
                       "FROM listings)", ('{"label": "Ñandú", "value": "+1-253-555-0147"}',))
        first = await export_data(db, NOW)
    assert any(r["contact"] for r in first["listings"])
    async with dbtools.database(tmp_path / "b.db") as db:
        await import_data(db, first)
        assert sum((await import_data(db, first)).values()) == 0
        second = await export_data(db, NOW)
    assert second == first
