"""The offline manifest, in-process: built once per data revision however many ask."""

from __future__ import annotations

import asyncio

import httpx

from server.app import create_app
from server.database import REVISION_CHECK_EVERY
from server.views import offline
from tests import dbtools
from tests.conftest import make_settings


async def test_concurrent_requests_after_an_edit_build_the_manifest_once(tmp_path, monkeypatch):
    app = create_app(make_settings(tmp_path))
    builds = 0
    fetches = 0
    real_build, real_fetch = offline.build_offline_manifest, offline._fetch_internal

    async def counting_build(request):
        nonlocal builds
        builds += 1
        return await real_build(request)

    async def counting_fetch(inner_app, url):
        nonlocal fetches
        fetches += 1
        return await real_fetch(inner_app, url)

    monkeypatch.setattr(offline, "build_offline_manifest", counting_build)
    monkeypatch.setattr(offline, "_fetch_internal", counting_fetch)
    async with app.router.lifespan_context(app):
        db = app.state.vigil.db
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            before = (await c.get("/offline-manifest.json")).json()
            assert builds == 1
            await db.write("UPDATE listings SET title = title || ' (moved)' "
                           "WHERE id = (SELECT MIN(id) FROM listings)", public=True)
            builds = fetches = 0
            responses = await asyncio.gather(
                *(c.get("/offline-manifest.json") for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert builds == 1
    # Pages are hashed from what they are made of; only the other URLs are fetched, once.
    pages = [u for u in before["urls"] if "?" not in u and offline._page_deps(
        app, u.removeprefix("/es") or "/") is not None]
    assert len(pages) > 40
    assert fetches == len(before["urls"]) - len(offline.SHELL_ASSETS) - len(pages)
    assert len({r.content for r in responses}) == 1
    assert responses[0].json()["revision"] != before["revision"]  # the edit is in it


async def test_whoever_asks_during_a_revision_check_gets_its_answer(tmp_path):
    """Two requests at once after another process's edit: the second must not be answered
    with the revision the first is checking, or it serves the page from before the edit."""
    app = create_app(make_settings(tmp_path))
    async with app.router.lifespan_context(app):
        db = app.state.vigil.db
        before = await db.revision()
        conn = dbtools.connect(tmp_path / "vigil.db")
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
        conn.commit()
        conn.close()
        await asyncio.sleep(REVISION_CHECK_EVERY)  # the last check is now old enough
        assert await asyncio.gather(db.revision(), db.revision()) == [before + 1, before + 1]
