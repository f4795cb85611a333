"""Alert kinds: a phrase translated ahead of time into every language, filled in with the
organizer's place and time, in each subscriber's and each page's language; the organizer's
own words follow in English and Spanish. A free-form alert works as before."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from server.i18n import LANGUAGES
from server.push import messages
from tests import dbtools
from tests.admin_support import hidden_fields, sign_in, sql
from tests.test_organizers import make_client, push, subscribe  # noqa: F401 (fixtures)

PACIFIC_TONIGHT = "2026-11-29T20:00:00-08:00"
NOON_IN_PORTLAND = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


def plain(text: str) -> str:
    return re.sub(r"[\u00a0\u202f]", " ", str(text))


def kind_form(csrf: str, **extra) -> dict:
    data = {"csrf": csrf, "kind": "urgent", "place": "the ICE office, 4310 SW Macadam Ave",
            "title": "", "message": "Bring water.", "message_es": "", "link": "",
            "states": ["OR"], "expires": "4", "action": "send"}
    data.update(extra)
    return data


def test_a_subscriber_gets_the_kind_in_their_language(make_client, push):  # noqa: F811
    client, settings = make_client()
    english = subscribe(client, push, ["state:OR"])
    spanish = subscribe(client, push, ["state:OR"], lang="es")
    csrf = sign_in(client, "ana")
    res = client.post("/admin/alerts/new", data=kind_form(csrf), follow_redirects=False)
    assert res.status_code == 303, res.text
    push.wait_for(2)
    en = push.messages_for(english)[0].json()
    es = push.messages_for(spanish)[0].json()
    place = "the ICE office, 4310 SW Macadam Ave"
    assert en["notification"]["title"] == f"Urgent: come to {place} now"
    assert es["notification"]["title"] == f"Urgente: venga ahora a {place}"
    assert es["notification"]["lang"] == "es"
    # The organizer's English words follow the phrase; the kind made it an urgent call.
    assert en["notification"]["body"] == es["notification"]["body"] == "Bring water."
    assert en["urgent"] is es["urgent"] is True
    kind, stored_place, urgent = sql(settings, "SELECT kind, place, urgent FROM alerts")[0]
    assert (kind, stored_place, urgent) == ("urgent", place, 1)


def test_the_pages_and_the_feed_tell_the_kind_in_their_language(make_client, push):  # noqa: F811
    client, _ = make_client()
    csrf = sign_in(client, "ana")
    client.post("/admin/alerts/new", data=kind_form(
        csrf, kind="new_vigil", place="Portland ICE office", at="2030-07-04T19:00",
        message="Candles.", message_es="Velas.", urgent="", expires="24"))
    english, spanish = client.get("/alerts").text, client.get("/es/alerts").text
    assert "New vigil: Portland ICE office, Thursday, July 4, 7 PM (Pacific)" in plain(english)
    assert re.search(r'<h3 id="alert-\d+-h">Nueva vigilia: Portland ICE office, '
                     r"Jueves 4 de julio, 7:00 p. m. \(hora del Pacífico\)</h3>", plain(spanish))
    assert "Candles." in english and "Velas." in spanish and "Candles." not in spanish
    # The home page's banner and the feed carry it too.
    assert "Nueva vigilia: Portland ICE office" in client.get("/es/").text
    assert "New vigil: Portland ICE office" in client.get("/feed.atom").text


def test_spanish_words_are_optional_and_marked_when_missing(make_client, push):  # noqa: F811
    client, _ = make_client()
    csrf = sign_in(client, "ana")
    client.post("/admin/alerts/new", data=kind_form(csrf, kind="all_clear",
                                                   place="Tacoma NWDC", urgent=""))
    page = client.get("/es/alerts").text
    # The phrase is in Spanish; the organizer's English words say they are English.
    assert re.search(r'<h3 id="alert-\d+-h">Fin de la alerta: Tacoma NWDC</h3>', page)
    assert '<p class="alert-body" lang="en">Bring water.</p>' in page


def test_a_kind_needs_its_place_and_time_and_keeps_what_was_typed(make_client, push):  # noqa: F811
    client, settings = make_client()
    csrf = sign_in(client, "ana")
    res = client.post("/admin/alerts/new", data=kind_form(
        csrf, kind="cancelled", place="", at="", title="Typed title", message="Typed words."))
    assert res.status_code == 400
    for field in ("place", "at", "title"):
        assert f'id="e-{field}"' in res.text, field
    assert "Typed words." in res.text and "Typed title" in res.text
    assert sql(settings, "SELECT COUNT(*) FROM alerts") == [(0,)]


def test_a_free_form_alert_works_as_before(make_client, push):  # noqa: F811
    client, settings = make_client()
    sub = subscribe(client, push, ["state:OR"], lang="es")
    csrf = sign_in(client, "ana")
    client.post("/admin/alerts/new", data={
        "csrf": csrf, "title": "Observers needed", "message": "Bring a phone.",
        "title_es": "Se necesitan observadores", "message_es": "Traiga un teléfono.",
        "link": "", "states": ["OR"], "expires": "24", "action": "send"})
    note = push.wait_for(1)[0].json()["notification"]
    assert (note["title"], note["body"]) == ("Se necesitan observadores", "Traiga un teléfono.")
    assert push.messages_for(sub)
    assert sql(settings, "SELECT kind FROM alerts") == [(None,)]


def test_every_language_gets_the_phrase_or_english(monkeypatch):
    """A language added to the catalog list gets the kind in its own words with no code
    change; one whose catalog lacks the phrase gets English, and the organizers' words after
    a lead-in."""
    alert = {"id": 7, "kind": "new_vigil", "place": "Portland ICE office",
             "at": PACIFIC_TONIGHT, "tz": "America/Los_Angeles", "title": "x",
             "body": "Candles.", "body_es": "Velas.", "states": ["OR"], "urgent": 0}
    monkeypatch.setattr(messages, "LANGUAGES", (*LANGUAGES, "de"))
    message = messages.alert_message(alert, "https://vigil.example", now=NOON_IN_PORTLAND)
    titles = {lang: plain(message.payload_for(lang)["notification"]["title"])
              for lang in (*LANGUAGES, "de")}
    assert titles["en"] == "New vigil: Portland ICE office, Tonight, 8 PM (Pacific)"
    assert titles["es"] == "Nueva vigilia: Portland ICE office, Hoy, 8:00 p. m. (hora del Pacífico)"
    # No German catalog: the phrase, its time included, in English.
    assert titles["de"] == titles["en"]
    german = message.payload_for("de")["notification"]
    assert german["lang"] == "de" and german["navigate"].startswith("https://vigil.example/de/")
    assert german["body"] == "More details in English and Spanish:\nCandles.\n\nVelas."
    # The site's own catalogs have it: French from Vigil's French catalog.
    assert titles["fr"].startswith("Nouvelle veillée : Portland ICE office, Ce soir, 20:00")
    # A catalog that has the phrase is used, whatever the language.
    monkeypatch.setattr(messages, "_catalog", lambda lang: FakeFrench()
                        if lang == "fr" else messages.load_translations(lang))
    messages.translator.cache_clear()
    try:
        words = messages.alert_words(alert, "fr", NOON_IN_PORTLAND)
    finally:
        messages.translator.cache_clear()
    assert words.title.startswith("Nouvelle veillée : Portland ICE office, ")
    assert (words.title_lang, words.lead) == ("fr", "Plus de détails en anglais et en espagnol :")
    assert words.details == (("en", "Candles."), ("es", "Velas."))


class FakeFrench:
    """A catalog with two of the phrases, as a translator would add them."""

    WORDS = {"New vigil: %(place)s, %(time)s": "Nouvelle veillée : %(place)s, %(time)s",
             "More details in English and Spanish:": "Plus de détails en anglais et en espagnol :"}

    def gettext(self, message: str) -> str:
        return self.WORDS.get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return singular if n == 1 else plural

    def pgettext(self, context: str, message: str) -> str:
        return message


def test_payloads_in_every_language_are_stored_and_sent(make_client, push, monkeypatch):  # noqa: F811
    """The outbox keeps each language's payload and the sender gives each subscriber theirs."""
    monkeypatch.setattr(messages, "LANGUAGES", (*LANGUAGES, "fr"))
    client, settings = make_client()
    sub = subscribe(client, push, ["state:OR"])
    sql_update = "UPDATE subscriptions SET lang = 'fr'"

    conn = dbtools.connect(settings.db_path)
    conn.execute(sql_update)
    conn.commit()
    conn.close()
    csrf = sign_in(client, "ana")
    client.post("/admin/alerts/new", data=kind_form(csrf, kind="rapid_response",
                                                   place="Tacoma NWDC"))
    note = push.wait_for(1)[0].json()["notification"]
    assert note["lang"] == "fr" and note["title"] == "Mobilisation rapide demandée : Tacoma NWDC"
    assert push.messages_for(sub)
    stored = json.loads(sql(settings, "SELECT payloads FROM push_messages")[0][0])
    # Every language whose words differ from English is kept, French among them.
    assert "fr" in stored and set(stored) <= set(LANGUAGES) - {"en"}


