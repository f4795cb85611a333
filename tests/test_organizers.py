"""Publishing, alerts and the two-person rule, end to end through the real test push service."""

from __future__ import annotations

import re
import time

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests import dbtools
from tests.admin_support import create_organizer, hidden_fields, sign_in
from tests.conftest import make_settings
from tests.pushservice import PushService

XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "javascript:alert(1)"]


@pytest.fixture
def push():
    with PushService() as service:
        yield service


@pytest.fixture
def make_client(tmp_path, push):
    clients = []

    def build(organizers=("ana",), **overrides):
        settings = make_settings(tmp_path, push_hosts=(push.origin,), **overrides)
        for name in organizers:
            create_organizer(settings, name)
        client = TestClient(create_app(settings), base_url="http://testserver")
        client.__enter__()
        clients.append(client)
        return client, settings

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def subscribe(client, push, topics, lang=None):
    sub = push.new_subscription()
    body = {"subscription": sub.subscription_info(), "topics": topics}
    if lang:
        body["lang"] = lang
    res = client.post("/api/v1/push/subscriptions", json=body)
    assert res.status_code == 201, res.text
    return sub


def switch_to(client, name):
    client.cookies.clear()
    return sign_in(client, name)


LISTING = {"title": "Nightly vigil at NWDC", "kind": "vigil", "address": "1623 E J St",
           "city": "Tacoma", "state": "WA", "tz": "America/Los_Angeles",
           "starts": "2030-06-01T20:00", "description": "Bring candles.", "action": "publish"}


def test_single_organizer_publishes_and_state_subscribers_hear(make_client, push):
    client, _ = make_client()
    wa = subscribe(client, push, ["state:WA"])
    orr = subscribe(client, push, ["state:OR"])
    everyone = subscribe(client, push, ["all"])
    csrf = sign_in(client, "ana")
    res = client.post("/admin/listings/new", data={"csrf": csrf, **LISTING},
                      follow_redirects=False)
    assert res.status_code == 303 and "Published" in res.headers["location"]
    messages = push.wait_for(2)
    got = {m.sub_id for m in messages}
    assert got == {wa.id, everyone.id}
    payload = messages[0].json()
    assert payload["notification"]["title"] == "New vigil in Tacoma, WA: Nightly vigil at NWDC"
    assert "/listings/" in payload["notification"]["navigate"] and payload["urgent"] is False
    time.sleep(0.3)
    assert not push.messages_for(orr)
    assert "Nightly vigil at NWDC" in client.get("/").text


def test_two_person_rule_for_listings(make_client, push):
    client, _ = make_client(organizers=("ana", "ben"))
    subscribe(client, push, ["all"])
    csrf = sign_in(client, "ana")
    res = client.post("/admin/listings/new", data={"csrf": csrf, **LISTING},
                      follow_redirects=False)
    assert "second+organizer" in res.headers["location"]
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    time.sleep(0.5)
    assert push.messages == [] and sum(push.attempts.values()) == 0
    assert client.get(f"/listings/{slug}").status_code == 404
    assert "Nightly vigil" not in client.get("/").text
    page = client.get(f"/admin/listings/{slug}/edit").text
    assert "Approve" not in page  # not to the author
    assert client.post(f"/admin/listings/{slug}/approve", data={"csrf": csrf}).status_code == 403
    time.sleep(0.3)
    assert push.messages == []
    switch_to(client, "ben")
    page = client.get(f"/admin/listings/{slug}/edit").text
    assert ">Approve</button>" in page
    client.post(f"/admin/listings/{slug}/approve",
                data=hidden_fields(page, f"/admin/listings/{slug}/approve"))
    assert push.wait_for(1)[0].json()["notification"]["title"].startswith("New vigil in Tacoma, WA")
    assert client.get(f"/listings/{slug}").status_code == 200


def alert_form(csrf, **extra):
    data = {"csrf": csrf, "title": "Urgent: legal observers needed", "message":
            "Come to the Tacoma NWDC now.", "link": "/legal", "states": ["WA"],
            "urgent": "on", "expires": "4", "action": "send"}
    data.update(extra)
    return data


