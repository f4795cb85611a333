"""An alert on the home page, a state's view or a listing: one tap opens it, it names its
states, a phone number in it dials, and its end is told on the clock of the place it is
about (the page is served the same to everyone and works without JavaScript). Phone numbers
in a listing's text dial too; dates, ZIP codes, years and addresses stay text."""

from __future__ import annotations

import html
import re

import pytest

from server.public_contact import link_phones
from tests import dbtools
from tests.test_alerts import banner, send_alert
from tests.test_organizers import make_client as make_client  # noqa: F401 (a fixture)
from tests.test_organizers import push as push  # noqa: F401 (a fixture)

SAN_ANTONIO = "/listings/san-antonio-tx"
TEL = '<a href="tel:+12105550143">210-555-0143</a>'


@pytest.mark.parametrize(("text", "number", "tel"), [
    ("Lawyers: 210-555-0143.", "210-555-0143", "tel:+12105550143"),
    ("Call (210) 555-0143 now", "(210) 555-0143", "tel:+12105550143"),
    ("or (503)555-0100,", "(503)555-0100", "tel:+15035550100"),
    ("Hotline 1-800-555-0199", "1-800-555-0199", "tel:+18005550199"),
    ("+1 210 555 0143 (Spanish)", "+1 210 555 0143", "tel:+12105550143"),
    ("text 210.555.0143!", "210.555.0143", "tel:+12105550143"),
])
def test_a_us_phone_number_in_text_dials(text, number, tel):
    assert f'<a href="{tel}">{number}</a>' in str(link_phones(text))


@pytest.mark.parametrize("text", [
    "Saturday 2026-12-06 at 7 PM", "12/06/2026", "ZIP 97239-1234", "San Antonio, TX 78219",
    "2018-2026", "1998 - 2026", "3523 Crosspoint Rd", "4310 SW Macadam Ave, Suite 200",
    "2105550143", "555-0143", "A-201-555-0143", "Case 2:25-cv-01234", "8:00-9:30 PM",
    "192.168.100.200", "45.4902, -122.6700", "+44 20 7946 0958", "210-555-0143x12",
    "Rooms 210-555 and 300",
])
def test_dates_zip_codes_years_addresses_and_other_numbers_stay_text(text):
    assert str(link_phones(text)) == html.escape(text, quote=False)


def test_text_around_a_number_is_escaped():
    assert str(link_phones("<b>210-555-0143</b> & co")) == f"&lt;b&gt;{TEL}&lt;/b&gt; &amp; co"


def cards(page: str) -> list[str]:
    return re.findall(r'<article class="alert-card[^"]*" data-alert="\d+">.*?</article>',
                      banner(page), re.S) if banner(page) else []


def test_an_alert_on_the_home_page_a_state_and_a_listing_opens_names_its_state_and_dials(
        make_client):  # noqa: F811
    client, _ = make_client()
    send_alert(client, title="Rapid response", message="Lawyers: 210-555-0143. Gate 2026-12-06.",
               title_es="Respuesta rápida", message_es="Abogados: 210-555-0143.", states=["TX"])
    client.cookies.clear()
    alert_id = re.search(r'id="alert-(\d+)"', client.get("/alerts").text).group(1)
    for path, alerts in (("/", "/alerts"), ("/?state=TX", "/alerts"), (SAN_ANTONIO, "/alerts"),
                         ("/es/", "/es/alerts"), ("/es" + SAN_ANTONIO, "/es/alerts")):
        page = client.get(path).text
        (card,) = cards(page)
        assert f'<a class="alert-link" href="{alerts}#alert-{alert_id}">' in card, path
        assert '<span class="tag">Texas</span>' in card, path
        assert TEL in card, path
        assert "Gate 2026-12-06." in card or path.startswith("/es"), path
    # The Alerts page's own card names the state and dials too.
    page = client.get("/alerts").text
    assert f'id="alert-{alert_id}"' in page
    current = page.split('id="current-h"')[1].split('id="alerts-h"')[0]
    assert '<span class="tag">Texas</span>' in current and TEL in current


def test_an_alert_for_every_state_says_so(make_client):  # noqa: F811
    client, _ = make_client()
    send_alert(client, states=["ALL"])
    client.cookies.clear()
    assert '<span class="tag">All states</span>' in cards(client.get("/").text)[0]
    assert '<span class="tag">Todos los estados</span>' in cards(client.get("/es/").text)[0]


def until(page: str) -> str:
    found = re.search(r'until <time datetime="[^"]+" data-clock>([^<]+)</time>', page) or \
        re.search(r'válida hasta <time datetime="[^"]+" data-clock>([^<]+)</time>', page)
    assert found
    return found.group(1).replace("\u202f", " ").replace("\u00a0", " ")


def test_without_javascript_an_alert_ends_on_the_clock_of_its_place(make_client):  # noqa: F811
    client, _ = make_client()
    send_alert(client, states=["TX"])
    client.cookies.clear()
    for path in ("/", "/alerts", SAN_ANTONIO):
        assert re.fullmatch(r"(\w+ )?\d\d?(:\d\d)? [AP]M \(Central\)", until(client.get(path).text))
    assert re.fullmatch(r"(\w+ )?\d\d?:\d\d [ap]\. m\. \(hora central\)",
                        until(client.get("/es/alerts").text))
    assert "UTC" not in client.get("/alerts").text


def test_an_alert_for_several_zones_names_the_first_and_last_clock(make_client):  # noqa: F811
    client, _ = make_client()
    send_alert(client, states=["NY", "TX", "CA"])
    client.cookies.clear()
    assert re.fullmatch(r"(\w+ )?\d\d?(:\d\d)? [AP]M \(Eastern\) / (\w+ )?\d\d?(:\d\d)? [AP]M "
                        r"\(Pacific\)", until(client.get("/alerts").text))
    # On Texas's own pages, Texas's clock.
    assert until(client.get(SAN_ANTONIO).text).endswith("(Central)")


def test_a_phone_number_in_a_listing_dials(make_client):  # noqa: F811
    client, settings = make_client()
    conn = dbtools.connect(settings.db_path)
    conn.execute("UPDATE listings SET description_en = ?, needs = ? WHERE slug = 'san-antonio-tx'",
                 ("Lawyers: 210-555-0143. Meet at 3523 Crosspoint Rd, 78219, on 2026-12-06.",
                  '[{"en": "Drivers: call (210) 555-0100", "es": "Conductores: (210) 555-0100"}]'))
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
    conn.commit()
    conn.close()
    page = client.get(SAN_ANTONIO).text
    description = re.search(r'<div class="p-description">(.*?)</div>', page, re.S).group(1)
    assert TEL in description
    assert "3523 Crosspoint Rd, 78219, on 2026-12-06." in description
    assert 'href="tel:+12105550100">(210) 555-0100</a>' in page
    assert 'href="tel:+12105550100">(210) 555-0100</a>' in client.get("/es" + SAN_ANTONIO).text
