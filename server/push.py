"""Web Push: who may be pushed to, the subscriptions, a durable outbox and its sender.

An endpoint is a capability URL chosen by the browser, so it is untrusted input that the
server will later POST to: it must name one of the push services in VIGIL_PUSH_HOSTS and
nothing else (no IP literals, other ports, user info or lookalike hosts). Subscriptions
hold the endpoint, its two keys, the chosen topics and the day they were made; nothing
about the person.

Sending goes through an outbox: enqueue() writes a push_messages row and one deliveries
row per matching subscription in one transaction, and PushSender drains the pending
deliveries in the background, so a request handler never waits for a fanout and a
restart resumes where the last process stopped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import aiohttp
import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.jwt import sign as jwt_sign
from yarl import URL

from server.config import ConfigError, Settings
from server.database import Database
from server.places import STATES

log = logging.getLogger("vigil.push")

# ---------------------------------------------------------------------------- topics

TOPIC_ALL = "all"
TOPIC_URGENT = "urgent"
TOPICS: frozenset[str] = frozenset(
    {TOPIC_ALL, TOPIC_URGENT, *(f"state:{code}" for code in STATES)}
)
MAX_TOPICS = 60

MAX_ENDPOINT = 2048
MAX_TTL = 28 * 24 * 60 * 60  # 2419200: what the big push services keep a message at most
MAX_PAYLOAD = 3072  # JSON bytes; aes128gcm leaves 3993 of the 4096 a push service accepts
URGENCIES = ("very-low", "low", "normal", "high")
STATUSES = ("pending", "sent", "failed", "gone")

_TOPIC_HEADER_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class PushInputError(ValueError):
    """A subscription, topic or endpoint a visitor sent that Vigil will not accept."""


def is_topic(value: object) -> bool:
    return isinstance(value, str) and value in TOPICS


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


# ---------------------------------------------------------------------------- endpoints

_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# What may follow the authority: RFC 3986 unreserved, reserved and '%'; no '#', '\' or spaces.
_PATH_RE = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")
_NUMERIC_LABEL_RE = re.compile(r"0x[0-9a-f]*|[0-9]+")
_BAD_CHARS_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # lower-case ASCII; IPv6 in brackets
    port: int
    is_ip: bool
    url: str  # the canonical form that is stored and POSTed to


def _normalise_host(raw: str, what: str) -> tuple[str, bool]:
    """(host, is_ip) in canonical form, or PushInputError."""
    if not raw:
        raise PushInputError(f"{what} has no host")
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise PushInputError(f"{what} has a malformed IPv6 address")
        try:
            ip6 = ipaddress.IPv6Address(raw[1:-1])
        except ValueError:
            raise PushInputError(f"{what} has a malformed IPv6 address") from None
        return f"[{ip6.compressed}]", True
    host = raw
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise PushInputError(f"{what} host is not a valid domain name") from None
    host = host.lower()
    if host.endswith("."):
        raise PushInputError(f"{what} host must not end with a dot")
    labels = host.split(".")
    # The WHATWG URL parser reads a host whose last label is a number as IPv4
    # (2130706433, 0x7f.1, 127.1 are all 127.0.0.1), so treat it as an address.
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):
        try:
            return str(ipaddress.IPv4Address(host)), True
        except ValueError:
            raise PushInputError(
                f"{what} host looks like an IP address written in a non-standard form"
            ) from None
    if len(host) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise PushInputError(f"{what} host is not a valid domain name")
    return host, False


def _parse_url(url: str, what: str = "endpoint", *, need_path: bool = True) -> _Target:
    if not url:
        raise PushInputError(f"{what} is empty")
    if len(url) > MAX_ENDPOINT:
        raise PushInputError(f"{what} is longer than {MAX_ENDPOINT} characters")
    if _BAD_CHARS_RE.search(url):
        raise PushInputError(f"{what} must not contain spaces or control characters")
    scheme_match = _SCHEME_RE.match(url)
    if scheme_match is None:
        raise PushInputError(f"{what} must be an absolute https URL")
    scheme = scheme_match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise PushInputError(f"{what} must be an https URL, not {scheme}:")
    if "#" in url:
        raise PushInputError(f"{what} must not contain a fragment (#)")
    if "\\" in url:
        raise PushInputError(f"{what} must not contain a backslash")
    rest = url[scheme_match.end():]
    if not rest.startswith("//"):
        raise PushInputError(f"{what} must be an absolute https URL")
    rest = rest[2:]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    if "@" in authority:
        raise PushInputError(f"{what} must not contain a user name or password")
    if "%" in authority:
        raise PushInputError(f"{what} host must not be percent-encoded")
    if authority.startswith("["):
        close = authority.find("]")
        host_raw, port_raw = authority[: close + 1], authority[close + 1:]
        if close < 0 or (port_raw and not port_raw.startswith(":")):
            raise PushInputError(f"{what} has a malformed IPv6 address")
        has_port = bool(port_raw)
        port_raw = port_raw[1:]
    else:
        host_raw, has_port, port_raw = authority.partition(":")
        if ":" in port_raw:
            raise PushInputError(f"{what} has a malformed host")
    if has_port:
        if not (port_raw.isascii() and port_raw.isdigit() and 0 < len(port_raw) <= 5):
            raise PushInputError(f"{what} has an invalid port")
        port = int(port_raw)
        if not 0 < port < 65536:
            raise PushInputError(f"{what} has an invalid port")
    else:
        port = _DEFAULT_PORTS[scheme]
    host, is_ip = _normalise_host(host_raw, what)
    if path or need_path:
        if not path.startswith("/"):
            raise PushInputError(f"{what} needs a path")
        if not _PATH_RE.fullmatch(path):
            raise PushInputError(f"{what} contains characters that are not allowed in a URL")
    netloc = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return _Target(scheme, host, port, is_ip, f"{scheme}://{netloc}{path}")


@dataclass(frozen=True)
class _Allowlist:
    hosts: frozenset[str]
    wildcards: tuple[str, ...]  # suffixes, without the "*."
    origins: frozenset[tuple[str, str, int]]


def _parse_allowlist_entry(entry: str) -> tuple[str, str | tuple[str, str, int]]:
    text = entry.strip()
    what = f"push host {entry!r}"
    if "://" in text:
        target = _parse_url(text.rstrip("/"), what, need_path=False)
        if target.url.split("://", 1)[1].count("/"):
            raise PushInputError(f"{what} must be an origin without a path")
        return "origin", (target.scheme, target.host, target.port)
    wildcard = text.startswith("*.")
    if wildcard:
        text = text[2:]
    host_raw, has_port, port = text.partition(":")
    if has_port and port != "443":
        raise PushInputError(f"{what}: a host pattern means https on port 443")
    host, is_ip = _normalise_host(host_raw, what)
    if is_ip:
        raise PushInputError(f"{what}: name an IP address as a full origin, e.g. https://{host}")
    return ("wildcard" if wildcard else "host"), host


@lru_cache(maxsize=16)
def _compile_allowlist(entries: tuple[str, ...]) -> _Allowlist:
    hosts, wildcards, origins = set(), [], set()
    for entry in entries:
        try:
            kind, value = _parse_allowlist_entry(entry)
        except PushInputError:
            continue  # check_allowlist() reports these at start-up
        if kind == "origin":
            origins.add(value)
        elif kind == "wildcard":
            wildcards.append(value)
        else:
            hosts.add(value)
    return _Allowlist(frozenset(hosts), tuple(wildcards), frozenset(origins))


def check_allowlist(entries: tuple[str, ...]) -> None:
    """Raise ConfigError naming the first VIGIL_PUSH_HOSTS entry that cannot be used."""
    if not entries:
        raise ConfigError("VIGIL_PUSH_HOSTS is empty: no push service would be allowed")
    for entry in entries:
        try:
            _parse_allowlist_entry(entry)
        except PushInputError as exc:
            raise ConfigError(f"VIGIL_PUSH_HOSTS: {exc}") from None


def check_endpoint(endpoint: object, allowlist: tuple[str, ...]) -> str:
    """The canonical endpoint if it names an allowed push service, else PushInputError."""
    if not isinstance(endpoint, str):
        raise PushInputError("endpoint must be a string")
    target = _parse_url(endpoint)
    allowed = _compile_allowlist(tuple(allowlist))
    if (target.scheme, target.host, target.port) in allowed.origins:
        return target.url
    if target.is_ip:
        raise PushInputError("endpoint must name a push service, not an IP address")
    if target.scheme != "https":
        raise PushInputError("endpoint must use https")
    if target.port != 443:
        raise PushInputError("endpoint must use the standard https port (443)")
    host = target.host
    if host in allowed.hosts or any(
        host.endswith("." + suffix) for suffix in allowed.wildcards
    ):
        return target.url
    raise PushInputError(f"endpoint host {host} is not an allowed push service")


def endpoint_allowed(endpoint: str, allowlist: tuple[str, ...]) -> bool:
    """Whether Vigil may POST to this endpoint (see check_endpoint for the reasons)."""
    try:
        check_endpoint(endpoint, allowlist)
    except PushInputError:
        return False
    return True


def canonical_endpoint(endpoint: str) -> str:
    """The stored form of an endpoint (lower-case host, no default port); as-is if unparsable."""
    try:
        return _parse_url(endpoint).url
    except PushInputError:
        return endpoint


# ---------------------------------------------------------------------------- subscriptions


def _b64url_strict(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise PushInputError(f"keys.{name} must be a non-empty base64url string")
    if len(value) > 200 or not _B64URL_RE.fullmatch(value):
        raise PushInputError(f"keys.{name} is not base64url")
    text = value.rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PushInputError(f"keys.{name} is not base64url") from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def validate_subscription(
    body: object, allowlist: tuple[str, ...]
) -> tuple[str, str, str, list[str]]:
    """(endpoint, p256dh, auth, topics) from a POST body, or PushInputError saying why."""
    if not isinstance(body, dict):
        raise PushInputError("the body must be a JSON object")
    sub = body.get("subscription")
    if not isinstance(sub, dict):
        raise PushInputError("subscription must be an object (PushSubscription.toJSON())")
    endpoint = check_endpoint(sub.get("endpoint"), allowlist)
    keys = sub.get("keys")
    if not isinstance(keys, dict):
        raise PushInputError("subscription.keys must be an object with p256dh and auth")
    p256dh = _b64url_strict(keys.get("p256dh"), "p256dh")
    if len(p256dh) != 65 or p256dh[0] != 4:
        raise PushInputError("keys.p256dh must be a 65-byte uncompressed P-256 public key")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError:
        raise PushInputError("keys.p256dh is not a point on the P-256 curve") from None
    auth = _b64url_strict(keys.get("auth"), "auth")
    if len(auth) != 16:
        raise PushInputError("keys.auth must be 16 bytes")
    topics = validate_topics(body.get("topics"))
    return endpoint, _b64url(p256dh), _b64url(auth), topics


async def save_subscription(
    db: Database, endpoint: str, p256dh: str, auth: str, topics: list[str]
) -> bool:
    """Store a subscription (or replace its keys and topics); True if it is new."""
    # The day only: a precise time could be matched against other records of the request.
    created = datetime.now(UTC).date().isoformat()

    async def run(conn: Any) -> bool:
        async with conn.execute(
            "SELECT id FROM subscriptions WHERE endpoint = ?", (endpoint,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            cur = await conn.execute(
                "INSERT INTO subscriptions (endpoint, p256dh, auth, created) VALUES (?, ?, ?, ?)",
                (endpoint, p256dh, auth, created),
            )
            sub_id, new = cur.lastrowid, True
        else:
            sub_id, new = row[0], False
            await conn.execute(
                "UPDATE subscriptions SET p256dh = ?, auth = ? WHERE id = ?",
                (p256dh, auth, sub_id),
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
        return found

    return await db.write_fn(run)


async def topic_counts(db: Database) -> dict[str, int]:
    """How many subscriptions follow each topic."""
    rows = await db.execute(
        "SELECT topic, COUNT(*) FROM subscription_topics GROUP BY topic ORDER BY topic"
    )
    return {row[0]: row[1] for row in rows}


# ---------------------------------------------------------------------------- the outbox


def _payload_bytes(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _check_payload(payload: dict) -> bytes:
    if not isinstance(payload, dict):
        raise ValueError("payload must be a dict")
    for key in ("title", "body", "url", "tag"):
        if not isinstance(payload.get(key), str):
            raise ValueError(f"payload[{key!r}] must be a string")
    if not isinstance(payload.get("urgent"), bool):
        raise ValueError("payload['urgent'] must be a bool")
    data = _payload_bytes(payload)
    if len(data) > MAX_PAYLOAD:
        raise ValueError(f"payload is {len(data)} bytes, more than {MAX_PAYLOAD}")
    return data


async def enqueue(
    db: Database,
    payload: dict,
    topics: list[str],
    ttl: int,
    urgency: str,
    topic_header: str,
) -> int:
    """Queue one message for every subscription following any of the topics; its id.

    The message and all its deliveries are written in one transaction, by one
    INSERT ... SELECT DISTINCT, so a subscription with several matching topics gets one
    copy and a crash leaves either the whole fanout or nothing.
    """
    data = _check_payload(payload)
    topics = list(dict.fromkeys(topics))
    unknown = [t for t in topics if t not in TOPICS]
    if not topics or unknown:
        raise ValueError(f"enqueue needs known topics, got {topics!r}")
    if urgency not in URGENCIES:
        raise ValueError(f"urgency must be one of {URGENCIES}")
    if not _TOPIC_HEADER_RE.fullmatch(topic_header):
        raise ValueError("topic_header must be 1-32 base64url characters")
    ttl = max(0, min(int(ttl), MAX_TTL))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    marks = ", ".join("?" * len(topics))

    async def run(conn: Any) -> int:
        cur = await conn.execute(
            "INSERT INTO push_messages (payload, topics, ttl, urgency, topic_header, state, "
            "created) VALUES (?, ?, ?, ?, ?, 'filling', ?)",
            (data.decode("utf-8"), json.dumps(topics), ttl, urgency, topic_header, created),
        )
        message_id = cur.lastrowid
        await conn.execute(
            "INSERT INTO deliveries (message_id, subscription_id, status, attempts, next_attempt) "
            f"SELECT DISTINCT ?, subscription_id, 'pending', 0, 0 FROM subscription_topics "
            f"WHERE topic IN ({marks})",
            (message_id, *topics),
        )
        await conn.execute(
            "UPDATE push_messages SET state = 'ready' WHERE id = ?", (message_id,)
        )
        return message_id

    return await db.write_fn(run)


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


async def prune(db: Database, older_than: float = 30 * 24 * 3600) -> int:
    """Delete finished messages (and their deliveries) older than the given seconds."""
    cutoff = (datetime.now(UTC) - timedelta(seconds=older_than)).isoformat(timespec="seconds")

    async def run(conn: Any) -> int:
        cur = await conn.execute(
            "DELETE FROM push_messages WHERE created < ? AND NOT EXISTS ("
            "SELECT 1 FROM deliveries d WHERE d.message_id = push_messages.id "
            "AND d.status IN ('pending', 'sending'))",
            (cutoff,),
        )
        return cur.rowcount

    return await db.write_fn(run)


# ---------------------------------------------------------------------------- messages


def topic_header_for(tag: str) -> str:
    """An RFC 8030 Topic (<= 32 base64url characters) that is the same for every version
    of an item, so a newer notification replaces a queued older one."""
    if _TOPIC_HEADER_RE.fullmatch(tag):
        return tag
    return _b64url(hashlib.sha256(tag.encode("utf-8")).digest())[:32]


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
    while len(_payload_bytes(payload)) > MAX_PAYLOAD - 64 and len(payload["body"]) > 40:
        # non-ASCII text can take 3 bytes a character (and JSON escapes more)
        payload["body"] = _clip(payload["body"], len(payload["body"]) * 2 // 3)
    return payload


def _relevant_until(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        if "T" in value:
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        # A date alone: the event may be any time that day, anywhere in the US.
        day = date.fromisoformat(value[:10])
        return datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1, hours=12)
    except ValueError:
        return None


def _ttl_until(moment: datetime | None, default: int, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    if moment is None or moment <= now:
        return default
    return max(60, min(int((moment - now).total_seconds()), MAX_TTL))


def listing_message(
    listing: dict, base_url: str, now: datetime | None = None
) -> tuple[dict, list[str], int, str, str]:
    """(payload, topics, ttl, urgency, topic_header) announcing a newly published listing."""
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
    ttl = _ttl_until(_relevant_until(listing.get("starts")), 24 * 3600, now)
    return payload, topics, ttl, "normal", topic_header_for(tag)


def alert_message(
    alert: dict, base_url: str, now: datetime | None = None
) -> tuple[dict, list[str], int, str, str]:
    """(payload, topics, ttl, urgency, topic_header) for an organizer alert.

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
    expires = _relevant_until(alert.get("expires"))
    ttl = _ttl_until(expires, default, now)
    if expires is not None and expires <= (now or datetime.now(UTC)):
        ttl = 0  # already over: show it only to devices reachable right now
    return payload, topics, ttl, ("high" if urgent else "normal"), topic_header_for(tag)


