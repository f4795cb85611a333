"""The outbox: a message and one delivery row per subscriber, written with the state change
that caused them, and drained by the sender.

enqueue() takes the caller's connection, the way audit.record() does, so an alert is marked
sent (or a listing active) in the same transaction that writes its deliveries, or not at all;
the caller wakes the sender once that transaction has committed. A restart resumes whatever
is still pending.

Any number of sender processes may drain one outbox. claim() hands each a batch under a
lease: the rows turn 'sending' with the sender's name in lease_owner and the lease's expiry
in next_attempt, in one UPDATE ... RETURNING inside the writer's BEGIN IMMEDIATE, so two
senders never hold the same delivery. A sender renews its leases while it works and records
each outcome only while it still holds the lease; a lease that runs out (its process died or
stalled) makes the delivery due again for whoever claims next. A delivery is sent once,
except one that was on the wire, or answered and not yet recorded, when its sender died:
that one goes again as the same message (its payload carries the message's id, besides the
same Topic and tag), which the phone's service worker shows only once.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from server.database import Database
from server.dialect import dialect_of
from server.push.messages import MAX_TTL, Message, new_message_id
from server.push.subscriptions import count_growth

STATUSES = ("pending", "sent", "failed", "gone")
# Finished deliveries are kept this long for the organizers' counts, then pruned.
KEEP_FINISHED = 14 * 24 * 3600
# Seconds a claim lasts without renewal: long enough that a busy event loop never loses one,
# short enough that a crashed sender's batch is resent soon.
LEASE = 30.0
# A subscription whose push service refuses this many deliveries in a row is removed.
MAX_REFUSALS = 3
# Refusals that may be Vigil's own fault (its VAPID key or subject) rather than the
# subscription's: counted only when the same push service lately accepted other deliveries.
SENDER_FAULT_CODES = frozenset({401, 403})


@dataclass(slots=True)
class Outcome:
    """What became of one delivery: its new row values, and for the log the host and why."""

    message_id: int
    subscription_id: int
    status: str
    attempts: int
    next_attempt: float
    last_code: int | None
    host: str
    reason: str


def sender_name() -> str:
    """A name for this sender that no other process, here or on another machine, shares.

    The host and process id let a sender that starts on the same machine hand back at once
    the leases of one that died there, instead of waiting for them to run out.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def _dead_here(owner: str, host: str) -> bool:
    """True if owner names a process on this machine that no longer runs."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists under another user
    # Killed but not yet reaped by its parent (uvicorn's supervisor notices in its own time):
    # signal 0 still reaches a zombie, which holds nothing any more.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return Path("/proc/self/stat").exists()  # reaped since the signal, if /proc is here
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


async def enqueue(conn: aiosqlite.Connection, message: Message) -> int:
    """Queue the message for every subscription following any of its topics; its id.

    Runs inside the caller's transaction. One INSERT ... SELECT DISTINCT writes the
    deliveries, so a subscription with several matching topics gets one copy. The stored
    payload carries the message's id (new_message_id), so a copy sent again is the same.
    """
    stable_id = new_message_id()
    data = message.checked_json(message_id=stable_id)
    data_es = (message.checked_json("es", stable_id) if message.payload_es is not None
               else None)
    others = {lang: message.checked_json(lang, stable_id).decode("utf-8")
              for lang in message.payloads}
    topics = list(dict.fromkeys(message.topics))
    ttl = max(0, min(int(message.ttl), MAX_TTL))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    cur = await conn.execute(
        "INSERT INTO push_messages (payload, payload_es, payloads, topics, ttl, urgency, "
        "topic_header, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (data.decode("utf-8"), data_es and data_es.decode("utf-8"),
         json.dumps(others, ensure_ascii=False) if others else None, json.dumps(topics), ttl,
         message.urgency, message.topic_header, created),
    )
    (message_id,) = await cur.fetchone()
    await conn.execute(
        "INSERT INTO deliveries (message_id, subscription_id, status, attempts, next_attempt) "
        "SELECT DISTINCT CAST(? AS BIGINT), subscription_id, 'pending', 0, 0 "
        "FROM subscription_topics "
        f"WHERE topic IN ({', '.join('?' * len(topics))})",
        (message_id, *topics),
    )
    return message_id


async def delivery_counts(db: Database, message_id: int) -> dict[str, int]:
    """How many deliveries of a message are pending, sent, failed or gone (never to whom)."""
    rows = await db.execute(
        "SELECT status, COUNT(*) FROM deliveries WHERE message_id = ? GROUP BY status",
        (message_id,),
    )
    result = dict.fromkeys(STATUSES, 0)
    for status, count in rows:
        # "sending" is the sender's claim on a pending delivery
        key = "pending" if status == "sending" else status
        result[key] = result.get(key, 0) + count
    return result


async def prune(db: Database, older_than: float = KEEP_FINISHED) -> int:
    """Delete finished messages (and their deliveries) older than the given seconds."""
    cutoff = (datetime.now(UTC) - timedelta(seconds=older_than)).isoformat(timespec="seconds")

    async def run(conn: aiosqlite.Connection) -> int:
        cur = await conn.execute(
            "DELETE FROM push_messages WHERE created < ? AND NOT EXISTS ("
            "SELECT 1 FROM deliveries d WHERE d.message_id = push_messages.id "
            "AND d.status IN ('pending', 'sending'))",
            (cutoff,),
        )
        return cur.rowcount

    return await db.write_fn(run)


async def claim(
    conn: aiosqlite.Connection, owner: str, limit: int, now: float, lease: float = LEASE,
    known: Collection[int] = (),
) -> tuple[list[tuple], list[tuple]]:
    """Lease up to `limit` due deliveries to owner; (deliveries, messages not in `known`).

    Runs inside a write transaction. Due means pending and next_attempt has come, or
    'sending' under a lease that ran out. A delivery comes back as (message_id,
    subscription_id, attempts, endpoint, p256dh, auth, lang); one whose subscription is gone is
    marked so and not returned. A message comes back as (id, payload, payload_es, ttl,
    created, urgency, topic_header, payloads), payloads being the JSON object of its other
    languages' payloads or None.

    On PostgreSQL the rows are locked as they are taken and rows another sender is taking
    are skipped, so senders on several machines claim at once, never the same row twice.
    """
    lock = dialect_of(conn).skip_locked
    async with conn.execute(
        "UPDATE deliveries SET status = 'sending', lease_owner = ?, next_attempt = ? "
        "WHERE (message_id, subscription_id) IN ("
        " SELECT * FROM (SELECT message_id, subscription_id FROM deliveries"
        f"  WHERE status = 'sending' AND next_attempt <= ? ORDER BY next_attempt LIMIT ?{lock})"
        " AS lapsed UNION ALL"
        " SELECT * FROM (SELECT message_id, subscription_id FROM deliveries"
        f"  WHERE status = 'pending' AND next_attempt <= ? ORDER BY next_attempt LIMIT ?{lock})"
        " AS due) RETURNING message_id, subscription_id, attempts",
        (owner, now + lease, now, limit, now, limit),
    ) as cur:
        claimed = list(await cur.fetchall())
    if not claimed:
        return [], []
    keys: dict[int, tuple[str, str, str, str]] = {}
    sub_ids = sorted({row[1] for row in claimed})
    for start in range(0, len(sub_ids), 500):
        chunk = sub_ids[start:start + 500]
        async with conn.execute(
            "SELECT id, endpoint, p256dh, auth, lang FROM subscriptions "
            f"WHERE id IN ({', '.join('?' * len(chunk))})", chunk,
        ) as cur:
            for sid, endpoint, p256dh, auth, lang in await cur.fetchall():
                keys[sid] = (endpoint, p256dh, auth, lang or "en")
    deliveries, unsubscribed = [], []
    for mid, sid, attempts in claimed:
        found = keys.get(sid)
        if found is None:
            unsubscribed.append((mid, sid))
        else:
            deliveries.append((mid, sid, attempts, *found))
    if unsubscribed:
        await conn.executemany(
            "UPDATE deliveries SET status = 'gone', lease_owner = NULL "
            "WHERE message_id = ? AND subscription_id = ?", unsubscribed,
        )
    missing = sorted({row[0] for row in deliveries} - set(known))
    messages: list[tuple] = []
    for start in range(0, len(missing), 500):
        chunk = missing[start:start + 500]
        async with conn.execute(
            "SELECT id, payload, payload_es, ttl, created, urgency, topic_header, payloads "
            "FROM push_messages "
            f"WHERE id IN ({', '.join('?' * len(chunk))})", chunk,
        ) as cur:
            messages.extend(await cur.fetchall())
    return deliveries, messages


async def renew(conn: aiosqlite.Connection, owner: str, now: float,
                lease: float = LEASE) -> int:
    """Extend every lease owner holds; how many it holds."""
    cur = await conn.execute(
        "UPDATE deliveries SET next_attempt = ? WHERE status = 'sending' AND lease_owner = ?",
        (now + lease, owner),
    )
    return cur.rowcount


async def release_dead(db: Database, owner: str) -> int:
    """Make due at once the leases of senders on this machine whose process has ended.

    Looks with a read first, so a sender can ask often without taking the write lock.
    """
    host = owner.rsplit(":", 2)[0]
    rows = await db.execute(
        "SELECT DISTINCT lease_owner FROM deliveries WHERE status = 'sending'"
    )
    dead = [(o,) for (o,) in rows if o is not None and o != owner and _dead_here(o, host)]
    if not dead:
        return 0

    async def run(conn: aiosqlite.Connection) -> int:
        cur = await conn.executemany(
            "UPDATE deliveries SET status = 'pending', lease_owner = NULL, next_attempt = 0 "
            "WHERE status = 'sending' AND lease_owner = ?", dead,
        )
        return cur.rowcount

    return await db.write_fn(run)


def _refused(outcomes: Sequence[Outcome], accepting: Collection[str]) -> list[int]:
    """Subscriptions whose push service refused a delivery for a reason of their own."""
    accepting = {*accepting, *(o.host for o in outcomes if o.status == "sent")}
    return sorted({
        o.subscription_id for o in outcomes
        if o.status == "failed" and o.last_code is not None and 400 <= o.last_code < 500
        and (o.last_code not in SENDER_FAULT_CODES or o.host in accepting)
    })


async def record(conn: aiosqlite.Connection, owner: str, outcomes: Sequence[Outcome],
                 accepting: Collection[str] = ()) -> dict[str, Any]:
    """Write outcomes of deliveries owner still holds, inside a write transaction.

    accepting names push service hosts known to have accepted deliveries lately (besides
    those in outcomes): only their 401 and 403 count against a subscription.

    A subscription the push service says is gone is removed; one it refused MAX_REFUSALS
    times in a row is removed too; a delivery accepted resets the count. Returns how many
    outcomes were 'lost' (their lease had passed to another sender) and the ids 'removed'.
    """
    cur = await conn.executemany(
        "UPDATE deliveries SET status = ?, attempts = ?, next_attempt = ?, last_code = ? "
        "WHERE message_id = ? AND subscription_id = ? AND status = 'sending' "
        "AND lease_owner = ?",
        [(o.status, o.attempts, o.next_attempt, o.last_code, o.message_id, o.subscription_id,
          owner) for o in outcomes],
    )
    lost = len(outcomes) - cur.rowcount
    accepted = sorted({o.subscription_id for o in outcomes if o.status == "sent"})
    if accepted:
        await conn.executemany(
            "UPDATE subscriptions SET refusals = 0 WHERE id = ? AND refusals > 0",
            [(sid,) for sid in accepted],
        )
    refused = _refused(outcomes, accepting)
    if refused:
        await conn.executemany(
            "UPDATE subscriptions SET refusals = refusals + 1 WHERE id = ?",
            [(sid,) for sid in refused],
        )
    remove = {o.subscription_id for o in outcomes if o.status == "gone"}
    for start in range(0, len(refused), 500):
        chunk = refused[start:start + 500]
        async with conn.execute(
            f"SELECT id FROM subscriptions WHERE id IN ({', '.join('?' * len(chunk))}) "
            "AND refusals >= ?", (*chunk, MAX_REFUSALS),
        ) as cur:
            remove.update(row[0] for row in await cur.fetchall())
    removed = sorted(remove)
    if removed:
        await conn.executemany(
            "UPDATE deliveries SET status = 'gone', lease_owner = NULL "
            "WHERE subscription_id = ? AND status = 'pending'",
            [(sid,) for sid in removed],
        )
        deleted = 0
        for start in range(0, len(removed), 500):
            chunk = removed[start:start + 500]
            async with conn.execute(
                f"DELETE FROM subscriptions WHERE id IN ({', '.join('?' * len(chunk))}) "
                "RETURNING id", chunk,
            ) as cur:
                deleted += len(await cur.fetchall())
        if deleted:
            await count_growth(conn, removed=deleted)
    return {"lost": lost, "removed": removed}
