"""Public answers kept whole (server.views.base.Answers): given again before routing, never
after what they were made of has changed, never to a request that must reach its view."""

from __future__ import annotations

import time

import pytest

from server import database
from server.views.base import Answer, Answers, Prepared
from tests import dbtools


@pytest.fixture
def views(client, monkeypatch) -> list[tuple]:
    """Every time a page, the API or a feed is made or looked up by its view."""
    svc = client.app.state.vigil
    calls: list[tuple] = []
    real = svc.fingerprints.of

    async def counting(db, deps):
        calls.append(deps)
        return await real(db, deps)

    monkeypatch.setattr(svc.fingerprints, "of", counting)
    return calls


KEPT = ["/", "/es/", "/legal", "/es/rights", "/api/v1/listings", "/api/v1/rights?lang=es",
        "/feed.atom", "/calendar.ics", "/offline-index.json"]


def test_public_answers_are_given_again_without_their_views(client, views):
    first = {url: client.get(url) for url in KEPT}
    assert all(res.status_code == 200 for res in first.values())
    made = len(views)
    assert made >= len(KEPT)
    again = {url: client.get(url) for url in KEPT}
    assert len(views) == made  # no view ran
    for url in KEPT:
        assert again[url].content == first[url].content, url
        assert again[url].headers["etag"] == first[url].headers["etag"], url
        assert again[url].headers["content-security-policy"], url
    assert "Derechos" in again["/es/rights"].text and again["/es/"].text != again["/"].text


def test_a_kept_answer_says_304_and_compresses_as_its_view_does(client, views):
    fresh = client.get("/legal", headers={"Accept-Encoding": "identity"})
    kept = client.get("/legal", headers={"Accept-Encoding": "identity"})
    zipped = client.get("/legal", headers={"Accept-Encoding": "gzip"})
    assert len(views) == 1
    assert "content-encoding" not in kept.headers and kept.content == fresh.content
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-length"] != kept.headers["content-length"]
    unchanged = client.get("/legal", headers={"If-None-Match": fresh.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == fresh.headers["etag"]
    assert sorted(k for k in unchanged.headers if k.startswith(("content-security", "x-"))) \
        == sorted(k for k in fresh.headers if k.startswith(("content-security", "x-")))
    assert len(views) == 1
    assert zipped.content == fresh.content  # as the client unpacked it


def test_an_edit_here_is_seen_by_the_next_request(client, views):
    svc = client.app.state.vigil
    listing = client.get("/api/v1/listings").json()["listings"][0]
    url = f"/api/v1/listings/{listing['slug']}"
    before = client.get(url)
    assert client.get(url).content == before.content

    async def rename() -> None:
        await svc.db.write("UPDATE listings SET title = 'Renamed at once' WHERE slug = ?",
                           (listing["slug"],), public=True)

    client.portal.call(rename)
    assert client.get(url).json()["listing"]["title"] == "Renamed at once"
    assert "Renamed at once" in client.get(f"/listings/{listing['slug']}").text


def test_another_process_edit_is_seen_within_a_second(client, settings):
    slug = client.get("/api/v1/listings").json()["listings"][0]["slug"]
    client.get("/")  # kept
    conn = dbtools.connect(settings.db_path)
    try:
        conn.execute("UPDATE listings SET title = 'Moved by another worker' WHERE slug = ?",
                     (slug,))
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
        conn.commit()
    finally:
        conn.close()
    deadline = time.monotonic() + 1.0
    while "Moved by another worker" not in client.get("/").text:
        assert time.monotonic() < deadline, "a kept page outlived another process's edit"
        time.sleep(database.REVISION_CHECK_EVERY / 4)


def test_cookies_credentials_and_other_queries_reach_the_view(client, views):
    client.get("/legal")
    made = len(views)
    client.get("/legal", headers={"Cookie": "vigil_organizer=x"})
    client.get("/legal", headers={"Authorization": "Basic eDp5"})
    client.get("/legal?utm_source=x")  # answered by the page cache, through the view
    client.head("/legal")
    assert len(views) == made + 4


def test_forms_errors_and_searches_are_never_kept(client, views):
    """A form carries a stamp of its own, a 404 is no page, and a search is a visitor's
    words: each request runs its view."""
    assert client.get("/suggest").status_code == 200
    stamps = {client.get("/suggest").text.split('name="stamp" value="')[1].split('"')[0]
              for _ in range(2)}
    assert len(stamps) == 2
    made = len(views)
    for _ in range(2):
        assert client.get("/listings/no-such-vigil").status_code == 404
        assert client.get("/search?q=portland").status_code == 200
    assert len(views) == made + 4


def test_random_query_strings_cannot_push_the_pages_out():
    answers = Answers(stamp=None, max_entries=3, max_queries=2)
    answer = Answer(Prepared.of(b"page"), "text/html", "no-cache", ())
    stamp = object()
    for path in ("/a", "/b", "/c"):
        answers.put((path, b""), stamp, answer)
    for n in range(100):
        answers.put(("/static/app.css", f"v={n}".encode()), stamp, answer)
    assert len(answers) == 5
    assert all(answers.get((p, b""), stamp) is answer for p in ("/a", "/b", "/c"))
    assert answers.get(("/a", b""), object()) is None  # another state of the records
    assert answers.get(("/a", b""), stamp) is None  # and it is gone for good
