"""Organizer accounts: argon2id password hashes, computed off the event loop."""

from __future__ import annotations

import asyncio
import os
import re
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.content import iso_now
from server.database import Database

hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
NAME = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")
MIN_PASSWORD = 12
# Argon2 takes tens of milliseconds of CPU by design. Run on the event loop, a few wrong
# sign-ins would stall every visitor's request; in a small pool of its own (argon2 releases
# the GIL), they queue behind each other and leave a core to the loop.
HASH_THREADS = max(1, min(2, (os.cpu_count() or 2) - 1))
_pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")
# Sign-ins from browsers an organizer has used before get a thread of their own, so a
# flood of strangers' guesses never queues in front of an organizer's own sign-in.
_known_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2-known")
# Strangers' password checks in flight or waiting, per process: past this, a sign-in is
# answered "busy, try again" at once, without hashing anything.
STRANGER_CHECKS = 4
_strangers_waiting = 0


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


async def hash_password_off_loop(password: str) -> str:
    """hash_password() in the hashing pool."""
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_password, password)


class Busy(Exception):
    """Too many strangers' password checks at once: answer without checking."""


async def verify_password_off_loop(stored_hash: str, password: str,
                                   known_device: bool = False) -> bool:
    """verify_password() in the hashing pool: a known device's in a thread of its own, a
    stranger's behind at most STRANGER_CHECKS others (Busy past that)."""
    global _strangers_waiting
    loop = asyncio.get_running_loop()
    if known_device:
        return await loop.run_in_executor(_known_pool, verify_password, stored_hash, password)
    if _strangers_waiting >= STRANGER_CHECKS:
        raise Busy
    _strangers_waiting += 1
    try:
        return await loop.run_in_executor(_pool, verify_password, stored_hash, password)
    finally:
        _strangers_waiting -= 1


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
        (name, await hash_password_off_loop(password), iso_now()),
    )
