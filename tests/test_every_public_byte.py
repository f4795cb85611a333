"""The two-person rule covers every byte a person could act on: for every field of every
kind of public record, one organizer's change reaches no public page, feed, API answer or
offline copy until a second organizer approves it; and what waits for approval binds the
whole record, so a colleague's draft cannot be changed under a proposal."""

from __future__ import annotations

import re
import sqlite3

import pytest

from server.content_kinds import KINDS
from server.listing_form import values_from_row
from tests import dbtools
from tests.admin_support import hidden_fields, sign_in, sql

MARK = "Zqxmark"
URL = "https://zqxmark.example.org/"
# Exact answers: nothing in them changes with the clock.
EXACT = ["/api/v1/listings", "/api/v1/facilities", "/api/v1/contacts", "/api/v1/rights?lang=en",
         "/api/v1/rights?lang=es", "/api/v1/resources", "/offline-index.json"]
PAGES = ["/", "/legal", "/es/legal", "/facilities", "/es/facilities", "/resources",
         "/es/resources", "/feed.atom", "/calendar.ics", "/card", "/rights"]


def changed_value(field: str, value: str) -> str | None:
    """Another valid value for a form field, or None where there is none to try."""
    if field in ("csrf", "slug", "reviewed", "tz", "repeat", "time", "byday", "duration"):
        return None
    if field == "phones":
        return f"{MARK} line | 555-0100 123 | legal-help | {URL}"
    if field == "states":
        return "OR" if value.strip() != "OR" else "WA"
    if field == "languages":
        return "en, es, fr"
    if field in ("lat", "lon"):
        return str(round(float(value) + 0.01, 4)) if value else None
    if field == "order":
        return str(int(value or 0) + 1)
    if field == "date":
        return "2020-01-02"
    if field in ("kind", "state", "role", "facility", "statement", "zip"):
        return None  # choices: tried in test_choices_wait_too
    if field in ("starts", "ends"):
        return None
    if value.startswith("http"):
        return URL
    if field == "links":
        return f"{MARK} | {URL}"
    if field == "contact":
        return "+1 555 555 0123"
    return f"{value} {MARK}".strip()


def snapshot(client, extra: list[str]) -> tuple[dict, dict]:
    exact = {u: client.get(u).content for u in EXACT}
    pages = {u: client.get(u).text for u in PAGES + extra}
    return exact, pages


def assert_nothing_public_changed(client, before, extra, what):
    exact, pages = snapshot(client, extra)
    for url, body in exact.items():
        assert body == before[0][url], (what, url)
    for url, text in pages.items():
        assert MARK not in text and "zqxmark" not in text, (what, url)
        assert "555-0123" not in text and "5550123" not in text, (what, url)


def change_each_field(ana, csrf: str, edit: str, values: dict, extra: list[str],
                      what: str) -> list[str]:
    """As one organizer, change each field of the record's form in turn; after each, no
    public answer may differ. The fields whose change the form took."""
    before = snapshot(ana, extra)
    tried = []
    for field, value in values.items():
        new = changed_value(field, str(value or ""))
        if new is None or new == value:
            continue
        res = ana.post(edit, data={**values, field: new, "csrf": csrf}, follow_redirects=False)
        if res.status_code == 400:
            continue
        assert res.status_code == 303, (field, res.status_code)
        tried.append(field)
        assert_nothing_public_changed(ana, before, extra, (what, field))
    return tried


def row_of(settings, table: str, slug: str) -> dict:
    conn = dbtools.connect(settings.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute(f"SELECT * FROM {table} WHERE slug = ?", (slug,)).fetchone())
    finally:
        conn.close()


def rights_row(settings, slug: str) -> dict:
    en, es = row_of_lang(settings, slug, "en"), row_of_lang(settings, slug, "es")
    return {**en, "title_en": en["title"], "summary_en": en["summary"], "body_en": en["body"],
            "title_es": es["title"], "summary_es": es["summary"], "body_es": es["body"],
            "source_es": es["source"]}


