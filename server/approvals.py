"""The two-person rule: what a second organizer must approve before it reaches phones."""

from __future__ import annotations

from server.config import Settings
from server.database import Database


async def needs_second_organizer(
    db: Database, settings: Settings, *, urgent: bool, states: list[str]
) -> bool:
    """True when the deployment has two or more organizers."""
    return await db.scalar("SELECT COUNT(*) FROM organizers") >= 2
