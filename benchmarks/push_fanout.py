"""Push fanout: Vigil's PushSender against a naive sequential pywebpush loop, same run.

(a) Deliveries per second. The test push service (tests/pushservice.py: it verifies every
    VAPID signature and decrypts every body) runs in its own process on loopback and
    answers each request after a simulated network round trip of 20 ms. N subscriptions
    (one P-256 key pair each, made in the service's process, which alone needs the private
    halves) are stored in a fresh database under the topic "all"; one listing message is
    enqueued and a PushSender with the shipped settings sends it to all of them, on the
    event loop the server runs on (uvloop, as uvicorn picks it). The clock runs from
    enqueue() until PushSender.idle(). The service verifies each VAPID token's signature
    once and its claims on every request, as real push services cache the check; it
    decrypts every message. The baseline, to the same service with the
    same delay, is a sequential `pywebpush.webpush()` loop (one call per subscription, fresh
    VAPID claims each time, as its README shows). Both again at 0 ms: the app's figure there
    is bounded by the sender's own CPU cost (and the service's, on a 2-core machine).
(b) Memory. A fresh process opens a database that already holds N subscriptions (they
    share a few real key pairs; every endpoint is distinct) and fans one message out to a
    trivial loopback receiver (also its own process, 20 ms, answers 201 without decrypting:
    the sender's memory is what is measured). Its peak RSS (VmHWM; see _measure_memory for
    why not ru_maxrss) is reported next to its RSS just before the fanout, for a small and a
    large N: flat means the sender streams batches rather than loading the whole fanout.

The machine's load average is logged with each figure: these machines are shared, and on 2
cores another busy process takes CPU from the sender and the push service alike.

    python -m benchmarks --only push_fanout [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import queue
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from benchmarks.common import ROOT, Row, _clean_env, log, run_async, stop_process, temp_dir
from server.config import Settings
from server.database import Database
from server.push import Message, PushSender, delivery_counts, enqueue, listing_message

DELAY = 0.02  # BENCHMARKS.md: the push service answers after a 20 ms round trip
SUBJECT = "mailto:bench@example.invalid"
RATE_GOAL = 1000.0  # deliveries/s
RATIO_GOAL = 10.0  # × the naive loop
MEMORY_GOAL_MB = 150.0
FLAT_GOAL_MB = 10.0  # peak RSS may grow at most this much from the small N to the large N
MEMORY_KEYS = 8  # distinct key pairs shared by the memory run's subscriptions
NAIVE_AT_ZERO = 200  # messages for the naive loop at 0 ms (a note, not a goal)


@dataclass(frozen=True)
class Sizes:
    fanout: int
    naive: int
    memory: tuple[int, int]


FULL = Sizes(fanout=10_000, naive=500, memory=(10_000, 100_000))
QUICK = Sizes(fanout=2_000, naive=200, memory=(2_000, 20_000))

LISTING = {
    "slug": "portland-or-bench",
    "kind": "vigil",
    "title": "Candlelight vigil for the neighbours we lost",
    "city": "Portland",
    "state": "OR",
    "starts": "2099-06-01T19:30",
    "address": "Pioneer Courthouse Square, 701 SW 6th Ave",
    "description": "Bring a candle and something to write on; organizers will read the names "
                   "at eight. Accessible seating near the fountain. " * 2,
}


# ---------------------------------------------------------------------------- helpers


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _settings(tmp: Path, origin: str) -> Settings:
    """What the app ships (push_concurrency, timeouts) with the loopback service allowed."""
    return Settings(
        db_path=tmp / "vigil.db",
        secret_key="benchmark-secret-key-that-is-long-enough-0123456789",
        vapid_key_path=None,
        vapid_subject=SUBJECT,
        push_hosts=(origin,),
        base_url="http://127.0.0.1:8000",
        root=ROOT,
        data_dir=ROOT / "data",
    )


def _proc_status(field: str) -> float:
    """A /proc/self/status size field (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reply(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class _Child:
    """A helper process (`python -m benchmarks.push_fanout ...`, or another benchmark
    module) that answers one JSON line on stdout per command line on stdin."""

    def __init__(self, args: list[str], log_path: Path,
                 module: str = "benchmarks.push_fanout") -> None:
        self.log_path = log_path
        with log_path.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, *args], cwd=ROOT,
                env=_clean_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                text=True, bufsize=1,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def answer(self, timeout: float) -> Any:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"helper {self.proc.args[3:]} gave no answer within "
                               f"{timeout:.0f} s (exit {self.proc.poll()}):\n{tail}")
        return json.loads(line)

    def ask(self, command: str, timeout: float = 30) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.answer(timeout)

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # EOF: the helper stops by itself
            self.proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop_process(self.proc)