def row_of_lang(settings, slug: str, lang: str) -> dict:
    conn = dbtools.connect(settings.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM rights WHERE slug = ? AND lang = ?",
                                 (slug, lang)).fetchone())
    finally:
        conn.close()


def a_published(settings, kind) -> str | None:
    status = " WHERE status = 'published'" if kind.publishable else ""
    rows = sql(settings, f"SELECT slug FROM {kind.table}{status} ORDER BY slug LIMIT 1")
    return rows[0][0] if rows else None


@pytest.mark.parametrize("kind", KINDS, ids=[k.entity for k in KINDS])
def test_every_field_of_a_published_record_waits_for_a_second_organizer(pair, kind):
    settings, ana, _ben = pair
    csrf = sign_in(ana, "ana")
    slug = a_published(settings, kind)
    if slug is None:  # no seeded record of this kind: ana's own, made public with ben
        pytest.skip("no published record of this kind in the default data")
    row = rights_row(settings, slug) if kind.entity == "rights" else row_of(settings,
                                                                            kind.table, slug)
    tried = change_each_field(ana, csrf, f"{kind.base}/{slug}/edit", kind.values(row),
                              [kind.public_url(slug).split("#")[0]], kind.entity)
    assert len(tried) >= 3, tried


def test_every_field_of_a_live_listing_waits_for_a_second_organizer(pair):
    settings, ana, _ben = pair
    csrf = sign_in(ana, "ana")
    slug = sql(settings, "SELECT slug FROM listings WHERE status IN ('active', 'ended') AND "
                         "address IS NOT NULL ORDER BY slug LIMIT 1")[0][0]
    extra = [f"/listings/{slug}", f"/es/listings/{slug}", f"/api/v1/listings/{slug}",
             f"/listings/{slug}.ics"]
    tried = change_each_field(ana, csrf, f"/admin/listings/{slug}/edit",
                              values_from_row(row_of(settings, "listings", slug)), extra,
                              "listing")
    assert {"description", "description_es", "title", "address"} <= set(tried), tried


def test_choices_wait_too(pair):
    """A listing's facility and a facility's kind are public facts like any other."""
    settings, ana, _ben = pair
    csrf = sign_in(ana, "ana")
    slug = sql(settings, "SELECT slug FROM listings WHERE status IN ('active', 'ended') "
                         "ORDER BY slug LIMIT 1")[0][0]
    values = values_from_row(row_of(settings, "listings", slug))
    facility = row_of(settings, "listings", slug)["facility"]
    other = sql(settings, "SELECT slug FROM facilities WHERE slug IS DISTINCT FROM ? LIMIT 1",
                (facility,))[0][0]
    res = ana.post(f"/admin/listings/{slug}/edit",
                   data={**values, "facility": other, "csrf": csrf}, follow_redirects=False)
    assert res.status_code in (303, 400)
    assert row_of(settings, "listings", slug)["facility"] == facility


