"""The organizer pages as a second organizer and a phone use them: one queue of what waits,
a colleague's alert stopped only after asking (its author told and able to restore it), the
last states remembered with the account, and sign-in and dashboard in Spanish."""

from __future__ import annotations

import html
import re
import sqlite3
from datetime import UTC, datetime

from server.content_forms import contact_values
from tests import dbtools
from tests.admin_support import csrf_from, hidden_fields, sign_in, sql
from tests.test_bulk_import import csv_text, good_rows, upload
from tests.test_organizers import english_in
from tests.test_suggest import submit
from tests.test_two_person_rule import propose_listing


def alert(browser, csrf: str, title: str = "Observers needed at NWDC", **extra) -> str:
    data = {"csrf": csrf, "title": title, "message": "Bring a phone.", "link": "",
            "states": ["WA"], "expires": "24", "action": "send", **extra}
    res = browser.post("/admin/alerts/new", data=data, follow_redirects=False)
    return res.headers["location"].split("?")[0]


def links(page: str, section: str) -> list[tuple[str, str]]:
    """(href, text) of the links in the dashboard section headed by the given id."""
    part = re.search(rf'<section aria-labelledby="{section}">(.*?)</section>', page, re.S)
    assert part, section
    return [(html.unescape(href),
             re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.unescape(text))).strip())
            for href, text in re.findall(r'<a href="([^"]+)">(.*?)</a>', part.group(1), re.S)]


def test_one_queue_holds_everything_a_second_organizer_must_look_at(pair):
    settings, ana, ben = pair
    csrf = sign_in(ana, "ana")
    alert(ana, csrf, "Rapid response at the courthouse")
    slug = propose_listing(ana, csrf)
    assert upload(ana, csrf, csv_text(good_rows(3, city="Salem"))).status_code == 303
    contact = sql(settings, "SELECT slug FROM contacts ORDER BY slug LIMIT 1")[0][0]
    conn = dbtools.connect(settings.db_path)
    conn.row_factory = sqlite3.Row
    values = contact_values(dict(conn.execute("SELECT * FROM contacts WHERE slug = ?",
                                              (contact,)).fetchone()))
    conn.close()
    res = ana.post(f"/admin/content/contacts/{contact}/edit", follow_redirects=False, data={
        **values, "csrf": csrf,
        "phones": "Hotline | 555-0100 999 | legal-help | https://help.example.org/"})
    assert res.status_code == 303
    name = sql(settings, "SELECT organization FROM contacts WHERE slug = ?", (contact,))[0][0]
    submit(ben.client, title="Vigil at the Portland field office")

    sign_in(ben, "ben")
    page = ben.get("/admin/").text
    queue = links(page, "waiting-h")
    kinds = [text for _, text in queue]
    assert any(t.startswith("Alert to approve Rapid response at the courthouse by ana")
               for t in kinds), kinds
    assert any(t.startswith("Listing to approve Nightly vigil at NWDC") for t in kinds), kinds
    assert any(t.startswith("Import to approve 3 listings") for t in kinds), kinds
    assert f"Change to approve legal contact · {name} by ana" in kinds, kinds
    assert any(t.startswith("Suggestion to review Vigil at the Portland field office")
               for t in kinds), kinds
    # Each item opens the page where it is decided, showing that item.
    for href, _text in queue:
        res = ben.get(href)
        assert res.status_code == 200, href
        if href.startswith("/admin/listings/"):
            assert href == f"/admin/listings/{slug}/edit"
            assert 'action="/admin/listings/' + slug + '/approve"' in res.text
        elif href.startswith(("/admin/alerts/", "/admin/import/", "/admin/changes/")):
            assert "/approve" in res.text, href
    # The counts each open their own list: the listings' count no longer opens the alerts.
    counts = dict((text.split(":")[0], href) for href, text in re.findall(
        r'<li class="card"><a href="([^"]+)">([^<]+)', page))
    assert counts["Listings waiting for approval"] == "/admin/listings"
    assert counts["Alerts and corrections waiting for approval"] == "/admin/alerts"
    assert counts["Imports waiting for approval"] == "/admin/import"
    # What ana proposed is not hers to approve: it waits for someone else.
    mine = ana.get("/admin/").text
    assert [text for _, text in links(mine, "waiting-h")] == [
        "Suggestion to review Vigil at the Portland field office"]
    theirs = [text for _, text in links(mine, "theirs-h")]
    assert any(t.startswith("Your alert") for t in theirs)
    assert any(t.startswith("Your listing") for t in theirs)


