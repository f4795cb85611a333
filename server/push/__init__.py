"""Web Push: who may be pushed to, the subscriptions, a durable outbox and its sender.

- endpoints: an endpoint is untrusted input Vigil will later POST to; it must name a push
  service in VIGIL_PUSH_HOSTS.
- subscriptions: validating what a browser sends and storing it (no personal data).
- messages: the notification payloads for listings and alerts (declarative push
  messages, one per language).
- outbox: enqueue(conn, message) inside the transaction of the change it announces.
- digest: announce(conn, listing, base_url) for a listing gone live; a burst in one state
  goes out as its first listing and then one message for the lot.
- sender: PushSender drains the outbox in the background, so a request never waits for a
  fanout and a restart resumes where the last process stopped.
- signing: the VAPID Authorization header and the other headers of a push request.
- verdicts: what a push service's answer (status, Retry-After) decides for a delivery, and
  how long a retry waits.
"""

from server.push.endpoints import (
    MAX_ENDPOINT,
    PushInputError,
    canonical_endpoint,
    check_allowlist,
    check_endpoint,
    endpoint_allowed,
)
from server.push.messages import (
    MAX_PAYLOAD,
    MAX_TTL,
    URGENCIES,
    Message,
    absolute_url,
    alert_message,
    alert_text,
    build_payload,
    check_declarative,
    listing_message,
    same_origin_url,
    topic_header_for,
)
from server.push.outbox import KEEP_FINISHED, STATUSES, delivery_counts, enqueue, prune
from server.push.sender import Outcome, PushSender
from server.push.subscriptions import (
    MAX_TOPICS,
    TOPIC_ALL,
    TOPIC_URGENT,
    TOPICS,
    Subscription,
    delete_subscription,
    save_subscription,
    subscription_growth,
    topic_counts,
    validate_lang,
    validate_subscription,
    validate_topics,
)
from server.push.verdicts import parse_retry_after

__all__ = [
    "KEEP_FINISHED", "MAX_ENDPOINT", "MAX_PAYLOAD", "MAX_TOPICS", "MAX_TTL", "STATUSES",
    "TOPICS", "TOPIC_ALL", "TOPIC_URGENT", "URGENCIES", "Message", "Outcome", "PushInputError",
    "PushSender", "Subscription", "absolute_url", "alert_message", "alert_text",
    "build_payload", "canonical_endpoint", "check_allowlist", "check_declarative",
    "check_endpoint", "delete_subscription", "delivery_counts", "endpoint_allowed", "enqueue",
    "listing_message", "parse_retry_after", "prune", "same_origin_url", "save_subscription",
    "subscription_growth", "topic_counts", "topic_header_for", "validate_lang",
    "validate_subscription", "validate_topics",
]
