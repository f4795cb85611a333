"""The text sender: drains the SMS outbox at the configured rate.

Texts are claimed in batches under leases (store.claim), sent a few at a time through the
gateway but never faster than VIGIL_SMS_RATE a second, and each answer is recorded, sid and
all, within milliseconds (answers that arrive together share one transaction). A 429 pauses
all sending for its Retry-After (or a second) and retries that text later; a 5xx or no answer
retries with a growing wait; any other refusal fails the text. Logs name outbox rows, never
a number.
"""

from __future__ import annotations

import asyncio
import logging
import time

from cryptography.exceptions import InvalidTag

from server.config import Settings
from server.database import Database
from server.push.outbox import sender_name
from server.sms import numbers, store
from server.sms.gateway import Answer, Gateway

log = logging.getLogger("vigil.sms")
# Another process may queue texts (a second worker, a command): an idle sender looks this often.
POLL_EVERY = 1.0
QUICK_RETRIES = (1.0, 4.0)
MAX_WAIT = 300.0
PACE_SLACK = 0.02


def retry_delay(attempts: int) -> float:
    """Seconds before the next try of a text tried `attempts` times."""
    if attempts <= len(QUICK_RETRIES):
        return QUICK_RETRIES[attempts - 1]
    return min(MAX_WAIT, 2.0 ** attempts)


def outcome_of(item: store.Claimed, answer: Answer, now: float) -> store.Outcome:
    attempts = item.attempts + 1
    if answer.code in (200, 201):
        return store.Outcome(item.id, "sent", attempts, now, answer.code, answer.sid)
    retryable = answer.code is None or answer.code == 429 or answer.code >= 500
    if not retryable or attempts >= store.MAX_ATTEMPTS:
        return store.Outcome(item.id, "failed", attempts, now, answer.code)
    delay = retry_delay(attempts)
    if answer.retry_after is not None:
        delay = max(delay, min(answer.retry_after, MAX_WAIT))
    return store.Outcome(item.id, "pending", attempts, now + delay, answer.code)


