"""Message payloads: what a phone shows for a new listing or an organizer's alert."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from server.content import end_moment
from server.places import STATES
from server.push.subscriptions import TOPIC_ALL, TOPIC_URGENT, TOPICS
from server.vapid import b64url

MAX_TTL = 28 * 24 * 60 * 60  # 2419200: what the big push services keep a message at most
MAX_PAYLOAD = 3072  # JSON bytes; aes128gcm leaves 3993 of the 4096 a push service accepts
URGENCIES = ("very-low", "low", "normal", "high")

_TOPIC_HEADER_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True)
class Message:
    """One notification and who gets it: the subscribers of any of its topics."""

    payload: dict
    topics: list[str]
    ttl: int  # seconds a push service may keep it for a device that is offline
    urgency: str
    topic_header: str  # RFC 8030 Topic: a newer message with the same one replaces it

    def checked_json(self) -> bytes:
        """The payload as JSON after checking every field, or ValueError naming the field."""
        payload = self.payload
        if not isinstance(payload, dict):
            raise ValueError("payload must be a dict")
        for key in ("title", "body", "url", "tag"):
            if not isinstance(payload.get(key), str):
                raise ValueError(f"payload[{key!r}] must be a string")
        if not isinstance(payload.get("urgent"), bool):
            raise ValueError("payload['urgent'] must be a bool")
        if not self.topics or any(t not in TOPICS for t in self.topics):
            raise ValueError(f"a message needs known topics, got {self.topics!r}")
        if self.urgency not in URGENCIES:
            raise ValueError(f"urgency must be one of {URGENCIES}")
        if not _TOPIC_HEADER_RE.fullmatch(self.topic_header):
            raise ValueError("topic_header must be 1-32 base64url characters")
        data = _payload_json(payload)
        if len(data) > MAX_PAYLOAD:
            raise ValueError(f"payload is {len(data)} bytes, more than {MAX_PAYLOAD}")
        return data


def _payload_json(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def topic_header_for(tag: str) -> str:
    """An RFC 8030 Topic (<= 32 base64url characters) that is the same for every version
    of an item, so a newer notification replaces a queued older one."""
    if _TOPIC_HEADER_RE.fullmatch(tag):
        return tag
    return b64url(hashlib.sha256(tag.encode("utf-8")).digest())[:32]


def same_origin_url(url: str | None, base_url: str) -> str | None:
    """A path on this site for a same-origin path or absolute URL under base_url, else None."""
    if not url or not isinstance(url, str) or len(url) > 1000:
        return None
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in url):
        return None
    base = base_url.rstrip("/")
    if url.lower().startswith(base.lower()):
        rest = url[len(base):]
        if rest == "":
            return "/"
        if rest[0] in "/?":
            url = rest if rest[0] == "/" else "/" + rest
    if url.startswith("/") and not url.startswith("//"):
        return url
    return None


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def _one_line(text: str) -> str:
    return " ".join(str(text or "").split())


def build_payload(title: str, body: str, url: str, tag: str, urgent: bool) -> dict:
    """The notification JSON, clipped so the encrypted message stays well under 4 KB."""
    payload = {
        "title": _clip(_one_line(title), 120),
        "body": _clip(str(body or ""), 1000),
        "url": url,
        "tag": tag,
        "urgent": bool(urgent),
    }
    while len(_payload_json(payload)) > MAX_PAYLOAD - 64 and len(payload["body"]) > 40:
        # non-ASCII text can take 3 bytes a character (and JSON escapes more)
        payload["body"] = _clip(payload["body"], len(payload["body"]) * 2 // 3)
    return payload


def _ttl_until(moment: datetime | None, default: int, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    if moment is None or moment <= now:
        return default
    return max(60, min(int((moment - now).total_seconds()), MAX_TTL))


def listing_message(listing: dict, *, now: datetime | None = None) -> Message:
    """The announcement of a newly published listing."""
    state = str(listing.get("state") or "").upper()
    kind = _one_line(listing.get("kind") or "vigil")
    place = ", ".join(p for p in (_one_line(listing.get("city") or ""), state) if p)
    title = f"New {kind} in {place}: {_one_line(listing.get('title') or '')}"
    body_parts = []
    starts = str(listing.get("starts") or "")
    if starts:
        body_parts.append("Starts " + starts[:16].replace("T", " "))
    if listing.get("address"):
        body_parts.append(_one_line(listing["address"]))
    description = listing.get("description")
    if isinstance(description, dict):
        description = description.get("en")
    if description:
        body_parts.append(str(description))
    body = " · ".join(body_parts)
    slug = str(listing["slug"])
    tag = f"listing-{slug}"
    payload = build_payload(title, body, f"/listings/{slug}", tag, False)
    topics = [TOPIC_ALL] + ([f"state:{state}"] if state in STATES else [])
    ttl = _ttl_until(end_moment(listing.get("starts")), 24 * 3600, now)
    return Message(payload, topics, ttl, "normal", topic_header_for(tag))


def alert_message(alert: dict, base_url: str, now: datetime | None = None) -> Message:
    """An organizer's alert, its correction or its retraction.

    The tag (and so the Topic) is the same for every revision, so a correction or a
    retraction replaces the earlier version on the device and in the push service's queue.
    An empty states list means every state: subscribers to any state get it too.
    """
    urgent = bool(alert.get("urgent"))
    states = [s.upper() for s in alert.get("states") or [] if str(s).upper() in STATES]
    if not alert.get("states"):
        states = list(STATES)
    topics = [TOPIC_ALL] + [f"state:{s}" for s in states] + ([TOPIC_URGENT] if urgent else [])
    title = _one_line(alert.get("title") or "")
    body = str(alert.get("body") or "")
    if alert.get("status") == "retracted":
        title, body = f"Withdrawn: {title}", "Organizers withdrew this alert."
    elif int(alert.get("revision") or 1) > 1:
        title = f"Updated: {title}"
    url = same_origin_url(alert.get("url"), base_url) or "/"
    tag = f"alert-{alert['id']}"
    payload = build_payload(title, body, url, tag, urgent)
    default = 4 * 3600 if urgent else 24 * 3600
    expires = end_moment(alert.get("expires"))
    ttl = _ttl_until(expires, default, now)
    if expires is not None and expires <= (now or datetime.now(UTC)):
        ttl = 0  # already over: show it only to devices reachable right now
    return Message(payload, topics, ttl, "high" if urgent else "normal", topic_header_for(tag))

