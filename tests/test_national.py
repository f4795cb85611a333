"""A national day of action, in-process: 800 listings, pages that do not grow with them, and
an edit that touches only what it changes."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from benchmarks import national
from server import dataset
from server.app import create_app
from server.views import pages
from tests.conftest import make_settings

N = 800


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("national"))
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:
        client.portal.call(dataset.import_data, app.state.vigil.db, national.export(N))
        yield client, app


def test_every_listing_is_linked_from_home_or_its_state(day):
    client, _ = day
    home = client.get("/").text
    linked = set(re.findall(r'href="/listings/([^"]+)"', home))
    assert 0 < len(linked) <= pages.SOONEST + 15  # the soonest and the 2018 archive, not 800
    states = set(re.findall(r'href="/\?state=([A-Z]{2})"', home))
    assert len(states) == 52
    for code in states:
        linked |= set(re.findall(r'href="/listings/([^"]+)"', client.get(f"/?state={code}").text))
    generated = {rec["slug"] for rec in national.listings(N)}
    assert generated <= linked


def test_the_manifest_names_listing_pages_by_state_for_the_worker_to_choose(day):
    client, _ = day
    manifest = client.get("/offline-manifest.json").json()
    assert not [u for u in manifest["urls"] if "/listings/" in u]  # not 1,600 pages for all
    oregon = manifest["listings"]["OR"]
    expected = {r["slug"] for r in national.listings(N) if r["state"] == "OR"}
    assert expected <= set(oregon)
    assert all(len(hashes) == 2 and hashes[0] != hashes[1] for hashes in oregon.values())
    index = client.get("/offline-index.json").json()
    assert len(index["listings"]) == N + 15
    assert "description" not in index["listings"][0]  # titles and places, not pages


def test_an_edit_changes_the_hashes_and_renders_of_what_it_touches_only(day, monkeypatch):
    client, app = day
    svc = app.state.vigil
    slug = next(r["slug"] for r in national.listings(N) if r["state"] == "TX")
    other = next(r["slug"] for r in national.listings(N) if r["state"] == "OR")
    before = client.get("/offline-manifest.json").json()
    for url in (f"/listings/{other}", "/legal", "/rights", "/"):
        assert client.get(url).status_code == 200
    rendered: list[str] = []
    real = svc.renderer.render

    def counting(template, lang, path, **context):
        rendered.append(path)
        return real(template, lang, path, **context)

    monkeypatch.setattr(svc.renderer, "render", counting)
    async def move() -> None:
        await svc.db.write("UPDATE listings SET address = '1 Moved Plaza' WHERE slug = ?",
                           (slug,), public=True)

    client.portal.call(move)
    after = client.get("/offline-manifest.json").json()
    changed = {u for u in after["urls"] if after["urls"][u] != before["urls"].get(u)}
    assert changed == {"/", "/es/", "/search", "/es/search", "/offline-index.json"}
    moved = {(state, s) for state, items in after["listings"].items() for s, h in items.items()
             if h != before["listings"][state][s]}
    assert moved == {("TX", slug)}
    assert set(rendered) <= {"/suggest"}  # no page but the form, which carries a stamp
    rendered.clear()
    for url in (f"/listings/{other}", "/legal", "/rights"):
        assert client.get(url).status_code == 200
    assert rendered == []  # untouched pages come from the cache
    assert "1 Moved Plaza" in client.get(f"/listings/{slug}").text
    assert "1 Moved Plaza" in client.get("/?state=TX").text
    assert rendered == [f"/listings/{slug}", "/"]


def test_an_edit_writes_again_only_its_own_part_of_the_index_and_manifest(day, monkeypatch):
    """The index and manifest list every listing; each listing's part is kept with its
    record, and the file put together from the parts is the one json_body writes."""
    import json

    from server.views.base import json_body

    client, app = day
    svc = app.state.vigil
    slug = next(r["slug"] for r in national.listings(N) if r["state"] == "OH")
    before = client.get("/offline-index.json").content
    manifest_before = client.get("/offline-manifest.json").json()
    made: list[str] = []
    real = svc.fingerprints.derived

    def counting(rec, kind, make):
        return real(rec, kind, lambda r: made.append((kind[0], r["slug"])) or make(r))

    monkeypatch.setattr(svc.fingerprints, "derived", counting)

    async def move() -> None:
        await svc.db.write("UPDATE listings SET address = '2 Moved Plaza' WHERE slug = ?",
                           (slug,), public=True)

    client.portal.call(move)
    after = client.get("/offline-index.json").content
    manifest = client.get("/offline-manifest.json")
    monkeypatch.undo()
    assert sorted(made) == [("index", slug), ("manifest", slug)]
    assert after == json_body(json.loads(after))  # keys sorted, compact, escaped
    old = {r["slug"]: r for r in json.loads(before)["listings"]}
    new = {r["slug"]: r for r in json.loads(after)["listings"]}
    assert new[slug]["address"] == "2 Moved Plaza"
    assert {s for s in new if new[s] != old[s]} == {slug}
    data = manifest.json()
    assert manifest.content.startswith(b'{"revision":"')
    assert data["revision"] != manifest_before["revision"]
    assert data["listings"]["OH"][slug] != manifest_before["listings"]["OH"][slug]
