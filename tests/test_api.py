"""The JSON API: collections, ETag and conditional GET, errors as JSON."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from server.app import create_app

COLLECTIONS = {
    "/api/v1/listings": "listings",
    "/api/v1/facilities": "facilities",
    "/api/v1/contacts": "contacts",
    "/api/v1/rights?lang=en": "rights",
    "/api/v1/rights?lang=es": "rights",
    "/api/v1/resources": "resources",
}


@pytest.mark.parametrize("url,name", COLLECTIONS.items())
def test_collections_are_named_arrays_with_slugs(client, url, name):
    res = client.get(url)
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/json")
    items = res.json()[name]
    assert items and all(item["slug"] for item in items)
    assert "set-cookie" not in res.headers


@pytest.mark.parametrize("url", list(COLLECTIONS) + ["/api/v1/listings/portland-or-macadam"])
def test_etag_and_conditional_get(client, url):
    first = client.get(url)
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_pages_have_etags_too(client):
    etag = client.get("/es/rights").headers["etag"]
    assert client.get("/es/rights", headers={"If-None-Match": etag}).status_code == 304


def test_one_listing_and_unknown_slug(client):
    slug = client.get("/api/v1/listings").json()["listings"][0]["slug"]
    one = client.get(f"/api/v1/listings/{slug}").json()["listing"]
    assert one["slug"] == slug
    assert set(one["description"]) == {"en", "es"}
    missing = client.get("/api/v1/listings/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no listing with that slug"}


def test_rights_rejects_unknown_language(client):
    res = client.get("/api/v1/rights?lang=de")
    assert res.status_code == 400
    assert "lang" in res.json()["error"]


def test_listings_in_spanish_prefix_are_not_an_api(client):
    assert client.get("/es/api/v1/listings").status_code == 404


def test_healthz(client):
    res = client.get("/healthz")
    assert res.status_code == 200 and res.text == "ok"


def test_oversized_body_is_refused(client):
    res = client.post("/api/v1/listings", content=b"x" * (1024 * 1024))
    assert res.status_code == 413


async def test_a_change_renders_each_page_once_however_many_ask(settings):
    app = create_app(settings)
    renderer = app.state.vigil.renderer
    original, renders = renderer.render, []

    def counting(template, *args, **kwargs):
        renders.append(template)
        return original(template, *args, **kwargs)

    renderer.render = counting
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await c.get("/")
            await app.state.vigil.db.write(
                "UPDATE listings SET title = title || ' ' WHERE id = 1", public=True)
            renders.clear()
            responses = await asyncio.gather(*(c.get("/") for _ in range(50)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    assert renders == ["home.html"]
