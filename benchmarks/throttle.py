"""A throttling TCP proxy: a slow link between the browser and the server.

Chromium's own throttling applies per target, so the service worker's downloads would escape
it; a proxy in front of the server slows everything that crosses the link alike. Each
direction has one shared bandwidth (every connection queues on it, as on a real radio link)
and half the round-trip time of latency; bytes are counted per direction.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

CHUNK = 4096
REQUEST_LINE = re.compile(rb"(?:^|\r\n)([A-Z]+ \S+) HTTP/1\.[01]\r\n")


@dataclass
class Link:
    """One direction of the link: `rate` bytes/s shared by every connection, `delay` seconds."""

    rate: float
    delay: float
    bytes: int = 0
    requests: list[str] = field(default_factory=list)  # request lines seen going up
    _free_at: float = 0.0

    def transmit(self, size: int, arrived: float) -> float:
        """When `size` bytes that reached the link at `arrived` are through it."""
        start = max(arrived, self._free_at)
        self._free_at = start + size / self.rate
        self.bytes += size
        return self._free_at + self.delay


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    sender = asyncio.create_task(deliver())
    try:
        while data := await reader.read(CHUNK):
            link.requests += (m.decode("latin-1") for m in REQUEST_LINE.findall(data))
            await queue.put((link.transmit(len(data), loop.time()), data))
    except OSError:
        pass
    finally:
        await queue.put((loop.time(), b""))
        with contextlib.suppress(OSError):
            await sender


class ThrottlingProxy:
    """Listens on 127.0.0.1:`port` and forwards to 127.0.0.1:`upstream` over a slow link."""

    def __init__(self, port: int, upstream: int, kbit_per_s: float, rtt_ms: float):
        rate = kbit_per_s * 1000 / 8
        self.port = port
        self.upstream = upstream
        self.down = Link(rate, rtt_ms / 2000)
        self.up = Link(rate, rtt_ms / 2000)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter):
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(_pump(client_r, server_w, self.up),
                                 _pump(server_r, client_w, self.down))
        finally:
            for w in (server_w, client_w):
                w.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[ThrottlingProxy]:
        """Serve from a thread of its own for the duration of the block."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        stop: asyncio.Future | None = None

        async def main() -> None:
            nonlocal stop
            stop = loop.create_future()
            server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            started.set()
            async with server:
                await stop

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the throttling proxy did not start")
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))
            thread.join(10)
            loop.close()

    def reset_counts(self) -> None:
        self.down.bytes = self.up.bytes = 0
        self.up.requests = []
