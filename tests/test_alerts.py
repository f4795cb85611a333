"""Alerts on the site, in-process: the Alerts page, the banners on the home page, a state's
view and its listings, both languages, retractions, corrections and expiry."""

from __future__ import annotations

import html
import re

from tests.admin_support import sign_in
from tests.test_organizers import alert_form
from tests.test_organizers import make_client as make_client  # noqa: F401 (a fixture)
from tests.test_organizers import push as push  # noqa: F401 (a fixture)

TACOMA = "/listings/tacoma-wa-northwest-detention-center"
PORTLAND = "/listings/portland-or-macadam"


def send_alert(client, **fields) -> tuple[str, str]:
    """Sign in as ana and send an alert; (its admin page, the session's CSRF token)."""
    csrf = sign_in(client, "ana")
    res = client.post("/admin/alerts/new", data=alert_form(csrf, **fields),
                      follow_redirects=False)
    assert res.status_code == 303, res.text
    return res.headers["location"].split("?")[0], csrf


def banner(page_html: str) -> str:
    found = re.search(r'<section class="alert-banner".*?</section>', page_html, re.S)
    return html.unescape(found.group(0)) if found else ""


def test_a_sent_alert_is_on_the_banners_and_the_alerts_page_in_both_languages(make_client):  # noqa: F811
    client, _ = make_client()
    assert banner(client.get("/").text) == ""
    assert "No current alerts." in client.get("/alerts").text
    send_alert(client, title_es="Urgente: se necesitan observadores legales",
               message_es="Venga al NWDC de Tacoma ahora.")
    for path in ("/", "/?state=WA", TACOMA):
        shown = banner(client.get(path).text)
        assert "Urgent: legal observers needed" in shown, path
        assert "Come to the Tacoma NWDC now." in shown and "Urgent" in shown
    for path in ("/es/", "/es/?state=WA", "/es" + TACOMA):
        shown = banner(client.get(path).text)
        assert "Urgente: se necesitan observadores legales" in shown, path
        assert "Venga al NWDC de Tacoma ahora." in shown and "legal observers" not in shown
    # An alert for Washington is not on Oregon's pages.
    assert banner(client.get("/?state=OR").text) == ""
    assert banner(client.get(PORTLAND).text) == ""
    page = html.unescape(client.get("/alerts").text)
    current = page.split('id="current-h"')[1].split('id="alerts-h"')[0]
    assert "Urgent: legal observers needed" in current
    assert re.search(r'Sent <time datetime="[^"]+" data-ago>[^<]+ago</time>', page)
    # Its end on the clock of the place it is about (Washington), naming the zone.
    assert re.search(r'until <time datetime="[^"]+" data-clock>(\w+ )?\d\d?(:\d\d)?\s[AP]M '
                     r'\(Pacific\)</time>', page)
    es = html.unescape(client.get("/es/alerts").text)
    assert "Urgente: se necesitan observadores legales" in es
    assert re.search(r'Enviada <time datetime="[^"]+" data-ago>hace [^<]+</time>', es)
    assert 'href="/es/legal"' in es


def test_english_text_on_spanish_pages_is_marked_as_such(make_client):  # noqa: F811
    client, _ = make_client()
    send_alert(client)
    es = client.get("/es/").text
    shown = banner(es)
    assert "En inglés" in shown
    assert re.search(r'<p class="alert-title" lang="en"><a class="alert-link" '
                     r'href="/es/alerts#alert-\d+"><strong>Urgent: legal observers', es)


def test_a_retraction_takes_the_alert_off_the_banners_and_marks_it(make_client):  # noqa: F811
    client, _ = make_client()
    alert_url, csrf = send_alert(client, states=["ALL"])
    assert "legal observers" in banner(client.get(PORTLAND).text)
    client.post(alert_url + "/retract", data={"csrf": csrf})
    for path in ("/", "/es/", PORTLAND, TACOMA):
        assert banner(client.get(path).text) == "", path
    page = html.unescape(client.get("/alerts").text)
    assert "No current alerts." in page
    recent = page.split('id="recent-h"')[1]
    assert "Retracted" in recent and "Organizers withdrew this alert. Disregard it." in recent
    assert "Come to the Tacoma NWDC now." not in recent
    assert "Retirada" in html.unescape(client.get("/es/alerts").text)


def test_a_correction_is_marked_and_an_expired_alert_is_only_recent(make_client):  # noqa: F811
    client, _settings = make_client()
    alert_url, csrf = send_alert(client)
    client.post(alert_url + "/correct", data={"csrf": csrf, "title": "Observers needed at 6 pm",
                                              "message": "Corrected time: 6 pm.", "link": ""})
    shown = banner(client.get("/").text)
    assert "Observers needed at 6 pm" in shown and "Corrected" in shown
    alert_id = alert_url.rsplit("/", 1)[1]

    async def expire() -> None:  # as a write of this process: seen by the next request
        await client.app.state.vigil.db.write(
            "UPDATE alerts SET expires = '2020-01-01T00:00:00+00:00' WHERE id = ?",
            (alert_id,), public=True)

    client.portal.call(expire)
    assert banner(client.get("/").text) == ""
    recent = html.unescape(client.get("/alerts").text).split('id="recent-h"')[1]
    assert "Observers needed at 6 pm" in recent and "Ended" in recent


def test_alert_text_is_escaped(make_client):  # noqa: F811
    client, _ = make_client()
    send_alert(client, title="<script>alert(1)</script>", message='"><img src=x onerror=1>')
    for path in ("/", "/alerts", "/es/alerts"):
        page = client.get(path).text
        assert "<script>alert(1)" not in page and "<img src=x" not in page


def test_every_page_links_to_alerts_and_listings_offer_their_state(make_client):  # noqa: F811
    client, _ = make_client()
    for path in ("/", "/legal", TACOMA, "/es/", "/es/rights"):
        nav = client.get(path).text.split('<nav class="tabs"')[1].split("</nav>")[0]
        assert 'href="/alerts"' in nav or 'href="/es/alerts"' in nav, path
    page = html.unescape(client.get(TACOMA).text)
    assert 'href="/alerts?state=WA#alerts">Get alerts for Washington</a>' in page
    es = html.unescape(client.get("/es" + PORTLAND).text)
    assert 'href="/es/alerts?state=OR#alerts">Recibir alertas de Oregón</a>' in es
    state_view = html.unescape(client.get("/?state=WA").text)
    assert 'href="/alerts?state=WA#alerts">Get alerts for Washington</a>' in state_view
    chosen = client.get("/alerts?state=WA").text
    assert '<option value="state:WA" selected>Washington</option>' in chosen
    assert "Get alerts for Washington" in chosen
    assert client.get("/alerts?state=ZZ").status_code == 200
