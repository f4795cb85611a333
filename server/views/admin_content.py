"""Organizers edit facilities, legal contacts, rights articles and resources."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
