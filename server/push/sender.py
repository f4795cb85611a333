"""The sender: drains the outbox, sending each delivery to its push service.

Deliveries are claimed in batches under leases (see outbox: several processes may send from
one outbox, each delivery going out through one of them), encrypted with pywebpush and
signed with VAPID (signing), sent concurrently through one aiohttp session (redirects never
followed: an endpoint names the one host Vigil agreed to POST to), each answer judged
(verdicts) and its outcome recorded within a few milliseconds, the answers that arrive
together in one transaction: a sender that dies resends only what was answered and not
yet recorded (or still on the wire), and a fanout to thousands of phones costs a
transaction per few answers rather than one per phone.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPusher
from yarl import URL

from server.config import Settings
from server.database import Database
from server.push import digest, outbox
from server.push.endpoints import check_allowlist, endpoint_allowed
from server.push.outbox import KEEP_FINISHED, LEASE, Outcome, prune
from server.push.signing import VapidSigner, request_headers
from server.push.subscriptions import prune_growth
from server.push.verdicts import QUICK_RETRIES, backoff, verdict

log = logging.getLogger("vigil.push")
# How often a long-running sender prunes finished messages (it also does so at start).
PRUNE_EVERY = 6 * 3600
# An idle sender looks at the outbox this often, for deliveries another process queued.
POLL_EVERY = 0.2
# How often a sender with nothing to do looks for leases of senders that died here.
DEAD_CHECK_EVERY = 1.0
# Seconds before a digest of new listings that could not be queued is tried again.
DIGEST_RETRY = 10
# How long answers gather before their outcomes are written. A sender that dies between an
# answer and that write sends the delivery again, so this is only long enough for answers
# arriving together to share one transaction; those that come while one is being written go
# in the next.
FLUSH_AFTER = 0.005


@dataclass(slots=True)
class _Outgoing:
    """A queued message as the sender needs it, kept in memory while its fanout runs."""

    id: int
    plaintext: bytes
    plaintext_es: bytes | None  # for subscribers in Spanish; None: the same as plaintext
    ttl: int
    created: float
    urgency: str
    topic: str
    # For subscribers in the other languages, by code; a language missing gets plaintext.
    others: dict[str, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class _Delivery:
    message: _Outgoing
    subscription_id: int
    attempts: int
    next_attempt: float
    endpoint: str
    p256dh: str
    auth: str
    lang: str = "en"

    def plaintext(self) -> bytes:
        """The payload in the subscriber's language when the message has one."""
        if self.lang == "es" and self.message.plaintext_es is not None:
            return self.message.plaintext_es
        return self.message.others.get(self.lang, self.message.plaintext)


def _host_of(endpoint: str) -> str:
    try:
        return URL(endpoint, encoded=True).host or "?"
    except ValueError:
        return "?"


