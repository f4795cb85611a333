"""Subscriptions: what a browser sends to subscribe, and the rows that keep it.

A subscription holds the endpoint, its two keys, the chosen topics, the language of the page
it was made on and the day it was made; nothing about the person.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric import ec

from server.database import Database
from server.i18n import DEFAULT, LANGUAGES
from server.places import STATES
from server.push.endpoints import PushInputError, canonical_endpoint, check_endpoint
from server.vapid import b64url, b64url_decode

TOPIC_ALL = "all"
TOPIC_URGENT = "urgent"
TOPICS: frozenset[str] = frozenset(
    {TOPIC_ALL, TOPIC_URGENT, *(f"state:{code}" for code in STATES)}
)
MAX_TOPICS = 60

_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
# Hours of subscription growth the organizers' dashboard shows.
GROWTH_HOURS = 24


class Subscription(NamedTuple):
    endpoint: str  # canonical (see endpoints.canonical_endpoint)
    p256dh: str  # base64url, unpadded
    auth: str
    topics: list[str]
    lang: str = DEFAULT


def validate_lang(value: object) -> str:
    """A language Vigil speaks, or PushInputError; absent means English."""
    if value is None:
        return DEFAULT
    if isinstance(value, str) and value in LANGUAGES:
        return value
    shown = value if isinstance(value, str) and len(value) <= 20 else type(value).__name__
    raise PushInputError(
        f"unknown lang {shown!r}: use one of {', '.join(repr(code) for code in LANGUAGES)}"
    )


def validate_topics(topics: object) -> list[str]:
    """A non-empty list of unique known topics, or PushInputError."""
    if not isinstance(topics, list) or not topics:
        raise PushInputError("topics must be a non-empty list")
    if len(topics) > MAX_TOPICS:
        raise PushInputError(f"at most {MAX_TOPICS} topics")
    for topic in topics:
        if not isinstance(topic, str):
            raise PushInputError("every topic must be a string")
        if topic not in TOPICS:
            shown = topic if len(topic) <= 40 else topic[:40] + "…"
            raise PushInputError(
                f"unknown topic {shown!r}: use 'all', 'urgent' or 'state:XX' "
                "with an upper-case state code"
            )
    if len(set(topics)) != len(topics):
        raise PushInputError("topics must not repeat")
    return list(topics)


def _key_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise PushInputError(f"keys.{name} must be a non-empty base64url string")
    if len(value) > 200 or not _B64URL_RE.fullmatch(value):
        raise PushInputError(f"keys.{name} is not base64url")
    try:
        return b64url_decode(value.rstrip("="))
    except ValueError:
        raise PushInputError(f"keys.{name} is not base64url") from None


def validate_subscription(body: object, allowlist: tuple[str, ...]) -> Subscription:
    """The subscription in a POST body, or PushInputError saying why not."""
    if not isinstance(body, dict):
        raise PushInputError("the body must be a JSON object")
    sub = body.get("subscription")
    if not isinstance(sub, dict):
        raise PushInputError("subscription must be an object (PushSubscription.toJSON())")
    endpoint = check_endpoint(sub.get("endpoint"), allowlist)
    keys = sub.get("keys")
    if not isinstance(keys, dict):
        raise PushInputError("subscription.keys must be an object with p256dh and auth")
    p256dh = _key_bytes(keys.get("p256dh"), "p256dh")
    if len(p256dh) != 65 or p256dh[0] != 4:
        raise PushInputError("keys.p256dh must be a 65-byte uncompressed P-256 public key")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError:
        raise PushInputError("keys.p256dh is not a point on the P-256 curve") from None
    auth = _key_bytes(keys.get("auth"), "auth")
    if len(auth) != 16:
        raise PushInputError("keys.auth must be 16 bytes")
    topics = validate_topics(body.get("topics"))
    lang = validate_lang(body.get("lang"))
    return Subscription(endpoint, b64url(p256dh), b64url(auth), topics, lang)


async def save_subscription(
    db: Database, endpoint: str, p256dh: str, auth: str, topics: list[str],
    lang: str = DEFAULT, admit: Callable[[Any], Awaitable[bool]] | None = None,
) -> bool | None:
    """Store a subscription (or replace its keys, topics and language); True if it is new.
    A new one is first put to `admit` (in the same transaction): None when it says no."""
    # The day only: a precise time could be matched against other records of the request.
    created = datetime.now(UTC).date().isoformat()

    async def run(conn: Any) -> bool | None:
        async with conn.execute(
            "SELECT id FROM subscriptions WHERE endpoint = ?", (endpoint,)
        ) as cur:
            row = await cur.fetchone()
        if row is None and admit is not None and not await admit(conn):
            return None
        if row is None:
            cur = await conn.execute(
                "INSERT INTO subscriptions (endpoint, p256dh, auth, lang, created) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (endpoint, p256dh, auth, lang, created),
            )
            (sub_id,), new = await cur.fetchone(), True
            await count_growth(conn, added=1)
        else:
            sub_id, new = row[0], False
            await conn.execute(
                "UPDATE subscriptions SET p256dh = ?, auth = ?, lang = ? WHERE id = ?",
                (p256dh, auth, lang, sub_id),
            )
            await conn.execute(
                "DELETE FROM subscription_topics WHERE subscription_id = ?", (sub_id,)
            )
        await conn.executemany(
            "INSERT INTO subscription_topics (subscription_id, topic) VALUES (?, ?)",
            [(sub_id, topic) for topic in topics],
        )
        return new

    return await db.write_fn(run)


async def delete_subscription(db: Database, endpoint: str) -> bool:
    """Forget a subscription and drop its pending deliveries; True if there was one."""
    candidates = list(dict.fromkeys([canonical_endpoint(endpoint), endpoint]))

    async def run(conn: Any) -> bool:
        found = False
        for candidate in candidates:
            async with conn.execute(
                "SELECT id FROM subscriptions WHERE endpoint = ?", (candidate,)
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                continue
            found = True
            await conn.execute(
                "UPDATE deliveries SET status = 'gone' "
                "WHERE subscription_id = ? AND status = 'pending'",
                (row[0],),
            )
            await conn.execute("DELETE FROM subscriptions WHERE id = ?", (row[0],))
            await count_growth(conn, removed=1)
        return found

    return await db.write_fn(run)


async def topic_counts(db: Database) -> dict[str, int]:
    """How many subscriptions follow each topic."""
    rows = await db.execute(
        "SELECT topic, COUNT(*) FROM subscription_topics GROUP BY topic ORDER BY topic"
    )
    return {row[0]: row[1] for row in rows}



def _hour(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


async def count_growth(conn: Any, *, added: int = 0, removed: int = 0) -> None:
    """Count subscriptions made or removed this hour, inside the caller's transaction."""
    await conn.execute(
        "INSERT INTO subscription_growth (hour, added, removed) VALUES (?, ?, ?) "
        "ON CONFLICT (hour) DO UPDATE SET added = subscription_growth.added + excluded.added, "
        "removed = subscription_growth.removed + excluded.removed",
        (_hour(datetime.now(UTC)), added, removed),
    )


class GrowthHour(NamedTuple):
    hour: datetime  # its start, UTC
    added: int
    removed: int


async def subscription_growth(
    db: Database, hours: int = GROWTH_HOURS, now: datetime | None = None
) -> list[GrowthHour]:
    """New and removed subscriptions in each of the last `hours` hours, oldest first,
    quiet hours included, so a flood stands out against the hours around it."""
    end = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    slots = [end - timedelta(hours=back) for back in range(hours - 1, -1, -1)]
    rows = await db.execute(
        "SELECT hour, added, removed FROM subscription_growth WHERE hour >= ? AND hour <= ?",
        (_hour(slots[0]), _hour(slots[-1])),
    )
    counted = {row[0]: (row[1], row[2]) for row in rows}
    return [GrowthHour(slot, *counted.get(_hour(slot), (0, 0))) for slot in slots]


async def prune_growth(db: Database, keep_days: int = 30) -> int:
    """Forget hourly counts older than keep_days."""
    cutoff = _hour(datetime.now(UTC) - timedelta(days=keep_days))
    return await db.write("DELETE FROM subscription_growth WHERE hour < ?", (cutoff,))