def test_a_colleagues_alert_is_stopped_only_after_asking_and_its_author_is_told(pair):
    settings, ana, ben = pair
    url = alert(ana, sign_in(ana, "ana"))
    csrf_b = sign_in(ben, "ben")
    page = ben.get(url).text
    # Named for what it does, away from Approve, and a link to a page that asks.
    actions = page.split('class="actions"')[1].split("</div>")[0]
    assert "Cancel" not in actions and "Stop this alert" not in actions
    assert f'<a class="btn danger" href="{url}/retract">Stop this alert</a>' in page
    ask = ben.get(url + "/retract")
    assert ask.status_code == 200 and "Stop “Observers needed at NWDC” from being sent?" in (
        html.unescape(ask.text))
    assert "Keep it waiting" in ask.text
    # A post without the confirmation asks again and changes nothing.
    again = ben.post(url + "/retract", data={"csrf": csrf_b})
    assert "Stop this alert" in again.text
    assert sql(settings, "SELECT status FROM alerts") == [("pending",)]
    done = ben.post(url + "/retract", data={"csrf": csrf_b, "confirm": "yes"})
    assert "Stopped: it will not be sent." in done.text
    assert sql(settings, "SELECT status, taken_down_by FROM alerts") == [("retracted", "ben")]
    # The author is told on her dashboard, linking to the alert, which she can restore.
    dashboard = ana.get("/admin/").text
    told = [(href, text) for href, text in links(dashboard, "waiting-h")
            if text.startswith("Your alert was stopped before it was sent")]
    assert told == [(url, "Your alert was stopped before it was sent: restore it if it "
                          "should go out Observers needed at NWDC by ben")]
    page = ana.get(url).text
    assert "You wrote it: Restore puts it back to wait for approval." in page
    csrf_a = csrf_from(page)
    ana.post(url + "/restore", data={"csrf": csrf_a})
    assert sql(settings, "SELECT status, taken_down_by FROM alerts") == [("pending", None)]


def test_the_author_withdraws_her_own_waiting_alert_at_once(pair):
    settings, ana, _ = pair
    csrf = sign_in(ana, "ana")
    url = alert(ana, csrf)
    page = ana.get(url).text
    assert "Withdraw before sending" in page and "Stop this alert" not in page
    ana.post(url + "/retract", data={"csrf": csrf})
    assert sql(settings, "SELECT status FROM alerts") == [("retracted",)]


def test_the_last_states_are_remembered_with_the_account(pair):
    settings, ana, ben = pair
    csrf = sign_in(ana, "ana")
    assert 'href="/admin/alerts/new"' in ana.get("/admin/").text
    alert(ana, csrf, states=["OR", "WA"], kind="urgent", title="", place="Portland ICE office")
    # Another browser, another session: the account remembers, no cookie does.
    ana.cookies.clear()
    sign_in(ana, "ana")
    page = ana.get("/admin/").text
    send = html.unescape(re.search(r'<a class="btn big" href="([^"]+)">Send alert</a>',
                                   page).group(1))
    assert send == "/admin/alerts/new?states=OR&states=WA&place=Portland+ICE+office"
    assert "For Oregon, Washington, as your last alert" in page
    form = ana.get(send).text
    for code in ("OR", "WA"):
        assert f'value="{code}" checked' in form
    # Chosen, they fold away under a summary naming them, ready for Preview and Send.
    assert re.search(r"<details class=\"states-pick\">\s*<summary>States: <strong>Oregon, "
                     r"Washington</strong>", form)
    assert 'value="Portland ICE office"' in form
    # Each organizer has their own.
    sign_in(ben, "ben")
    assert 'href="/admin/alerts/new"' in ben.get("/admin/").text


