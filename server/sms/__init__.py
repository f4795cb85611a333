"""Urgent calls by text message, through a Twilio-compatible Messages API (off unless
VIGIL_SMS_URL is set).

- text: GSM-7 and UCS-2 segments, an alert cut to two segments, keywords and replies.
- numbers: phone numbers encrypted at rest and found by a keyed hash.
- store: subscribers and the outbox; queue_alert(conn, alert, base_url) inside the
  transaction that sends the alert.
- gateway: the provider's Messages API and the inbound signature.
- sender: SmsSender drains the outbox at VIGIL_SMS_RATE.
"""

from __future__ import annotations

import aiosqlite

from server.config import Settings
from server.database import Database
from server.sms import store
from server.sms.gateway import Gateway, signature, signature_ok
from server.sms.sender import SmsSender
from server.sms.store import counts, handle_text, reach
from server.sms.text import segments


async def queue_alert(conn: aiosqlite.Connection, settings: Settings, alert: dict) -> int:
    """Text an alert being sent (or its correction or retraction) to its subscribers, inside
    the transaction that sends it; nothing while SMS is off."""
    if not settings.sms_on:
        return 0
    return await store.queue_alert(conn, alert, settings.base_url)


async def preview(db: Database, settings: Settings, alert: dict) -> dict | None:
    """For the alert form: the text in each language with its encoding and segments, and how
    many numbers it will reach; None while SMS is off."""
    if not settings.sms_on:
        return None
    texts = store.alert_texts(alert, settings.base_url)
    return {"reach": await reach(db, alert),
            "texts": [(lang, body, segments(body)) for lang, body in texts.items()]}


__all__ = ["Gateway", "SmsSender", "counts", "handle_text", "preview", "queue_alert", "reach",
           "segments", "signature", "signature_ok"]
