"""First contentful paint of /legal in Chromium once the service worker is in control:
online (the baseline), under lie-fi (every request hangs), and offline.

After one earlier visit (worker installed, page cached), each mode is measured
`REPEATS` times, the modes taking turns, each time in a new tab of the same profile;
the figure is the median FCP from the start of the navigation
(`performance.getEntriesByName('first-contentful-paint')[0].startTime`).
"""

from __future__ import annotations

from benchmarks.common import (
    Row,
    Server,
    launch_chromium,
    log,
    median,
    vigil_server,
    wait_for_worker,
)

PATH = "/legal"
HEADING = "Legal help"
REPEATS = 5
LIE_FI_GOAL = 1.5
OFFLINE_GOAL = 0.3
FCP_WAIT_MS = 10000

FCP_JS = """ms => new Promise(resolve => {
  const now = () => {
    const entry = performance.getEntriesByName('first-contentful-paint')[0];
    return entry ? entry.startTime : null;
  };
  if (now() !== null) { resolve(now()); return; }
  new PerformanceObserver((list, observer) => {
    const entry = list.getEntriesByName('first-contentful-paint')[0];
    if (entry) { observer.disconnect(); resolve(entry.startTime); }
  }).observe({type: 'paint', buffered: true});
  setTimeout(() => resolve(now()), ms);
})"""


def fcp_once(context, server: Server, mode: str) -> tuple[float, str]:
    """Open PATH in a new tab in `mode`; return (FCP in seconds, the page's h1)."""
    hung = []

    def hang(route) -> None:  # lie-fi: never answer (until released below)
        hung.append(route)

    page = context.new_page()
    try:
        if mode == "lie-fi":
            context.route("**/*", hang)
        elif mode == "offline":
            context.set_offline(True)
        page.goto(server.url + PATH, wait_until="commit", timeout=15000)
        fcp = page.evaluate(FCP_JS, FCP_WAIT_MS)
        heading = page.locator("h1").first.inner_text(timeout=5000)
    finally:
        if mode == "lie-fi":
            context.unroute("**/*", hang)
            for route in hung:  # fail them: the worker keeps its copy, nothing hangs on
                try:
                    route.abort()
                except Exception:  # noqa: BLE001 - the request may be gone already
                    pass
        elif mode == "offline":
            context.set_offline(False)
        page.close()
    if fcp is None:
        raise RuntimeError(f"no first-contentful-paint for {PATH} {mode} in {FCP_WAIT_MS} ms")
    return fcp / 1000, heading


def measure(server: Server, repeats: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {"online": [], "lie-fi": [], "offline": []}
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context()
            context.set_default_timeout(15000)
            page = context.new_page()
            page.goto(server.url + PATH)
            wait_for_worker(page)
            page.goto(server.url + PATH)  # the earlier visit, with the worker in control
            page.close()
            for i in range(repeats):
                for mode in times:
                    fcp, heading = fcp_once(context, server, mode)
                    if heading.strip() != HEADING:
                        raise RuntimeError(f"{mode}: {PATH} showed {heading!r}, not {HEADING!r}")
                    times[mode].append(fcp)
                    log(f"  round {i + 1} {mode}: FCP {fcp * 1000:.0f} ms")
            context.close()
        finally:
            browser.close()
    return times


def run(quick: bool) -> list[Row]:
    with vigil_server() as server:
        times = measure(server, REPEATS)
    online, lie_fi, offline = (median(times[m]) for m in ("online", "lie-fi", "offline"))
    baseline = f"online: {online * 1000:.0f} ms"

    def each(mode: str) -> str:
        return f"{mode} " + ", ".join(f"{t * 1000:.0f}" for t in times[mode]) + " ms"

    return [
        Row(f"FCP {PATH}, online, worker in control (median of {REPEATS})",
            f"{online * 1000:.0f} ms",
            note=f"FCP runs: {each('online')}; {each('lie-fi')}; {each('offline')}"),
        Row(f"FCP {PATH}, lie-fi: every request hangs (median of {REPEATS})",
            f"{lie_fi * 1000:.0f} ms", baseline, f"≤ {LIE_FI_GOAL * 1000:.0f} ms",
            lie_fi <= LIE_FI_GOAL),
        Row(f"FCP {PATH}, offline (median of {REPEATS})",
            f"{offline * 1000:.0f} ms", baseline, f"≤ {OFFLINE_GOAL * 1000:.0f} ms",
            offline <= OFFLINE_GOAL),
    ]


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
