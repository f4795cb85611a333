"""Spanish public pages say in Spanish what Vigil itself wrote: a facility known only by
its address, and "Vigil organizers" as the source of what organizers published."""

from __future__ import annotations

import html
import re

from tests import dbtools
from tests.admin_support import create_organizer, sign_in
from tests.test_listing_where_when import LISTING


def text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_a_facility_known_by_its_address_is_named_in_the_pages_language(client):
    assert "Facility at 3523 Crosspoint Rd" in text(client.get("/facilities").text)
    for path in ("/es/facilities", "/es/listings/san-antonio-tx", "/es/search?q=crosspoint"):
        page = text(client.get(path).text)
        assert "Facility at" not in page, path
        assert "Instalación en 3523 Crosspoint Rd" in page, path
    assert "Instalación en 5524 W Cypress St" in text(client.get("/es/listings/tampa-fl").text)


def test_vigil_organizers_as_a_source_is_said_in_spanish(client, settings):
    create_organizer(settings, "ana")
    csrf = sign_in(client, "ana")
    res = client.post("/admin/listings/new", data={"csrf": csrf, **LISTING},
                      follow_redirects=False)
    slug = re.search(r"/admin/listings/([^/]+)/edit", res.headers["location"]).group(1)
    conn = dbtools.connect(settings.db_path)
    conn.execute("UPDATE contacts SET source = 'Vigil organizers' WHERE slug = "
                 "(SELECT slug FROM contacts ORDER BY slug LIMIT 1)")
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
    conn.commit()
    conn.close()
    client.cookies.clear()
    assert "Source: Vigil organizers" in text(client.get(f"/listings/{slug}").text)
    for path in (f"/es/listings/{slug}", "/es/legal"):
        page = text(client.get(path).text)
        assert "Fuente: Organizadores de Vigil" in page, path
        assert "Vigil organizers" not in page, path
