"""Subscribers and the text outbox: the queries, each run inside the caller's transaction
where it changes something.

The outbox works as the push outbox does (server/push/outbox.py): rows are claimed in
batches under a lease in one UPDATE ... RETURNING, an outcome is recorded only while its
sender still holds the lease, and a lease that runs out makes its text due again. The
provider's message id (sid) is stored with the outcome as soon as the provider answers.
What this cannot prevent: a sender that dies after the provider accepted a text and before
that answer was written (a few milliseconds) leaves the row leased without a sid, and the
text goes again when the lease runs out. The provider sees two requests it cannot tell
apart (the Messages API takes no idempotency key), so that subscriber gets it twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiosqlite

from server.database import Database
from server.dialect import dialect_of
from server.i18n import UNPREFIXED, localize_path
from server.places import STATES
from server.push.messages import absolute_url, alert_text, same_origin_url
from server.sms import numbers, text

LEASE = 30.0
MAX_ATTEMPTS = 6
KEEP_FINISHED = 14 * 24 * 3600
TOPIC_URGENT = "urgent"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


async def _queue_reply(conn: aiosqlite.Connection, secret: str, number: str,
                       body: str) -> None:
    await conn.execute(
        "INSERT INTO sms_outbox (number_enc, body, created) VALUES (?, ?, ?)",
        (numbers.encrypt(secret, number), body, _now_iso()))


async def handle_text(conn: aiosqlite.Connection, secret: str, number: str,
                      body: str) -> text.Command:
    """Act on an inbound text from number and queue the reply; inside a write transaction.

    A sign-up adds its topic to the number's (creating the subscriber, confirmed: the text
    came from the phone itself); STOP deletes the subscriber and everything queued for it;
    START and HELP explain. The reply speaks the keyword's language, else the subscriber's.
    """
    command = text.parse(body, frozenset(STATES))
    key = numbers.number_hash(secret, number)
    async with conn.execute(
            "SELECT id, lang, topics FROM sms_subscribers WHERE number_hash = ?", (key,)) as cur:
        row = await cur.fetchone()
    lang = command.lang or (row["lang"] if row else "en")
    if command.action == "stop":
        if row is not None:
            await conn.execute("DELETE FROM sms_subscribers WHERE id = ?", (row["id"],))
        await _queue_reply(conn, secret, number, text.reply(lang, "stopped"))
    elif command.action == "subscribe":
        topics = sorted({*(json.loads(row["topics"]) if row else []), command.topic})
        if row is None:
            await conn.execute(
                "INSERT INTO sms_subscribers (number_hash, number_enc, lang, topics, confirmed, "
                "created) VALUES (?, ?, ?, ?, 1, ?)",
                (key, numbers.encrypt(secret, number), lang, json.dumps(topics), _now_iso()))
        else:
            await conn.execute(
                "UPDATE sms_subscribers SET lang = ?, topics = ?, confirmed = 1 WHERE id = ?",
                (lang, json.dumps(topics), row["id"]))
        await _queue_reply(conn, secret, number, text.subscribed_reply(lang, topics))
    elif command.action == "start" and row is not None:
        await _queue_reply(conn, secret, number,
                           text.subscribed_reply(lang, json.loads(row["topics"])))
    else:
        await _queue_reply(conn, secret, number,
                           text.reply(lang, "start" if command.action == "start" else "help"))
    return command


def alert_texts(alert: dict, base_url: str) -> dict[str, str]:
    """The alert as a text in each language subscribers may have."""
    states = [s for s in alert.get("states") or [] if s in STATES]
    place = ", ".join(states) if 0 < len(states) <= 3 else ""
    path = same_origin_url(alert.get("url"), base_url) or "/alerts"
    result = {}
    for lang in text.LANGS:
        where = path
        if lang != "en" and not path.startswith((f"/{lang}/", *UNPREFIXED)):
            where = localize_path(path, lang)
        link = absolute_url(where, base_url)
        if len(link) > 80:  # a long link would leave no room for the title
            link = absolute_url(localize_path("/alerts", lang), base_url)
        title, body, _ = alert_text(alert, lang)
        result[lang] = text.alert_sms(title, body, place, link, lang,
                                      urgent=bool(alert.get("urgent")),
                                      status=str(alert.get("status") or "sent"),
                                      revision=int(alert.get("revision") or 1))
    return result


def alert_topics(alert: dict) -> list[str] | None:
    """The subscribers' topics an alert goes to; None: every subscriber (all states)."""
    states = [s for s in alert.get("states") or [] if s in STATES]
    if not states:
        return None
    return [f"state:{s}" for s in states] + ([TOPIC_URGENT] if alert.get("urgent") else [])


