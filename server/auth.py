"""Organizer sessions, CSRF tokens and sign-in throttling.

Sessions are signed cookies scoped to /admin (visitors never receive one). Each carries the
organizer, their session epoch (bumped on password change, which ends older sessions), a
random nonce the CSRF token derives from, and when it was issued; the signature's timestamp
gives the idle timeout, and the cookie is re-issued on every organizer request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
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
    """

    def __init__(self, limit: int, window: float):
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}
        self._salt = secrets.token_bytes(16)

    def key_for_client(self, host: str | None) -> str:
        return hashlib.blake2b((host or "").encode(), key=self._salt, digest_size=12).hexdigest()

    def _recent(self, key: str) -> deque[float]:
        now = time.monotonic()
        events = self._events.setdefault(key, deque())
        while events and now - events[0] > self.window:
            events.popleft()
        if len(self._events) > 50_000:  # bound memory under a flood of distinct keys
            self._events = {k: v for k, v in self._events.items() if v}
        return events

    def blocked(self, key: str) -> bool:
        return len(self._recent(key)) >= self.limit

    def hit(self, key: str) -> None:
        self._recent(key).append(time.monotonic())

    def reset(self, key: str) -> None:
        self._events.pop(key, None)

    def retry_after(self, key: str) -> int:
        events = self._recent(key)
        if not events:
            return 0
        return max(1, int(self.window - (time.monotonic() - events[0])) + 1)