@contextmanager
def _child(args: list[str], log_path: Path,
           module: str = "benchmarks.push_fanout") -> Iterator[_Child]:
    child = _Child(args, log_path, module)
    try:
        yield child
    finally:
        child.close()


async def _store(db: Database, rows: Iterator[tuple[str, str, str]], batch: int = 5000) -> int:
    """Insert (endpoint, p256dh, auth) subscriptions in batches, all under topic "all"."""
    total = 0
    while True:
        chunk = [row for _, row in zip(range(batch), rows, strict=False)]
        if not chunk:
            return total

        async def run(conn: Any, chunk: list = chunk, after: int = total) -> None:
            await conn.executemany(
                "INSERT INTO subscriptions (endpoint, p256dh, auth, created) "
                "VALUES (?, ?, ?, '2025-01-01')", chunk)
            await conn.execute(
                "INSERT INTO subscription_topics (subscription_id, topic) "
                "SELECT id, 'all' FROM subscriptions WHERE id > ?", (after,))

        await db.write_fn(run)
        total += len(chunk)


# ---------------------------------------------------------------------------- (a) speed


@dataclass
class AppRun:
    n: int
    elapsed: float
    enqueue: float
    sent: int
    other: dict[str, int]
    cpu: float  # this process (the sender), seconds
    service_cpu: float
    received: int
    distinct: int
    rejected: int
    samples: list[str]

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0

    @property
    def ok(self) -> bool:
        return self.sent == self.n == self.received == self.distinct and not self.rejected

    def check(self) -> str:
        return "" if self.ok else (
            f" PROBLEM: sent {self.sent}/{self.n}, others {self.other}, service decrypted "
            f"{self.received} ({self.distinct} distinct), rejected {self.rejected} "
            f"{self.samples}")


@dataclass
class NaiveRun:
    n: int
    elapsed: float
    ok: int
    failures: list[str]
    cpu: float

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


async def _enqueue(db: Database, sender: PushSender, message: Message) -> int:
    """Queue the fanout in one transaction and wake the sender after it commits."""
    message_id = await db.write_fn(lambda conn: enqueue(conn, message))
    sender.wake()
    return message_id


async def _app_fanout(db: Database, settings: Settings, key: ec.EllipticCurvePrivateKey,
                      service: _Child, n: int, delay: float) -> AppRun:
    service.ask("clear")
    service.ask(f"delay {delay}")
    message = listing_message(LISTING, "http://127.0.0.1:8000")
    cpu0, scpu0 = time.process_time(), service.cpu_seconds()
    async with PushSender(settings, db, key) as sender:
        t0 = time.perf_counter()
        message_id = await _enqueue(db, sender, message)
        t1 = time.perf_counter()
        await sender.idle(within=max(120.0, n / 50))
        t2 = time.perf_counter()
    cpu, service_cpu = time.process_time() - cpu0, service.cpu_seconds() - scpu0
    result = await delivery_counts(db, message_id)
    stats = service.ask("stats")
    sent = result.pop("sent")
    run = AppRun(n, t2 - t0, t1 - t0, sent, {k: v for k, v in result.items() if v}, cpu,
                 service_cpu, stats["messages"], stats["distinct"], stats["rejected"],
                 stats["samples"])
    log(f"  app at {delay * 1000:.0f} ms: {run.sent:,} in {run.elapsed:.2f} s = "
        f"{run.rate:,.0f}/s (enqueue {run.enqueue * 1000:.0f} ms), sender CPU "
        f"{run.cpu / max(run.sent, 1) * 1e6:.0f} µs/delivery, service CPU "
        f"{run.service_cpu:.1f} s{run.check()}")
    return run