async def queue_alert(conn: aiosqlite.Connection, alert: dict, base_url: str) -> int:
    """Queue the alert (or its correction or retraction) for every subscriber of its states
    and, when urgent, of urgent calls, each in their language; how many texts."""
    bodies = alert_texts(alert, base_url)
    topics = alert_topics(alert)
    if topics is None:
        match, params = "1", []
    else:
        match = (f"EXISTS (SELECT 1 FROM {dialect_of(conn).items('s.topics')} "
                 f"WHERE value IN ({', '.join('?' * len(topics))}))")
        params = topics
    cur = await conn.execute(
        "INSERT INTO sms_outbox (subscriber_id, alert_id, body, created) "
        "SELECT s.id, ?, CASE s.lang WHEN 'es' THEN ? ELSE ? END, ? FROM sms_subscribers s "
        f"WHERE s.confirmed = 1 AND {match}",
        (alert["id"], bodies["es"], bodies["en"], _now_iso(), *params))
    return cur.rowcount


async def reach(db: Database, alert: dict) -> int:
    """How many numbers an alert would be texted to."""
    topics = alert_topics(alert)
    if topics is None:
        return await db.scalar("SELECT COUNT(*) FROM sms_subscribers WHERE confirmed = 1")
    return await db.scalar(
        "SELECT COUNT(*) FROM sms_subscribers s WHERE confirmed = 1 AND EXISTS (SELECT 1 FROM "
        f"{db.dialect.items('s.topics')} WHERE value IN ({', '.join('?' * len(topics))}))", topics)


@dataclass(slots=True)
class Claimed:
    id: int
    subscriber_id: int | None
    number_enc: bytes
    body: str
    attempts: int


@dataclass(slots=True)
class Outcome:
    id: int
    status: str  # 'sent', 'failed', or 'pending' (to retry at next_attempt)
    attempts: int
    next_attempt: float
    last_code: int | None
    sid: str | None = None


async def claim(conn: aiosqlite.Connection, owner: str, limit: int, now: float,
                lease: float = LEASE) -> list[Claimed]:
    """Lease up to limit due texts to owner, oldest due first; inside a write transaction."""
    async with conn.execute(
        "UPDATE sms_outbox SET status = 'sending', lease_owner = ?, next_attempt = ? "
        "WHERE id IN (SELECT id FROM sms_outbox WHERE status IN ('pending', 'sending') "
        " AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?) "
        "RETURNING id, subscriber_id, number_enc, body, attempts",
        (owner, now + lease, now, limit),
    ) as cur:
        rows = list(await cur.fetchall())
    if not rows:
        return []
    ids = sorted({r["subscriber_id"] for r in rows if r["subscriber_id"] is not None})
    found: dict[int, bytes] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        async with conn.execute(
                f"SELECT id, number_enc FROM sms_subscribers WHERE id IN "
                f"({', '.join('?' * len(chunk))})", chunk) as cur:
            found.update({r[0]: r[1] for r in await cur.fetchall()})
    claimed = []
    for r in rows:
        blob = r["number_enc"] if r["subscriber_id"] is None else found.get(r["subscriber_id"])
        if blob is not None:
            claimed.append(Claimed(r["id"], r["subscriber_id"], blob, r["body"], r["attempts"]))
    return sorted(claimed, key=lambda c: c.id)


