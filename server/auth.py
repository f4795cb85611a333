"""Organizer sessions, device cookies, CSRF tokens and sign-in throttling.

Sessions live on the server: the cookie (scoped to /admin, so visitors never receive one)
holds a random token, the database only its hash, with the organizer, the device, when it
started and when it was last used. Signing out or changing a password deletes the row, so a
copied cookie stops working at once. The CSRF token is derived from the session's token.

Device cookies follow OWASP's "Slow down online guessing attacks with device cookies": a
browser in which an organizer signed in before carries a signed cookie naming that
organizer, and its sign-ins for that organizer skip the lockout that strangers' failures
build up, so a stranger cannot lock an organizer out.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import hmac
import ipaddress
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiosqlite
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from server.database import Database

SESSION_COOKIE = "vigil_organizer"
DEVICE_COOKIE = "vigil_device"
LOGIN_COOKIE = "vigil_login"
MAX_SESSION_AGE = 12 * 60 * 60
DEVICE_COOKIE_AGE = 365 * 24 * 60 * 60
FORM_SALT = "vigil.form"


def _cookie(name: str, value: str, path: str, max_age: int, secure: bool) -> str:
    return (f"{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict"
            + ("; Secure" if secure else ""))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    id: int
    organizer_id: int
    token: str
    started: float
    last_used: float


class SessionStore:
    """Server-side organizer sessions."""

    def __init__(self, db: Database, secret: str, idle_seconds: int):
        self.db = db
        self._secret = secret.encode()
        self.idle_seconds = idle_seconds
        # A write per request would be wasteful; last use is kept to this precision.
        self._touch_every = max(1.0, min(60.0, idle_seconds / 4))

    async def start(self, conn: aiosqlite.Connection, organizer_id: int, device: str) -> Session:
        """A new session, inside the caller's transaction."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        cur = await conn.execute(
            "INSERT INTO sessions (token_hash, organizer_id, device, started, last_used) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (_hash(token), organizer_id, device[:200], now, now))
        (session_id,) = await cur.fetchone()
        return Session(session_id, organizer_id, token, now, now)

    async def find(self, token: str | None) -> Session | None:
        """The live session a cookie names, or None when it ended, idled out or is too old."""
        if not token or len(token) > 100:
            return None
        row = await self.db.first(
            "SELECT id, organizer_id, started, last_used FROM sessions WHERE token_hash = ?",
            (_hash(token),))
        if row is None:
            return None
        now = time.time()
        if now - row["last_used"] > self.idle_seconds or now - row["started"] > MAX_SESSION_AGE:
            await self.db.write("DELETE FROM sessions WHERE id = ?", (row["id"],))
            return None
        session = Session(row["id"], row["organizer_id"], token, row["started"],
                          row["last_used"])
        if now - row["last_used"] >= self._touch_every:
            await self.db.write("UPDATE sessions SET last_used = ? WHERE id = ?",
                                (now, row["id"]))
        return session

    @staticmethod
    async def end(conn: aiosqlite.Connection, session_id: int) -> None:
        await conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    @staticmethod
    async def end_all(conn: aiosqlite.Connection, organizer_id: int,
                      keep: int | None = None) -> int:
        """End every session of an organizer but `keep`; how many ended."""
        cur = await conn.execute("DELETE FROM sessions WHERE organizer_id = ? "
                                 "AND id IS DISTINCT FROM ?",
                                 (organizer_id, keep))
        return cur.rowcount

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._secret, b"csrf:" + session.token.encode(),
                        hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        return (session is not None and bool(token)
                and hmac.compare_digest(self.csrf_token(session), str(token)))

    @staticmethod
    def cookie_header(session: Session | None, secure: bool) -> str:
        if session is None:
            return _cookie(SESSION_COOKIE, "", "/admin", 0, secure)
        return _cookie(SESSION_COOKIE, session.token, "/admin", MAX_SESSION_AGE, secure)


class DeviceCookies:
    """Signed cookies naming the organizer who signed in from this browser before."""

    def __init__(self, secret: str):
        self._serializer = URLSafeTimedSerializer(secret, salt="vigil.device")

    def issue(self, name: str) -> str:
        return self._serializer.dumps([name.casefold(), secrets.token_urlsafe(12)])

    def device_for(self, value: str | None, name: str) -> str | None:
        """The device's own id when the cookie is genuine and names this organizer."""
        if not value:
            return None
        try:
            named, nonce = self._serializer.loads(value, max_age=DEVICE_COOKIE_AGE)
        except (BadSignature, SignatureExpired, ValueError, TypeError):
            return None
        if not isinstance(named, str) or named != name.casefold():
            return None
        return str(nonce)

    @staticmethod
    def cookie_header(value: str, secure: bool) -> str:
        return _cookie(DEVICE_COOKIE, value, "/admin", DEVICE_COOKIE_AGE, secure)


