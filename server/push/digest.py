"""Announcements as digests: a burst of new listings in one state reaches that state's
subscribers as one notification rather than one each.

The first listing of the day to go live in a state goes out at once, as its usual message.
Listings that follow in the same state within WINDOW seconds of its last notification are
held, and when the window closes they go out as one message ("12 new vigils in Oregon
today", in each subscriber's language, opening /?state=OR). Every announcement of a state's
day carries the same tag and Topic, without renotify, so the digest quietly replaces the
first on the phone and in the push service's queue; for the same reason a listing later in
the day, once the window has closed, goes out at once as the day's count rather than on its
own, which would hide the earlier ones. A state gets at most one notification per WINDOW
and no listing waits longer than WINDOW. Organizers' alerts never pass through here.

What is held lives in the database (push_digests, push_digest_listings), because any of the
serving processes may announce and any may flush. announce() runs inside the transaction
that makes a listing live; flush() takes what is due, enqueues its message and marks it
sent in one transaction, so a crash in between loses nothing and nothing goes out twice.
"""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiosqlite

from server.content import listing_record
from server.dialect import dialect_of
from server.listing_form import zone_for
from server.places import STATES
from server.push.messages import Message, digest_message, listing_message, topic_header_for
from server.push.outbox import enqueue

# Seconds a state's announcements are held after one goes out. Long enough to gather an
# organizer's afternoon of publishing or a bulk import into a few notifications, short
# enough that a vigil announced tonight is news tonight.
WINDOW = 300.0

def local_day(state: str, now: float) -> str:
    """The date (YYYY-MM-DD) it is in the state at unix time now."""
    # "Today" is the state's local day, in the zone most of its people live in.
    return datetime.fromtimestamp(now, ZoneInfo(zone_for(state))).date().isoformat()


def tag_for(state: str, day: str) -> str:
    """The notification tag every announcement of the state's day shares."""
    return f"listings-{state}-{day}"


def _retagged(message: Message, tag: str, renotify: bool = False) -> Message:
    """The message under the state's day tag; with renotify, the phone sounds again even
    when it replaces one of the day's notifications still on the screen."""
    def with_tag(payload: dict) -> dict:
        extra = {"renotify": True} if renotify else {}
        return {**payload, "notification": {**payload["notification"], "tag": tag, **extra}}

    return dataclasses.replace(message.each_payload(with_tag),
                               topic_header=topic_header_for(tag))


def _until_midnight(state: str, day: str, now: float) -> int:
    zone = ZoneInfo(zone_for(state))
    midnight = datetime.fromisoformat(day).replace(tzinfo=zone) + timedelta(days=1)
    # "today" is wrong after midnight, but a phone that was off all evening still hears of
    # the listings in the morning
    return max(3600, int(midnight.timestamp() - now))


async def _mark(conn: aiosqlite.Connection, slugs: list[str], message_id: int) -> None:
    """Record on each listing the message that announced it (the organizers' counts)."""
    await conn.executemany("UPDATE listings SET message_id = ? WHERE slug = ?",
                           [(message_id, slug) for slug in slugs])


async def announce(conn: aiosqlite.Connection, listing: dict, base_url: str, *,
                   now: float | None = None) -> int | None:
    """Announce a listing that has just gone live: queue its message now, or hold it for its
    state's digest. The message id, or None while it is held.

    Call it inside the transaction that has just stored the listing as active, with the
    listing as content.listing_record() reads it, then wake the sender after the commit.
    It records on the listing which message carries it, now or when the digest goes out.
    """
    sent = await announce_many(conn, [listing], base_url, now=now)
    return sent[0] if sent else None