def test_the_approval_binds_the_place_and_time(pair):
    """A kind's place and time are public like its title: changed after the approver
    opened it, the approval is refused and names what changed."""
    settings, ana, ben = pair
    csrf = sign_in(ana, "ana")
    res = ana.post("/admin/alerts/new", data=kind_form(
        csrf, kind="new_vigil", place="Portland ICE office", at="2030-07-04T19:00"),
        follow_redirects=False)
    alert = res.headers["location"].split("?")[0]
    sign_in(ben, "ben")
    approval = hidden_fields(ben.get(alert).text, alert + "/approve")

    conn = dbtools.connect(settings.db_path)
    conn.execute("UPDATE alerts SET place = 'a trap'")
    conn.commit()
    conn.close()
    refused = ben.post(alert + "/approve", data=approval)
    assert refused.status_code == 409
    assert "Place" in refused.text and "a trap" in refused.text
    assert sql(settings, "SELECT status FROM alerts") == [("pending",)]
    assert sql(settings, "SELECT COUNT(*) FROM push_messages") == [(0,)]


@pytest.mark.parametrize("kind", ["all_clear", "cancelled", "new_vigil", "rapid_response",
                                  "urgent"])
def test_every_kind_is_in_spanish(kind):
    assert sorted(messages.ALERT_KINDS) == ["all_clear", "cancelled", "new_vigil",
                                            "rapid_response", "urgent"]
    alert = {"kind": kind, "place": "X", "at": PACIFIC_TONIGHT, "tz": "America/Los_Angeles"}
    title, lang = messages.kind_title(alert, "es", NOON_IN_PORTLAND)
    assert lang == "es" and title != messages.kind_title(alert, "en", NOON_IN_PORTLAND)[0]


