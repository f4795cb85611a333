"""Throughput of Vigil's pages and API against a bare Starlette endpoint, same run.

Both run under uvicorn in a subprocess (one worker, the same flags); the load generator
runs here, in another process, with the same concurrency and duration for every target.
The targets take turns (bare, then each Vigil target, ROUNDS times over), and each
target's turns are pooled, so drift in the shared machine's load falls on all of them
alike. Each target gets a short unrecorded warm-up first (Vigil renders a page once per
data revision and then serves it from memory). Requests send `Accept-Encoding: gzip`, as
browsers do. Vigil runs twice, on a SQLite file and on PostgreSQL (a throw-away cluster on
this machine), and each target is measured on both in the same turns. With
VIGIL_BENCH_BASELINE set to a git revision, that revision's Vigil (on SQLite) takes turns
too, so a change is read against the code before it from the same minutes.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import ExitStack

from benchmarks.common import (
    Row,
    Target,
    bare_server,
    checkout,
    interleaved,
    load_cli,
    log,
    postgresql_databases,
    vigil_server,
)
from benchmarks.loadgen import LoadResult

CONCURRENCY = 50
DURATION = 10.0
QUICK_DURATION = 3.0
ROUNDS = 5
QUICK_ROUNDS = 2

RATIO_GOAL = 0.60  # of bare, for the home page and the listings API
PG_RATIO_GOAL = 0.8  # PostgreSQL's requests a second against SQLite's, same target
ON_PG = " on PostgreSQL"
GOAL_TARGETS = {"Vigil /", "Vigil /api/v1/listings"}
MIXED = ["/", "/es/", "/legal", "/rights", "/listings/portland-or-macadam", "/api/v1/listings"]
TARGETS: list[tuple[str, list[str]]] = [
    ("Vigil /", ["/"]),
    ("Vigil /api/v1/listings", ["/api/v1/listings"]),
    ("Vigil mixed public pages", MIXED),
]


def figure(r: LoadResult) -> str:
    return (f"{r.rps:,.0f} req/s, p50 {r.p50 * 1000:.1f} ms, p99 {r.p99 * 1000:.1f} ms, "
            f"{r.error_count} errors")


def implementation() -> str:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = ("httptools with the request-head timeout" if importlib.util.find_spec("httptools")
            else "h11")
    return f"uvicorn loop={loop}, http={http} (server.serve.uvicorn_options, for both)"


def run(quick: bool, concurrency: int = CONCURRENCY, duration: float | None = None,
        gzip: bool = True) -> list[Row]:
    duration = duration or (QUICK_DURATION if quick else DURATION)
    rounds = QUICK_ROUNDS if quick else ROUNDS
    settings = (f"{concurrency} connections, {duration:.0f} s per target in {rounds} turns, "
                f"{'Accept-Encoding: gzip, ' if gzip else ''}{implementation()}")
    log(f"throughput: {settings}")
    revision = os.environ.get("VIGIL_BENCH_BASELINE")
    at = f" at {revision}"
    with (ExitStack() as stack, bare_server() as bare, vigil_server() as app,
          postgresql_databases() as new_db, vigil_server(VIGIL_DB=new_db()) as pg_app):
        before = []
        if revision:
            old = stack.enter_context(vigil_server(stack.enter_context(checkout(revision))))
            before = [Target(name + at, old, paths) for name, paths in TARGETS]
        base, *targets = interleaved(
            [Target("bare /json", bare, ["/json"])]
            + [Target(name, app, paths) for name, paths in TARGETS]
            + [Target(name + ON_PG, pg_app, paths) for name, paths in TARGETS] + before,
            concurrency, duration, rounds, gzip)
    on_sqlite = {t.name: t.result for t in targets if not t.name.endswith((ON_PG, at))}
    earlier = {t.name.removesuffix(at): t.result for t in targets
               if revision and t.name.endswith(at)}

    def brief(r: LoadResult) -> str:
        return f"{r.rps:,.0f} req/s, p50 {r.p50 * 1000:.1f} ms, p99 {r.p99 * 1000:.1f} ms"

    rows = [Row(
        "throughput: bare Starlette /json (turns taken with the app's, pooled)",
        figure(base.result),
        note=f"throughput: {settings}; the load generator runs in the benchmark process; "
             f"bare server CPU {base.server_cpu * 100:.0f}% of a core",
    )]
    baseline = f"bare /json: {brief(base.result)}"
    for target in targets:
        result = target.result
        ratio = result.rps / base.result.rps if base.result.rps else float("nan")
        goal = target.name in GOAL_TARGETS
        met = (ratio >= RATIO_GOAL and result.error_count == 0) if goal else None
        shown = f"{figure(result)} ({ratio:.2f}× bare"
        if target.name.endswith(ON_PG):
            sqlite = on_sqlite[target.name.removesuffix(ON_PG)]
            against = result.rps / sqlite.rps if sqlite.rps else float("nan")
            shown += f", {against:.2f}× SQLite"
            goal, met = True, against >= PG_RATIO_GOAL and result.error_count == 0
        elif target.name in earlier and earlier[target.name].rps:
            shown += f", {result.rps / earlier[target.name].rps:.2f}× {revision}"
        rows.append(Row(f"throughput: {target.name}", shown + ")",
                        baseline=baseline,
                        goal=(f"≥ {PG_RATIO_GOAL}× SQLite, 0 errors" if target.name.endswith(ON_PG)
                              else f"≥ {RATIO_GOAL:.0%} of bare, 0 errors") if goal else "—",
                        met=met,
                        note=f"{target.name}: server CPU {target.server_cpu * 100:.0f}% of a "
                             f"core, load generator CPU {target.client_cpu * 100:.0f}%"))
    return rows


def main() -> None:
    load_cli(__doc__, run, CONCURRENCY)


if __name__ == "__main__":
    main()