def test_two_person_rule_for_alerts_and_urgent_reaches_urgent_subscribers(make_client, push):
    client, _ = make_client(organizers=("ana", "ben"))
    urgent = subscribe(client, push, ["urgent"])
    ny = subscribe(client, push, ["state:NY"])
    csrf = sign_in(client, "ana")
    res = client.post("/admin/alerts/new", data=alert_form(csrf), follow_redirects=False)
    alert_url = res.headers["location"].split("?")[0]
    time.sleep(0.5)
    assert push.messages == [] and sum(push.attempts.values()) == 0
    assert client.post(alert_url + "/approve", data={"csrf": csrf}).status_code == 403
    time.sleep(0.3)
    assert push.messages == []
    switch_to(client, "ben")
    client.post(alert_url + "/approve",
                data=hidden_fields(client.get(alert_url).text, alert_url + "/approve"))
    message = push.wait_for(1)[0]
    assert message.sub_id == urgent.id
    note = message.json()["notification"]
    assert (note["title"], note["body"]) == ("Urgent: legal observers needed",
                                             "Come to the Tacoma NWDC now.")
    assert note["navigate"].endswith("/legal") and note["requireInteraction"] is True
    assert message.json()["urgent"] is True and message.json()["web_push"] == 8030
    assert message.headers["Urgency"] == "high"
    assert int(message.headers["TTL"]) <= 4 * 3600
    time.sleep(0.3)
    assert not push.messages_for(ny)
    detail = client.get(alert_url).text
    assert "sent: 1" in detail


def test_correction_and_retraction_replace_the_alert(make_client, push):
    client, _ = make_client()
    sub = subscribe(client, push, ["all"])
    csrf = sign_in(client, "ana")
    res = client.post("/admin/alerts/new", data=alert_form(csrf, urgent="", states=["ALL"]),
                      follow_redirects=False)
    alert_url = res.headers["location"].split("?")[0]
    first = push.wait_for(1)[0]
    client.post(alert_url + "/correct", data={"csrf": csrf, "title": "Observers needed at 6 pm",
                                              "message": "Corrected time: 6 pm.", "link": ""})
    second = push.wait_for(2)[1]
    client.post(alert_url + "/retract", data={"csrf": csrf})
    third = push.wait_for(3)[2]
    tags = {m.json()["notification"]["tag"] for m in (first, second, third)}
    assert len(tags) == 1, "same tag: each version replaces the last on the phone"
    topics = {m.headers["Topic"] for m in (first, second, third)}
    assert len(topics) == 1
    assert "Observers needed at 6 pm" in second.json()["notification"]["title"]
    assert third.json()["notification"]["title"].startswith("Withdrawn")
    assert all(m.sub_id == sub.id for m in (first, second, third))
    feed = client.get("/feed.atom").text
    assert feed.count("Observers needed at 6 pm") == 1 and "Retracted:" in feed
    assert "legal observers needed" not in feed.lower()


def test_bad_alert_keeps_what_was_typed(make_client, push):
    client, _ = make_client()
    csrf = sign_in(client, "ana")
    res = client.post("/admin/alerts/new", data={
        "csrf": csrf, "title": "Keep me", "message": "", "link": "https://evil.example/trap",
        "action": "send"})
    assert res.status_code == 400
    assert 'value="Keep me"' in res.text
    for field in ("message", "link", "states"):
        assert f'id="e-{field}"' in res.text
    assert "evil.example/trap" in res.text  # kept, to fix
    time.sleep(0.2)
    assert sum(push.attempts.values()) == 0


def test_preview_sends_nothing(make_client, push):
    client, settings = make_client()
    subscribe(client, push, ["all"])
    csrf = sign_in(client, "ana")
    res = client.post("/admin/alerts/new", data=alert_form(csrf, action="preview"))
    assert "Preview, as the notification will look" in res.text
    time.sleep(0.3)
    assert push.messages == []
    conn = dbtools.connect(settings.db_path)
    assert conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 0


def test_audit_log_records_each_action(make_client, push):
    client, settings = make_client()
    csrf = sign_in(client, "ana")
    res = client.post("/admin/listings/new", data={"csrf": csrf, **LISTING},
                      follow_redirects=False)
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    client.post(f"/admin/listings/{slug}/edit", data={"csrf": csrf, **LISTING,
                                                      "title": "Renamed vigil"})
    client.post(f"/admin/listings/{slug}/verify", data={"csrf": csrf})
    client.post(f"/admin/listings/{slug}/end", data={"csrf": csrf, "confirm": "yes"})
    client.post(f"/admin/listings/{slug}/delete", data={"csrf": csrf, "confirm": "yes"})
    conn = dbtools.connect(settings.db_path)
    actions = [r[0] for r in conn.execute(
        "SELECT action FROM audit WHERE entity = 'listing' ORDER BY id")]
    assert actions == ["create", "publish", "edit", "mark-verified", "end", "delete"]
    before, after = conn.execute(
        "SELECT before, after FROM audit WHERE action = 'edit'").fetchone()
    assert "Nightly vigil at NWDC" in before and "Renamed vigil" in after
    assert all(r[0] == "ana" for r in conn.execute("SELECT organizer FROM audit"))