def login_cookie_header(value: str, secure: bool) -> str:
    """The sign-in form's own cookie, which its stamp is bound to: a form posted from
    another site cannot carry it (SameSite=Strict), so sign-in cannot be forged."""
    return _cookie(LOGIN_COOKIE, value, "/admin/login", 3600, secure)


class FormStamp:
    """A signed, time-stamped hidden field for forms that have no session (sign-in, public
    suggestions): proves the form came from this server and how long it was on screen."""

    def __init__(self, secret: str, purpose: str):
        self._serializer = URLSafeTimedSerializer(secret, salt=f"{FORM_SALT}.{purpose}")

    def issue(self, bound: str = "") -> str:
        """A stamp; `bound`, when given, ties it to a value the browser holds (a cookie)."""
        if bound:
            return self._serializer.dumps([time.time(), _hash(bound)])
        return self._serializer.dumps(time.time())

    def age(self, token: str | None, max_age: float, bound: str = "") -> float | None:
        """Seconds since the form was served, or None if the stamp is missing, forged or
        bound to another value than `bound`."""
        if not token:
            return None
        try:
            data = self._serializer.loads(token, max_age=max_age)
            if bound:
                issued, tied = data
                if not hmac.compare_digest(str(tied), _hash(bound)):
                    return None
            else:
                issued = data
            issued = float(issued)
        except (BadSignature, SignatureExpired, ValueError, TypeError):
            return None
        return time.time() - issued


class AccountThrottle:
    """Failed sign-ins per account in a sliding window, counted in the database, so that
    every `serve --workers` process sees one count: guesses at an account spread over N
    processes do not get N times the tries.

    The account is stored as a keyed hash of the name as typed (casefolded), never the name
    itself: people type a password into the name field by mistake. Each failure deletes
    the rows the window has passed, so the table holds at most one window of failures.
    """

    def __init__(self, db: Database, secret: str, limit: int, window: float):
        self.db = db
        self.limit = limit
        self.window = window
        self._key = hashlib.sha256(b"sign-in failures:" + secret.encode()).digest()

    def key_for(self, account: str) -> bytes:
        return hashlib.blake2b(account.casefold().encode(), key=self._key,
                               digest_size=16).digest()

    async def _nth_newest(self, key: bytes) -> float | None:
        """When the limit-th most recent failure in the window happened, if there are that
        many: the count drops below the limit once it leaves the window."""
        return await self.db.scalar(
            "SELECT at FROM sign_in_failures WHERE account = ? AND at > ? "
            "ORDER BY at DESC LIMIT 1 OFFSET ?",
            (key, time.time() - self.window, self.limit - 1))

    async def retry_after(self, key: bytes) -> int:
        at = await self._nth_newest(key)
        return 0 if at is None else max(1, math.ceil(at + self.window - time.time()))

    async def attempt(self, key: bytes) -> bool:
        """Count a sign-in attempt as a failure before its password is checked (a success
        resets the count); True when the limit is reached, and it must not be checked.
        Counting first is what makes forty guesses sent at once meet the limit: counted
        after the check, all forty would pass it while the first was still being hashed."""
        now = time.time()

        async def record(conn: aiosqlite.Connection) -> bool:
            await conn.execute("DELETE FROM sign_in_failures WHERE at <= ?", (now - self.window,))
            async with conn.execute("SELECT COUNT(*) FROM sign_in_failures WHERE account = ?",
                                    (key,)) as cur:
                (count,) = await cur.fetchone()
            if count >= self.limit:
                return True
            await conn.execute("INSERT INTO sign_in_failures (account, at) VALUES (?, ?)",
                               (key, now))
            return False

        return await self.db.write_fn(record)

    async def reset(self, key: bytes) -> None:
        await self.db.write("DELETE FROM sign_in_failures WHERE account = ?", (key,))


