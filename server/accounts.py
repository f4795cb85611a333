"""Organizer accounts: argon2id password hashes."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.content import iso_now
from server.database import Database

hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
NAME = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")
MIN_PASSWORD = 12


class AccountError(ValueError):
    pass


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AccountError("the password is too long (over 1024 characters)")


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def add_organizer(db: Database, name: str, password: str) -> None:
    """Create an organizer; the name must be new."""
    if not NAME.match(name):
        raise AccountError(
            "organizer names are 2-40 letters, digits, dots, hyphens or underscores"
        )
    check_new_password(password)
    if await db.scalar("SELECT 1 FROM organizers WHERE name = ?", (name,)):
        raise AccountError(f"an organizer named {name!r} already exists")
    await db.write(
        "INSERT INTO organizers (name, password_hash, created) VALUES (?, ?, ?)",
        (name, hash_password(password), iso_now()),
    )
