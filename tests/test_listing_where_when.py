"""Where and when a listing is. Its ZIP code: checked in the form and in data files, shown
after the state, and carried by the directions, the API, the page's structured data, the
calendar and exports. Its time: a vigil still to come says when it starts, a one-time vigil
has a start, and a second organizer reads where and when before approving."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import unquote

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.dataset import DataError, Where, listing_row, validate_record
from tests.admin_support import create_organizer, sign_in, sql
from tests.conftest import make_settings

LISTING = {"title": "Nightly vigil at NWDC", "kind": "vigil", "address": "1623 E J St",
           "city": "Tacoma", "state": "WA", "tz": "America/Los_Angeles",
           "starts": "2030-06-01T20:00", "description": "Bring candles.", "action": "publish"}


@pytest.fixture
def ana(tmp_path):
    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        client.csrf = sign_in(client, "ana")
        yield client


def publish(client, **fields):
    return client.post("/admin/listings/new", data={"csrf": client.csrf, **LISTING, **fields},
                       follow_redirects=False)


@pytest.mark.parametrize("bad", ["9842", "984211", "98421-12", "WA 98421", "98421 1234"])
def test_the_form_refuses_what_is_not_a_zip_code_and_keeps_what_was_typed(ana, bad):
    res = publish(ana, zip=bad)
    assert res.status_code == 400
    assert "Five digits, as in 98421" in res.text
    assert f'name="zip" type="text" value="{bad}"' in res.text


def test_a_zip_code_is_shown_and_carried_everywhere_the_place_goes(ana):
    res = publish(ana, zip="98421")
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    ana.cookies.clear()  # as a visitor
    page = ana.get(f"/listings/{slug}").text
    assert '<abbr class="p-region" title="Washington">WA</abbr> ' \
           '<span class="p-postal-code">98421</span>' in page
    directions = re.findall(r'href="(https://maps\.apple\.com/[^"]+)"', page)
    assert directions and "1623 E J St, Tacoma, WA 98421" in unquote(directions[0])
    data = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>',
                                page, re.S).group(1))
    assert data["location"]["address"]["postalCode"] == "98421"
    assert ana.get(f"/api/v1/listings/{slug}").json()["listing"]["zip"] == "98421"
    assert "Tacoma, WA 98421" in ana.get("/").text
    assert "1623 E J St\\, Tacoma\\, WA 98421" in ana.get(f"/listings/{slug}.ics").text
    index = ana.get("/offline-index.json").json()
    assert next(r for r in index["listings"] if r["slug"] == slug)["zip"] == "98421"


def test_data_files_check_the_zip_code_and_keep_it():
    listing = {"slug": "vigil-tacoma", "kind": "vigil", "title": "Vigil", "city": "Tacoma",
               "state": "WA", "status": "active", "description": {"en": "x", "es": "x"},
               "source": "Test", "added": "2026-11-01", "zip": "98421"}
    where = Where("listings.toml", "listing 'vigil-tacoma'")
    with pytest.raises(DataError, match="field 'zip' must be a ZIP code"):
        validate_record("listing", {**listing, "zip": "984"}, where)
    rec = validate_record("listing", listing, where)
    assert listing_row(rec, "2026-11-30T00:00:00+00:00")["zip"] == "98421"


def test_a_vigil_still_to_come_says_when_it_starts_not_that_it_began(ana):
    """A one-time vigil ahead is announced as a day and time on the place's clock; "Began"
    belongs to what has started."""
    res = publish(ana)
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    ana.cookies.clear()
    en = ana.get(f"/listings/{slug}").text
    es = ana.get(f"/es/listings/{slug}").text
    when = re.search(r'<p class="when">(.*?)</p>', en, re.S).group(1)
    assert when.startswith("Starts ") and "8 PM (Pacific)" in when, when
    assert "Began" not in en and "20:00:00" not in re.sub(r"<[^>]+>", "", when)
    assert re.search(r'<p class="when">Empieza: [^<]*<time[^>]*>[^<]*8:00\s*p\.\s*m\.', es)
    assert "Comenzó" not in es


def test_a_one_time_vigil_needs_its_start_and_keeps_what_was_typed(pair):
    settings, ana, _ = pair
    csrf = sign_in(ana, "ana")
    data = {**LISTING, "csrf": csrf, "starts": "", "repeat": "none", "time": "20:00",
            "needs": "water / agua"}
    res = ana.post("/admin/listings/new", data=data, follow_redirects=False)
    assert res.status_code == 400
    assert "A one-time vigil needs its start" in res.text
    assert 'aria-describedby="e-starts"' in res.text
    for typed in ("Nightly vigil at NWDC", "1623 E J St", "Bring candles.", "water / agua"):
        assert typed in res.text, typed
    assert sql(settings, "SELECT COUNT(*) FROM listings WHERE title = ?",
               (LISTING["title"],)) == [(0,)]
    # Every night, every week and ongoing need no start; the time of day is for repeats.
    for repeat in ("daily", "ongoing"):
        ok = ana.post("/admin/listings/new", data={**data, "repeat": repeat},
                      follow_redirects=False)
        assert ok.status_code == 303, repeat
    assert 'class="pair repeat-time"' in ana.get("/admin/listings/new").text


def test_the_approver_reads_what_where_and_when_above_approve(pair):
    from tests.test_two_person_rule import propose_listing

    _, ana, ben = pair
    csrf = sign_in(ana, "ana")
    slug = propose_listing(ana, csrf)
    edit = f"/admin/listings/{slug}/edit"
    ana.post(edit, data={**LISTING, "csrf": csrf, "address": "1700 E J St"},
             follow_redirects=False)
    sign_in(ben, "ben")
    page = html.unescape(ben.get(edit).text)
    summary = page.index('<h2 id="summary-h">What will be published</h2>')
    assert summary < page.index(f'action="/admin/listings/{slug}/approve"')
    card = re.sub(r"<[^>]+>", "|", page[summary:page.index("</section>", summary)])
    card = re.sub(r"[\u00a0\u202f]", " ", card)
    assert "Vigil · Nightly vigil at NWDC" in card
    assert "1700 E J St, Tacoma, WA" in card
    assert "Saturday, June 1, 8 PM (Pacific)" in card
    assert "Changed since it was proposed: Address." in card
    where = card.split("Where")[1].split("When")[0]
    assert "changed" in where and "changed" not in card.split("When")[1].split("Description")[0]