def _naive(service: _Child, subscriptions: list[dict], key: ec.EllipticCurvePrivateKey,
           data: str, delay: float) -> NaiveRun:
    from py_vapid import Vapid02
    from pywebpush import WebPushException, webpush

    service.ask("clear")
    service.ask(f"delay {delay}")
    vapid = Vapid02(private_key=key)
    ok, failures = 0, []
    cpu0, t0 = time.process_time(), time.perf_counter()
    for info in subscriptions:
        try:
            webpush(info, data, vapid_private_key=vapid, vapid_claims={"sub": SUBJECT},
                    ttl=60, timeout=10)
            ok += 1
        except WebPushException as exc:
            failures.append(str(exc).splitlines()[0][:120])
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stats = service.ask("stats")
    if stats["messages"] != ok:
        failures.append(f"the service decrypted {stats['messages']} of {ok} accepted")
    run = NaiveRun(len(subscriptions), elapsed, ok, failures, cpu)
    log(f"  naive pywebpush loop at {delay * 1000:.0f} ms: {ok}/{run.n} in {elapsed:.2f} s = "
        f"{run.rate:,.0f}/s, CPU {cpu / max(ok, 1) * 1e6:.0f} µs/message"
        + (f"; failures: {failures[:3]}" if failures else ""))
    return run


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _speed(sizes: Sizes) -> list[Row]:
    n = sizes.fanout
    load_before = _load()
    key = ec.generate_private_key(ec.SECP256R1())
    with temp_dir("vigil-bench-push-") as tmp:
        log(f"push fanout: starting the test push service with {n:,} subscribers")
        with _child(["service", "--delay", str(DELAY), "--count", str(n)],
                    tmp / "pushservice.log") as service:
            hello = service.answer(timeout=max(120.0, n / 50))
            origin, subscriptions = hello["origin"], hello["subscriptions"]
            settings = _settings(tmp, origin)
            data = json.dumps(listing_message(LISTING, "http://127.0.0.1:8000").payload,
                              ensure_ascii=False, separators=(",", ":"))

            naive = _naive(service, subscriptions[:sizes.naive], key, data, DELAY)

            async def app_runs() -> tuple[AppRun, AppRun]:
                async with Database(settings.db_path) as db:
                    rows = ((s["endpoint"], s["keys"]["p256dh"], s["keys"]["auth"])
                            for s in subscriptions)
                    await _store(db, rows)
                    slow = await _app_fanout(db, settings, key, service, n, DELAY)
                    fast = await _app_fanout(db, settings, key, service, n, 0.0)
                    return slow, fast

            slow, fast = run_async(app_runs())
            naive0 = _naive(service, subscriptions[:NAIVE_AT_ZERO], key, data, 0.0)
    load = f"load average (1 min) {load_before} before, {_load()} after, on {os.cpu_count()} cores"
    log(f"  {load}")

    ratio = slow.rate / naive.rate if naive.rate else float("nan")
    met = slow.ok and slow.rate >= RATE_GOAL and ratio >= RATIO_GOAL and not naive.failures
    concurrency = settings.push_concurrency
    return [
        Row(f"push fanout: {n:,} subscriptions, push service 20 ms away",
            f"{slow.rate:,.0f} deliveries/s ({ratio:.1f}× naive; {slow.sent:,} sent in "
            f"{slow.elapsed:.1f} s){slow.check()}",
            baseline=f"sequential pywebpush.webpush() loop, 20 ms: {naive.rate:,.1f}/s "
                     f"({naive.ok}/{naive.n} in {naive.elapsed:.1f} s)"
                     + (f" PROBLEM: {naive.failures[:2]}" if naive.failures else ""),
            goal=f"≥ {RATE_GOAL:,.0f}/s and ≥ {RATIO_GOAL:.0f}× naive", met=met,
            note=f"push fanout: PushSender as shipped (push_concurrency {concurrency}) in "
                 f"this process, the test push service (VAPID check + decryption of every "
                 f"message) in its own; timed from enqueue() ({slow.enqueue * 1000:.0f} ms for "
                 f"{n:,} rows) to idle(); every message decrypted by the service: "
                 f"{slow.received:,}; sender CPU {slow.cpu / max(slow.sent, 1) * 1e6:.0f} "
                 f"µs/delivery ({slow.cpu / slow.elapsed * 100:.0f}% of a core), service "
                 f"CPU {slow.service_cpu / slow.elapsed * 100:.0f}% of a core; naive loop "
                 f"CPU {naive.cpu / max(naive.ok, 1) * 1e6:.0f} µs/message; machine {load}"),
        Row(f"push fanout: {n:,} subscriptions, push service 0 ms away (sender CPU cost)",
            f"{fast.rate:,.0f} deliveries/s ({fast.sent:,} in {fast.elapsed:.1f} s), sender "
            f"CPU {fast.cpu / max(fast.sent, 1) * 1e6:.0f} µs/delivery{fast.check()}",
            baseline=f"sequential pywebpush loop, 0 ms: {naive0.rate:,.0f}/s "
                     f"({naive0.ok}/{naive0.n})",
            note=f"push fanout at 0 ms: at {fast.cpu / max(fast.sent, 1) * 1e6:.0f} µs of CPU "
                 f"per delivery one free core would send about "
                 f"{fast.sent / fast.cpu if fast.cpu else 0:,.0f}/s; "
                 f"the sender used {fast.cpu / fast.elapsed * 100:.0f}% "
                 f"of a core and the push service {fast.service_cpu / fast.elapsed * 100:.0f}%"
                 f" (they share the machine's {os.cpu_count()} cores); naive loop CPU "
                 f"{naive0.cpu / max(naive0.ok, 1) * 1e6:.0f} µs/message"),
    ]