def test_organizer_pages_name_an_alert_of_a_kind_in_their_language(make_client, push):  # noqa: F811
    client, _ = make_client()
    csrf = sign_in(client, "ana")
    client.post("/admin/alerts/new", data=kind_form(csrf, place="Tacoma NWDC"))
    client.get("/admin/language?to=es&next=/admin/")
    for page in ("/admin/audit", "/admin/alerts", "/admin/alerts/1"):
        text = client.get(page).text
        assert "Urgente: venga ahora a Tacoma NWDC" in text, page
        # The alert's own page also shows it as English phones will, marked English.
        if page != "/admin/alerts/1":
            assert "Urgent: come to Tacoma NWDC now" not in text.split("<pre>")[0], page


def test_a_correction_changes_the_place_in_every_language(make_client, push):  # noqa: F811
    client, settings = make_client()
    sub = subscribe(client, push, ["state:OR"], lang="es")
    csrf = sign_in(client, "ana")
    client.post("/admin/alerts/new", data=kind_form(csrf, place="Tacoma NWDC"))
    push.wait_for(1)
    page = client.get("/admin/alerts/1").text
    # The correction form starts as the alert stands: its kind and place, no title.
    assert 'name="kind" value="urgent" checked' in page and 'value="Tacoma NWDC"' in page
    client.post("/admin/alerts/1/correct", data={
        "csrf": csrf, "kind": "urgent", "place": "Tacoma courthouse", "title": "",
        "message": "Bring water.", "message_es": "", "link": ""})
    note = push.wait_for(2)[1].json()["notification"]
    assert note["title"] == "Actualización: Urgente: venga ahora a Tacoma courthouse"
    assert push.messages_for(sub)
    assert sql(settings, "SELECT place, revision FROM alerts") == [("Tacoma courthouse", 2)]
