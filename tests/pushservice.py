"""A real Web Push service on loopback, for tests.

It speaks the actual protocol rather than mocking ``pywebpush``:

* RFC 8030 (Generic Event Delivery Using HTTP Push): ``POST /push/{id}``,
  ``TTL`` is required, ``Urgency`` and ``Topic`` are validated, success is
  ``201 Created`` with a ``Location`` header.
* RFC 8292 (VAPID): ``Authorization: vapid t=<JWT>, k=<key>``; the ES256
  signature is verified and the ``aud``/``exp``/``sub`` claims are checked.
* RFC 8291 / RFC 8188 (Message Encryption for Web Push, ``aes128gcm``): every
  body is decrypted with the subscriber's private key and auth secret, so a
  test sees exactly the plaintext that a browser's service worker would see.

The aiohttp server runs in its own thread with its own event loop, so the same
object works from synchronous tests (``requests``-based ``pywebpush.webpush``)
and from async code running on some other loop (``webpush_async``)::

    with PushService() as push:
        sub = push.new_subscription()
        webpush(sub.subscription_info(), "hi", vapid_private_key=vapid,
                vapid_claims={"sub": "mailto:ops@example.invalid"})
        [msg] = push.wait_for(1)
        assert msg.payload == b"hi"

Failure injection is per subscription: ``push.set_behaviour(sub, "410")``,
``push.set_behaviour(sub, "503", times=2, retry_after=5)``,
``push.set_behaviour(sub, "slow", delay=2.0)``, ``push.set_behaviour(sub, "drop")``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import json
import os
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = [
    "BEHAVIOURS",
    "MAX_BODY",
    "Message",
    "PushService",
    "Rejection",
    "Subscriber",
    "b64url_decode",
    "b64url_encode",
]

#: Behaviours accepted by :meth:`PushService.set_behaviour`.
BEHAVIOURS = frozenset({"ok", "400", "403", "404", "410", "413", "429", "500", "503", "slow",
                        "drop"})

#: Largest request body accepted (RFC 8030 section 7.2 / what real services enforce).
#: With aes128gcm that is 4096 - 86 (header) - 17 (delimiter + tag) = 3993 plaintext bytes.
MAX_BODY = 4096

#: RFC 8292 section 2: "exp" MUST NOT be more than 24 hours from the time of the request.
MAX_JWT_LIFETIME = 24 * 60 * 60

_URGENCIES = frozenset({"very-low", "low", "normal", "high"})
_TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_TTL_RE = re.compile(r"^[0-9]+$")


def b64url_encode(data: bytes) -> str:
    """base64url without padding (the encoding used everywhere in Web Push)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(data: str | bytes) -> bytes:
    """Strict-ish base64url decoding that tolerates missing padding."""
    if isinstance(data, str):
        data = data.encode("ascii")
    data = data.strip().rstrip(b"=")
    if not re.fullmatch(rb"[A-Za-z0-9_-]*", data):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


class _CIDict(dict):
    """A ``dict`` of HTTP headers with case-insensitive lookup.

    Keys are stored lower-cased (pywebpush sends every header name lower-cased
    anyway), but ``d["TTL"]``, ``d.get("Urgency")`` and ``"Topic" in d`` all work.
    """

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        pairs = items.items() if hasattr(items, "items") else items
        for key, value in pairs:
            super().__setitem__(str(key).lower(), value)

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key.lower())

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key.lower(), value)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def pop(self, key: str, *default: Any) -> Any:
        return super().pop(key.lower(), *default)


@dataclass
class Subscriber:
    """One browser-side push subscription (what ``PushManager.subscribe()`` makes)."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    p256dh: str
    auth: str
    #: If set (base64url of an uncompressed P-256 point), the subscription is
    #: bound to that VAPID key like ``subscribe({applicationServerKey})`` and a
    #: push signed with any other key gets 403 (RFC 8292 section 4.2).
    application_server_key: str | None = None

    @property
    def auth_secret(self) -> bytes:
        return b64url_decode(self.auth)

    @property
    def public_key_bytes(self) -> bytes:
        return b64url_decode(self.p256dh)

    def subscription_info(self) -> dict:
        """Exactly the shape of ``JSON.parse(JSON.stringify(PushSubscription))``."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }

    def decrypt(self, body: bytes) -> bytes:
        """Decrypt an RFC 8291 ``aes128gcm`` body the way a user agent does."""
        return http_ece.decrypt(
            body,
            private_key=self.private_key,
            auth_secret=self.auth_secret,
            version="aes128gcm",
        )


