"""Search on the server (the no-JavaScript path) and structured data on listing pages."""

from __future__ import annotations

import json
import re

import pytest

from tests import dbtools


def test_search_finds_across_kinds(client):
    html = client.get("/search?q=tacoma").text
    assert "/listings/tacoma-wa-northwest-detention-center" in html
    assert "/facilities#" in html


def test_search_is_accent_insensitive_in_spanish(client):
    plain = client.get("/es/search?q=detencion").text
    accented = client.get("/es/search?q=Detenci%C3%B3n").text
    assert "Resultados" in plain
    results = lambda h: re.findall(r'<li class="card"><a href="([^"]+)"', h)  # noqa: E731
    assert results(plain) and results(plain) == results(accented)
    assert all(u.startswith("/es/") for u in results(plain))


def test_search_rights_in_the_page_language(client):
    en = client.get("/search?q=warrant").text
    es = client.get("/es/search?q=orden+judicial").text
    assert "/rights/at-your-door" in en
    assert "/es/rights/at-your-door" in es


@pytest.mark.parametrize("query", ["", " ", "x" * 10_000, "' OR 1=1; DROP TABLE listings; --",
                                   "🕯️🕯️", "%00%ff", "<script>alert(1)</script>", "a" * 300 + " b"])
def test_odd_queries_answer_sensibly(client, query):
    before = table_sizes(client)
    res = client.get("/search", params={"q": query})
    assert res.status_code == 200
    assert "<script>alert(1)" not in res.text
    assert table_sizes(client) == before and before["listings"] > 0  # nothing dropped


def table_sizes(client) -> dict[str, int]:
    """Rows per table, read from the file itself rather than through a cached response."""
    with dbtools.connect(client.app.state.vigil.settings.db_path) as conn:
        tables = dbtools.tables(conn)
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def test_listing_has_json_ld_event_and_h_event(client):
    html = client.get("/listings/portland-or-macadam").text
    raw = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1)
    data = json.loads(raw)
    assert data["@type"] == "Event"
    assert data["name"] and data["startDate"].startswith("2018-06-17")
    assert data["location"]["address"]["streetAddress"] == "4310 SW Macadam Ave"
    assert data["location"]["address"]["addressRegion"] == "OR"
    assert 'class="h-event' in html and "p-name" in html and "dt-start" in html
