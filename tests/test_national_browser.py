"""A national day of action in Chromium: 800 listings, a visitor who gets alerts for Oregon,
offline afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from benchmarks import national
from tests import dbtools
from tests.live import live_server
from tests.test_offline import eventually, wait_for_worker
from tests.test_push_browser import (
    get_alerts_for_oregon_and_urgent_calls,
    open_with_stubbed_push,
    push,  # noqa: F401 (fixture)
)

pytestmark = pytest.mark.browser
N = 800

KEPT = """async (urls) => {
  const name = (await caches.keys()).find((n) => n.startsWith("vigil-content-"));
  const cache = await caches.open(name);
  const missing = [];
  for (const url of urls) if (!(await cache.match(url))) missing.push(url);
  return missing;
}"""


def import_day(server, tmp_path) -> list[dict]:
    listings = national.listings(N)
    path = tmp_path / "day.json"
    path.write_text(json.dumps({"vigil_export": 1, "exported": "2026-01-01T00:00:00+00:00",
                                "listings": listings}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(VIGIL_DB=str(dbtools.target(server.db_path)), VIGIL_SECRET_KEY="x" * 40,
               VIGIL_VAPID_KEY=str(server.tmp / "vapid.pem"))
    subprocess.run([sys.executable, "-m", "server", "import", str(path)], check=True, env=env,
                   cwd=server.tmp, capture_output=True)
    return listings


def test_an_oregon_subscriber_keeps_oregon_and_finds_the_rest_offline(tmp_path, browser, push):  # noqa: F811
    with live_server(tmp_path, VIGIL_PUSH_HOSTS=push.origin) as server:
        listings = import_day(server, tmp_path)
        oregon = [r for r in listings if r["state"] == "OR"]
        texas = next(r for r in listings if r["state"] == "TX")
        context = browser.new_context(permissions=["notifications"])
        page, _ = open_with_stubbed_push(context, server, push.new_subscription())
        get_alerts_for_oregon_and_urgent_calls(page)
        page.reload()  # the page asks the worker to look again at what to keep
        wait_for_worker(page)
        wanted = [f"/listings/{r['slug']}" for r in oregon]
        eventually(page, f"({KEPT})({json.dumps(wanted)}).then((m) => m.length === 0)",
                   timeout=60)
        assert page.evaluate(KEPT, [f"/listings/{texas['slug']}"])  # not kept

        context.set_offline(True)
        for rec in oregon:
            page.goto(f"{server.url}/listings/{rec['slug']}")
            expect(page.locator("h1")).to_have_text(rec["title"])
            assert "full page" not in page.inner_text("main")
        page.goto(f"{server.url}/listings/{texas['slug']}")
        expect(page.locator("h1")).to_have_text(texas["title"])
        expect(page.locator("#short-listing")).to_be_visible()
        assert texas["address"] in page.inner_text("#short-listing")
        hour, minute = int(texas["starts"][11:13]), texas["starts"][14:16]
        assert f"{hour % 12 or 12}:{minute}" in page.inner_text("#short-listing .when")
        assert page.locator("#short-listing a[data-os='any']").get_attribute("href").startswith(
            "https://www.openstreetmap.org/search?query=")
        # Offline too, "Directions" starts a route.
        assert page.locator("#short-listing a[data-map='apple']").get_attribute(
            "href").startswith("https://maps.apple.com/?daddr=")

        page.goto(f"{server.url}/search")
        page.fill("#q", texas["title"])
        page.press("#q", "Enter")
        expect(page.locator(f"#results a[href='/listings/{texas['slug']}']")).to_be_visible()
        context.close()
