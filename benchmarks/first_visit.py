"""A first visit on a poor network: from the first paint of the page with the alerts panel
to "Alerts are on", in Chromium with a cold profile, through a throttling proxy (400 kbit/s
each way, shared by every connection, 400 ms round trip), tapping Get alerts as soon as the
panel shows.

The proxy throttles the page and its service worker alike (DevTools throttling would apply
to the page's target only). Headless Chromium reaches no push service, so pushManager hands
out a subscription made here (a real P-256 key, an FCM-shaped endpoint that is never
called); everything else is real: the worker's install, the key, the POST.

The baseline is another revision of Vigil served the same way in the same run: set
VIGIL_BENCH_BASELINE to a git revision (for example the commit before a change) and it is
exported to a temp dir and measured too. Its panel may live on / rather than /alerts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import threading
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from benchmarks.common import (
    HOST,
    ROOT,
    Row,
    checkout,
    free_port,
    launch_chromium,
    log,
    median,
    vigil_server,
)
from benchmarks.offline_timing import FCP_JS

RATE_BITS = 400_000
RTT = 0.4
LIMIT_S = 180.0

STUB = """([subscription]) => {
  let current = null;
  PushManager.prototype.subscribe = async function () {
    current = { endpoint: subscription.endpoint, toJSON: () => subscription,
                unsubscribe: async () => true };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
  // The moment the panel says alerts are on, on the page's clock.
  new MutationObserver(() => {
    const status = document.getElementById("alerts-status");
    if (status && status.textContent.startsWith("Alerts are on") && !window.__onAt) {
      window.__onAt = performance.now();
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
}"""


class ThrottlingProxy:
    """A TCP proxy on 127.0.0.1: each direction is one link of RATE_BITS shared by every
    connection, and every byte arrives RTT/2 after it leaves; a connection takes one RTT to
    open."""

    def __init__(self, upstream_port: int, port: int | None = None,
                 rate_bits: int = RATE_BITS, rtt: float = RTT):
        self.upstream_port = upstream_port
        self.rate = rate_bits / 8
        self.rtt = rtt
        self.port = port or free_port()
        self.sent = {"down": 0, "up": 0}
        self._free = {"down": 0.0, "up": 0.0}
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        # Connections the browser drops mid-transfer end in errors nobody needs to read.
        self._loop.set_exception_handler(lambda loop, context: None)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, HOST, self.port))
        self._started.set()
        self._loop.run_forever()

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _handle(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.rtt)
        try:
            server_r, server_w = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._pump(client_r, server_w, "up"),
                             self._pump(server_r, client_w, "down"),
                             return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    direction: str) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get()) is not None:
                at, data = item
                if at > loop.time():
                    await asyncio.sleep(at - loop.time())
                writer.write(data)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while data := await reader.read(4096):
                start = max(loop.time(), self._free[direction])
                self._free[direction] = start + len(data) / self.rate
                self.sent[direction] += len(data)
                queue.put_nowait((self._free[direction] + self.rtt / 2, data))
        except OSError:
            pass
        finally:
            queue.put_nowait(None)
            try:
                await delivering
            except (OSError, asyncio.CancelledError):
                pass
            writer.close()


def fake_subscription() -> dict:
    key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return {"endpoint": "https://fcm.googleapis.com/fcm/send/bench-" + secrets.token_hex(8),
            "expirationTime": None,
            "keys": {"p256dh": b64(key), "auth": b64(secrets.token_bytes(16))}}


def panel_path(url: str) -> str:
    try:
        with urllib.request.urlopen(url + "/alerts", timeout=10) as res:
            return "/alerts" if res.status == 200 else "/"
    except urllib.error.HTTPError:
        return "/"


def one_visit(browser, proxy: ThrottlingProxy, path: str) -> float:
    """Seconds from the first contentful paint to "Alerts are on", cold profile."""
    context = browser.new_context(viewport={"width": 360, "height": 740},
                                  permissions=["notifications"])
    try:
        context.add_init_script(f"({STUB})({json.dumps([fake_subscription()])})")
        page = context.new_page()
        page.goto(proxy.url + path, wait_until="commit", timeout=int(LIMIT_S * 1000))
        fcp = page.evaluate(FCP_JS, int(LIMIT_S * 1000))
        if fcp is None:
            raise RuntimeError("no first contentful paint")
        page.wait_for_selector("#alerts-form:not([hidden])", timeout=int(LIMIT_S * 1000))
        page.get_by_label("Urgent calls").check()
        page.get_by_role("button", name="Get alerts").click()
        # Awaited in the page: the site's CSP refuses wait_for_function's string eval.
        on_at = page.evaluate("""ms => new Promise((resolve, reject) => {
          const end = performance.now() + ms;
          const check = () => window.__onAt ? resolve(window.__onAt)
            : performance.now() > end ? reject(new Error("alerts never came on"))
            : setTimeout(check, 50);
          check();
        })""", int(LIMIT_S * 1000))
        return (on_at - fcp) / 1000
    finally:
        context.close()


def measure(root: Path, repeats: int) -> tuple[list[float], str, int]:
    from playwright.sync_api import sync_playwright

    port = free_port()
    times = []
    with vigil_server(root, VIGIL_BASE_URL=f"http://{HOST}:{port}") as server:
        path = panel_path(server.url)
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                for i in range(repeats):
                    # On the port the server takes for its own (VIGIL_BASE_URL), so the
                    # pages' requests are same-origin as far as the server can tell.
                    with ThrottlingProxy(server.port, port) as proxy:
                        seconds = one_visit(browser, proxy, path)
                    times.append(seconds)
                    log(f"  {root.name} {path} round {i + 1}: {seconds:.1f} s "
                        f"({proxy.sent['down']:,} B down)")
            finally:
                browser.close()
    return times, path, proxy.sent["down"]


def run(quick: bool) -> list[Row]:
    repeats = 1 if quick else 3
    times, path, down = measure(ROOT, repeats)
    figure = median(times)
    baseline = "— (set VIGIL_BENCH_BASELINE to a git revision to measure one)"
    note = (f"first visit: {', '.join(f'{t:.1f}' for t in times)} s from first paint of "
            f"{path} to “Alerts are on”; {down:,} B down in the last visit")
    revision = os.environ.get("VIGIL_BENCH_BASELINE")
    if revision:
        with checkout(revision) as root:
            before, before_path, before_down = measure(root, repeats)
        baseline = f"{median(before):.1f} s at {revision} ({before_path})"
        note += (f"; at {revision}: {', '.join(f'{t:.1f}' for t in before)} s, "
                 f"{before_down:,} B down")
    return [Row(f"first visit at {RATE_BITS // 1000} kbit/s, {RTT * 1000:.0f} ms RTT: "
                f"first paint to “Alerts are on” (median of {repeats})",
                f"{figure:.1f} s", baseline, note=note)]


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