def test_the_preview_lists_the_states_chosen(pair):
    _, ana, _ = pair
    csrf = sign_in(ana, "ana")
    res = ana.post("/admin/alerts/new", data={
        "csrf": csrf, "kind": "urgent", "place": "Tacoma NWDC", "message": "",
        "states": ["WA", "OR"], "expires": "4", "action": "preview"})
    preview = re.search(r'<section class="card preview".*?</section>', res.text, re.S).group(0)
    assert "To subscribers in: Oregon, Washington" in preview
    assert "Urgent: come to Tacoma NWDC now" in preview
    assert "Urgente: venga ahora a Tacoma NWDC" in preview
    # Its own Send, just below it, sends what it shows; the form below kept every choice.
    send = res.text.split("</section>", 1)[1].split('id="alert-form"')[0]
    sent = hidden_fields(send, "/admin/alerts/new")
    assert (sent["kind"], sent["place"], sent["urgent"]) == ("urgent", "Tacoma NWDC", "on")
    assert 'name="states" value="OR"' in send and 'name="states" value="WA"' in send
    assert "Send this alert" in send
    assert 'value="WA" checked' in res.text and 'value="OR" checked' in res.text
    every = ana.post("/admin/alerts/new", data={
        "csrf": csrf, "kind": "all_clear", "place": "Tacoma NWDC", "states": ["ALL"],
        "expires": "4", "action": "preview"}).text
    assert "To subscribers in every state" in every


def test_the_sign_in_page_and_the_dashboard_speak_spanish(pair):
    settings, ana, ben = pair
    switched = ana.get("/admin/login?lang=es", follow_redirects=False)
    assert switched.status_code == 303 and "vigil_admin_lang=es" in switched.headers[
        "set-cookie"]
    login = ana.get("/admin/login").text
    assert '<html lang="es">' in login and "Acceso de organizadores" in login
    assert 'href="/admin/login?lang=en"' in login and not english_in(login)
    wrong = ana.post("/admin/login", data={"csrf": csrf_from(login), "username": "ana",
                                           "password": "not it"})
    assert "Usuario o contraseña incorrectos." in wrong.text
    csrf = sign_in(ana, "ana")
    # Signed in, the pages stay in the language chosen on the sign-in page.
    assert '<html lang="es">' in ana.get("/admin/").text

    # A dashboard with something in every part: an alert sent, subscriptions counted.
    alert(ana, csrf)
    sign_in(ben, "ben")
    ben.get("/admin/language?to=es&next=/admin/")
    url = sql(settings, "SELECT id FROM alerts")[0][0]
    ben.post(f"/admin/alerts/{url}/approve", data=hidden_fields(
        ben.get(f"/admin/alerts/{url}").text, f"/admin/alerts/{url}/approve"))
    conn = dbtools.connect(settings.db_path)
    conn.execute("INSERT INTO subscription_growth (hour, added, removed) VALUES (?, 3, 1)",
                 (datetime.now(UTC).strftime("%Y-%m-%dT%H"),))
    conn.commit()
    conn.close()
    page = ana.get("/admin/").text
    assert not english_in(page), english_in(page)
    # The audit entries' stored values (under "Before / after") are data, not interface.
    main = re.sub(r"<pre>.*?</pre>", " ", page.split("<main", 1)[1], flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", main))
    for leftover in ("Subscriptions per hour", "The last 24 hours", "(UTC):", "Hour",
                     "compose", "approve", "sign-in", " send ", "state:WA", "Sun ", "Mon ",
                     "Tue ", "Wed ", "Thu ", "Fri ", "Sat "):
        assert leftover not in text, leftover
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d", text), "an ISO timestamp"
    assert "Suscripciones por hora" in text and "Hora (UTC)" in text
    assert "entró" in text and "organizador" in text
    log = html.unescape(re.sub(r"<[^>]+>", " ", ana.get("/admin/audit").text))
    assert "escribió" in log and "envió" in log and "alerta · Observers needed" in log