class SharedLimit:
    """At most `limit` events per client in a sliding window, counted in the database, so
    that N processes (or machines) do not give a client N times the allowance.

    A client is a keyed hash of its address; the key is derived from the secret and the UTC
    date, so a day's rows cannot be linked to the next day's, and no address is stored.
    Rows past the window are deleted as new ones come.
    """

    def __init__(self, db: Database, secret: str, purpose: str, limit: int, window: float):
        self.db = db
        self.purpose = purpose
        self.limit = limit
        self.window = window
        self._secret = secret.encode()

    def key_for_client(self, host: str | None) -> bytes:
        day = time.strftime("%Y-%m-%d", time.gmtime()).encode()
        key = hashlib.sha256(b"rate:" + self.purpose.encode() + b":" + day + b":" +
                             self._secret).digest()
        return hashlib.blake2b((host or "").encode(), key=key, digest_size=16).digest()

    async def retry_after(self, key: bytes) -> int:
        """0 while the client may go on; else the seconds until it may."""
        at = await self.db.scalar(
            "SELECT at FROM rate_events WHERE purpose = ? AND client = ? AND at > ? "
            "ORDER BY at DESC LIMIT 1 OFFSET ?",
            (self.purpose, key, time.time() - self.window, self.limit - 1))
        return 0 if at is None else max(1, math.ceil(at + self.window - time.time()))

    async def take_in(self, conn: aiosqlite.Connection, key: bytes) -> bool:
        """Inside the caller's transaction: record one event, or False when the client has
        reached the limit (then nothing is recorded)."""
        now = time.time()
        await conn.execute("DELETE FROM rate_events WHERE purpose = ? AND at <= ?",
                           (self.purpose, now - self.window))
        async with conn.execute("SELECT COUNT(*) FROM rate_events WHERE purpose = ? AND "
                                "client = ?", (self.purpose, key)) as cur:
            (count,) = await cur.fetchone()
        if count >= self.limit:
            return False
        await conn.execute("INSERT INTO rate_events (purpose, client, at) VALUES (?, ?, ?)",
                           (self.purpose, key, now))
        return True

    async def take(self, key: bytes) -> bool:
        return await self.db.write_fn(lambda conn: self.take_in(conn, key))

    async def reset(self, key: bytes) -> None:
        await self.db.write("DELETE FROM rate_events WHERE purpose = ? AND client = ?",
                            (self.purpose, key))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ForwardedClients:
    """Tells clients apart behind the reverse proxies named in VIGIL_TRUSTED_PROXIES.

    From those proxies alone, X-Forwarded-For names the client: the last address in it
    that is not itself a trusted proxy (anything left of that was written by the client
    and proves nothing). The address is at once replaced by a salted hash that lives only
    in this process, so it is never stored or logged, and serves only to tell one client's
    rate limits from another's. Requests from anywhere else keep their peer address.
    """

    def __init__(self, trusted: tuple[Network, ...]):
        self.trusted = trusted
        self._salt = secrets.token_bytes(16)
        self._is_trusted = functools.lru_cache(maxsize=1024)(self._check)

    def _check(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def client_of(self, peer: str, forwarded_for: list[bytes]) -> str:
        """Who sent a request that `peer` passed on: a salted hash of the client's address
        when the peer is a trusted proxy, else the peer."""
        if not self._is_trusted(peer):
            return peer
        hops = [hop.strip() for value in forwarded_for
                for hop in value.decode("latin-1").split(",") if hop.strip()]
        client = next((hop for hop in reversed(hops) if not self._is_trusted(hop)),
                      hops[0] if hops else peer)
        return "client:" + hashlib.blake2b(client.encode(), key=self._salt,
                                           digest_size=12).hexdigest()


# --- notices carried by a redirect ---------------------------------------------------------

def notice_signature(secret: str, text: str) -> str:
    """What vouches that a redirect's notice ("done=...") was written by this server."""
    key = hashlib.sha256(b"organizer notice:" + secret.encode()).digest()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:24]


def signed_notice(secret: str, params: Any) -> str | None:
    """The notice a page was sent with, when its signature holds; else nothing."""
    text, signature = params.get("done"), params.get("ns")
    if not text or not signature:
        return None
    return text if hmac.compare_digest(notice_signature(secret, text), signature) else None


class SpentStamps:
    """Stamps that have carried a suggestion, each kept in memory until it expires, so one
    form is good for one suggestion. The memory answers at once, without the database, for
    the stamps this process has seen; the table spent_stamps is what every process agrees
    on, written with the suggestion it carried.

    Held as digests, at most `max_entries` of them: past that, the earliest-issued are
    forgotten and every stamp issued up to the last one forgotten is refused from then on
    (as if expired), so a flood can shorten how long old forms last but never lets a spent
    stamp through again.
    """

    def __init__(self, max_age: float, max_entries: int = 100_000):
        self.max_age = max_age
        self.max_entries = max_entries
        self._spent: set[bytes] = set()
        self._by_issue: list[tuple[float, bytes]] = []  # heap: earliest issued first
        self.refused_up_to = 0.0

    @staticmethod
    def digest(token: str) -> bytes:
        return hashlib.blake2b(token.encode(), digest_size=16).digest()

    def _forget_expired(self) -> None:
        expired_before = time.time() - self.max_age
        while self._by_issue and self._by_issue[0][0] < expired_before:
            self._spent.discard(heapq.heappop(self._by_issue)[1])

    def is_spent(self, token: str, issued: float) -> bool:
        return issued <= self.refused_up_to or self.digest(token) in self._spent

    def spend(self, token: str, issued: float) -> bool:
        """Mark the stamp spent; False when it already was."""
        if self.is_spent(token, issued):
            return False
        self._forget_expired()
        digest = self.digest(token)
        self._spent.add(digest)
        heapq.heappush(self._by_issue, (issued, digest))
        while len(self._by_issue) > self.max_entries:
            oldest, forgotten = heapq.heappop(self._by_issue)
            self._spent.discard(forgotten)
            self.refused_up_to = max(self.refused_up_to, oldest)
        return True

    def give_back(self, token: str) -> None:
        """The suggestion it carried was not stored after all: the stamp may be used again."""
        self._spent.discard(self.digest(token))