def test_dated_vigil_disappears_after_it_ends(make_client, push):
    client, settings = make_client()
    csrf = sign_in(client, "ana")
    client.post("/admin/listings/new", data={
        "csrf": csrf, **LISTING, "title": "Short vigil", "starts": "2020-01-01T20:00",
        "ends": "2020-01-01T22:00"})
    home = client.get("/").text
    current = "".join(re.findall(r'<section class="phase".*?</section>', home, re.S))
    assert "Short vigil" not in current
    assert "Short vigil" in home.split('id="archive-h"')[1]


@pytest.mark.parametrize("payload", XSS)
def test_xss_in_organizer_fields_is_inert(make_client, push, payload):
    client, _ = make_client()
    csrf = sign_in(client, "ana")
    res = client.post("/admin/listings/new", data={
        "csrf": csrf, **{k: v for k, v in LISTING.items()}, "title": f"T {payload}",
        "address": payload, "city": f"C {payload}", "description": payload,
        "description_es": payload, "needs": payload, "links": f"{payload} | https://ok.example",
        "source": payload}, follow_redirects=False)
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    client.post("/admin/alerts/new", data=alert_form(csrf, title=f"A {payload}",
                                                     message=payload, urgent=""))
    for url in ("/", f"/listings/{slug}", f"/es/listings/{slug}", f"/admin/listings/{slug}/edit",
                "/admin/listings", "/admin/alerts", "/admin/alerts/1", "/admin/audit",
                "/search?q=vigil", "/feed.atom", "/api/v1/listings"):
        body = client.get(url).text
        assert "<script>alert(1)" not in body, url
        assert "<img src=x" not in body, url
        assert 'href="javascript:' not in body, url


def test_an_alert_with_only_spanish_text_is_refused_naming_the_missing_field(make_client, push):
    client, _ = make_client()
    csrf = sign_in(client, "ana")
    res = client.post("/admin/alerts/new", data=alert_form(
        csrf, title="", message="", title_es="Se necesitan observadores",
        message_es="Venga al NWDC de Tacoma ahora."))
    assert res.status_code == 400
    assert "Title is required: every alert needs its English text" in res.text
    assert "Message is required" in res.text
    assert 'value="Se necesitan observadores"' in res.text  # nothing typed is lost
    res = client.post("/admin/alerts/new", data=alert_form(csrf, title_es="Solo el título"))
    assert res.status_code == 400 and "Spanish message is required with a Spanish title" in res.text
    res = client.get("/admin/alerts")
    assert "Se necesitan" not in res.text
    assert push.messages == []


def test_preview_shows_both_languages_and_spanish_subscribers_get_spanish(make_client, push):
    client, _ = make_client()
    english = subscribe(client, push, ["urgent"])
    spanish = subscribe(client, push, ["urgent"], lang="es")
    csrf = sign_in(client, "ana")
    spanish_fields = {"title_es": "Urgente: se necesitan observadores legales",
                      "message_es": "Venga al NWDC de Tacoma ahora."}
    res = client.post("/admin/alerts/new",
                      data=alert_form(csrf, action="preview", **spanish_fields))
    assert res.status_code == 200
    assert "Urgent: legal observers needed" in res.text
    assert "Urgente: se necesitan observadores legales" in res.text
    assert push.messages == []
    client.post("/admin/alerts/new", data=alert_form(csrf, **spanish_fields))
    push.wait_for(2)
    (en,) = push.messages_for(english)
    (es,) = push.messages_for(spanish)
    assert en.json()["notification"]["title"] == "Urgent: legal observers needed"
    assert es.json()["notification"]["title"] == "Urgente: se necesitan observadores legales"
    assert es.json()["notification"]["body"] == "Venga al NWDC de Tacoma ahora."
    assert es.json()["notification"]["lang"] == "es"
    assert es.json()["notification"]["navigate"].endswith("/es/legal")


def preview_section(page: str) -> str:
    section = re.search(r'<section[^>]*aria-labelledby="preview-h".*?</section>', page, re.S)
    assert section, "no preview"
    return section.group(0)