# ---------------------------------------------------------------------------- (b) memory


def _memory_rows(count: int) -> Iterator[tuple[str, str, str]]:
    keys = []
    for _ in range(MEMORY_KEYS):
        public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        keys.append((_b64url(public), _b64url(os.urandom(16))))
    for i in range(count):
        p256dh, auth = keys[i % MEMORY_KEYS]
        yield f"/push/{i:08d}-{os.urandom(8).hex()}", p256dh, auth


def _quarters(result: dict) -> str:
    return " / ".join(f"{q:.1f}" for q in result["quarters"])


def _memory_one(origin: str, count: int) -> dict:
    with temp_dir("vigil-bench-pushmem-") as tmp:
        settings = _settings(tmp, origin)

        async def fill() -> None:
            async with Database(settings.db_path) as db:
                rows = ((origin + path, p, a) for path, p, a in _memory_rows(count))
                await _store(db, rows)

        asyncio.run(fill())
        argv = [sys.executable, "-m", "benchmarks.push_fanout", "memory", "--db",
                str(settings.db_path), "--origin", origin, "--count", str(count)]
        timeout = max(120.0, count / 100)
        proc = subprocess.run(argv, cwd=ROOT, env=_clean_env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or not proc.stdout.strip():
            raise RuntimeError(f"memory run with {count:,} subscriptions failed "
                               f"({proc.returncode}):\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    log(f"  memory, {count:,} subscriptions: RSS before {result['rss_before']:.1f} MB (peak "
        f"so far {result['peak_before']:.1f}), peak {result['peak']:.1f} MB, highest RSS by "
        f"quarter of the fanout {_quarters(result)} MB (ru_maxrss {result['ru_maxrss']:.1f} MB, "
        f"inherited from the parent), sent {result['sent']:,} in {result['elapsed']:.1f} s = "
        f"{result['sent'] / result['elapsed']:,.0f}/s")
    return result


def _memory(sizes: Sizes) -> list[Row]:
    small_n, large_n = sizes.memory
    load_before = _load()
    with temp_dir("vigil-bench-pushrecv-") as tmp, \
            _child(["receiver", "--delay", str(DELAY)], tmp / "receiver.log") as receiver:
        origin = receiver.answer(timeout=60)["origin"]
        small = _memory_one(origin, small_n)
        large = _memory_one(origin, large_n)
        received = receiver.ask("stats")["received"]
    load = f"load average {load_before} before, {_load()} after"
    growth = large["peak"] - small["peak"]
    rows = []
    for n, r in ((small_n, small), (large_n, large)):
        ok = r["sent"] == n
        big = n == large_n
        problem = "" if ok else f" PROBLEM: sent {r['sent']:,}/{n:,} {r['other']}"
        met = (ok and r["peak"] < MEMORY_GOAL_MB and growth <= FLAT_GOAL_MB) if big else None
        rows.append(Row(
            f"push fanout memory: {n:,} stored subscriptions",
            f"peak RSS {r['peak']:.1f} MB (+{r['peak'] - r['rss_before']:.1f} MB during the "
            f"fanout){problem}"
            + (f"; {growth:+.1f} MB against {small_n:,}" if big else ""),
            baseline=f"same process before the fanout: {r['rss_before']:.1f} MB",
            goal=f"< {MEMORY_GOAL_MB:.0f} MB, flat (≤ +{FLAT_GOAL_MB:.0f} MB from "
                 f"{small_n:,} to {large_n:,})" if big else "—",
            met=met,
            note=(f"push fanout memory: peak RSS (VmHWM) of a fresh process that opens a database "
                  f"already holding the subscriptions and fans one message out with "
                  f"PushSender to a loopback receiver 20 ms away that answers 201 without "
                  f"decrypting (its own process; {received:,} requests received in all); "
                  f"{large_n:,} sent in {large['elapsed']:.1f} s = "
                  f"{large['sent'] / large['elapsed']:,.0f}/s; highest RSS in each quarter "
                  f"of that fanout: {_quarters(large)} MB ({small_n:,}: {_quarters(small)} MB); "
                  f"{load}") if big else "",
        ))
    return rows


def run(quick: bool) -> list[Row]:
    sizes = QUICK if quick else FULL
    rows = _speed(sizes) + _memory(sizes)
    if quick:
        # The goals are stated for the full sizes; a quick run only checks that it all works.
        for row in rows:
            if row.met is not None:
                row.met = False if "PROBLEM" in row.figure + row.baseline else None
                row.goal += f" (judged on the full run: {FULL.fanout:,} / {FULL.memory[1]:,})"
    return rows


# ---------------------------------------------------------------------------- helper processes


def _serve_push_service(delay: float, count: int) -> None:
    """The test push service, answering commands on stdin: delay S, clear, stats."""
    from tests.pushservice import PushService

    service = PushService(delay=delay).start()
    try:
        subscribers = [service.new_subscription() for _ in range(count)]
        _reply({"origin": service.origin,
                "subscriptions": [s.subscription_info() for s in subscribers]})
        del subscribers
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            if command == "delay":
                service.delay = float(arg)
                _reply("ok")
            elif command == "clear":
                service.clear()
                _reply("ok")
            elif command == "stats":
                messages, rejected = service.messages, service.rejected
                _reply({
                    "messages": len(messages),
                    "distinct": len({m.sub_id for m in messages}),
                    "payloads": len({m.payload.rstrip() for m in messages}),
                    "rejected": len(rejected),
                    "samples": [f"{r.status} {r.reason}"[:160] for r in rejected[:3]],
                    "errors": [repr(e)[:160] for e in service.errors[:3]],
                })
            else:
                _reply({"error": f"unknown command {command!r}"})
    finally:
        service.stop()


def _serve_receiver(delay: float) -> None:
    """A loopback endpoint that reads each push, waits `delay` and answers 201."""
    from aiohttp import web

    received = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal received
        await request.read()
        await asyncio.sleep(delay)
        received += 1
        return web.Response(status=201)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/push/{sub_id}", handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        _reply({"origin": f"http://127.0.0.1:{runner.addresses[0][1]}"})
        loop = asyncio.get_running_loop()
        try:
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                if line.strip() == "stats":
                    _reply({"received": received})
        finally:
            await runner.cleanup()

    asyncio.run(main())


def _measure_memory(db_path: Path, origin: str, count: int) -> None:
    """Fan one message out from a database that already holds `count` subscriptions.

    The peak is VmHWM, this process's own high-water mark. ru_maxrss is not used: after
    fork + exec it starts at the forking parent's RSS (the kernel carries the old image's
    peak across exec), so it would report the benchmark process, not this one.
    """
    settings = _settings(db_path.parent, origin)
    key = ec.generate_private_key(ec.SECP256R1())

    async def main() -> dict:
        async with Database(db_path) as db:
            stored = await db.scalar("SELECT COUNT(*) FROM subscriptions")
            assert stored == count, (stored, count)
            before = {"rss_before": _proc_status("VmRSS"), "peak_before": _proc_status("VmHWM")}
            samples: list[tuple[float, float]] = []

            async def sample() -> None:
                while True:
                    samples.append((time.perf_counter(), _proc_status("VmRSS")))
                    await asyncio.sleep(0.25)

            async with PushSender(settings, db, key) as sender:
                t0 = time.perf_counter()
                sampler = asyncio.create_task(sample())
                message_id = await _enqueue(db, sender, listing_message(LISTING, "http://127.0.0.1:8000"))
                await sender.idle(within=max(120.0, count / 100))
                elapsed = time.perf_counter() - t0
                sampler.cancel()
            result = await delivery_counts(db, message_id)
        sent = result.pop("sent")
        # The highest RSS seen in each quarter of the fanout: flat if the last is no higher.
        quarters = [max((rss for t, rss in samples
                         if q * elapsed / 4 <= t - t0 <= (q + 1) * elapsed / 4), default=0.0)
                    for q in range(4)]
        return {**before, "sent": sent, "other": {k: v for k, v in result.items() if v},
                "elapsed": elapsed, "quarters": quarters}

    result = run_async(main())
    result["peak"] = _proc_status("VmHWM")
    result["rss_after"] = _proc_status("VmRSS")
    result["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _reply(result)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.push_fanout",
                                     description="helper processes of the push benchmark")
    sub = parser.add_subparsers(dest="role", required=True)
    service = sub.add_parser("service")
    service.add_argument("--delay", type=float, default=DELAY)
    service.add_argument("--count", type=int, required=True)
    receiver = sub.add_parser("receiver")
    receiver.add_argument("--delay", type=float, default=DELAY)
    memory = sub.add_parser("memory")
    memory.add_argument("--db", type=Path, required=True)
    memory.add_argument("--origin", required=True)
    memory.add_argument("--count", type=int, required=True)
    args = parser.parse_args(argv)
    if args.role == "service":
        _serve_push_service(args.delay, args.count)
    elif args.role == "receiver":
        _serve_receiver(args.delay)
    else:
        _measure_memory(args.db, args.origin, args.count)


if __name__ == "__main__":
    main()