@pytest.mark.parametrize("kind", [k for k in KINDS if k.publishable], ids=lambda k: k.entity)
def test_a_draft_changed_after_its_publication_was_proposed_is_not_published(pair, kind):
    """ana proposes publishing her draft; ben changes the draft, then approves ana's
    proposal: what ben approves must be what ana proposed, so the approval is refused."""
    settings, ana, ben = pair
    csrf_a = sign_in(ana, "ana")
    csrf_b = sign_in(ben, "ben")
    form = {"csrf": csrf_a, "action": "publish",
            **({"title": "Honest report", "publisher": "Local paper", "date": "2026-11-01",
                "url": "https://paper.example.org/report", "source": "paper.example.org"}
               if kind.entity == "article" else
               {"name": "Honest network", "about_en": "Neighbours.", "about_es": "Vecinos.",
                "website": "https://honest.example.org", "source": "honest.example.org"})}
    res = ana.post(f"{kind.base}/new", data=form, follow_redirects=False)
    assert res.status_code == 303
    slug = re.search(rf"{kind.base}/([^/?]+)/edit", res.headers["location"]).group(1)
    assert sql(settings, f"SELECT status FROM {kind.table} WHERE slug = ?", (slug,)) == [
        ("draft",)]
    # ben edits the draft: a phishing address in place of the honest one.
    edited = {k: v for k, v in form.items() if k not in ("csrf", "action")}
    edited["url" if kind.entity == "article" else "website"] = URL
    res = ben.post(f"{kind.base}/{slug}/edit", data={**edited, "csrf": csrf_b},
                   follow_redirects=False)
    assert res.status_code == 303
    changes = ben.get("/admin/changes").text
    approve = re.search(r'action="(/admin/changes/\d+/approve)"', changes).group(1)
    ben.post(approve, data=hidden_fields(ben.get(approve.rsplit("/", 1)[0]).text, approve))
    assert sql(settings, f"SELECT status FROM {kind.table} WHERE slug = ?", (slug,)) == [
        ("draft",)]
    assert "zqxmark" not in ben.get("/resources").text


@pytest.mark.parametrize("kind", [k for k in KINDS if k.publishable], ids=lambda k: k.entity)
def test_the_approver_sees_the_whole_record_that_will_be_published(pair, kind):
    settings, ana, ben = pair
    csrf_a = sign_in(ana, "ana")
    sign_in(ben, "ben")
    link = "https://exact-link.example.org/page"
    form = {"csrf": csrf_a, "action": "publish",
            **({"title": "Report", "publisher": "Paper", "date": "2026-11-01", "url": link,
                "source": "paper.example.org"} if kind.entity == "article" else
               {"name": "Network", "about_en": "Neighbours.", "about_es": "Vecinos.",
                "website": link, "source": "x.example.org"})}
    ana.post(f"{kind.base}/new", data=form)
    changes = ben.get("/admin/changes").text
    detail = re.search(r'href="(/admin/changes/\d+)"', changes).group(1)
    assert link in ben.get(detail).text


def sent_alert(ana, ben, title: str = "Vigil tonight at 8") -> tuple[str, str, str]:
    csrf_a = sign_in(ana, "ana")
    res = ana.post("/admin/alerts/new", data={
        "csrf": csrf_a, "title": title, "message": "Bring water.", "link": "",
        "states": ["WA"], "urgent": "on", "expires": "4", "action": "send"},
        follow_redirects=False)
    alert = res.headers["location"].split("?")[0]
    csrf_b = sign_in(ben, "ben")
    ben.post(alert + "/approve", data=hidden_fields(ben.get(alert).text, alert + "/approve"))
    return alert, csrf_a, csrf_b


def test_one_accounts_retraction_says_being_checked_never_disregard(pair):
    """A hostile account retracts a true alert: the public is told it is being checked, not
    to disregard it, until a second organizer confirms the withdrawal."""
    settings, ana, ben = pair
    alert, csrf_a, csrf_b = sent_alert(ana, ben)
    messages = sql(settings, "SELECT COUNT(*) FROM push_messages")[0][0]
    ana.post(alert + "/retract", data={"csrf": csrf_a})
    for url in ("/alerts", "/?state=WA", "/feed.atom", "/es/alerts"):
        text = ana.get(url).text
        assert "Disregard" not in text and "No la tenga en cuenta" not in text, url
        assert "Vigil tonight at 8" in text, url
    assert "being checked" in ana.get("/alerts").text
    assert "being checked" in ana.get("/feed.atom").text
    assert sql(settings, "SELECT COUNT(*) FROM push_messages")[0][0] == messages
    ben.post(alert + "/confirm-retraction", data={"csrf": csrf_b})
    assert "Organizers withdrew this alert. Disregard it." in ben.get("/alerts").text
    assert sql(settings, "SELECT COUNT(*) FROM push_messages")[0][0] == messages + 1