class SmsSender:
    """start() does nothing while SMS is off; wake() after committing queued texts."""

    def __init__(self, settings: Settings, db: Database, gateway: Gateway | None = None,
                 concurrency: int | None = None):
        self.settings = settings
        self.db = db
        self.gateway = gateway or Gateway(settings)
        self.rate = settings.sms_rate
        # Enough requests in flight for the rate with answers up to a fifth of a second
        # away; a provider's limit is the rate, not the number of open requests.
        self.concurrency = concurrency or min(64, max(4, int(self.rate / 5)))
        self.owner = sender_name()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._in_flight: set[asyncio.Task] = set()
        self._outcomes: list[store.Outcome] = []
        self._answered = asyncio.Event()
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._running = False
        self.sent = 0

    @property
    def batch(self) -> int:
        # What the rate sends in two seconds: the leases renew while a batch goes out.
        return max(1, min(500, int(self.rate * 2)))

    async def start(self) -> SmsSender:
        if not self.settings.sms_on or self._running:
            return self
        self._running = True
        await self.gateway.start()
        await store.prune(self.db)
        self._tasks = [asyncio.create_task(self._run(), name="sms-sender"),
                       asyncio.create_task(self._flush_loop(), name="sms-recorder"),
                       asyncio.create_task(self._renew_loop(), name="sms-lease-renewer")]
        return self

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        runner, *others = self._tasks
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        # Texts on the wire are let finish (their answers recorded, sids and all) rather than
        # cut off, which would leave them to go again from whoever sends next.
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=self.gateway.timeout + 1)
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self._flush()
        await self.db.write_fn(lambda conn: store.release(conn, self.owner))
        await self.gateway.close()
        self._tasks = []

    def wake(self) -> None:
        self._wake.set()

    async def idle(self, within: float = 30.0) -> None:
        """Wait until nothing is due within `within` seconds and every answer is recorded."""
        while True:
            due = await self.db.scalar(
                "SELECT COUNT(*) FROM sms_outbox WHERE status = 'sending' "
                "OR (status = 'pending' AND next_attempt <= ?)", (time.time() + within,))
            if not due and not self._outcomes:
                return
            await asyncio.sleep(0.02)

    async def _pace(self) -> None:
        """Wait for the next slot the rate allows (and out any pause a 429 asked for)."""
        now = time.monotonic()
        # A sender that fell behind (a busy loop, a slow claim) may catch up by PACE_SLACK
        # seconds' worth of texts at once, no more: providers absorb that much of a burst.
        start = max(self._next_slot, now - PACE_SLACK, self._paused_until)
        self._next_slot = start + 1.0 / self.rate
        if start > now:
            await asyncio.sleep(start - now)
        if self._paused_until > time.monotonic():  # a 429 arrived while we waited
            await self._pace()

    async def _run(self) -> None:
        limit = asyncio.Semaphore(self.concurrency)
        in_flight = self._in_flight
        while True:
            self._wake.clear()
            now = time.time()
            # Shielded, as every write here: stop() cancels this task, and a transaction
            # cut off between BEGIN and its try would stay open on the writer.
            claimed = await asyncio.shield(
                self.db.write_fn(lambda conn, now=now: self._claim(conn, now)))
            if not claimed:
                try:
                    await asyncio.wait_for(self._wake.wait(), POLL_EVERY)
                except TimeoutError:
                    pass
                continue
            for item in claimed:
                await self._pace()
                await limit.acquire()
                task = asyncio.create_task(self._send(item, limit))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            # The next batch is claimed as soon as this one has gone out, while its last
            # answers are still coming: those texts stay leased to us meanwhile, and a
            # gap between batches would cost a share of the rate.

    async def _claim(self, conn, now: float) -> list[store.Claimed]:
        # Only the process holding the right to send claims (see store.hold_sending).
        if not await store.hold_sending(conn, self.owner, now):
            return []
        return await store.claim(conn, self.owner, self.batch, now)

    async def _send(self, item: store.Claimed, limit: asyncio.Semaphore) -> None:
        try:
            try:
                number = numbers.decrypt(self.settings.secret_key, item.number_enc)
            except (InvalidTag, ValueError):  # the secret key changed since it was stored
                log.warning("sms %s: the number cannot be decrypted with this secret key",
                            item.id)
                self._answer(store.Outcome(item.id, "failed", item.attempts + 1, time.time(),
                                           None))
                return
            # A STOP since the claim deleted the row (and a lease lost to another sender
            # means it is theirs): one read to look, just before the text goes.
            if not await self.db.scalar(
                    "SELECT 1 FROM sms_outbox WHERE id = ? AND lease_owner = ? "
                    "AND status = 'sending'", (item.id, self.owner)):
                # Handed back rather than left leased: record() changes it only if it is
                # still ours (then it is due again at once), and a deleted row stays deleted.
                self._answer(store.Outcome(item.id, "pending", item.attempts, time.time(),
                                           None))
                return
            answer = await self.gateway.send(number, item.body)
            if answer.code == 429:
                self._paused_until = time.monotonic() + min(answer.retry_after or 1.0, MAX_WAIT)
            outcome = outcome_of(item, answer, time.time())
            if outcome.status != "sent":
                log.warning("sms %s: provider answered %s, %s", item.id, answer.code,
                            "will retry" if outcome.status == "pending" else "given up")
            self._answer(outcome)
        finally:
            limit.release()

    def _answer(self, outcome: store.Outcome) -> None:
        self._outcomes.append(outcome)
        if outcome.status == "sent":
            self.sent += 1
        self._answered.set()

    async def _flush_loop(self) -> None:
        while True:
            await self._answered.wait()
            self._answered.clear()
            await self._flush()

    async def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return
        lost = await asyncio.shield(
            self.db.write_fn(lambda conn: store.record(conn, self.owner, outcomes)))
        if lost:
            log.info("sms: %s outcomes not recorded (stopped, or leased to another sender)",
                     lost)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(store.LEASE / 3)
            await asyncio.shield(self.db.write_fn(lambda conn: self._renew(conn, time.time())))

    async def _renew(self, conn, now: float) -> None:
        await store.renew(conn, self.owner, now)
        await conn.execute("UPDATE sms_sender SET expires = ? WHERE owner = ?",
                           (now + store.LEASE, self.owner))
