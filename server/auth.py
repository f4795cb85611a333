"""Organizer sessions, CSRF tokens and sign-in throttling.

Sessions are signed cookies scoped to /admin (visitors never receive one). Each carries the
organizer, their session epoch (bumped on password change, which ends older sessions), a
random nonce the CSRF token derives from, and when it was issued; the signature's timestamp
gives the idle timeout, and the cookie is re-issued on every organizer request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SESSION_COOKIE = "vigil_organizer"
MAX_SESSION_AGE = 12 * 60 * 60
FORM_SALT = "vigil.form"


@dataclass(frozen=True)
class Session:
    organizer_id: int
    epoch: int
    nonce: str
    issued: float


class SessionSigner:
    def __init__(self, secret: str, idle_seconds: int):
        self._serializer = URLSafeTimedSerializer(secret, salt="vigil.session")
        self._secret = secret.encode()
        self.idle_seconds = idle_seconds

    def new(self, organizer_id: int, epoch: int) -> Session:
        return Session(organizer_id, epoch, secrets.token_urlsafe(16), time.time())

    def dumps(self, session: Session) -> str:
        return self._serializer.dumps(
            [session.organizer_id, session.epoch, session.nonce, session.issued]
        )

    def loads(self, value: str) -> Session | None:
        """The session in a cookie, or None when it is forged, idle too long or too old."""
        try:
            data = self._serializer.loads(value, max_age=self.idle_seconds)
            organizer_id, epoch, nonce, issued = data
        except (BadSignature, SignatureExpired, ValueError, TypeError):
            return None
        if time.time() - float(issued) > MAX_SESSION_AGE:
            return None
        return Session(int(organizer_id), int(epoch), str(nonce), float(issued))

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._secret, b"csrf:" + session.nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token)

    def cookie_header(self, session: Session | None, secure: bool) -> str:
        if session is None:
            return (f"{SESSION_COOKIE}=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict"
                    + ("; Secure" if secure else ""))
        return (
            f"{SESSION_COOKIE}={self.dumps(session)}; Path=/admin; Max-Age={self.idle_seconds}; "
            "HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
        )


class FormStamp:
    """A signed, time-stamped hidden field for forms that have no session (sign-in, public
    suggestions): proves the form came from this server and how long it was on screen."""

    def __init__(self, secret: str, purpose: str):
        self._serializer = URLSafeTimedSerializer(secret, salt=f"{FORM_SALT}.{purpose}")

    def issue(self) -> str:
        return self._serializer.dumps(time.time())

    def age(self, token: str | None, max_age: float) -> float | None:
        """Seconds since the form was served, or None if the stamp is missing or forged."""
        if not token:
            return None
        try:
            issued = float(self._serializer.loads(token, max_age=max_age))
        except (BadSignature, SignatureExpired, ValueError, TypeError):
            return None
        return time.time() - issued


class Throttle:
    """Counts failures per key in a sliding window, in memory only.

    Client keys are hashed with a salt that lives only in this process, so not even memory
    holds a client address in the clear, and nothing about clients outlives a restart.

    The table is bounded by `max_keys` and kept in order of last use, so each call does a
    constant amount of work: keys whose window has passed are dropped from the front as it
    goes, and beyond the bound the longest-unused key is forgotten (a flood of new keys
    costs their senders' old counts, never a pause to rebuild the table).
    """

    def __init__(self, limit: int, window: float, max_keys: int = 50_000):
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._salt = secrets.token_bytes(16)

    def key_for_client(self, host: str | None) -> str:
        return hashlib.blake2b((host or "").encode(), key=self._salt, digest_size=12).hexdigest()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is not None:
            while events and now - events[0] > self.window:
                events.popleft()
        return events

    def _forget_old(self, now: float) -> None:
        events = self._events
        while events:
            oldest = next(iter(events.values()))
            if len(events) > self.max_keys or not oldest or now - oldest[-1] > self.window:
                events.popitem(last=False)
            else:
                break

    def blocked(self, key: str) -> bool:
        events = self._recent(key, time.monotonic())
        return events is not None and len(events) >= self.limit

    def hit(self, key: str) -> None:
        now = time.monotonic()
        events = self._recent(key, now)
        if events is None:
            # Only the newest `limit` events matter: the oldest of them says when the
            # count drops below the limit again.
            events = self._events[key] = deque(maxlen=self.limit)
        else:
            self._events.move_to_end(key)
        events.append(now)
        self._forget_old(now)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)

    def retry_after(self, key: str) -> int:
        events = self._recent(key, time.monotonic())
        if not events:
            return 0
        return max(1, int(self.window - (time.monotonic() - events[0])) + 1)

    def __len__(self) -> int:
        return len(self._events)


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