@dataclass
class Message:
    """A push message that was accepted (201) and decrypted."""

    sub_id: str
    payload: bytes
    headers: dict
    vapid_claims: dict
    #: base64url VAPID public key (the ``k`` parameter) the message was signed with.
    vapid_key: str = ""
    #: "vapid" (RFC 8292) or "webpush" (legacy draft, only if accept_legacy_vapid).
    vapid_scheme: str = "vapid"
    ttl: int = 0
    urgency: str | None = None
    topic: str | None = None
    location: str = ""
    received_at: float = 0.0

    def json(self) -> dict:
        return json.loads(self.payload.decode("utf-8"))

    def text(self) -> str:
        return self.payload.decode("utf-8")


@dataclass
class Rejection:
    """A request refused because it broke the protocol (VAPID, encryption, headers)."""

    sub_id: str
    status: int
    reason: str
    headers: dict = field(default_factory=dict)


@dataclass
class _Behaviour:
    name: str
    remaining: int | None
    retry_after: int
    delay: float


class _Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PushService:
    """An RFC 8030/8291/8292 push service on loopback, in a background thread."""

    def __init__(self, delay: float = 0.0, host: str = "127.0.0.1", jitter: float = 0.0
                 ) -> None:
        #: Simulated network round trip, applied (with asyncio.sleep, so requests
        #: overlap) to every request before it is answered.
        self.delay = delay
        #: Up to this many seconds more per request, drawn at random, so answers arrive
        #: spread out as from a real push service rather than in step.
        self.jitter = jitter
        self.host = host
        #: Accept the pre-RFC ``Authorization: WebPush <jwt>`` +
        #: ``Crypto-Key: p256ecdsa=<key>`` form. pywebpush only sends it when
        #: handed a ``py_vapid.Vapid01`` instance; by default it is refused (401)
        #: so tests catch code that uses the obsolete scheme.
        self.accept_legacy_vapid = False
        self.origin: str = ""
        self.port: int = 0

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._subs: dict[str, Subscriber] = {}
        self._behaviours: dict[str, _Behaviour] = {}
        self._messages: list[Message] = []
        self._rejected: list[Rejection] = []
        self._attempts: collections.Counter[str] = collections.Counter()
        self._request_headers: list[dict] = []
        self._errors: list[BaseException] = []
        self._verified_tokens: set[tuple[str, str]] = set()

        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PushService:
        if self._thread is not None:
            raise RuntimeError("PushService already started")
        self._ready.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._thread_main, name="PushService", daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("PushService did not start within 15 s")
        if self._start_error is not None:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError("PushService failed to start") from self._start_error
        return self

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop_event.set)
            except RuntimeError:  # loop already closed
                pass
        thread.join(15)
        if thread.is_alive():
            raise RuntimeError("PushService thread did not stop within 15 s")
        self._thread = None
        self._loop = None
        self._stop_event = None

    def __enter__(self) -> PushService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # never let an exception escape the thread
            if not self._ready.is_set():
                self._start_error = exc
                self._ready.set()
            else:
                self._errors.append(exc)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/push/{sub_id}", self._handle)
        runner = web.AppRunner(
            app,
            access_log=None,
            # a client that gives up (timeout, "slow") cancels the handler, so a
            # request the client never saw succeed is never stored
            handler_cancellation=True,
            shutdown_timeout=0.5,
        )
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.host, 0)
            await site.start()
            self.port = int(runner.addresses[0][1])
            host = f"[{self.host}]" if ":" in self.host else self.host
            self.origin = f"http://{host}:{self.port}"
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
            await runner.cleanup()
            return
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await runner.cleanup()

    # ------------------------------------------------------------------ subscriptions

    def new_subscription(self, application_server_key: str | None = None) -> Subscriber:
        """A fresh subscription: new P-256 key pair and 16-byte auth secret."""
        if not self.origin:
            raise RuntimeError("start() the PushService before creating subscriptions")
        private_key = ec.generate_private_key(ec.SECP256R1())
        public = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        sub_id = uuid.uuid4().hex
        sub = Subscriber(
            id=sub_id,
            endpoint=f"{self.origin}/push/{sub_id}",
            private_key=private_key,
            p256dh=b64url_encode(public),
            auth=b64url_encode(os.urandom(16)),
            application_server_key=application_server_key,
        )
        with self._lock:
            self._subs[sub_id] = sub
        return sub

    def remove_subscription(self, sub_id_or_subscriber: str | Subscriber) -> None:
        """Forget a subscription: later pushes to it get 404 (unsubscribed)."""
        sub_id = _sub_id(sub_id_or_subscriber)
        with self._lock:
            self._subs.pop(sub_id, None)
            self._behaviours.pop(sub_id, None)

    def set_behaviour(
        self,
        sub_id_or_subscriber: str | Subscriber,
        behaviour: str,
        *,
        times: int | None = None,
        retry_after: int = 1,
        delay: float = 0,
    ) -> None:
        """Make pushes to one subscription misbehave.

        ``behaviour`` is "ok", "400", "403", "404", "410", "413", "429", "500", "503", "slow"
        (sleep ``delay`` seconds, then handle normally) or "drop" (close the
        connection without answering). 429 and 503 carry ``Retry-After:
        retry_after``. With ``times=N`` the behaviour applies to the next N
        requests and then reverts to "ok".
        """
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; pick one of {sorted(BEHAVIOURS)}")
        if times is not None and times < 0:
            raise ValueError("times must be >= 0")
        sub_id = _sub_id(sub_id_or_subscriber)
        with self._lock:
            if behaviour == "ok" or times == 0:
                self._behaviours.pop(sub_id, None)
            else:
                self._behaviours[sub_id] = _Behaviour(behaviour, times, retry_after, delay)

    # ------------------------------------------------------------------ observations

    @property
    def messages(self) -> list[Message]:
        """Snapshot (a copy) of every accepted, decrypted message, in arrival order."""
        with self._lock:
            return list(self._messages)

    @property
    def rejected(self) -> list[Rejection]:
        """Snapshot of requests refused for protocol errors."""
        with self._lock:
            return list(self._rejected)

    @property
    def attempts(self) -> collections.Counter[str]:
        """Snapshot: sub_id -> requests received, any outcome (missing ids read as 0)."""
        with self._lock:
            return collections.Counter(self._attempts)

    @property
    def request_headers(self) -> list[dict]:
        """Snapshot: headers of every request received (case-insensitive dicts)."""
        with self._lock:
            return list(self._request_headers)

    @property
    def errors(self) -> list[BaseException]:
        """Bugs inside the service itself (should always be empty)."""
        with self._lock:
            return list(self._errors)

    def messages_for(self, subscriber: str | Subscriber) -> list[Message]:
        sub_id = _sub_id(subscriber)
        with self._lock:
            return [m for m in self._messages if m.sub_id == sub_id]

    def clear(self) -> None:
        """Forget recorded messages, rejections, attempts and headers."""
        with self._lock:
            self._messages.clear()
            self._rejected.clear()
            self._attempts.clear()
            self._request_headers.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        """Block until at least ``count`` messages arrived; return them all.

        Do not call this from a coroutine whose loop has to send the pushes (it
        blocks that loop); use :meth:`wait_for_async` there.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(count, timeout))
                self._cond.wait(remaining)
            return list(self._messages)

    async def wait_for_async(self, count: int, timeout: float = 10.0) -> list[Message]:
        """Like :meth:`wait_for`, without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self._messages) >= count:
                    return list(self._messages)
                if time.monotonic() >= deadline:
                    raise TimeoutError(self._timeout_message(count, timeout))
            await asyncio.sleep(0.005)

    def _timeout_message(self, count: int, timeout: float) -> str:
        # called with the lock held
        rejected = "; ".join(f"{r.sub_id[:8]}: {r.status} {r.reason}" for r in self._rejected)
        return (
            f"PushService: expected at least {count} message(s) within {timeout} s but "
            f"got {len(self._messages)}; attempts={dict(self._attempts)}; "
            f"rejected=[{rejected}]; service errors={self._errors!r}"
        )

    # ------------------------------------------------------------------ the protocol

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle_push(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in this service: record it, answer 500
            with self._lock:
                self._errors.append(exc)
            return web.Response(status=500, text=f"PushService internal error: {exc!r}")

    async def _handle_push(self, request: web.Request) -> web.StreamResponse:
        sub_id = request.match_info["sub_id"]
        headers = _CIDict(request.headers.items())
        with self._lock:
            self._attempts[sub_id] += 1
            self._request_headers.append(headers)
            sub = self._subs.get(sub_id)
            behaviour = self._take_behaviour(sub_id)

        if self.delay or self.jitter:
            await asyncio.sleep(self.delay + random.uniform(0.0, self.jitter))

        if sub is None:
            return web.Response(status=404, text="No such subscription")

        if behaviour is not None:
            name = behaviour.name
            if name == "drop":
                return await self._drop(request)
            if name == "slow":
                await asyncio.sleep(behaviour.delay)
            elif name in ("429", "503"):
                return web.Response(
                    status=int(name),
                    headers={"Retry-After": str(behaviour.retry_after)},
                    text=f"Simulated {name}",
                )
            else:
                return web.Response(status=int(name), text=f"Simulated {name}")

        body = await request.read()
        try:
            claims, key, scheme = self._verify_vapid(headers, sub)
            if len(body) > MAX_BODY:
                raise _Reject(413, f"body is {len(body)} bytes, the limit is {MAX_BODY}")
            ttl, urgency, topic = self._check_headers(headers)
            payload = self._decrypt(sub, headers, body)
        except _Reject as rej:
            with self._lock:
                self._rejected.append(Rejection(sub_id, rej.status, rej.reason, headers))
            return web.Response(status=rej.status, text=rej.reason)

        location = f"{self.origin}/message/{uuid.uuid4().hex}"
        message = Message(
            sub_id=sub_id,
            payload=payload,
            headers=headers,
            vapid_claims=claims,
            vapid_key=key,
            vapid_scheme=scheme,
            ttl=ttl,
            urgency=urgency,
            topic=topic,
            location=location,
            received_at=time.time(),
        )
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()
        return web.Response(status=201, headers={"Location": location})

    def _take_behaviour(self, sub_id: str) -> _Behaviour | None:
        # called with the lock held
        behaviour = self._behaviours.get(sub_id)
        if behaviour is None:
            return None
        if behaviour.remaining is not None:
            behaviour.remaining -= 1
            if behaviour.remaining <= 0:
                del self._behaviours[sub_id]
        return behaviour

    async def _drop(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.close()
        # handler_cancellation=True: connection_lost() cancels this handler.
        # The fallback return is never written to the (closed) socket.
        await asyncio.sleep(30)
        return web.Response(status=500)  # pragma: no cover

    # -- RFC 8292 ---------------------------------------------------------------

    def _verify_vapid(self, headers: dict, sub: Subscriber) -> tuple[dict, str, str]:
        auth = headers.get("authorization")
        if not auth:
            raise _Reject(401, "missing Authorization header (VAPID required)")
        scheme, _, rest = auth.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "vapid":
            params: dict[str, str] = {}
            for part in rest.split(","):
                name, sep, value = part.strip().partition("=")
                if not sep:
                    raise _Reject(401, f"malformed vapid Authorization parameter {part!r}")
                params[name.strip().lower()] = value.strip()
            token, key = params.get("t"), params.get("k")
            if not token or not key:
                raise _Reject(401, "vapid Authorization needs both t= and k=")
        elif scheme == "webpush":
            if not self.accept_legacy_vapid:
                raise _Reject(
                    401,
                    "legacy 'WebPush' VAPID scheme refused; use RFC 8292 'vapid t=..., k=...'",
                )
            token = rest.strip()
            key = None
            for item in re.split(r"[;,]", headers.get("crypto-key", "")):
                name, _, value = item.strip().partition("=")
                if name.strip().lower() == "p256ecdsa":
                    key = value.strip()
            if not token or not key:
                raise _Reject(401, "legacy WebPush scheme needs Crypto-Key: p256ecdsa=<key>")
        else:
            raise _Reject(401, f"unsupported Authorization scheme {scheme!r}")

        try:
            key_bytes = b64url_decode(key)
            if len(key_bytes) != 65 or key_bytes[0] != 4:
                raise ValueError("not an uncompressed point")
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_bytes)
        except (ValueError, binascii.Error) as exc:
            raise _Reject(401, f"VAPID k is not a P-256 public key: {exc}") from None
        key = b64url_encode(key_bytes)

        parts = token.split(".")
        if len(parts) != 3:
            raise _Reject(401, "VAPID token is not a JWS compact serialisation")
        try:
            jwt_header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, binascii.Error) as exc:
            raise _Reject(401, f"VAPID token does not decode: {exc}") from None
        if not isinstance(jwt_header, dict) or jwt_header.get("alg") != "ES256":
            raise _Reject(401, f"VAPID JWT alg must be ES256, header was {jwt_header!r}")
        if jwt_header.get("typ", "JWT").upper() != "JWT":
            raise _Reject(401, f"VAPID JWT typ must be JWT, header was {jwt_header!r}")
        if len(signature) != 64:
            raise _Reject(401, f"ES256 signature must be 64 bytes (r||s), got {len(signature)}")
        # A sender reuses one token for many pushes (RFC 8292 allows it), and real push
        # services cache the check: a token already verified against the same key is not
        # verified again. The claims below are checked on every request all the same.
        signed = (token, key)
        if signed not in self._verified_tokens:
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            try:
                public_key.verify(
                    der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256())
                )
            except InvalidSignature:
                raise _Reject(401, "VAPID JWT signature does not verify against k") from None
            if len(self._verified_tokens) >= 10_000:
                self._verified_tokens.clear()
            self._verified_tokens.add(signed)

        if not isinstance(claims, dict):
            raise _Reject(401, "VAPID JWT claims are not a JSON object")
        aud = claims.get("aud")
        if aud != self.origin:
            raise _Reject(401, f"VAPID aud {aud!r} != push service origin {self.origin!r}")
        exp = claims.get("exp")
        # RFC 7519 NumericDate: a JSON number (pywebpush always sends an int)
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise _Reject(401, f"VAPID exp must be a NumericDate, got {exp!r}")
        now = time.time()
        if exp <= now:
            raise _Reject(401, f"VAPID JWT expired (exp={exp}, now={int(now)})")
        if exp > now + MAX_JWT_LIFETIME:
            raise _Reject(
                401, f"VAPID exp is {int(exp - now)} s away, more than 24 h (RFC 8292 s.2)"
            )
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.startswith(("mailto:", "https:")):
            raise _Reject(401, f"VAPID sub must be a mailto: or https: URI, got {subject!r}")

        if sub.application_server_key is not None:
            expected = b64url_encode(b64url_decode(sub.application_server_key))
            if key != expected:
                raise _Reject(
                    403, "VAPID key does not match the subscription's applicationServerKey"
                )
        return claims, key, scheme

    # -- RFC 8030 ---------------------------------------------------------------

    def _check_headers(self, headers: dict) -> tuple[int, str | None, str | None]:
        ttl_raw = headers.get("ttl")
        if ttl_raw is None:
            raise _Reject(400, "missing TTL header (RFC 8030 section 5.2)")
        if not _TTL_RE.fullmatch(ttl_raw.strip()):
            raise _Reject(400, f"TTL must be a non-negative integer, got {ttl_raw!r}")
        urgency = headers.get("urgency")
        if urgency is not None and urgency.strip().lower() not in _URGENCIES:
            raise _Reject(400, f"Urgency must be one of {sorted(_URGENCIES)}, got {urgency!r}")
        topic = headers.get("topic")
        if topic is not None and not _TOPIC_RE.fullmatch(topic):
            raise _Reject(
                400, f"Topic must be 1-32 base64url characters (RFC 8030 s.5.4), got {topic!r}"
            )
        return int(ttl_raw), urgency, topic

    # -- RFC 8291 ---------------------------------------------------------------

    def _decrypt(self, sub: Subscriber, headers: dict, body: bytes) -> bytes:
        encoding = headers.get("content-encoding")
        if not body:
            # RFC 8030 allows a push without payload (a "tickle")
            if encoding is not None:
                raise _Reject(400, f"Content-Encoding {encoding!r} on an empty body")
            return b""
        if encoding is None or encoding.strip().lower() != "aes128gcm":
            raise _Reject(400, f"Content-Encoding must be aes128gcm, got {encoding!r}")
        if len(body) < 21 + 65 + 17:
            raise _Reject(400, f"aes128gcm body too short ({len(body)} bytes)")
        rs = int.from_bytes(body[16:20], "big")
        idlen = body[20]
        if idlen != 65:
            raise _Reject(400, f"aes128gcm keyid must be the 65-byte sender key, got {idlen}")
        if len(body) - 86 > rs:
            raise _Reject(400, "RFC 8291 requires a single record (ciphertext longer than rs)")
        try:
            return sub.decrypt(body)
        except Exception as exc:  # http_ece.ECEException, ValueError for bad points, ...
            raise _Reject(400, f"aes128gcm decryption failed: {exc}") from None


def _sub_id(sub_id_or_subscriber: str | Subscriber) -> str:
    if isinstance(sub_id_or_subscriber, Subscriber):
        return sub_id_or_subscriber.id
    return str(sub_id_or_subscriber)
