"""Throughput of Vigil's pages and API against a bare Starlette endpoint, same run.

Both run under uvicorn in a subprocess (one worker, the same flags); the load generator
runs here, in another process, with the same concurrency and duration for every target,
one target after the other: bare, the Vigil targets, bare again (the baseline pools both
bare runs, so drift in the machine's load during the run shows and is shared out). Each
target gets a short unrecorded warm-up first (Vigil renders a page once per data revision
and then serves it from memory). Requests send `Accept-Encoding: gzip`, as browsers do.
"""

from __future__ import annotations

import importlib.util

from benchmarks.common import Row, Server, bare_server, load_cli, log, vigil_server
from benchmarks.loadgen import LoadResult, run_load

CONCURRENCY = 50
DURATION = 10.0
QUICK_DURATION = 3.0

MIXED = ["/", "/es/", "/legal", "/rights", "/listings/portland-or-macadam", "/api/v1/listings"]
TARGETS: list[tuple[str, list[str]]] = [
    ("Vigil /", ["/"]),
    ("Vigil /api/v1/listings", ["/api/v1/listings"]),
    ("Vigil mixed public pages", MIXED),
]


def measure(server: Server, paths: list[str], concurrency: int, duration: float,
            gzip: bool) -> tuple[LoadResult, float]:
    """Warm up, then load `paths`; return the result and the server's CPU use (0..1 cores)."""
    run_load(server.url, paths, concurrency, min(1.0, duration / 3), gzip)
    cpu0 = server.cpu_seconds()
    result = run_load(server.url, paths, concurrency, duration, gzip)
    server_cpu = (server.cpu_seconds() - cpu0) / result.elapsed if result.elapsed else 0.0
    log(f"  {server.name} {' '.join(paths)}: {result.summary()}, "
        f"server CPU {server_cpu * 100:.0f}%")
    for sample in result.error_samples:
        log(f"    error: {sample}")
    if result.error_count:
        unusual = [line for line in server.logs().splitlines() if '" 200 ' not in line]
        log("    server log (without 200s), last lines:\n      " + "\n      ".join(unusual[-40:]))
    return result, server_cpu


def figure(r: LoadResult) -> str:
    return (f"{r.rps:,.0f} req/s, p50 {r.p50 * 1000:.1f} ms, p99 {r.p99 * 1000:.1f} ms, "
            f"{r.error_count} errors")


def implementation() -> str:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn loop={loop}, http={http} (what 'auto' picks here)"


def run(quick: bool, concurrency: int = CONCURRENCY, duration: float | None = None,
        gzip: bool = True) -> list[Row]:
    duration = duration or (QUICK_DURATION if quick else DURATION)
    settings = (f"{concurrency} connections, {duration:.0f} s per target, "
                f"{'Accept-Encoding: gzip, ' if gzip else ''}{implementation()}")
    log(f"throughput: {settings}")
    # The bare baseline runs before and after the app, and the two are pooled: on a
    # shared machine the difference between them shows how much the load around us moved.
    with bare_server() as bare:
        before, before_cpu = measure(bare, ["/json"], concurrency, duration, gzip)
        results = []
        with vigil_server() as app:
            for name, paths in TARGETS:
                results.append((name, *measure(app, paths, concurrency, duration, gzip)))
        after, after_cpu = measure(bare, ["/json"], concurrency, duration, gzip)
    # Pooled: all requests of both runs over both durations, percentiles over both.
    base = LoadResult(elapsed=before.elapsed + after.elapsed,
                      latencies=before.latencies + after.latencies,
                      statuses=before.statuses + after.statuses,
                      errors=before.errors + after.errors)

    def brief(r: LoadResult) -> str:
        return f"{r.rps:,.0f} req/s, p50 {r.p50 * 1000:.1f} ms, p99 {r.p99 * 1000:.1f} ms"

    rows = [Row(
        "throughput: bare Starlette /json (runs before and after the app, pooled)",
        figure(base),
        note=f"throughput: {settings}; the load generator runs in the benchmark process; "
             f"bare before: {brief(before)}, server CPU {before_cpu * 100:.0f}% of a core; "
             f"after: {brief(after)}, server CPU {after_cpu * 100:.0f}%",
    )]
    baseline = f"bare /json: {brief(base)}"
    for name, result, cpu in results:
        ratio = result.rps / base.rps if base.rps else float("nan")
        client = result.client_cpu / result.elapsed * 100 if result.elapsed else 0
        rows.append(Row(f"throughput: {name}", f"{figure(result)} ({ratio:.2f}× bare)",
                        baseline=baseline,
                        note=f"{name}: server CPU {cpu * 100:.0f}% of a core, load generator "
                             f"CPU {client:.0f}%"))
    return rows


def main() -> None:
    load_cli(__doc__, run, CONCURRENCY)


if __name__ == "__main__":
    main()
