"""Public suggestions as kept: their text cleaned, each stored with the stamp that carried it.

A stamp carries one suggestion. The table spent_stamps is what every process agrees on: a
stamp is spent in the same transaction that stores its suggestion, and the client's shared
count is taken there too, so a stamp sent twice at once, or through another worker, is
refused, and a client's suggestions are counted across every worker.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import aiosqlite

from server import content
from server.auth import SharedLimit, SpentStamps

# The page is kept offline by the service worker, so the stamp in a saved copy can be days
# old; the minimum fill time still applies to every submission.
STAMP_MAX_AGE = 7 * 24 * 60 * 60
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(value: Any, multiline: bool = False) -> str:
    """Form text as stored: no control characters, LF line ends, trimmed."""
    if not isinstance(value, str):
        return ""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if not multiline:
        text = text.replace("\n", " ")
    return _CONTROL.sub("", text).strip()


async def store(conn: aiosqlite.Connection, throttle: SharedLimit, client: bytes, token: str,
                issued: float, values: dict[str, str], points: int,
                reasons: list[str]) -> bool | None:
    """Store a suggestion with the stamp that carried it: False when the stamp was already
    spent, None when the client is over its limit."""
    # The database decides, so a stamp spent through another worker is refused too, and
    # a client's suggestions are counted across every worker (None: over the limit);
    # stamps past their age are refused anyway and need not be kept.
    if not await throttle.take_in(conn, client):
        return None
    await conn.execute("DELETE FROM spent_stamps WHERE issued < ?",
                       (time.time() - STAMP_MAX_AGE,))
    cur = await conn.execute(
        "INSERT INTO spent_stamps (digest, issued) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (SpentStamps.digest(token), issued))
    if cur.rowcount != 1:
        return False
    await conn.execute(
        "INSERT INTO suggestions (kind, title, details, city, state, contact, spam_score, "
        "spam_reasons, status, created, listing_slug) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?)",
        (values["kind"], values["title"], values["details"], values["city"] or None,
         values["state"] or None, values["contact"] or None, points,
         json.dumps(reasons, ensure_ascii=False), content.iso_now(),
         values["listing"] or None),
    )
    return True
