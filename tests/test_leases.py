"""Leases on the outbox, with two senders in one process on one database file: a slow push
service outlasting the lease does not make the other sender take the delivery over (the
lease is renewed), and a lease left by a sender that vanished is taken over once it runs
out."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from server import push
from server.vapid import load_private_key
from tests import dbtools
from tests.conftest import make_settings
from tests.pushservice import PushService

LISTING = {"slug": "portland-or-vigil", "kind": "vigil", "title": "Vigil at the ICE office",
           "city": "Portland", "state": "OR", "starts": None}


def _sender(settings, db, lease: float) -> push.PushSender:
    return push.PushSender(settings, db, load_private_key(settings), lease=lease,
                           flush_interval=0.02, backoff_base=0.05, backoff_cap=0.1)


async def _subscribe(db, service, n: int) -> list:
    subs = [service.new_subscription() for _ in range(n)]
    for sub in subs:
        await push.save_subscription(db, sub.endpoint, sub.p256dh, sub.auth, ["all"])
    return subs


async def test_a_send_that_outlasts_its_lease_is_renewed_not_taken_over(tmp_path):
    with PushService() as service:
        settings = make_settings(tmp_path, push_hosts=(service.origin,), push_timeout=10.0)
        async with (dbtools.database(settings.db_path) as db_a,
                    dbtools.database(settings.db_path) as db_b):
            subs = await _subscribe(db_a, service, 6)
            for sub in subs:
                service.set_behaviour(sub, "slow", delay=2.5, times=1)  # 2.5 leases long
            async with _sender(settings, db_a, lease=1.0) as a:
                message = push.listing_message(LISTING, settings.base_url)
                await db_a.write_fn(lambda conn: push.enqueue(conn, message))
                a.wake()
                started = time.monotonic()
                while await db_a.scalar(
                        "SELECT COUNT(*) FROM deliveries WHERE status = 'sending'") < 6:
                    assert time.monotonic() - started < 5
                    await asyncio.sleep(0.01)
                async with _sender(settings, db_b, lease=1.0) as b:
                    await a.idle(within=30)
                    await b.idle(within=30)
        per_sub = collections.Counter(m.sub_id for m in service.messages)
        assert per_sub == collections.Counter({s.id: 1 for s in subs})
        # One request per subscriber: B never took over a delivery A was still sending.
        assert sum(service.attempts.values()) == 6


async def test_a_lease_left_behind_is_taken_over_when_it_runs_out(tmp_path):
    with PushService() as service:
        settings = make_settings(tmp_path, push_hosts=(service.origin,))
        async with dbtools.database(settings.db_path) as db:
            subs = await _subscribe(db, service, 4)
            message = push.listing_message(LISTING, settings.base_url)
            await db.write_fn(lambda conn: push.enqueue(conn, message))
            # Claimed by a sender on another machine that then vanished.
            until = time.time() + 1.5
            await db.write("UPDATE deliveries SET status = 'sending', next_attempt = ?, "
                           "lease_owner = 'elsewhere.example:4242:0badcafe'", (until,))
            async with _sender(settings, db, lease=30.0) as sender:
                await service.wait_for_async(4, timeout=10)
                taken = time.time()
                await sender.idle(within=10)
            assert taken >= until
            owners = await db.execute("SELECT DISTINCT lease_owner FROM deliveries")
            assert [r[0] for r in owners] == [sender.owner]
        assert sorted(m.sub_id for m in service.messages) == sorted(s.id for s in subs)


async def test_an_answer_is_recorded_within_milliseconds(tmp_path, monkeypatch):
    """What a sender killed between a push service's answer and the commit of that outcome
    sends again, so the shipped sender writes each outcome as soon as it is answered
    (answers arriving together share a transaction) rather than on a timer."""
    written: dict[tuple[int, int], float] = {}
    record = push.outbox.record

    async def timed_record(conn, owner, outcomes, accepting=()):
        result = await record(conn, owner, outcomes, accepting)
        now = time.time()  # the commit follows at once, in the same write_fn
        for o in outcomes:
            written.setdefault((o.message_id, o.subscription_id), now)
        return result

    monkeypatch.setattr(push.outbox, "record", timed_record)
    # A few requests at a time, so that the sender's event loop reads each answer as it
    # comes rather than after a queue of encryptions.
    with PushService(delay=0.01, jitter=0.02) as service:
        settings = make_settings(tmp_path, push_hosts=(service.origin,), push_concurrency=4)
        async with dbtools.database(settings.db_path) as db:
            subs = await _subscribe(db, service, 200)
            ids = {sub.endpoint: sid for sid, sub in zip(
                [r[0] for r in await db.execute("SELECT id FROM subscriptions ORDER BY id")],
                subs, strict=True)}
            async with push.PushSender(settings, db, load_private_key(settings)) as sender:
                message = push.listing_message(LISTING, settings.base_url)
                mid = await db.write_fn(lambda conn: push.enqueue(conn, message))
                sender.wake()
                await sender.idle(within=30)
        by_sub = {sub.id: ids[sub.endpoint] for sub in subs}
        waits = sorted(written[(mid, by_sub[m.sub_id])] - m.received_at
                       for m in service.messages)
    assert len(waits) == 200
    median, p90 = waits[len(waits) // 2], waits[len(waits) * 9 // 10]
    print(f"answer to record: median {median * 1000:.1f} ms, 90th percentile "
          f"{p90 * 1000:.1f} ms")
    assert median < 0.035, waits


def test_a_sender_killed_but_not_yet_reaped_counts_as_dead(tmp_path):
    """Until its parent (uvicorn's supervisor) reaps it, a killed worker is a zombie that
    signal 0 still reaches; its leases are released at once all the same."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = socket.gethostname()
        owner = f"{host}:{child.pid}:0badcafe"
        assert not push.outbox._dead_here(owner, host)  # alive
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        stat = Path(f"/proc/{child.pid}/stat")
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert push.outbox._dead_here(owner, host)  # a zombie, not yet reaped
    finally:
        child.kill()
        child.wait()
