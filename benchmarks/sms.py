"""Text-message fanout: queue and send 10,000 texts through the fake provider at its limit.

The fake Twilio-compatible provider (tests/smsprovider.py: it checks Basic auth and the form
of every request) runs in its own process on loopback and accepts RATE texts a second,
answering 429 beyond that, as a carrier's throughput limit does. N subscribers (encrypted
numbers, half of them in Spanish) are stored in a fresh database; one urgent alert is queued
for all of them with store.queue_alert (timed on its own) and an SmsSender with
VIGIL_SMS_RATE = RATE sends them until idle(). Reported: the time to queue, the time to
send and the rate achieved against the configured one, 429s met (the pacing should leave
none), and CPU per text of this process (the sender, its database thread and the queueing)
and of the provider's.

    python -m benchmarks --only sms [--quick]      or      python -m benchmarks.sms [N RATE]
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import Row, log, temp_dir
from server import ROOT
from server.config import Settings
from server.database import Database
from server.sms import numbers, store
from server.sms.sender import SmsSender
from tests.smsprovider import ACCOUNT, FROM, TOKEN

FULL = (10_000, 500.0)
QUICK = (1_000, 500.0)
SECRET = "benchmark-secret-key-0123456789abcdef"
ALERT = {"id": 1, "title": "Urgent: legal observers needed at the Portland ICE office",
         "title_es": "Urgente: se necesitan observadores legales en la oficina de ICE",
         "body": "Come now.", "body_es": "Venga ahora.", "states": ["OR"], "urgent": 1,
         "url": "/legal", "status": "sent", "revision": 1}


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _subscribe(db: Database, n: int) -> None:
    rows = []
    for i in range(n):
        number = f"+1503{i:07d}"
        rows.append((numbers.number_hash(SECRET, number), numbers.encrypt(SECRET, number),
                     "es" if i % 2 else "en", '["state:OR"]'))

    async def insert(conn) -> None:
        await conn.executemany(
            "INSERT INTO sms_subscribers (number_hash, number_enc, lang, topics, confirmed, "
            "created) VALUES (?, ?, ?, ?, 1, '2026-12-06')", rows)

    await db.write_fn(insert)


async def _fanout(n: int, rate: float, work: Path, url: str) -> dict:
    settings = Settings(db_path=work / "vigil.db", secret_key=SECRET, vapid_key_path=None,
                        base_url="https://vigil.example", sms_url=url, sms_from=FROM,
                        sms_user=ACCOUNT, sms_token=TOKEN, sms_rate=rate)
    db = await Database(settings.db_path).connect()
    try:
        await _subscribe(db, n)
        cpu0, t0 = _cpu_self(), time.perf_counter()
        queued = await db.write_fn(lambda conn: store.queue_alert(conn, ALERT,
                                                                  settings.base_url))
        t_queued = time.perf_counter()
        sender = await SmsSender(settings, db).start()
        try:
            await sender.idle()
        finally:
            await sender.stop()
        t1, cpu1 = time.perf_counter(), _cpu_self()
        statuses = {r[0]: r[1] for r in await db.execute(
            "SELECT status, COUNT(*) FROM sms_outbox GROUP BY status")}
        retried = await db.scalar("SELECT COUNT(*) FROM sms_outbox WHERE attempts > 1")
        with_sid = await db.scalar("SELECT COUNT(*) FROM sms_outbox WHERE sid IS NOT NULL")
    finally:
        await db.close()
    return {"queued": queued, "queue_s": t_queued - t0, "send_s": t1 - t_queued,
            "cpu_s": cpu1 - cpu0, "statuses": statuses, "retried": retried,
            "with_sid": with_sid}


def measure(n: int, rate: float) -> dict:
    with temp_dir("vigil-bench-sms-") as work:
        provider = subprocess.Popen(
            [sys.executable, "-m", "tests.smsprovider", str(rate)], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            url = provider.stdout.readline().strip()
            cpu_before = _cpu_of(provider.pid)
            load = os.getloadavg()[0]
            result = asyncio.run(_fanout(n, rate, work, url))
            result["provider_cpu_s"] = _cpu_of(provider.pid) - cpu_before
            provider.stdin.close()
            result["provider"] = json.loads(provider.stdout.readline())
            result["load"] = (load, os.getloadavg()[0])
        finally:
            provider.wait(timeout=30)
    return result


def run(quick: bool) -> list[Row]:
    n, rate = QUICK if quick else FULL
    log(f"sms: {n:,} texts at {rate:g}/s")
    r = measure(n, rate)
    sent = r["statuses"].get("sent", 0)
    achieved = sent / r["send_s"]
    figure = (f"{sent:,} of {r['queued']:,} sent in {r['send_s']:.1f} s: {achieved:,.0f}/s "
              f"({achieved / rate:.0%} of the rate); queued in {r['queue_s'] * 1000:.0f} ms; "
              f"CPU {r['cpu_s'] / max(sent, 1) * 1e6:,.0f} µs/text")
    note = (f"sms: provider accepted {r['provider']['sent']:,}, answered 429 to "
            f"{r['provider']['limited']}, refused {r['provider']['malformed']} as malformed; "
            f"texts retried {r['retried']}; with a stored sid {r['with_sid']:,}; sender "
            f"process CPU {r['cpu_s']:.1f} s ({r['cpu_s'] / r['send_s']:.0%} of a core), "
            f"provider CPU {r['provider_cpu_s']:.1f} s; load average {r['load'][0]:.1f} "
            f"before, {r['load'][1]:.1f} after")
    met = sent == n and r["provider"]["sent"] == n and achieved >= 0.9 * rate
    return [Row(f"SMS fanout: {n:,} texts, provider limit {rate:g}/s", figure,
                "the provider's limit: " + f"{rate:g}/s, {n / rate:.0f} s for {n:,}",
                "all sent once, ≥ 90% of the limit, no 429", met and not r["provider"]["limited"],
                note)]


if __name__ == "__main__":
    count, limit = (int(sys.argv[1]), float(sys.argv[2])) if len(sys.argv) > 2 else FULL
    for row in [*run(False)] if len(sys.argv) <= 2 else []:
        print(row)
    if len(sys.argv) > 2:
        print(json.dumps(measure(count, limit), indent=1))