# ---------------------------------------------------------------------------- the sender


@dataclass
class _Message:
    id: int
    plaintext: bytes
    ttl: int
    created: float
    urgency: str
    topic: str


@dataclass
class _Delivery:
    message: _Message
    subscription_id: int
    attempts: int
    next_attempt: float
    endpoint: str
    p256dh: bytes
    auth: bytes


# (message_id, subscription_id, status, attempts, next_attempt, last_code, host, reason)
_Outcome = tuple[int, int, str, int, float, int | None, str, str]


def _host_of(endpoint: str) -> str:
    try:
        return URL(endpoint, encoded=True).host or "?"
    except ValueError:
        return "?"


def _pad(data: bytes) -> bytes:
    # The push service sees the ciphertext length. JSON ignores trailing white space, so
    # rounding up to 256 bytes hides the exact length of the text at no cost.
    return data.ljust(-(-len(data) // 256) * 256)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - (now if now is not None else time.time()))


class PushSender:
    """Drains the outbox: claims due deliveries, sends them concurrently, records outcomes.

    start() opens the HTTP session and resumes anything left pending; stop() finishes the
    requests already under way, hands unsent claims back and closes the session. wake()
    tells the worker that enqueue() added deliveries.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        vapid_key: ec.EllipticCurvePrivateKey,
        *,
        batch_size: int = 500,
        backoff_base: float = 30.0,
        backoff_cap: float = 3600.0,
        retry_after_cap: float = 3600.0,
        flush_interval: float = 0.1,
        prune_after: float | None = None,
    ):
        self.settings = settings
        self.db = db
        self._vapid_key = vapid_key
        self._vapid_k = _b64url(
            vapid_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
        # Topic headers are visible to the push service; keyed hashing keeps a listing's
        # slug (and so a subscriber's state) out of them while staying stable across restarts.
        secret = vapid_key.private_numbers().private_value.to_bytes(32, "big")
        self._topic_key = hashlib.sha256(b"vigil push topic\0" + secret).digest()
        self.concurrency = max(1, settings.push_concurrency)
        self.batch_size = batch_size
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self.flush_interval = flush_interval
        self.prune_after = prune_after
        self.max_attempts = max(1, settings.push_max_attempts)

        self._session: aiohttp.ClientSession | None = None
        self._queue: asyncio.Queue[_Delivery | None] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._have_outcomes = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._outcomes: list[_Outcome] = []
        self._messages: collections.OrderedDict[int, _Message] = collections.OrderedDict()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._in_flight = 0
        self._stopping = False
        self._closing = False
        self._dispatcher: asyncio.Task | None = None
        self._flusher: asyncio.Task | None = None
        self._workers: list[asyncio.Task] = []
        self.sent_total = 0
        self._allowed_origins: dict[str, bool] = {}

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._dispatcher is not None and not self._stopping

    async def start(self) -> PushSender:
        """Open the HTTP session, requeue deliveries a stopped process had claimed, begin."""
        if self._dispatcher is not None:
            return self
        check_allowlist(self.settings.push_hosts)
        timeout = self.settings.push_timeout
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0)),
            headers={"User-Agent": "vigil-push"},
            trust_env=False,
            auto_decompress=False,
        )
        self._stopping = self._closing = False
        # Claimed by a process that stopped without recording an outcome: send again.
        # (At least once: a crash between a push service's 201 and our commit repeats one.)
        await self.db.write("UPDATE deliveries SET status = 'pending' WHERE status = 'sending'")
        if self.prune_after is not None:
            try:
                removed = await prune(self.db, self.prune_after)
                if removed:
                    log.info("push: pruned %d old messages", removed)
            except Exception:
                log.exception("push: pruning old messages failed")
        self._workers = [
            asyncio.create_task(self._worker(), name=f"push-worker-{i}")
            for i in range(self.concurrency)
        ]
        self._flusher = asyncio.create_task(self._flush_loop(), name="push-flusher")
        self._dispatcher = asyncio.create_task(self._dispatch(), name="push-dispatcher")
        self._wake.set()
        return self

    async def stop(self) -> None:
        """Finish sends under way, return unsent claims to pending, close the session."""
        if self._dispatcher is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await self._dispatcher
        except asyncio.CancelledError:
            pass
        # Claimed but not started: back to pending for whoever runs next.
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                self._in_flight -= 1
                self._outcomes.append(self._release(item))
        for _ in self._workers:
            self._queue.put_nowait(None)
        grace = self.settings.push_timeout + 5.0
        _, late = await asyncio.wait(self._workers, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        # The flusher writes what is left, including the claims handed back, then ends.
        self._closing = True
        self._have_outcomes.set()
        self._flush_now.set()
        assert self._flusher is not None
        await asyncio.gather(self._flusher, return_exceptions=True)
        if self._outcomes:
            log.error("push: %d outcomes unrecorded; those deliveries will be resent",
                      len(self._outcomes))
            self._outcomes = []
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._dispatcher = self._flusher = None
        self._workers = []
        self._messages.clear()

    async def __aenter__(self) -> PushSender:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def wake(self) -> None:
        """New deliveries are waiting: start sending now."""
        self._wake.set()

    async def idle(self, within: float = 30.0) -> None:
        """Wait until no delivery is pending (retries included), in flight or unrecorded."""
        deadline = time.monotonic() + within
        while True:
            due = await self.db.scalar(
                "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending')"
            )
            if not due and not self._in_flight and not self._outcomes:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"push sender still busy after {within} s")
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ claiming

    async def _dispatch(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                if self._in_flight <= self.batch_size:
                    if await self._claim():
                        continue
                    delay = await self._next_due()
                else:
                    delay = None  # the pipeline is full; a worker wakes us
                if self._stopping:
                    return
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass
            except Exception:
                log.exception("push: the sender hit an error; retrying in a second")
                await asyncio.sleep(1.0)

    async def _next_due(self) -> float:
        soonest = await self.db.scalar(
            "SELECT MIN(next_attempt) FROM deliveries WHERE status = 'pending'"
        )
        if soonest is None:
            return 300.0
        return min(300.0, max(0.005, soonest - time.time()))

    async def _claim(self) -> int:
        now = time.time()
        limit = self.batch_size

        async def run(conn: Any) -> tuple[list, list]:
            async with conn.execute(
                "SELECT d.message_id, d.subscription_id, d.attempts, d.next_attempt, "
                "s.endpoint, s.p256dh, s.auth FROM deliveries d "
                "LEFT JOIN subscriptions s ON s.id = d.subscription_id "
                "WHERE d.status = 'pending' AND d.next_attempt <= ? "
                "ORDER BY d.next_attempt LIMIT ?",
                (now, limit),
            ) as cur:
                rows = list(await cur.fetchall())
            if not rows:
                return rows, []
            await conn.executemany(
                "UPDATE deliveries SET status = CASE WHEN ? THEN 'sending' ELSE 'gone' END "
                "WHERE message_id = ? AND subscription_id = ?",
                [(row[4] is not None, row[0], row[1]) for row in rows],
            )
            missing = sorted({row[0] for row in rows} - set(self._messages))
            loaded = []
            for start in range(0, len(missing), 500):
                chunk = missing[start:start + 500]
                async with conn.execute(
                    "SELECT id, payload, ttl, created, urgency, topic_header FROM push_messages "
                    f"WHERE id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ) as cur:
                    loaded.extend(await cur.fetchall())
            return rows, loaded

        rows, loaded = await self.db.write_fn(run)
        for mid, payload, ttl, created, urgency, topic_header in loaded:
            self._messages[mid] = _Message(
                id=mid,
                plaintext=_pad(payload.encode("utf-8")),
                ttl=ttl,
                created=datetime.fromisoformat(created).timestamp(),
                urgency=urgency,
                topic=self._keyed_topic(topic_header),
            )
        while len(self._messages) > 256:
            self._messages.popitem(last=False)
        for mid, sid, attempts, next_attempt, endpoint, p256dh, auth in rows:
            if endpoint is None:
                continue  # unsubscribed since the message was queued: marked gone above
            message = self._messages.get(mid)
            if message is None:  # deleted meanwhile (prune); nothing to send
                self._outcomes.append((mid, sid, "failed", attempts, next_attempt, None, "", ""))
                self._have_outcomes.set()
                continue
            try:
                keys = (_b64url_decode(p256dh), _b64url_decode(auth))
            except (binascii.Error, ValueError):
                keys = (b"", b"")
            self._in_flight += 1
            self._queue.put_nowait(
                _Delivery(message, sid, attempts, next_attempt, endpoint, *keys)
            )
        return len(rows)

    def _keyed_topic(self, topic_header: str) -> str:
        digest = hmac.new(self._topic_key, topic_header.encode("utf-8"), hashlib.sha256)
        return _b64url(digest.digest())[:32]

    # ------------------------------------------------------------------ sending

    async def _worker(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            try:
                outcome = await self._deliver(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("push: unexpected error sending to %s", _host_of(item.endpoint))
                outcome = self._retry(item, None, "error")
            self._in_flight -= 1
            self._outcomes.append(outcome)
            self._have_outcomes.set()
            if len(self._outcomes) >= self.batch_size:
                self._flush_now.set()
            if self._in_flight <= self.batch_size:
                self._wake.set()

    def _allowed(self, endpoint: str) -> bool:
        """endpoint_allowed, decided once per origin: the allowlist is fixed for the process
        and every stored endpoint passed the full check when it subscribed."""
        origin = "/".join(endpoint.split("/", 3)[:3])
        decision = self._allowed_origins.get(origin)
        if decision is None:
            decision = endpoint_allowed(endpoint, self.settings.push_hosts)
            if len(self._allowed_origins) < 10_000:
                self._allowed_origins[origin] = decision
        return decision

    def _vapid_header(self, origin: str) -> str:
        now = time.time()
        cached = self._tokens.get(origin)
        if cached is not None and cached[1] > now:
            return cached[0]
        # RFC 8292 lets one token serve many requests: sign a fresh claims dict per push
        # service origin and reuse the token for ten minutes of its twelve-hour life.
        # py_vapid's Vapid02.sign() is skipped on purpose: its checks refuse valid
        # subjects such as https://example.org/contact and bracketed IPv6 audiences.
        claims = {"sub": self.settings.vapid_subject, "aud": origin, "exp": int(now) + 12 * 3600}
        token = jwt_sign(claims, self._vapid_key)
        header = f"vapid t={token},k={self._vapid_k}"
        if len(self._tokens) > 1000:  # one per push service host; WNS has many
            self._tokens.clear()
        self._tokens[origin] = (header, now + 600)
        return header

    def _encrypt(self, item: _Delivery) -> bytes:
        return http_ece.encrypt(
            item.message.plaintext,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=item.p256dh,
            auth_secret=item.auth,
            version="aes128gcm",
        )

    async def _deliver(self, item: _Delivery) -> _Outcome:
        assert self._session is not None
        message = item.message
        url = URL(item.endpoint, encoded=True)
        host = url.host or "?"
        ttl = message.ttl
        if ttl > 0:
            ttl = int(message.created + message.ttl - time.time())
            if ttl <= 0:
                return self._final(item, "failed", None, host, "expired")
        if not self._allowed(item.endpoint):
            # VIGIL_PUSH_HOSTS changed since it subscribed; keep it in case that is undone.
            return self._final(item, "failed", None, host, "host not allowed")
        try:
            body = self._encrypt(item)
        except Exception:
            return self._final(item, "failed", None, host, "bad keys")
        headers = {
            "TTL": str(ttl),
            "Urgency": message.urgency,
            "Topic": message.topic,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": self._vapid_header(f"{url.scheme}://{url.raw_authority}"),
        }
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                if response.content_length is not None and response.content_length <= 65536:
                    await response.read()  # so the connection goes back to the pool
        except TimeoutError:
            return self._retry(item, None, "timeout")
        except aiohttp.ClientError as exc:
            return self._retry(item, None, type(exc).__name__)

        if status in (200, 201, 202):
            return self._final(item, "sent", status, host, "")
        if status in (404, 410):
            return self._final(item, "gone", status, host, "unsubscribed")
        if status in (429, 503):
            wait = parse_retry_after(retry_after)
            if wait is not None:
                wait = min(max(wait, 1.0), self.retry_after_cap)
            return self._retry(item, status, "throttled", wait)
        if status >= 500:
            return self._retry(item, status, "server error")
        if status in (401, 403):
            return self._final(item, "failed", status, host, "vapid")
        if status == 413:
            return self._final(item, "failed", status, host, "too large")
        return self._final(item, "failed", status, host, "refused")

    def _final(
        self, item: _Delivery, status: str, code: int | None, host: str, reason: str
    ) -> _Outcome:
        return (item.message.id, item.subscription_id, status, item.attempts + 1,
                item.next_attempt, code, host, reason)

    def _retry(
        self, item: _Delivery, code: int | None, reason: str, wait: float | None = None
    ) -> _Outcome:
        attempts = item.attempts + 1
        host = _host_of(item.endpoint)
        if attempts >= self.max_attempts:
            return (item.message.id, item.subscription_id, "failed", attempts,
                    item.next_attempt, code, host, f"gave up: {reason}")
        if wait is None:
            wait = min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1))
            wait *= 0.5 + random.random()  # jitter, so retries do not arrive in step
        return (item.message.id, item.subscription_id, "pending", attempts,
                time.time() + wait, code, host, reason)

    @staticmethod
    def _release(item: _Delivery) -> _Outcome:
        return (item.message.id, item.subscription_id, "pending", item.attempts,
                item.next_attempt, None, "", "")

    # ------------------------------------------------------------------ recording

    async def _flush_loop(self) -> None:
        while True:
            await self._have_outcomes.wait()
            if not self._closing:
                try:
                    await asyncio.wait_for(self._flush_now.wait(), self.flush_interval)
                except TimeoutError:
                    pass
            try:
                await self._flush()
            except Exception:
                log.exception("push: recording outcomes failed; trying again shortly")
                if self._closing:
                    return
                await asyncio.sleep(1.0)
            if self._closing and not self._outcomes:
                return

    async def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        self._have_outcomes.clear()
        self._flush_now.clear()
        if not outcomes:
            return
        gone = sorted({o[1] for o in outcomes if o[2] == "gone"})

        async def run(conn: Any) -> None:
            await conn.executemany(
                "UPDATE deliveries SET status = ?, attempts = ?, next_attempt = ?, "
                "last_code = ? WHERE message_id = ? AND subscription_id = ?",
                [(o[2], o[3], o[4], o[5], o[0], o[1]) for o in outcomes],
            )
            if gone:
                await conn.executemany(
                    "UPDATE deliveries SET status = 'gone' "
                    "WHERE subscription_id = ? AND status = 'pending'",
                    [(sid,) for sid in gone],
                )
                await conn.executemany(
                    "DELETE FROM subscriptions WHERE id = ?", [(sid,) for sid in gone]
                )

        try:
            await self.db.write_fn(run)
        except BaseException:
            self._outcomes[:0] = outcomes
            self._have_outcomes.set()
            raise
        self.sent_total += sum(1 for o in outcomes if o[2] == "sent")
        self._log_problems(outcomes)
        self._wake.set()  # retries may now be the earliest thing due

    @staticmethod
    def _log_problems(outcomes: list[_Outcome]) -> None:
        # Grouped by host and reason: one line per kind of trouble, never an endpoint.
        problems = collections.Counter((o[6], o[2], o[5], o[7]) for o in outcomes if o[7])
        for (host, status, code, reason), n in sorted(problems.items(), key=str):
            if reason == "vapid":
                log.warning(
                    "push: %s refused %d deliveries with %s: check the VAPID key and "
                    "VIGIL_VAPID_SUBJECT", host, n, code,
                )
            elif reason == "too large":
                log.warning("push: %s refused %d deliveries as too large (413)", host, n)
            elif status == "gone":
                log.info("push: %s says %d subscriptions are gone; deleted", host, n)
            elif status == "pending":
                log.info("push: %d deliveries to %s will be retried (%s %s)",
                         n, host, reason, code or "")
            else:
                log.warning("push: %d deliveries to %s failed (%s %s)",
                            n, host, reason, code or "")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def announce(
    db: Database, sender: PushSender | None, message: tuple[dict, list[str], int, str, str]
) -> int:
    """enqueue() what listing_message()/alert_message() built and wake the sender; its id."""
    message_id = await enqueue(db, *message)
    if sender is not None:
        sender.wake()
    return message_id