def test_the_preview_says_in_words_where_a_tap_opens(make_client, push):
    client, _ = make_client()
    csrf = sign_in(client, "ana")
    res = client.post("/admin/listings/new", data={"csrf": csrf, **LISTING},
                      follow_redirects=False)
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)

    def preview(**extra) -> str:
        res = client.post("/admin/alerts/new",
                          data=alert_form(csrf, action="preview", **{"link": "", **extra}))
        assert res.status_code == 200, res.text
        return preview_section(res.text)

    home = preview()
    assert "Opens: the home page" in home
    assert "Opens /" not in home and "http://testserver" not in home
    # A Spanish phone shows the English text when there is no Spanish: the preview says so
    # and shows it, marked as English.
    assert home.count("Urgent: legal observers needed") == 2
    assert "Opens: Legal help" in preview(page="/legal")
    assert "Opens: Nightly vigil at NWDC" in preview(page=f"/listings/{slug}")
    assert "Opens: Nightly vigil at NWDC" in preview(link=f"http://testserver/listings/{slug}")
    assert "Opens: Occupy ICE PDX" in preview(link="/listings/portland-or-macadam")
    assert "Opens: Alerts" in preview(link="/alerts")
    assert "Opens: the vigils in Oregon" in preview(link="/?state=OR")
    assert "Opens: a page of Vigil" in preview(link="/no-such-page")
    assert "Opens: a listing Vigil does not have" in preview(link="/listings/no-such-vigil")
    client.post("/admin/alerts/new", data=alert_form(csrf))
    page = client.get("/admin/alerts/1").text
    assert "Opens: Legal help" in page and "Opens /" not in page

    client.get("/admin/language?to=es&next=/admin/alerts/new")
    spanish = preview(page=f"/listings/{slug}")
    assert "Abre: Nightly vigil at NWDC" in spanish
    assert "Abre: la página de inicio" in preview()
    assert "Abre: las vigilias en Oregón" in preview(link="/?state=OR")
    assert "Opens" not in preview() and "Opens" not in client.get("/admin/alerts/1").text


def test_the_spanish_alert_form_explains_its_errors_in_spanish(make_client, push):
    client, _ = make_client()
    csrf = sign_in(client, "ana")
    client.get("/admin/language?to=es&next=/admin/alerts/new")
    res = client.post("/admin/alerts/new", data=alert_form(
        csrf, title="", message="", title_es="Se necesitan observadores", message_es="",
        link="https://evil.example/", states=[], expires="5"))
    assert res.status_code == 400
    errors = re.findall(r'<span class="error" id="e-(\w+)">([^<]*)</span>', res.text)
    assert {name for name, _ in errors} == {"title", "message", "message_es", "link", "states",
                                            "expires"}
    for name, text in errors:
        assert not re.search(r"\b(the|is|required|choose|only|with)\b", text, re.I), (name, text)
    res = client.post("/admin/alerts/new", data=alert_form(csrf, title="x" * 121))
    assert "120" in res.text and "characters" not in res.text
    client.post("/admin/alerts/new", data=alert_form(csrf, link=""))
    res = client.post("/admin/alerts/1/correct", data={"csrf": csrf, "title": "", "message": "",
                                                       "link": ""})
    assert res.status_code == 400
    errors = re.findall(r'<span class="error" id="e-(\w+)">([^<]*)</span>', res.text)
    assert {name for name, _ in errors} == {"title", "message"}
    assert all("required" not in text for _, text in errors)
    # Said at the top too: the correction form is far down the alert's page.
    assert re.search(r'<p class="notice" role="status">No se envió nada', res.text)


def test_the_alert_page_tells_the_expiry_in_words_without_javascript(make_client, push):
    client, _ = make_client()
    csrf = sign_in(client, "ana")
    client.post("/admin/alerts/new", data=alert_form(csrf, states=["WA", "OR"], expires="4"))
    page = client.get("/admin/alerts/1").text
    # Told in the states' own time zone; the phone's script puts it in the reader's.
    when = re.search(r"Expires: <time datetime=\"([^\"]+)\"[^>]*>([^<]+)</time>", page)
    assert when, page
    assert re.fullmatch(r"(Today|Tonight|Tomorrow), \d{1,2}(:\d\d)?[\s\u202f][AP]M \(Pacific\)",
                        when.group(2)), when.group(2)
    assert "UTC" not in page and when.group(1)[:10] not in re.sub(r"<[^>]+>", "", page)
    client.post("/admin/alerts/new", data=alert_form(csrf, states=["ALL"], expires="168"))
    client.get("/admin/language?to=es&next=/admin/")
    page = client.get("/admin/alerts/2").text
    when = re.search(r"Vence: <time[^>]*>([^<]+)</time>", page)
    assert when and when.group(1).endswith("(hora oriental)"), page


