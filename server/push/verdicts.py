"""What a push service's answer decides for a delivery: sent, gone, tried again (and when),
or failed."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

# A push service's hiccup (a dropped connection, a 500) usually passes within seconds, and
# an alert minutes late may be too late: the first retries come this soon, then the wait
# doubles from the backoff base.
QUICK_RETRIES = (1.0, 4.0)


@dataclass(frozen=True, slots=True)
class Verdict:
    """`status` is final ('sent', 'gone', 'failed') or 'retry'; `reason` is what the log
    and the delivery's row say; `wait` is, for a retry the push service timed, how long."""

    status: str
    reason: str
    wait: float | None = None


def verdict(code: int, retry_after: str | None, retry_after_cap: float) -> Verdict:
    """What an HTTP status (and its Retry-After) from a push service means for a delivery."""
    if code in (200, 201, 202):
        return Verdict("sent", "")
    if code in (404, 410):  # the subscription has ended
        return Verdict("gone", "unsubscribed")
    if code in (429, 503):
        wait = parse_retry_after(retry_after)
        if wait is not None:
            wait = min(max(wait, 1.0), retry_after_cap)
        return Verdict("retry", "throttled", wait)
    if code >= 500:
        return Verdict("retry", "server error")
    if code in (401, 403):
        return Verdict("failed", "vapid")
    if code == 413:
        return Verdict("failed", "too large")
    return Verdict("failed", "refused")


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


def backoff(attempts: int, quick: tuple[float, ...], base: float, cap: float) -> float:
    """Seconds before the next try after `attempts` failed ones: the `quick` retries first,
    then doubling from `base` up to `cap`, with jitter so a fanout's retries do not arrive
    in step."""
    if attempts <= len(quick):
        wait = quick[attempts - 1]
    else:
        wait = min(cap, base * 2 ** (attempts - 1 - len(quick)))
    return wait * (0.75 + random.random() / 2)