def test_a_colleagues_cancelled_pending_alert_can_be_restored_by_its_author(pair):
    settings, ana, ben = pair
    csrf_a = sign_in(ana, "ana")
    res = ana.post("/admin/alerts/new", data={
        "csrf": csrf_a, "title": "Rapid response at the courthouse", "message": "Now.",
        "link": "", "states": ["WA"], "urgent": "on", "expires": "4", "action": "send"},
        follow_redirects=False)
    alert = res.headers["location"].split("?")[0]
    csrf_b = sign_in(ben, "ben")
    ben.post(alert + "/retract", data={"csrf": csrf_b, "confirm": "yes"})
    assert sql(settings, "SELECT status, taken_down_by FROM alerts") == [("retracted", "ben")]
    page = ana.get(alert).text
    assert "Cancelled by ben" in page and "/restore" in page
    ben.post(alert + "/restore", data={"csrf": csrf_b})  # not the author: refused
    assert sql(settings, "SELECT status FROM alerts") == [("retracted",)]
    ben.post(alert + "/confirm-retraction", data={"csrf": csrf_b})  # never sent: nothing
    assert sql(settings, "SELECT COUNT(*) FROM push_messages")[0][0] == 0
    ana.post(alert + "/restore", data={"csrf": csrf_a})
    assert sql(settings, "SELECT status, taken_down_by FROM alerts") == [("pending", None)]
    assert "restore" in {a for (a,) in sql(settings, "SELECT action FROM audit")}


def test_deleting_a_public_record_waits_for_a_second_organizer(pair):
    """One account deletes a legal-help contact: /legal keeps it until a second organizer
    approves the deletion."""
    settings, ana, ben = pair
    csrf_a = sign_in(ana, "ana")
    slug = sql(settings, "SELECT slug FROM contacts WHERE phones LIKE '%legal-help%' "
                         "ORDER BY slug LIMIT 1")[0][0]
    name = sql(settings, "SELECT organization FROM contacts WHERE slug = ?", (slug,))[0][0]
    res = ana.post(f"/admin/content/contacts/{slug}/delete", data={"csrf": csrf_a,
                                                                   "confirm": "yes"},
                   follow_redirects=False)
    assert res.status_code == 303
    assert sql(settings, "SELECT COUNT(*) FROM contacts WHERE slug = ?", (slug,)) == [(1,)]
    assert slug in ana.get("/legal").text
    sign_in(ben, "ben")
    changes = ben.get("/admin/changes").text
    approve = re.search(r'action="(/admin/changes/\d+/approve)"', changes).group(1)
    detail = ben.get(approve.rsplit("/", 1)[0]).text
    assert "removes this record from the site" in detail
    ben.post(approve, data=hidden_fields(detail, approve))
    assert sql(settings, "SELECT COUNT(*) FROM contacts WHERE slug = ?", (slug,)) == [(0,)]
    assert name not in ben.get("/legal").text


# --- sign-in ---------------------------------------------------------------------------------

@pytest.fixture
def ana_alone(tmp_path):
    from tests.admin_support import create_organizer
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    return settings


async def test_forty_guesses_at_once_meet_the_limit(ana_alone):
    """40 wrong passwords for one account sent at once: at most the limit are checked, the
    rest are refused (429) without a check."""
    import asyncio

    import httpx

    from server.app import create_app
    from server.views import admin
    from tests.admin_support import csrf_from

    app = create_app(ana_alone)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            stamp = csrf_from((await c.get("/admin/login")).text)
            codes = await asyncio.gather(*(c.post("/admin/login", data={
                "csrf": stamp, "username": "ana", "password": f"wrong guess {i}"})
                for i in range(40)))
    statuses = [r.status_code for r in codes]
    assert statuses.count(401) <= admin.LOGIN_FAILURES_PER_ACCOUNT, statuses
    assert statuses.count(429) + statuses.count(503) >= 40 - admin.LOGIN_FAILURES_PER_ACCOUNT


