"""asyncpg against psycopg 3 (with its pool) on the queries Vigil makes most: a page's
read by key, and a short write transaction. Needs a PostgreSQL URL: VIGIL_BENCH_PG, or a
throw-away cluster started for the run.

    python -m benchmarks --only pg_drivers
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import asyncpg
import psycopg
from psycopg_pool import AsyncConnectionPool

from benchmarks.common import Row, log, run_async

READS, WRITES, CONCURRENCY, ROUNDS = 4000, 1000, 8, 3


async def setup(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("DROP TABLE IF EXISTS bench_listings")
        await conn.execute("CREATE TABLE bench_listings (id BIGINT PRIMARY KEY, slug TEXT UNIQUE,"
                           " title TEXT, state TEXT, verified TEXT)")
        await conn.execute("INSERT INTO bench_listings SELECT i, 'listing-' || i, 'Vigil ' || i,"
                           " 'OR', '2026-12-06' FROM generate_series(1, 800) i")


async def spread(n: int, one) -> float:
    start = time.perf_counter()

    async def worker(k: int) -> None:
        for i in range(k, n, CONCURRENCY):
            await one(i)

    await asyncio.gather(*(worker(k) for k in range(CONCURRENCY)))
    return time.perf_counter() - start


async def with_asyncpg(url: str) -> tuple[float, float]:
    pool = await asyncpg.create_pool(url, min_size=CONCURRENCY, max_size=CONCURRENCY)

    async def read(i: int) -> None:
        async with pool.acquire() as conn:
            await conn.fetch("SELECT * FROM bench_listings WHERE slug = $1",
                             f"listing-{i % 800 + 1}")

    async def write(i: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE bench_listings SET verified = $1 WHERE id = $2",
                               str(i), i % 800 + 1)

    reads, writes = await spread(READS, read), await spread(WRITES, write)
    await pool.close()
    return reads, writes


async def with_psycopg(url: str) -> tuple[float, float]:
    pool = AsyncConnectionPool(url, min_size=CONCURRENCY, max_size=CONCURRENCY, open=False,
                               kwargs={"autocommit": True})
    await pool.open(wait=True)

    async def read(i: int) -> None:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT * FROM bench_listings WHERE slug = %s",
                                     (f"listing-{i % 800 + 1}",))
            await cur.fetchall()

    async def write(i: int) -> None:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("UPDATE bench_listings SET verified = %s WHERE id = %s",
                               (str(i), i % 800 + 1))

    reads, writes = await spread(READS, read), await spread(WRITES, write)
    await pool.close()
    return reads, writes


async def measure(url: str) -> dict[str, tuple[float, float]]:
    """Reads and writes a second, each driver's median of ROUNDS interleaved rounds."""
    await setup(url)
    results: dict[str, list[tuple[float, float]]] = {"asyncpg": [], "psycopg": []}
    for _ in range(ROUNDS):  # interleaved, so both see the same machine
        results["asyncpg"].append(await with_asyncpg(url))
        results["psycopg"].append(await with_psycopg(url))
    return {name: (READS / statistics.median(r for r, _ in runs),
                   WRITES / statistics.median(w for _, w in runs))
            for name, runs in results.items()}


def run(quick: bool) -> list[Row]:
    url = os.environ.get("VIGIL_BENCH_PG")
    cluster = None
    if not url:
        from tests.pgcluster import Cluster
        cluster = Cluster().start()
        url = cluster.url()
    try:
        rates = run_async(measure(url))
    finally:
        if cluster:
            cluster.stop()
    what = (f"{READS:,} reads by key and {WRITES:,} one-row write transactions, "
            f"{CONCURRENCY} at a time, median of {ROUNDS} interleaved rounds")
    log(f"pg drivers: {what}: {rates}")
    chosen = rates["psycopg"]
    return [Row(f"PostgreSQL driver: {name}" + (" (used)" if name == "psycopg" else ""),
                f"{reads:,.0f} reads/s, {writes:,.0f} writes/s",
                baseline="—" if name == "psycopg" else
                f"psycopg: {chosen[0]:,.0f} reads/s, {chosen[1]:,.0f} writes/s",
                note="" if name == "psycopg" else f"pg drivers: {what}")
            for name, (reads, writes) in rates.items()]


if __name__ == "__main__":
    for row in run(False):
        print(row)