async def hold_sending(conn: aiosqlite.Connection, owner: str, now: float,
                       lease: float = LEASE) -> bool:
    """Take or keep the right to send (one process at a time); True while owner holds it."""
    cur = await conn.execute(
        "UPDATE sms_sender SET owner = ?, expires = ? WHERE id = 1 AND "
        "(owner = ? OR owner IS NULL OR expires < ?)", (owner, now + lease, owner, now))
    return cur.rowcount == 1


async def renew(conn: aiosqlite.Connection, owner: str, now: float, lease: float = LEASE) -> int:
    cur = await conn.execute(
        "UPDATE sms_outbox SET next_attempt = ? WHERE status = 'sending' AND lease_owner = ?",
        (now + lease, owner))
    return cur.rowcount


async def record(conn: aiosqlite.Connection, owner: str, outcomes: Sequence[Outcome]) -> int:
    """Write outcomes of texts owner still holds; how many were lost to another sender (or to
    a STOP that deleted the row). A finished reply's number is erased."""
    cur = await conn.executemany(
        "UPDATE sms_outbox SET status = ?, attempts = ?, next_attempt = ?, last_code = ?, "
        "sid = COALESCE(?, sid), "
        "number_enc = CASE WHEN ? IN ('sent', 'failed') THEN NULL ELSE number_enc END "
        "WHERE id = ? AND status = 'sending' AND lease_owner = ?",
        [(o.status, o.attempts, o.next_attempt, o.last_code, o.sid, o.status, o.id, owner)
         for o in outcomes])
    return len(outcomes) - cur.rowcount


async def release(conn: aiosqlite.Connection, owner: str) -> int:
    """Hand back every lease owner holds, due at once (a sender stopping)."""
    await conn.execute("UPDATE sms_sender SET owner = NULL, expires = 0 WHERE owner = ?",
                       (owner,))
    cur = await conn.execute(
        "UPDATE sms_outbox SET status = 'pending', lease_owner = NULL, next_attempt = 0 "
        "WHERE status = 'sending' AND lease_owner = ?", (owner,))
    return cur.rowcount


async def prune(db: Database, older_than: float = KEEP_FINISHED) -> int:
    cutoff = (datetime.now(UTC) - timedelta(seconds=older_than)).isoformat(timespec="seconds")
    return await db.write("DELETE FROM sms_outbox WHERE created < ? AND status IN "
                          "('sent', 'failed')", (cutoff,))


async def counts(db: Database) -> dict:
    """What organizers may see: how many subscribers, by topic, and the outbox by status;
    never a number."""
    subscribers = await db.scalar("SELECT COUNT(*) FROM sms_subscribers WHERE confirmed = 1")
    rows = await db.execute(
        f"SELECT value, COUNT(*) FROM sms_subscribers s, {db.dialect.items('s.topics')} "
        "WHERE s.confirmed = 1 GROUP BY value ORDER BY value")
    topics = {r[0]: r[1] for r in rows}
    spanish = await db.scalar(
        "SELECT COUNT(*) FROM sms_subscribers WHERE confirmed = 1 AND lang = 'es'")
    outbox = {r[0]: r[1] for r in await db.execute(
        "SELECT status, COUNT(*) FROM sms_outbox GROUP BY status")}
    return {"subscribers": subscribers, "spanish": spanish,
            "urgent": topics.pop(TOPIC_URGENT, 0),
            "states": {k.split(":", 1)[1]: v for k, v in topics.items()
                       if k.startswith("state:")},
            "pending": outbox.get("pending", 0) + outbox.get("sending", 0),
            "sent": outbox.get("sent", 0), "failed": outbox.get("failed", 0)}