def test_a_notice_in_a_made_up_link_is_not_shown(client):
    res = client.get("/admin/login?done=Your+account+is+locked.+Call+555-0100+to+unlock")
    assert "555-0100" not in res.text and "account is locked" not in res.text


async def test_a_flood_of_strangers_guesses_is_capped_and_an_organizer_still_gets_in(ana_alone):
    """Sixty sign-ins with random names at once: the password checks in flight are capped
    (the rest answered 503 at once, unhashed), and an organizer on a browser she has used
    before signs in meanwhile."""
    import asyncio

    import httpx

    from server import accounts
    from server.app import create_app
    from tests.admin_support import PASSWORD, csrf_from

    app = create_app(ana_alone)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ana, \
                httpx.AsyncClient(transport=transport, base_url="http://testserver") as bot:
            stamp = csrf_from((await ana.get("/admin/login")).text)
            await ana.post("/admin/login", data={"csrf": stamp, "username": "ana",
                                                 "password": PASSWORD})
            await ana.post("/admin/logout", data={"csrf": csrf_from((await ana.get(
                "/admin/")).text)})
            bot_stamp = csrf_from((await bot.get("/admin/login")).text)
            stamp = csrf_from((await ana.get("/admin/login")).text)
            flood = [bot.post("/admin/login", data={"csrf": bot_stamp, "username": f"x{i}",
                                                    "password": "guess guess guess"})
                     for i in range(60)]
            mine = ana.post("/admin/login", data={"csrf": stamp, "username": "ana",
                                                  "password": PASSWORD})
            *answers, signed_in = await asyncio.gather(*flood, mine)
    statuses = [r.status_code for r in answers]
    assert signed_in.status_code == 303
    assert statuses.count(401) <= 60 and statuses.count(503) >= 60 - 2 * accounts.STRANGER_CHECKS
    assert set(statuses) <= {401, 503}


# --- limits shared by every process ------------------------------------------------------------

def two_workers(settings, host: str):
    """Two apps on one database, as `serve --workers 2` runs them, for one client address."""
    from starlette.testclient import TestClient

    from server.app import create_app

    return (TestClient(create_app(settings), client=(host, 1000)),
            TestClient(create_app(settings), client=(host, 1000)))


def test_one_client_cannot_make_thousands_of_subscriptions_over_two_workers(settings):
    from server.views import push_api
    from tests.test_push import FCM, sub_body

    first, second = two_workers(settings, "203.0.113.7")
    with first, second:
        codes = [(first, second)[i % 2].post("/api/v1/push/subscriptions",
                                             json=sub_body(FCM + f"flood{i}")).status_code
                 for i in range(push_api.SUBSCRIPTIONS_PER_CLIENT + 10)]
        assert codes.count(201) == push_api.SUBSCRIPTIONS_PER_CLIENT, codes
        assert codes[-1] == 429
        # Changing the topics of one it already has still works; so does another client.
        assert first.post("/api/v1/push/subscriptions",
                          json=sub_body(FCM + "flood0", topics=("urgent",))).status_code == 200
        other = type(first)(first.app, client=("198.51.100.9", 1000))
        assert other.post("/api/v1/push/subscriptions",
                          json=sub_body(FCM + "other")).status_code == 201
    assert sql(settings, "SELECT COUNT(*) FROM subscriptions")[0][0] == (
        push_api.SUBSCRIPTIONS_PER_CLIENT + 1)


def test_the_suggestion_limit_holds_over_two_workers(settings):
    from server.views import suggest
    from tests.test_suggest import submit

    first, second = two_workers(settings, "203.0.113.8")
    with first, second:
        codes = [submit((first, second)[i % 2], title=f"Vigil {i}").status_code
                 for i in range(14)]
    assert codes.count(201) + codes.count(303) == suggest.SUGGESTIONS_PER_CLIENT, codes
    assert sql(settings, "SELECT COUNT(*) FROM suggestions")[0][0] == \
        suggest.SUGGESTIONS_PER_CLIENT
