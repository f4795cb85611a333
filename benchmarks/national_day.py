"""A national day of action: today's 15 listings, then 200 and 800 generated ones
(benchmarks/national.py), side by side in one run.

For each size, on a fresh server:
- bytes: `/` as sent (gzip), and the offline bundle of a visitor who follows Oregon in
  English (what every visitor keeps, plus Oregon's listing pages), and of one who follows
  California, the state with the most listings;
- first visit on a throttled network (400 kbit/s, 400 ms round trip, through the throttling
  proxy of benchmarks/first_visit.py): from the first paint of `/?state=OR` until the
  service worker reports its bundle complete, and the bytes that came down;
- an edit: one listing's address changed in the database, then the time until its page
  shows it, and the server CPU spent on it and on what it touches (the listing page, its
  state's list, `/`, the offline index and manifest);
- throughput of `/`, `/?state=OR` and a listing page against bare Starlette, taking turns.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import national
from benchmarks.common import (
    Row,
    Server,
    Target,
    bare_server,
    fetch,
    interleaved,
    kb,
    launch_chromium,
    log,
    median,
    temp_dir,
    vigil_server,
    wait_for_worker,
)
from benchmarks.first_visit import LIMIT_S, RATE_BITS, RTT, ThrottlingProxy
from benchmarks.offline_timing import FCP_JS
from server.render import service_worker_script

SIZES = (15, 200, 800)
BUNDLE_GOAL = 250_000
HOME_GOAL = 14_000
EDIT_CPU_GOAL = 0.100
LOOKUP_GOAL_MS = 100
LOOKUPS = 5  # each lookup is timed this many times; the median is the figure
# How many of a followed state's listing pages the worker keeps, read from the worker.
PAGES_PER_STATE = int(re.search(r"const PAGES_PER_STATE = (\d+);",
                                service_worker_script().decode()).group(1))
BUNDLE_DONE = """ms => new Promise((resolve, reject) => {
  const end = performance.now() + ms;
  const check = async () => {
    const name = (await caches.keys()).find((n) => n.startsWith("vigil-content-"));
    const saved = name && await (await caches.open(name)).match("/__vigil/bundle");
    const state = saved && await saved.json();
    if (state && state.complete) return resolve(performance.now());
    if (performance.now() > end) return reject(new Error("bundle never completed"));
    setTimeout(check, 100);
  };
  check();
})"""


def load_day(server: Server, n: int) -> list[dict]:
    """n generated listings over the default data (none for 15: today's data as it is)."""
    if n == 15:
        return []
    listings = national.listings(n)
    with temp_dir("vigil-bench-day-") as tmp:
        path = Path(tmp) / "day.json"
        path.write_text(json.dumps({"vigil_export": 1, "exported": "2026-01-01T00:00:00+00:00",
                                    "listings": listings}))
        subprocess.run([sys.executable, "-m", "server", "import", str(path)], check=True,
                       env=server.env, capture_output=True)
    return listings


def bundle_bytes(server: Server, state: str) -> tuple[int, int]:
    """(compressed bytes, URLs) the worker keeps for an English reader following `state`."""
    manifest = json.loads(fetch(server.url + "/offline-manifest.json").decoded)
    urls = list(manifest["urls"])
    # As the worker chooses (chosenUrls in service-worker/interest.js): the state's soonest,
    # up to its limit.
    for slug in list(manifest.get("listings", {}).get(state, {}))[:PAGES_PER_STATE]:
        urls.append(f"/listings/{slug}")
    total = 0
    for url in urls:
        res = fetch(server.url + url)
        if res.status != 200:
            raise RuntimeError(f"{url} answers {res.status}")
        total += len(res.body)
    return total, len(urls)


def first_visit(server: Server) -> tuple[float, int]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            with ThrottlingProxy(server.port) as proxy:
                context = browser.new_context(viewport={"width": 360, "height": 740})
                page = context.new_page()
                page.goto(proxy.url + "/?state=OR", wait_until="commit",
                          timeout=int(LIMIT_S * 1000))
                fcp = page.evaluate(FCP_JS, int(LIMIT_S * 1000))
                done = page.evaluate(BUNDLE_DONE, int(LIMIT_S * 1000))
                context.close()
                return (done - fcp) / 1000, proxy.sent["down"]
        finally:
            browser.close()


TIMED_SEARCH = """query => new Promise((resolve) => {
  const results = document.getElementById("results");
  const start = performance.now();
  new MutationObserver((_, observer) => {
    if (results.querySelector("li")) { observer.disconnect(); resolve(performance.now() - start); }
  }).observe(results, { childList: true, subtree: true });
  document.getElementById("q").value = query;
  document.querySelector("form[role=search]").requestSubmit();
})"""
TIMED_NEAR = """() => new Promise((resolve) => {
  const section = document.getElementById("nearest");
  const start = performance.now();
  new MutationObserver((_, observer) => {
    if (!section.hidden) { observer.disconnect(); resolve(performance.now() - start); }
  }).observe(section, { attributes: true });
  document.getElementById("near-me").click();
})"""


def offline_lookups(server: Server, listings: list[dict]) -> tuple[list[float], list[float]]:
    """(ms for a search, ms for near me), LOOKUPS times each, offline, with Chromium's CPU
    slowed 4x, as a mid-range phone. Each is the first use on a freshly opened page, timed
    from the submit or tap as soon as the page has loaded: a visitor who waits longer finds
    the index already read (the pages read it when idle). Near me is empty where no listing
    is active (today's data: the 2018 archive)."""
    from playwright.sync_api import sync_playwright

    query = listings[-1]["title"] if listings else "Tacoma"
    searches: list[float] = []
    nears: list[float] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": 360, "height": 740},
                                          geolocation={"latitude": 45.5, "longitude": -122.6},
                                          permissions=["geolocation"])
            page = context.new_page()
            page.goto(server.url + "/?state=OR")
            wait_for_worker(page, 60000)
            context.set_offline(True)
            cdp = context.new_cdp_session(page)
            for _ in range(LOOKUPS):
                page.goto(server.url + "/search")
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
                searches.append(page.evaluate(TIMED_SEARCH, query))
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
                page.goto(server.url + "/")
                if page.locator("#near-me").count():  # none without an active listing
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
                    nears.append(page.evaluate(TIMED_NEAR))
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
            context.close()
            return searches, nears
        finally:
            browser.close()


