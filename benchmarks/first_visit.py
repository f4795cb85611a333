"""A first visit on a poor network: from the first paint to "alerts are on".

Chromium with a cold profile reaches Vigil through a throttling proxy (400 kbit/s each way,
400 ms round trip, shared by the page and its service worker). As soon as the page paints,
the visitor chooses **Urgent calls** and taps **Get alerts**; the figure is the time from the
first contentful paint until the panel reports that alerts are on. Headless Chromium reaches
no real push service, so `pushManager` hands out a subscription made here (a real P-256 key)
whose endpoint the server's allowlist admits; nothing is sent to it.

Also reported: the bytes that crossed the link by then, and the URLs fetched more than once.
"""

from __future__ import annotations

import base64
import collections
import json
import time

from benchmarks.common import HOST, Row, free_port, launch_chromium, log, median, vigil_server
from benchmarks.offline_timing import FCP_JS
from benchmarks.throttle import ThrottlingProxy

KBIT_PER_S = 400
RTT_MS = 400
REPEATS = 3
GOAL_S = 5.0
WAIT_MS = 180_000
PUSH_ORIGIN = f"http://{HOST}:9"  # admitted by the allowlist; nothing listens there

STUB_PUSH_MANAGER = """
const subscription = %s;
let current = null;
PushManager.prototype.subscribe = async function () {
  current = { endpoint: subscription.endpoint, expirationTime: null,
              toJSON: () => subscription, unsubscribe: async () => true };
  return current;
};
PushManager.prototype.getSubscription = async function () { return current; };
"""

SUBSCRIBED_JS = """() => {
  const status = document.getElementById('alerts-status');
  return status && /Alerts are on/.test(status.textContent) ? performance.now() : null;
}"""


def fake_subscription() -> dict:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return {
        "endpoint": f"{PUSH_ORIGIN}/push/benchmark-{time.monotonic_ns()}",
        "expirationTime": None,
        "keys": {"p256dh": b64(public.public_bytes(Encoding.X962,
                                                   PublicFormat.UncompressedPoint)),
                 "auth": b64(b"0123456789abcdef")},
    }


def panel_path(url: str) -> str:
    """The alerts page where there is one, the home page before."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/alerts", timeout=10):
            return "/alerts"
    except urllib.error.HTTPError:
        return "/"


def visit_once(browser, url: str, path: str, proxy: ThrottlingProxy) -> tuple[float, int]:
    """One cold visit; (seconds from first paint to subscribed, bytes down by then).
    The proxy's request list then holds what this visit asked for."""
    context = browser.new_context(permissions=["notifications"], viewport={
        "width": 360, "height": 740})
    context.set_default_timeout(WAIT_MS)
    context.add_init_script(STUB_PUSH_MANAGER % json.dumps(fake_subscription()))
    proxy.reset_counts()
    try:
        page = context.new_page()
        page.goto(url + path, wait_until="commit")
        fcp = page.evaluate(FCP_JS, WAIT_MS)
        page.get_by_label("Urgent calls").check()
        page.get_by_role("button", name="Get alerts").click()
        subscribed = page.wait_for_function(SUBSCRIBED_JS, timeout=WAIT_MS,
                                            polling=50).json_value()
        return (subscribed - fcp) / 1000, proxy.down.bytes
    finally:
        context.close()


def fetched_twice(proxy: ThrottlingProxy) -> list[str]:
    """Requests that crossed the link more than once."""
    counts = collections.Counter(proxy.up.requests)
    return sorted(r for r, n in counts.items() if n > 1)


def run(quick: bool) -> list[Row]:
    from playwright.sync_api import sync_playwright

    repeats = 1 if quick else REPEATS
    proxy_port = free_port()
    proxy_url = f"http://{HOST}:{proxy_port}"
    times, downloaded, repeated = [], [], []
    with vigil_server(VIGIL_BASE_URL=proxy_url, VIGIL_PUSH_HOSTS=PUSH_ORIGIN) as server:
        path = panel_path(server.url)
        proxy = ThrottlingProxy(proxy_port, server.port, KBIT_PER_S, RTT_MS)
        with proxy.running(), sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                for i in range(repeats):
                    seconds, down = visit_once(browser, proxy_url, path, proxy)
                    log(f"  visit {i + 1}: subscribed {seconds:.2f} s after first paint, "
                        f"{down / 1000:.0f} KB down")
                    times.append(seconds)
                    downloaded.append(down)
                    repeated = sorted({*repeated, *fetched_twice(proxy)})
            finally:
                browser.close()
    figure = median(times)
    runs = ", ".join(f"{t:.2f}" for t in times)
    return [Row(
        f"First visit at {KBIT_PER_S} kbit/s, {RTT_MS} ms RTT: first paint of {path} to "
        f"\"alerts are on\" (median of {repeats})",
        f"{figure:.2f} s", f"{median(downloaded) / 1000:.0f} KB crossed the link by then",
        f"≤ {GOAL_S:.0f} s", figure <= GOAL_S,
        note=f"First-visit runs: {runs} s; requests made more than once in one visit: "
             f"{', '.join(repeated) or 'none'}.")]


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
