"""The outbox: a message and one delivery row per subscriber, written with the state change
that caused them, and drained by the sender.

enqueue() takes the caller's connection, the way audit.record() does, so an alert is marked
sent (or a listing active) in the same transaction that writes its deliveries, or not at all;
the caller wakes the sender once that transaction has committed. A restart resumes whatever
is still pending.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import aiosqlite

from server.database import Database
from server.push.messages import MAX_TTL, Message

STATUSES = ("pending", "sent", "failed", "gone")
# Finished deliveries are kept this long for the organizers' counts, then pruned.
KEEP_FINISHED = 14 * 24 * 3600


async def enqueue(conn: aiosqlite.Connection, message: Message) -> int:
    """Queue the message for every subscription following any of its topics; its id.

    Runs inside the caller's transaction. One INSERT ... SELECT DISTINCT writes the
    deliveries, so a subscription with several matching topics gets one copy.
    """
    data = message.checked_json()
    data_es = message.checked_json("es") if message.payload_es is not None else None
    topics = list(dict.fromkeys(message.topics))
    ttl = max(0, min(int(message.ttl), MAX_TTL))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    cur = await conn.execute(
        "INSERT INTO push_messages (payload, payload_es, topics, ttl, urgency, topic_header, "
        "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (data.decode("utf-8"), data_es and data_es.decode("utf-8"), json.dumps(topics), ttl,
         message.urgency, message.topic_header, created),
    )
    message_id = cur.lastrowid
    assert message_id is not None
    await conn.execute(
        "INSERT INTO deliveries (message_id, subscription_id, status, attempts, next_attempt) "
        "SELECT DISTINCT ?, subscription_id, 'pending', 0, 0 FROM subscription_topics "
        f"WHERE topic IN ({', '.join('?' * len(topics))})",
        (message_id, *topics),
    )
    return message_id


async def counts(db: Database, message_id: int) -> dict[str, int]:
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