def edit(server: Server, listings: list[dict]) -> tuple[float, float]:
    """(seconds until the listing page shows the edit, server CPU seconds for the edit and
    the pages it touches)."""
    slug, state = ((listings[len(listings) // 2]["slug"], listings[len(listings) // 2]["state"])
                   if listings else ("portland-or-macadam", "OR"))
    touched = [f"/listings/{slug}", f"/?state={state}", "/", "/offline-index.json",
               "/offline-manifest.json"]
    for url in touched:  # warm: what visitors had already asked for
        fetch(server.url + url)
    address = f"{int(time.time()) % 10000} Moved Plaza"
    cpu0 = server.cpu_seconds()
    start = time.monotonic()
    with sqlite3.connect(server.env["VIGIL_DB"]) as db:
        db.execute("UPDATE listings SET address = ? WHERE slug = ?", (address, slug))
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
    while address.encode() not in fetch(server.url + f"/listings/{slug}").decoded:
        if time.monotonic() - start > 30:
            raise RuntimeError("the edit never showed")
        time.sleep(0.01)
    visible = time.monotonic() - start
    for url in touched[1:]:
        fetch(server.url + url)
    return visible, server.cpu_seconds() - cpu0


def throughput(server: Server, listings: list[dict], quick: bool) -> str:
    slug = listings[0]["slug"] if listings else "portland-or-macadam"
    with bare_server() as bare:
        base, app = interleaved(
            [Target("bare /json", bare, ["/json"]),
             Target("vigil", server, ["/", "/?state=OR", f"/listings/{slug}"])],
            concurrency=50, duration=4 if quick else 10, rounds=2)
    ratio = app.result.rps / base.result.rps if base.result.rps else float("nan")
    return f"{app.result.rps:,.0f} req/s, {ratio:.2f}× bare ({base.result.rps:,.0f})"


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    for n in SIZES:
        log(f"national day: {n} listings")
        with vigil_server() as server:
            listings = load_day(server, n)
            home = len(fetch(server.url + "/").body)
            oregon, oregon_urls = bundle_bytes(server, "OR")
            california, _ = bundle_bytes(server, "CA")
            seconds, down = first_visit(server)
            searches, nears = offline_lookups(server, listings)
            visible, cpu = edit(server, listings)
            load = throughput(server, listings, quick)
        label = f"{n} listings" if n > 15 else "15 listings (today's data)"
        search = median(searches)
        near = median(nears) if nears else None
        tries = (f"search {', '.join(f'{v:.0f}' for v in searches)}; near me "
                 + (', '.join(f'{v:.0f}' for v in nears) or "—") + " ms")
        rows += [
            Row(f"national day, {label}: `/` as sent (gzip)", f"{kb(home)} ({home:,} B)",
                goal=f"≤ {kb(HOME_GOAL)}", met=home <= HOME_GOAL),
            Row(f"national day, {label}: offline bundle, Oregon reader",
                f"{kb(oregon)} ({oregon_urls} URLs)", f"California reader: {kb(california)}",
                goal=f"≤ {kb(BUNDLE_GOAL)}", met=oregon <= BUNDLE_GOAL),
            Row(f"national day, {label}: first visit to /?state=OR at "
                f"{RATE_BITS // 1000} kbit/s, {RTT * 1000:.0f} ms RTT, first paint to bundle "
                "complete", f"{seconds:.1f} s, {kb(down)} down"),
            Row(f"national day, {label}: an edit, until its page shows it; server CPU for "
                "it and the 5 URLs it touches", f"{visible * 1000:.0f} ms, CPU "
                f"{cpu * 1000:.0f} ms", goal=f"≤ 1 s, CPU < {EDIT_CPU_GOAL * 1000:.0f} ms",
                met=visible <= 1 and cpu < EDIT_CPU_GOAL),
            Row(f"national day, {label}: offline, CPU slowed 4×: search, then near me "
                f"(each the first use on a page just opened; median of {LOOKUPS})",
                f"{search:.0f} ms, " + (f"{near:.0f} ms" if near is not None
                                        else "— (no active listing)"),
                goal=f"≤ {LOOKUP_GOAL_MS} ms each",
                met=search <= LOOKUP_GOAL_MS and (near or 0) <= LOOKUP_GOAL_MS,
                note=f"national day, {label}, every try: {tries}"),
            Row(f"national day, {label}: throughput of /, /?state=OR and a listing",
                load),
        ]
    return rows
