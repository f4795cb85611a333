"""Every public page in both languages, rendered in-process against the default data."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from starlette.routing import Route

from server import ROOT
from server.app import page_routes
from server.dataset import read_dataset

DATA = read_dataset(ROOT / "data")
LISTING_SLUGS = [r["slug"] for r in DATA["listing"]]
RIGHTS_SLUGS = sorted({r["slug"] for r in DATA["rights"]})
SPAM_MARKERS = ["adultcams", "cams at", "Jessamine", "chat rooms", "adult industry"]


def concrete_paths() -> list[str]:
    """Every public route from the router, with each slug filled in."""
    paths = []
    for route in page_routes():
        assert isinstance(route, Route)
        if route.name in ("manifest", "listing_ics") or "GET" not in (route.methods or {"GET"}):
            continue
        if "{slug" in route.path:
            slugs = LISTING_SLUGS if route.path.startswith("/listings") else RIGHTS_SLUGS
            paths += [re.sub(r"\{slug(:str)?\}", s, route.path) for s in slugs]
        else:
            paths.append(route.path)
    return paths


PATHS = concrete_paths()


def spanish(path: str) -> str:
    return "/es/" if path == "/" else "/es" + path


@pytest.mark.parametrize("path", PATHS)
def test_every_page_in_both_languages(client, path):
    for url, lang in ((path, "en"), (spanish(path), "es")):
        res = client.get(url)
        assert res.status_code == 200, url
        assert res.headers["content-type"].startswith("text/html")
        assert f'<html lang="{lang}">' in res.text
        assert 'hreflang="en"' in res.text and 'hreflang="es"' in res.text
        assert "set-cookie" not in res.headers
        assert res.headers["cache-control"] == "no-cache"
        for marker in SPAM_MARKERS:
            assert marker.lower() not in res.text.lower(), (url, marker)


def test_spanish_home_at_both_addresses(client):
    assert client.get("/es").text == client.get("/es/").text


def test_home_lists_every_listing_active_first(client):
    html = client.get("/").text
    for slug in LISTING_SLUGS:
        assert f'href="/listings/{slug}"' in html
    assert html.index("Happening now") < html.index("Ended")


def test_spanish_pages_are_translated(client):
    html = client.get("/es/legal").text
    assert "Ayuda legal" in html
    assert 'href="/es/rights"' in html
    assert 'href="/legal" hreflang="en"' in html


def test_state_filter(client):
    html = client.get("/?state=OR").text
    assert "/listings/" in html
    portland = [s for s in LISTING_SLUGS if "portland" in s]
    assert portland and all(f'/listings/{s}"' in html for s in portland)
    assert "tacoma" not in html.lower().split("<main")[1]


def test_bad_state_shows_error_not_500(client):
    res = client.get("/?state=ZZ%3Cscript%3E")
    assert res.status_code == 200
    assert "<script>" not in res.text.split("<main")[1]
    assert 'role="alert"' in res.text


@pytest.mark.parametrize("url", ["/listings/no-such-vigil", "/rights/nope", "/nowhere",
                                 "/es/listings/no-such-vigil", "/es/nowhere"])
def test_unknown_addresses_get_localized_404(client, url):
    res = client.get(url)
    assert res.status_code == 404
    assert ("Página no encontrada" if url.startswith("/es") else "Page not found") in res.text


def test_security_headers_on_every_response(client):
    documents = ["/", "/es/about", "/nowhere", "/sw.js", "/static/icons/icon.svg"]
    for url in documents:
        res = client.get(url)
        csp = res.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp, url
        assert "script-src" not in csp or "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert res.headers["x-content-type-options"] == "nosniff"
        assert res.headers["referrer-policy"] == "no-referrer"
        assert res.headers["cross-origin-opener-policy"] == "same-origin"
        assert "permissions-policy" in res.headers
    # Data no browser runs: nothing may load or run if one is opened directly.
    for url in ["/api/v1/listings", "/api/v1/nowhere", "/healthz", "/feed.atom",
                "/calendar.ics", "/manifest.webmanifest", "/static/app.css"]:
        res = client.get(url)
        csp = res.headers["content-security-policy"]
        assert csp == "default-src 'none'; frame-ancestors 'none'", url
        assert res.headers["x-content-type-options"] == "nosniff"


def test_no_inline_script_and_no_third_party_assets(client):
    for url in ["/", "/listings/" + LISTING_SLUGS[0], "/rights/" + RIGHTS_SLUGS[0]]:
        html = client.get(url).text
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert 'src="/' in tag or 'type="application/' in tag, tag
        for attr in re.findall(r'(?:src|href)="(https?://[^"]+)"', html):
            if attr.startswith("http://testserver/"):
                continue  # the site's own absolute URLs (hreflang alternates)
            # Outbound links are fine; nothing the page *loads* may be off-site.
            assert not re.search(rf'<(?:script|link|img)[^>]+"{re.escape(attr)}"', html), attr


def test_listing_page_has_maps_and_where_it_came_from(client):
    slug = next(s for s in LISTING_SLUGS if "portland" in s)
    html = client.get(f"/listings/{slug}").text
    assert "geo:" in html and "openstreetmap.org" in html
    assert "4310 SW Macadam" in html
    # Where the record came from; no organizer has checked it, so nothing claims so.
    assert "Source:" in html and "Last verified" not in html


def test_legal_page_has_tel_links_only_for_published_numbers(client):
    """Every number shows with a tel: link and its source; finding a detained person lives
    with the article about it, not on /legal."""
    legal = client.get("/legal").text
    detained = client.get("/rights/if-someone-is-detained").text
    for contact in DATA["contact"]:
        html = detained if contact["role"] == "locating" else legal
        assert str(escape(contact["organization"])) in html
        for phone in contact["phones"] or []:
            digits = phone["number"].replace(" ", "").replace("-", "")
            assert f'href="tel:{digits}"' in html
            assert f'href="{phone["source"]}"' in html
    assert "ICE Online Detainee Locator System" not in legal


def test_rights_articles_say_not_legal_advice(client):
    for slug in RIGHTS_SLUGS:
        assert "not legal advice" in client.get(f"/rights/{slug}").text.lower()
        assert "no asesoría legal" in client.get(f"/es/rights/{slug}").text.lower()


def test_static_assets_are_revisioned(client):
    html = client.get("/").text
    css = re.search(r'href="(/static/app\.css\?v=[0-9a-f]+)"', html).group(1)
    res = client.get(css)
    assert res.status_code == 200
    assert "immutable" in res.headers["cache-control"]
    stale = client.get("/static/app.css?v=old")
    assert stale.headers["cache-control"] == "no-cache"
    assert client.get("/static/nope.css").status_code == 404
    assert client.get("/static/../server/config.py").status_code == 404


def test_listing_structured_data_is_an_event_only_with_a_time(client):
    import json

    for slug in LISTING_SLUGS:
        html = client.get(f"/listings/{slug}").text
        data = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>',
                                    html).group(1))
        if data["@type"] == "Event":
            assert data.get("startDate"), slug
        else:
            assert data["@type"] == "Place" and "address" in data, slug
        # Ended listings offer no calendar; the link would answer 404 for undated ones.
        assert ".ics" not in html, slug


def test_city_only_listings_offer_no_pin_and_generated_titles_are_translated(client):
    html = client.get("/es/listings/atlanta-ga").text
    assert "<h1 class=\"p-name\">Ocupación en Atlanta</h1>" in html
    assert "geo:" not in html and "openstreetmap.org" not in html
    assert "El lugar exacto no se publica" in html
    assert "GeoCoordinates" not in html


def test_hotlines_put_the_states_own_first_and_show_only_sourced_numbers():
    from server.views.pages import hotlines

    def contact(slug, states, phones, role="legal"):
        return {"slug": slug, "organization": slug, "states": states, "languages": ["en", "es"],
                "phones": phones, "description": {"en": "d", "es": "d"}, "hours": None,
                "source": f"{slug}.org", "role": role}

    phone = [{"label": {"en": "Hotline", "es": "Línea"}, "number": "+1-555-0100",
              "purpose": "legal-help", "source": "https://example.org/hotline"}]
    unsourced = [{"label": {"en": "Hotline", "es": "Línea"}, "number": "+1-555-0199"}]
    contacts = [contact("national", ["*"], phone), contact("oregon", ["OR", "WA"], phone),
                contact("website-only", ["OR"], []), contact("texas", ["TX"], phone),
                contact("hearsay", ["OR"], unsourced),
                contact("locator", ["*"], phone, role="locating")]
    calls = hotlines(contacts, "OR", "es")
    assert [c["slug"] for c, _ in calls] == ["oregon", "national"]
    first_contact, first_number = calls[0]
    assert first_number["label"] == "Línea" and first_number["tel"] == "tel:+15550100"
    assert first_contact["language_names"] == ["inglés", "español"]
    assert [c["slug"] for c, _ in hotlines(contacts, "GA", "en")] == ["national"]