async def announce_many(conn: aiosqlite.Connection, listings: list[dict], base_url: str, *,
                        now: float | None = None) -> list[int]:
    """Announce listings that went live together (an approved import, say) as announce()
    does one: the ids of the messages queued now.

    A state that has not heard from Vigil for WINDOW seconds hears at once, in one message:
    the listing's own when it is the state's only one today, else the day's count. A state
    that has is held until its window closes. A listing outside the known states goes out
    at once on its own.
    """
    now = time.time() if now is None else now
    by_state: dict[str, list[dict]] = {}
    for listing in listings:
        by_state.setdefault(str(listing.get("state") or "").upper(), []).append(listing)
    sent = []
    for state, group in by_state.items():
        if state not in STATES:
            for listing in group:
                message_id = await enqueue(conn, listing_message(listing, base_url))
                await _mark(conn, [str(listing["slug"])], message_id)
                sent.append(message_id)
            continue
        day = local_day(state, now)
        # Earlier days are done with, unless their digest is still to go out.
        await conn.execute("DELETE FROM push_digests WHERE state = ? AND day < ? "
                           "AND due IS NULL", (state, day))
        async with conn.execute(
            "INSERT INTO push_digests (state, day, last_sent, due) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (state, day) DO UPDATE SET due = COALESCE(push_digests.due, "
            f"{dialect_of(conn).greatest}(push_digests.last_sent + ?, ?)) RETURNING due",
            (state, day, now - WINDOW, now, WINDOW, now)) as cur:
            (due,) = await cur.fetchone()
        # Each held listing as it was approved: what goes out later is what was approved.
        await conn.executemany(
            "INSERT INTO push_digest_listings (state, day, slug, held, snapshot) "
            "VALUES (?, ?, ?, 1, ?) "
            "ON CONFLICT (state, day, slug) DO UPDATE SET held = 1, "
            "snapshot = excluded.snapshot",
            [(state, day, str(listing["slug"]), json.dumps(listing, default=str))
             for listing in group])
        if due <= now:
            # Not the close of a window: news the phone should sound for, even over a
            # notification of the day's earlier listings still on its screen.
            message_id = await _flush_one(conn, state, day, base_url, now, renotify=True)
            if message_id is not None:
                sent.append(message_id)
    return sent


async def flush(conn: aiosqlite.Connection, base_url: str, *,
                now: float | None = None) -> list[int]:
    """Send every digest whose window has closed; the ids of the messages queued.

    Runs inside one write transaction (the sender's), so the held listings are marked
    announced together with their message or not at all, and of two processes flushing at
    once the second finds nothing due.
    """
    now = time.time() if now is None else now
    async with conn.execute("SELECT state, day FROM push_digests WHERE due <= ? "
                            "ORDER BY due", (now,)) as cur:
        due = [(state, day) for state, day in await cur.fetchall()]
    sent = []
    for state, day in due:
        message_id = await _flush_one(conn, state, day, base_url, now)
        if message_id is not None:
            sent.append(message_id)
    return sent


async def _flush_one(conn: aiosqlite.Connection, state: str, day: str, base_url: str,
                     now: float, renotify: bool = False) -> int | None:
    async with conn.execute(
        "SELECT l.*, d.held AS digest_held, d.snapshot AS digest_snapshot "
        "FROM push_digest_listings d "
        "JOIN listings l ON l.slug = d.slug AND l.state = d.state "
        "WHERE d.state = ? AND d.day = ? "
        # taken down (or moved to another state) since: neither announced nor counted
        "AND (l.status = 'active' OR l.status = 'ended' AND l.taken_down_by IS NULL) "
        "ORDER BY l.id", (state, day)) as cur:
        found = await cur.fetchall()
    await conn.execute("UPDATE push_digest_listings SET held = 0 WHERE state = ? AND day = ?",
                       (state, day))
    held = [row["slug"] for row in found if row["digest_held"]]
    if not held:
        await conn.execute("UPDATE push_digests SET due = NULL WHERE state = ? AND day = ?",
                           (state, day))
        return None
    await conn.execute("UPDATE push_digests SET due = NULL, last_sent = ? "
                       "WHERE state = ? AND day = ?", (now, state, day))
    listings = [json.loads(row["digest_snapshot"]) if row["digest_snapshot"] else
                listing_record({k: row[k] for k in row.keys()
                                if k not in ("digest_held", "digest_snapshot")})
                for row in found]
    tag = tag_for(state, day)
    if len(listings) == 1:  # the state's only one today (the others were taken down)
        message = _retagged(listing_message(listings[0], base_url), tag, renotify)
    else:
        message = digest_message(state, listings, tag, base_url,
                                 _until_midnight(state, day, now))
        if renotify:
            message = _retagged(message, tag, renotify)
    message_id = await enqueue(conn, message)
    await _mark(conn, held, message_id)
    return message_id
