"""VAPID signing (RFC 8292) and the headers every push request carries."""

from __future__ import annotations

import hashlib
import hmac
import time

from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.jwt import sign as jwt_sign

from server.vapid import application_server_key, b64url

# A signed token serves every request to one push service for this long (RFC 8292 lets one
# token serve many requests); it is valid for TOKEN_LIFE.
TOKEN_REUSE = 600
TOKEN_LIFE = 12 * 3600


class VapidSigner:
    """Signs the Authorization header for each push service origin, once per TOKEN_REUSE
    seconds, and keys Topic headers with a secret drawn from the same private key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, subject: str):
        self._key = key
        self._k = application_server_key(key)
        self.subject = subject
        # Topic headers are visible to the push service; keyed hashing keeps a listing's
        # slug (and so a subscriber's state) out of them while staying stable across restarts.
        secret = key.private_numbers().private_value.to_bytes(32, "big")
        self._topic_key = hashlib.sha256(b"vigil push topic\0" + secret).digest()
        self._tokens: dict[str, tuple[str, float]] = {}

    def authorization(self, origin: str) -> str:
        """The Authorization header for a request to a push service at `origin`."""
        now = time.time()
        cached = self._tokens.get(origin)
        if cached is not None and cached[1] > now:
            return cached[0]
        # A fresh claims dict per push service origin. py_vapid's Vapid02.sign() is skipped
        # on purpose: its checks refuse valid subjects such as https://example.org/contact
        # and bracketed IPv6 audiences.
        claims = {"sub": self.subject, "aud": origin, "exp": int(now) + TOKEN_LIFE}
        token = jwt_sign(claims, self._key)
        header = f"vapid t={token},k={self._k}"
        if len(self._tokens) > 1000:  # one per push service host; WNS has many
            self._tokens.clear()
        self._tokens[origin] = (header, now + TOKEN_REUSE)
        return header

    def topic(self, topic_header: str) -> str:
        """The Topic header for a message's topic: a keyed hash, 32 URL-safe characters."""
        digest = hmac.new(self._topic_key, topic_header.encode("utf-8"), hashlib.sha256)
        return b64url(digest.digest())[:32]


def request_headers(ttl: int, urgency: str, topic: str, authorization: str) -> dict[str, str]:
    """The headers of one push request (RFC 8030) carrying an aes128gcm body (RFC 8291)."""
    return {
        "TTL": str(ttl),
        "Urgency": urgency,
        "Topic": topic,
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "Authorization": authorization,
    }
