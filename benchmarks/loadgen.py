"""A small HTTP/1.1 load generator on raw asyncio streams: no third-party client, no
external service.

N connections, kept alive, each sending one request at a time (a closed loop) over a list
of paths for D seconds. Every response is read in full (Content-Length, chunked, or up to
the connection's close) before the next request on that connection.

    python -m benchmarks.loadgen http://127.0.0.1:8000 / /legal -c 50 -d 10 [--gzip]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024


class ProtocolError(Exception):
    pass


@dataclass
class LoadResult:
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, one per response
    statuses: Counter = field(default_factory=Counter)
    errors: int = 0  # transport and protocol failures (timeouts, resets, bad responses)
    error_samples: list[str] = field(default_factory=list)
    body_bytes: int = 0
    client_cpu: float = 0.0  # CPU seconds this process spent generating the load

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def bad_status(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 400)

    @property
    def error_count(self) -> int:
        """Failed requests: transport errors plus 4xx/5xx answers."""
        return self.errors + self.bad_status

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @classmethod
    def pooled(cls, parts: list[LoadResult]) -> LoadResult:
        """Several runs as one: every request of every run over their summed durations."""
        return cls(
            elapsed=sum(p.elapsed for p in parts),
            latencies=[x for p in parts for x in p.latencies],
            statuses=sum((p.statuses for p in parts), Counter()),
            errors=sum(p.errors for p in parts),
            error_samples=[x for p in parts for x in p.error_samples][:5],
            body_bytes=sum(p.body_bytes for p in parts),
            client_cpu=sum(p.client_cpu for p in parts),
        )

    def summary(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return (f"{self.requests} requests in {self.elapsed:.2f}s = {self.rps:.0f} req/s, "
                f"p50 {self.p50 * 1000:.2f} ms, p99 {self.p99 * 1000:.2f} ms, "
                f"errors {self.error_count} (transport {self.errors}), statuses {{{statuses}}}, "
                f"client CPU {self.client_cpu / self.elapsed * 100 if self.elapsed else 0:.0f}%")


def build_request(host: str, port: int, path: str, gzip: bool) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "User-Agent: vigil-loadgen",
        "Accept: */*",
    ]
    if gzip:
        lines.append("Accept-Encoding: gzip")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], int, bool]:
    """Read one response; return (status, headers, body length, keep-alive)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("response head too long") from exc
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("connection closed before a response") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection and parts[0] != "HTTP/1.0"

    size = 0
    if status in (204, 304) or 100 <= status < 200:
        pass
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            chunk = int(size_line.split(b";", 1)[0].strip(), 16)
            if chunk == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                break
            await reader.readexactly(chunk + 2)
            size += chunk
    elif "content-length" in headers:
        size = int(headers["content-length"])
        await reader.readexactly(size)
    else:
        size = len(await reader.read())  # the body runs to the connection's close
        keep_alive = False
    return status, headers, size, keep_alive


async def _worker(
    index: int, host: str, port: int, requests: list[bytes], deadline: float,
    timeout: float, result: LoadResult,
) -> None:
    reader = writer = None
    i = index  # each connection starts at a different place in the list
    try:
        while time.perf_counter() < deadline:
            request = requests[i % len(requests)]
            i += 1
            start = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES), timeout)
                    start = time.perf_counter()  # connection setup is not the request
                writer.write(request)
                status, _, size, keep_alive = await asyncio.wait_for(read_response(reader),
                                                                     timeout)
            except Exception as exc:  # noqa: BLE001 - any failure is one failed request
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{type(exc).__name__}: {exc}")
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)  # don't spin on a refused connection
                continue
            result.latencies.append(time.perf_counter() - start)
            result.statuses[status] += 1
            result.body_bytes += size
            if not keep_alive:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def run_load_async(
    url: str, paths: list[str], concurrency: int = 50, duration: float = 10.0,
    gzip: bool = False, timeout: float = 10.0,
) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [build_request(host, port, p, gzip) for p in paths]
    result = LoadResult()
    cpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + duration
    tasks = [
        asyncio.create_task(_worker(i, host, port, requests, deadline, timeout, result))
        for i in range(concurrency)
    ]
    # Each worker stops at the deadline; one in flight then gets at most `timeout` more.
    await asyncio.wait_for(asyncio.gather(*tasks), duration + timeout + 5)
    result.elapsed = time.perf_counter() - start
    result.client_cpu = time.process_time() - cpu0
    return result


def run_load(
    url: str, paths: list[str], concurrency: int = 50, duration: float = 10.0,
    gzip: bool = False, timeout: float = 10.0,
) -> LoadResult:
    """Blocking wrapper: run the load in a fresh event loop and return what it measured."""
    return asyncio.run(run_load_async(url, paths, concurrency, duration, gzip, timeout))


def main() -> None:
    parser = argparse.ArgumentParser(description="HTTP/1.1 keep-alive load generator")
    parser.add_argument("url", help="e.g. http://127.0.0.1:8000")
    parser.add_argument("paths", nargs="+")
    parser.add_argument("-c", "--concurrency", type=int, default=50)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip")
    args = parser.parse_args()
    result = run_load(args.url, args.paths, args.concurrency, args.duration, args.gzip)
    print(result.summary())
    for sample in result.error_samples:
        print("  error:", sample)
    print(f"  ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
