"""Push fanout from 1, 2 and 4 sending processes on one outbox, in one run.

What `serve --workers N` does for a fanout: N processes, each with the app's PushSender as
shipped, claim leased batches from the same SQLite outbox. Here the senders run alone
(no web server around them) so that only sending is measured. N subscriptions are stored
under the topic "all" in a fresh database; the test push service (tests/pushservice.py, its
own process: VAPID check and decryption of every message, 20 ms simulated round trip, as in
push_fanout) receives. For each process count the senders are started and wait, one
message is enqueued by this process (as an organizer's request in one worker would, with
the other workers finding it by polling), and the clock runs until no delivery is pending
or leased. Every run must deliver to each subscriber exactly once; the service counts.

Senders find new work within POLL_EVERY (0.2 s) of the enqueue, the same for every
process count. On a 2-core machine the push service takes a large share of the CPU, so
more sending processes help only as far as a core is free; the CPU each side used is
reported with the figures.

The same runs go on both backends, one after the other: the SQLite file, and PostgreSQL
in a throw-away cluster started for the run (tests/pgcluster.py), where the senders claim
their batches with SKIP LOCKED beside each other.

    python -m benchmarks --only push_processes [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from benchmarks.common import Row, log, run_async, temp_dir
from benchmarks.push_fanout import DELAY, LISTING, _Child, _child, _load, _reply, _settings, _store
from server.push import PushSender, enqueue, listing_message
from server.storage import open_database

PROCESSES = (1, 2, 4)
FULL_N = 10_000
QUICK_N = 2_000
RUNS = 2  # per process count, alternating, so a busy moment on a shared machine is shared


BACKENDS = ("sqlite", "postgresql")


async def _enqueue_and_wait(db: str, n: int, timeout: float) -> tuple[float, dict]:
    async with open_database(db) as db:
        t0 = time.perf_counter()
        await db.write_fn(lambda conn: enqueue(conn, listing_message(LISTING, "http://127.0.0.1:8000")))
        enqueued = time.perf_counter() - t0
        deadline = time.monotonic() + timeout
        while await db.scalar(
            "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending')"
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the fanout did not finish within {timeout:.0f} s")
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - t0
        rows = await db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
        owners = await db.scalar("SELECT COUNT(DISTINCT lease_owner) FROM deliveries")
        await db.write("DELETE FROM push_messages")
    return elapsed, {"statuses": {r[0]: r[1] for r in rows}, "senders": owners,
                     "enqueued": enqueued}


def _one(tmp: Path, db: str, origin: str, service: _Child, n: int, processes: int) -> dict:
    service.ask("clear")
    with ExitStack() as stack:
        senders = [stack.enter_context(_child(
            ["sender", "--db", db, "--origin", origin,
             "--key", str(tmp / "vapid.pem")], tmp / f"sender-{processes}-{i}.log",
            "benchmarks.push_processes"))
            for i in range(processes)]
        for sender in senders:
            sender.answer(timeout=120)  # started
        cpu0 = [s.cpu_seconds() for s in senders]
        scpu0 = service.cpu_seconds()
        elapsed, result = run_async(_enqueue_and_wait(db, n, max(120, n / 50)))
        cpu = sum(s.cpu_seconds() - c for s, c in zip(senders, cpu0, strict=True))
        service_cpu = service.cpu_seconds() - scpu0
    stats = service.ask("stats")
    ok = (stats["messages"] == stats["distinct"] == n and not stats["rejected"]
          and result["statuses"] == {"sent": n})
    run = {"processes": processes, "elapsed": elapsed, "rate": n / elapsed, "cpu": cpu,
           "service_cpu": service_cpu, "ok": ok, "stats": stats, **result}
    log(f"  {processes} sending process(es): {n:,} in {elapsed:.2f} s = {n / elapsed:,.0f}/s; "
        f"{result['senders']} took part; senders' CPU {cpu:.1f} s, service's "
        f"{service_cpu:.1f} s; queued in {result['enqueued'] * 1000:.0f} ms; received "
        f"{stats['messages']:,} ({stats['distinct']:,} "
        f"distinct){'' if ok else ' PROBLEM ' + repr(result['statuses'])}")
    return run


def run(quick: bool) -> list[Row]:
    from tests.pgcluster import Cluster

    rows = []
    cluster = Cluster().start()
    try:
        for backend in BACKENDS:
            with temp_dir("vigil-bench-pushprocs-") as tmp:
                if backend == "sqlite":
                    db = str(tmp / "vigil.db")
                else:
                    db = cluster.url("postgres")
                rows += _run_on(quick, backend, tmp, db)
    finally:
        cluster.stop()
    return rows


def _run_on(quick: bool, backend: str, tmp: Path, db: str) -> list[Row]:
    n = QUICK_N if quick else FULL_N
    load_before = _load()
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp / "vapid.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    log(f"push processes: starting the test push service with {n:,} subscribers")
    with _child(["service", "--delay", str(DELAY), "--count", str(n)],
                tmp / "pushservice.log") as service:
        hello = service.answer(timeout=max(120.0, n / 50))
        origin = hello["origin"]

        async def fill() -> None:
            async with open_database(db) as database:
                await _store(database, (
                    (s["endpoint"], s["keys"]["p256dh"], s["keys"]["auth"])
                    for s in hello["subscriptions"]))

        run_async(fill())
        runs: dict[int, list[dict]] = {p: [] for p in PROCESSES}
        for _ in range(RUNS):
            for processes in PROCESSES:
                runs[processes].append(_one(tmp, db, origin, service, n, processes))
    load = f"load average (1 min) {load_before} before, {_load()} after, on {os.cpu_count()} cores"
    log(f"  {load}")

    best = {p: max(runs[p], key=lambda r: r["rate"]) for p in PROCESSES}
    ok = all(r["ok"] for rs in runs.values() for r in rs)
    base = best[1]["rate"]
    rows = []
    for processes in PROCESSES:
        r = best[processes]
        ratio = r["rate"] / base
        rows.append(Row(
            f"push fanout on {backend} from {processes} sending "
            f"process{'es' if processes > 1 else ''}: "
            f"{n:,} subscriptions, push service 20 ms away",
            f"{r['rate']:,.0f} deliveries/s ({ratio:.2f}× one process; {r['senders']} "
            f"took part)" + ("" if ok else " PROBLEM: not every subscriber got it once"),
            baseline="—" if processes == 1 else f"1 process, same run: {base:,.0f}/s",
            goal="every subscriber once" if processes == 1 else
                 ("2 processes beat 1, every subscriber once" if processes == 2
                  else "every subscriber once"),
            met=ok and (processes != 2 or ratio > 1.0),
            note="" if processes != PROCESSES[-1] else (
                f"push processes: the best of {RUNS} alternating runs per count; each "
                f"process a PushSender as shipped on one {backend} outbox, alone (no web "
                "server); the test push service in its own process decrypts every message. "
                "queueing the message for every subscriber took " + ", ".join(
                    f"{x['enqueued'] * 1000:.0f}" for rs in runs.values() for x in rs)
                + " ms; CPU seconds per run (senders / push service): " + "; ".join(
                    f"{p}: {best[p]['cpu']:.1f} / {best[p]['service_cpu']:.1f}"
                    for p in PROCESSES) + "; every run: " + "; ".join(
                    f"{p}: " + ", ".join(f"{x['rate']:,.0f}/s" for x in runs[p])
                    for p in PROCESSES) + f"; machine {load}"),
        ))
    return rows


# ---------------------------------------------------------------------------- helper process


def _serve_sender(db: str, origin: str, key_path: Path) -> None:
    """A PushSender on the shared outbox until stdin closes; says "started" once running."""
    settings = _settings(key_path.parent, origin)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    async def main() -> None:
        async with open_database(db) as database, PushSender(settings, database, key):
            _reply("started")
            loop = asyncio.get_running_loop()
            while await loop.run_in_executor(None, sys.stdin.readline):
                pass

    run_async(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.push_processes",
                                     description="a sending process of the benchmark")
    sub = parser.add_subparsers(dest="role", required=True)
    sender = sub.add_parser("sender")
    sender.add_argument("--db", required=True, help="a SQLite file or a PostgreSQL URL")
    sender.add_argument("--origin", required=True)
    sender.add_argument("--key", type=Path, required=True)
    args = parser.parse_args(argv)
    _serve_sender(args.db, args.origin, args.key)


if __name__ == "__main__":
    main()