def _pad(data: bytes) -> bytes:
    # The push service sees the ciphertext length. JSON ignores trailing white space, so
    # rounding up to 256 bytes hides the exact length of the text at no cost.
    return data.ljust(-(-len(data) // 256) * 256)


class PushSender:
    """Drains the outbox: claims due deliveries, sends them concurrently, records outcomes.

    start() opens the HTTP session, resumes anything left pending and prunes finished
    messages older than prune_after (again every PRUNE_EVERY); stop() finishes the requests
    already under way, hands unsent claims back and closes the session. wake() says a
    committed transaction has enqueued deliveries; deliveries another process queued are
    found within POLL_EVERY.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        vapid_key: ec.EllipticCurvePrivateKey,
        *,
        batch_size: int = 500,
        quick_retries: tuple[float, ...] = QUICK_RETRIES,
        claim_size: int | None = None,
        lease: float = LEASE,
        backoff_base: float = 30.0,
        backoff_cap: float = 3600.0,
        retry_after_cap: float = 3600.0,
        flush_interval: float = FLUSH_AFTER,
        prune_after: float = KEEP_FINISHED,
    ):
        self.settings = settings
        self.db = db
        self._signer = VapidSigner(vapid_key, settings.vapid_subject)
        self.concurrency = max(1, settings.push_concurrency)
        self.batch_size = batch_size
        self.quick_retries = quick_retries
        # Small claims spread a fanout across every sending process and keep what a crash
        # leaves leased (and so what can go out twice) to a few round trips' worth.
        self.claim_size = claim_size or min(batch_size, 2 * self.concurrency)
        self.lease = lease
        self.owner = ""
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
        self._outcomes: list[Outcome] = []
        self._messages: collections.OrderedDict[int, _Outgoing] = collections.OrderedDict()
        self._in_flight = 0
        self._stopping = False
        self._closing = False
        self._dispatcher: asyncio.Task | None = None
        self._flusher: asyncio.Task | None = None
        self._pruner: asyncio.Task | None = None
        self._renewer: asyncio.Task | None = None
        self._dead_checked = 0.0
        self._digests_checked = 0.0
        self._workers: list[asyncio.Task] = []
        self._allowed_origins: dict[str, bool] = {}
        # Push service hosts and when each last accepted a delivery (see outbox.record).
        self._accepted_at: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle

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
        self.owner = outbox.sender_name()
        # Leases of a sender that died on this machine are claimable at once; elsewhere
        # they run out. (At least once: a crash between a push service's 201 and the
        # commit of that outcome sends that delivery again.)
        await self._release_dead()
        await self._prune()
        self._workers = [
            asyncio.create_task(self._worker(), name=f"push-worker-{i}")
            for i in range(self.concurrency)
        ]
        self._flusher = asyncio.create_task(self._flush_loop(), name="push-flusher")
        self._dispatcher = asyncio.create_task(self._dispatch(), name="push-dispatcher")
        self._pruner = asyncio.create_task(self._prune_loop(), name="push-pruner")
        self._renewer = asyncio.create_task(self._renew_loop(), name="push-lease-renewer")
        self._wake.set()
        return self

    async def stop(self) -> None:
        """Finish sends under way, return unsent claims to pending, close the session."""
        if self._dispatcher is None:
            return
        self._stopping = True
        self._wake.set()
        if self._pruner is not None:
            self._pruner.cancel()
            await asyncio.gather(self._pruner, return_exceptions=True)
            self._pruner = None
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
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        # Whatever is still leased to this sender (a send cut off by the grace period)
        # is due again at once rather than when its lease runs out.
        try:
            await self.db.write(
                "UPDATE deliveries SET status = 'pending', lease_owner = NULL, next_attempt = 0 "
                "WHERE status = 'sending' AND lease_owner = ?", (self.owner,))
        except Exception:
            log.exception("push: handing back leases failed; they run out by themselves")
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._dispatcher = self._flusher = None
        self._workers = []
        self._messages.clear()

    async def _prune(self) -> None:
        try:
            removed = await prune(self.db, self.prune_after)
        except Exception:
            log.exception("push: pruning old messages failed")
            return
        if removed:
            log.info("push: pruned %d old messages", removed)
        try:
            await prune_growth(self.db)
        except Exception:
            log.exception("push: pruning old subscription counts failed")

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY)
            await self._prune()

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.db.write_fn(
                    lambda conn: outbox.renew(conn, self.owner, time.time(), self.lease),
                    exclusive=False)
            except Exception:
                log.exception("push: renewing leases failed; retrying")

    async def _release_dead(self) -> int:
        self._dead_checked = time.monotonic()
        released = await outbox.release_dead(self.db, self.owner)
        if released:
            log.info("push: %d deliveries claimed by a stopped process will be sent", released)
        return released

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
                if time.monotonic() - self._digests_checked >= POLL_EVERY:
                    await self._flush_digests()
                if self._in_flight <= self.claim_size:
                    # A read first: an idle sender never takes the write lock to find
                    # that nothing is due.
                    delay = await self._next_due()
                    if delay <= 0:
                        if await self._claim():
                            continue
                        delay = 0.005  # another sender claimed it first
                    # Nothing due: has a sender on this machine died holding leases?
                    elif time.monotonic() - self._dead_checked >= DEAD_CHECK_EVERY:
                        if await self._release_dead():
                            continue
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

    async def _flush_digests(self) -> None:
        """Queue the digests whose window has closed, whichever process held them."""
        self._digests_checked = time.monotonic()
        # A read first: most of the time nothing is held and no write lock is needed.
        due = await self.db.scalar("SELECT MIN(due) FROM push_digests WHERE due IS NOT NULL")
        if due is None or due > time.time():
            return
        try:
            sent = await self.db.write_fn(
                lambda conn: digest.flush(conn, self.settings.base_url))
        except Exception:
            # Alerts and everything else already queued go on; the digest is tried again.
            log.exception("push: queueing a digest of new listings failed; retrying in %d s",
                          DIGEST_RETRY)
            self._digests_checked += DIGEST_RETRY
            return
        if sent:
            log.info("push: %d digests of new listings queued", len(sent))

    async def _next_due(self) -> float:
        """Seconds until a delivery is due (0: now), at most POLL_EVERY."""
        # For 'sending' rows next_attempt is the lease's expiry: when a dead sender's
        # claims come due.
        soonest = await self.db.scalar(
            "SELECT MIN(due) FROM ("
            "SELECT MIN(next_attempt) AS due FROM deliveries WHERE status = 'pending' "
            "UNION ALL SELECT MIN(next_attempt) FROM deliveries WHERE status = 'sending') AS due"
        )
        if soonest is None:
            return POLL_EVERY
        return min(POLL_EVERY, max(0.0, soonest - time.time()))

    async def _claim(self) -> int:
        now = time.time()
        known = set(self._messages)
        # Claims, renewals and outcomes touch only the rows this sender holds, so on
        # PostgreSQL they run beside other machines' writes instead of after them.
        rows, loaded = await self.db.write_fn(
            lambda conn: outbox.claim(conn, self.owner, self.claim_size, now, self.lease, known),
            exclusive=False)
        for mid, payload, payload_es, ttl, created, urgency, topic_header, others in loaded:
            self._messages[mid] = _Outgoing(
                id=mid,
                plaintext=_pad(payload.encode("utf-8")),
                plaintext_es=_pad(payload_es.encode("utf-8")) if payload_es else None,
                ttl=ttl,
                created=datetime.fromisoformat(created).timestamp(),
                urgency=urgency,
                topic=self._signer.topic(topic_header),
                others={lang: _pad(text.encode("utf-8"))
                        for lang, text in json.loads(others or "{}").items()},
            )
        for mid, sid, attempts, endpoint, p256dh, auth, lang in rows:
            message = self._messages.get(mid)
            if message is None:  # deleted meanwhile (prune); nothing to send
                self._outcomes.append(Outcome(mid, sid, "failed", attempts, now, None, "", ""))
                self._have_outcomes.set()
                continue
            self._in_flight += 1
            self._queue.put_nowait(
                _Delivery(message, sid, attempts, now, endpoint, p256dh, auth, lang)
            )
        while len(self._messages) > 256:
            self._messages.popitem(last=False)
        return len(rows)

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
            if self._in_flight <= self.claim_size:
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
        return self._signer.authorization(origin)

    @staticmethod
    def _encrypt(item: _Delivery) -> bytes:
        keys = {"p256dh": item.p256dh, "auth": item.auth}
        pusher = WebPusher({"endpoint": item.endpoint, "keys": keys})
        return pusher.encode(item.plaintext(), "aes128gcm")["body"]

    async def _deliver(self, item: _Delivery) -> Outcome:
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
        headers = request_headers(ttl, message.urgency, message.topic,
                                  self._vapid_header(f"{url.scheme}://{url.raw_authority}"))
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

        decided = verdict(status, retry_after, self.retry_after_cap)
        if decided.status == "retry":
            return self._retry(item, status, decided.reason, decided.wait)
        return self._final(item, decided.status, status, host, decided.reason)

    def _final(
        self, item: _Delivery, status: str, code: int | None, host: str, reason: str
    ) -> Outcome:
        return Outcome(item.message.id, item.subscription_id, status, item.attempts + 1,
                       item.next_attempt, code, host, reason)

    def _retry(
        self, item: _Delivery, code: int | None, reason: str, wait: float | None = None
    ) -> Outcome:
        attempts = item.attempts + 1
        host = _host_of(item.endpoint)
        if attempts >= self.max_attempts:
            return Outcome(item.message.id, item.subscription_id, "failed", attempts,
                           item.next_attempt, code, host, f"gave up: {reason}")
        if wait is None:
            wait = self.retry_delay(attempts)
        return Outcome(item.message.id, item.subscription_id, "pending", attempts,
                       time.time() + wait, code, host, reason)

    def retry_delay(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones (verdicts.backoff)."""
        return backoff(attempts, self.quick_retries, self.backoff_base, self.backoff_cap)

    @staticmethod
    def _release(item: _Delivery) -> Outcome:
        return Outcome(item.message.id, item.subscription_id, "pending", item.attempts,
                       0.0, None, "", "")

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
        now = time.monotonic()
        for o in outcomes:
            if o.status == "sent":
                self._accepted_at[o.host] = now
        if len(self._accepted_at) > 1000:  # one per push service host; WNS has many
            self._accepted_at = {h: t for h, t in self._accepted_at.items() if now - t < 600}
        accepting = {h for h, t in self._accepted_at.items() if now - t < 600}
        try:
            result = await self.db.write_fn(
                lambda conn: outbox.record(conn, self.owner, outcomes, accepting),
                exclusive=False)
        except BaseException:
            self._outcomes[:0] = outcomes
            self._have_outcomes.set()
            raise
        if result["lost"]:
            # The event loop stalled past a lease and another sender took these over.
            log.warning("push: %d outcomes came after their lease had passed to another "
                        "sender", result["lost"])
        refused = len(result["removed"]) - len({o.subscription_id for o in outcomes
                                                 if o.status == "gone"})
        if refused > 0:
            log.info("push: removed %d subscriptions their push service kept refusing",
                     refused)
        self._log_problems(outcomes)
        if any(o.status == "pending" for o in outcomes):
            self._wake.set()  # a retry may now be the earliest thing due

    @staticmethod
    def _log_problems(outcomes: list[Outcome]) -> None:
        # Grouped by host and reason: one line per kind of trouble, never an endpoint.
        problems = collections.Counter(
            (o.host, o.status, o.last_code, o.reason) for o in outcomes if o.reason
        )
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


