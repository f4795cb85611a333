"""The two-person rule: what a second organizer must approve before it reaches phones."""

from __future__ import annotations

import logging

from server import push
from server.config import Settings
from server.database import Database

log = logging.getLogger("vigil.approvals")


async def needs_second_organizer(
    db: Database, settings: Settings, *, urgent: bool, states: list[str]
) -> bool:
    """True when the deployment has two or more organizers (a setting may exempt non-urgent
    alerts to a single state)."""
    if await db.scalar("SELECT COUNT(*) FROM organizers") < 2:
        return False
    exempt = not settings.single_state_alerts_need_approval and not urgent and len(states) == 1
    return not exempt


async def send(db: Database, sender: push.PushSender | None, message: tuple) -> int:
    """Queue a push message in the durable outbox and wake the sender; its id."""
    message_id = await push.enqueue(db, *message)
    if sender is not None:
        sender.wake()
    else:
        log.warning("push: no sender running; message %d waits in the outbox", message_id)
    return message_id