def english_in(page: str) -> list[str]:
    """Interface English in a page's main part, outside what it marks as English (the
    in-process twin of the browser tests' detector, for pages a second organizer sees)."""
    import html

    from tests.test_phone_browser import english_interface_strings

    whole, fragments = english_interface_strings()
    main = re.search(r"<main.*?</main>", page, re.S).group(0)
    main = re.sub(r'<(div|p|span)[^>]*lang="en".*?</\1>', " ", main, flags=re.S)
    chunks = [html.unescape(c).strip(" .,:;()·\n") for c in re.split(r"<[^>]+>", main)]
    text = re.sub(r"\s+", " ", " ".join(chunks))
    return sorted({c for c in chunks if c in whole} | {f for f in fragments if f in text})


def test_spanish_alert_pages_for_a_second_organizer_show_no_english(make_client, push):
    client, _ = make_client(organizers=("ana", "ben"))
    csrf = sign_in(client, "ana")
    client.get("/admin/language?to=es&next=/admin/")
    # The check sees English where it is, or it proves nothing.
    client.get("/admin/language?to=en&next=/admin/")
    client.post("/admin/alerts/new", data=alert_form(csrf))
    assert len(english_in(client.get("/admin/alerts/1").text)) > 3
    client.get("/admin/language?to=es&next=/admin/")
    pages = {"author, waiting": client.get("/admin/alerts/1").text}
    csrf = switch_to(client, "ben")
    client.get("/admin/language?to=es&next=/admin/")
    pages["approver, waiting"] = client.get("/admin/alerts/1").text
    approval = hidden_fields(pages["approver, waiting"], "/admin/alerts/1/approve")
    approved = client.post("/admin/alerts/1/approve", data=approval)
    pages["approved"] = approved.text
    assert "Aprobada y enviada." in approved.text
    stale = client.post("/admin/alerts/1/approve", data={**approval, "csrf": csrf})
    pages["approved twice"] = stale.text
    client.post("/admin/alerts/1/correct", data={"csrf": csrf, "title": "Observers at 6 pm",
                                                 "message": "Now at 6 pm.", "link": ""})
    pages["correction waiting"] = client.get("/admin/alerts/1").text
    client.post("/admin/alerts/1/retract", data={"csrf": csrf})
    pages["taken down"] = client.get("/admin/alerts/1").text
    refused = client.post("/admin/alerts/1/confirm-retraction", data={"csrf": csrf})
    pages["confirm refused"] = refused.text
    english = {name: found for name, page in pages.items() if (found := english_in(page))}
    assert not english, english


def test_a_correction_chooses_its_page_from_the_picker(make_client, push):
    client, settings = make_client()
    csrf = sign_in(client, "ana")
    client.post("/admin/alerts/new", data=alert_form(csrf))
    page = client.get("/admin/alerts/1").text
    # The page the alert opens shows in the picker, not typed under Link, so that choosing
    # another one is not overruled by the old address.
    assert re.search(r'<option value="/legal" selected>', page)
    assert 'id="f-link" name="link" type="text" value=""' in page
    client.post("/admin/alerts/1/correct", data={"csrf": csrf, "title": "Observers at 6 pm",
                                                 "message": "Now at 6 pm.", "link": "",
                                                 "page": "/rights"})
    conn = dbtools.connect(settings.db_path)
    assert conn.execute("SELECT url, revision FROM alerts").fetchone() == ("/rights", 2)
    assert "Opens: Know your rights" in client.get("/admin/alerts/1").text


def test_a_refused_alert_approval_names_the_fields_in_the_organizers_language(make_client, push):
    client, _ = make_client(organizers=("ana", "ben"))
    csrf = sign_in(client, "ana")
    client.post("/admin/alerts/new", data=alert_form(csrf))
    csrf = switch_to(client, "ben")
    client.get("/admin/language?to=es&next=/admin/")
    # An approval that names no version: every field it should have named is listed.
    res = client.post("/admin/alerts/1/approve", data={"csrf": csrf})
    assert res.status_code == 409
    table = re.search(r'<section[^>]*aria-labelledby="changed-h".*?</section>', res.text, re.S)
    fields = re.findall(r"<tr><td>([^<]+)</td>", table.group(0))
    assert "Título" in fields and "Mensaje" in fields and "Enlace" in fields, fields
    assert not {"title", "body", "url", "states", "status", "author"} & set(fields), fields
    assert not english_in(res.text), english_in(res.text)
