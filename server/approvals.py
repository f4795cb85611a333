"""The two-person rule: what a second organizer must approve before it reaches the public.

- An approval names the exact version the approver saw: the form carries that version's
  values (`seen`) and their digest (`revision`). If the item changed since, the approval
  is refused and the page shows what changed.
- The state change an approval makes is one conditional UPDATE whose WHERE clause holds the
  status and the values seen, so of any number of simultaneous approvals one wins.
- With two or more organizers, a change to anything a visitor sees of a published record
  (every column but the bookkeeping in NOT_PUBLIC) waits in `changes` with its before and
  after; the public keeps the approved version meanwhile. Publishing a draft proposes the
  whole record as it will be public: a change to the draft afterwards voids the proposal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import aiosqlite

from server import audit
from server.content import iso_now
from server.database import Database
from server.i18n import N_

# What no visitor ever sees, per kind of record: bookkeeping and the dates only an
# organizer's check sets. Every other column is public, and with two or more organizers a
# change to any of them waits for a second one; a column added later is public too unless
# it is named here.
NOT_PUBLIC: dict[str, frozenset[str]] = {
    entity: frozenset({"id", "verified", "reviewed", "created", "updated", "author",
                       "approver", "message_id", "taken_down_by", "batch_id", "added"})
    for entity in ("listing", "facility", "contact", "rights", "article", "organization")
}
# An alert's bookkeeping: what it has been sent as, and a correction waiting (approved as a
# version of its own).
NOT_PUBLIC["alert"] = NOT_PUBLIC["listing"] | {"sent", "message_ids", "proposed", "proposed_by"}


def public_fields(entity: str, record: Mapping[str, Any]) -> dict:
    """The part of a record that visitors see."""
    hidden = NOT_PUBLIC.get(entity, frozenset())
    return {k: v for k, v in record.items() if k not in hidden}


class Refused(Exception):
    """An approval that must not happen; the message says why, for the organizer."""

    def __init__(self, message: str, status: int, changed: list | None = None):
        super().__init__(message)
        self.status = status
        self.changed = changed or []


async def organizer_count(db: Database) -> int:
    return int(await db.scalar("SELECT COUNT(*) FROM organizers"))


async def needs_second_organizer(db: Database) -> bool:
    """True when the deployment has two or more organizers: then whatever reaches phones
    (an alert, a new or changed live listing, an import) waits for a second one."""
    return await organizer_count(db) >= 2


# --- the version an approver saw ----------------------------------------------------------

def canonical(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), ensure_ascii=False, sort_keys=True, default=str)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def seen_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """The hidden fields an approval form carries for this version of an item."""
    text = canonical(values)
    return {"seen": text, "revision": digest(text)}


def read_seen(form: Mapping[str, Any]) -> dict | None:
    """The version the approval form names, or None when the form is forged or incomplete."""
    text, revision = str(form.get("seen", "")), str(form.get("revision", ""))
    if not text or digest(text) != revision:
        return None
    try:
        values = json.loads(text)
    except ValueError:
        return None
    return values if isinstance(values, dict) else None


def readable(value: Any) -> str | None:
    """A stored value as an organizer reads it: JSON lists (phones, links, needs) one item
    per line rather than as JSON."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list):
        return "\n".join(readable(item) or "" for item in value) or "(none)"
    if isinstance(value, dict):
        if "number" in value:  # a phone
            return f"{readable(value.get('label'))}: {value['number']}"
        if "value" in value:  # a listing's public contact
            label = value.get("label")
            return f"{label}: {value['value']}" if label else str(value["value"])
        if set(value) == {"en", "es"}:
            return value["en"] if value["en"] == value["es"] else f"{value['en']} / {value['es']}"
        return ", ".join(f"{k} {readable(v)}" for k, v in value.items())
    return None if value is None else str(value)


# What the change tables call a stored field: the words of the form that edits it (the
# catalog translates them where they are shown). Others are shown by their stored name.
FIELD_LABELS = {
    "title": N_("Title"), "title_es": N_("Title in Spanish"), "kind": N_("Kind"),
    "address": N_("Address"), "city": N_("City"), "state": N_("State"), "zip": N_("ZIP code"),
    "starts": N_("Starts"), "ends": N_("Ends"), "schedule": N_("Schedule"),
    "description": N_("Description"), "description_es": N_("Text in Spanish"),
    "tz": N_("Time zone"), "facility": N_("Facility"), "lat": N_("Latitude"),
    "lon": N_("Longitude"), "needs": N_("Needs"), "contact": N_("Public contact"),
    "links": N_("Links"), "source": N_("Source"), "body": N_("Message"),
    "body_es": N_("Spanish message"), "url": N_("Link"), "expires": N_("Expires after"),
    "urgent": N_("Urgent"), "states": N_("States"), "name": N_("Name"),
    "organization": N_("Organization"), "phones": N_("Phone numbers"),
    "website": N_("Website"), "hours": N_("Hours"), "note": N_("Note"),
    "summary": N_("Summary"),
    "description_en": N_("Description"), "about_en": N_("About"),
    "about_es": N_("Text in Spanish"), "note_en": N_("Note"), "note_es": N_("Note in Spanish"),
    "publisher": N_("Publisher"), "date": N_("Date"), "status": N_("Status"),
    "slug": N_("Web address"), "title_en": N_("Title"), "summary_en": N_("Summary"),
    "summary_es": N_("Summary in Spanish"), "body_en": N_("Body"), "hours_en": N_("Hours"),
    "hours_es": N_("Hours in Spanish"), "languages": N_("Languages"), "role": N_("Role"),
    "operator": N_("Operator"), "order": N_("Order"), "ord": N_("Order"),
    "place": N_("Place"), "at": N_("When"), "revision": N_("Revision"),
}


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict]:
    """[{field, label, before, after}] for every field whose value differs, readable."""
    return [{"field": k, "label": FIELD_LABELS.get(k, k), "before": readable(before.get(k)),
             "after": readable(after.get(k))}
            for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]


def check_seen(form: Mapping[str, Any], current: Mapping[str, Any]) -> dict:
    """The current version when it is the one the form says was seen; else Refused, naming
    what changed."""
    seen = read_seen(form)
    if seen is None:
        raise Refused(N_("This approval does not say which version you approved (the form "
                         "was incomplete or altered). Nothing was approved: review the item "
                         "below and approve it again."), 409,
                      differences({}, {k: v for k, v in current.items()}))
    if canonical(seen) != canonical(current):
        raise Refused(N_("This item changed since you opened it. Nothing was approved: "
                         "review what changed below, then approve the current version if it "
                         "is right."), 409, differences(seen, current))
    # The server's own copy: its keys become column names in where_seen().
    return dict(current)


def where_seen(seen: Mapping[str, Any]) -> tuple[str, list]:
    """A WHERE clause fragment (after `AND`) matching the row only while it holds `seen`."""
    return " AND ".join(f"{k} IS NOT DISTINCT FROM ?" for k in seen), list(seen.values())


async def record_refusal(db: Database, organizer: str, entity: str, key: str, reason: str,
                         seen: Any = None, current: Any = None) -> None:
    """An approval refused, in the audit log with what was seen and what is current."""
    async def write(conn: aiosqlite.Connection) -> None:
        await audit.record(conn, organizer, "refuse", entity, key,
                           {"reason": reason, "seen": seen}, current)

    await db.write_fn(write)


# --- proposed changes to published facts ---------------------------------------------------

def touches_public_facts(entity: str, before: Mapping[str, Any],
                         after: Mapping[str, Any]) -> bool:
    """True when the change alters anything a visitor sees."""
    return any(before.get(k) != v for k, v in public_fields(entity, after).items())


async def propose_change(conn: aiosqlite.Connection, organizer: str, entity: str, key: str,
                         before: Mapping[str, Any], after: Mapping[str, Any]) -> int:
    """Hold a change for a second organizer; it replaces any change still waiting for the
    same record. Inside the caller's transaction."""
    now = iso_now()
    await conn.execute(
        "UPDATE changes SET status = 'superseded', decided = ? WHERE entity = ? AND "
        "entity_key = ? AND status = 'pending'", (now, entity, key))
    cur = await conn.execute(
        "INSERT INTO changes (entity, entity_key, before, after, proposed_by, proposed) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (entity, key, canonical(before), canonical(after), organizer, now))
    (change_id,) = await cur.fetchone()
    await audit.record(conn, organizer, "propose-change", entity, key, dict(before),
                       dict(after))
    return change_id


async def pending_changes(db: Database) -> list[dict]:
    rows = await db.execute("SELECT * FROM changes WHERE status = 'pending' ORDER BY id")
    return [as_change(r) for r in rows]


def change_version(row: Any) -> dict:
    """What an approver of a proposed change approves."""
    return {k: row[k] for k in ("id", "status", "entity", "entity_key", "before", "after",
                                "proposed_by")}


def as_change(row: Any) -> dict:
    """A proposed change for a page: its fields, what differs, the whole record as it will
    be public, and the approval form's hidden fields."""
    change = dict(row)
    change["approval"] = seen_fields(change_version(row))
    change["before"] = json.loads(change["before"])
    change["after"] = json.loads(change["after"])
    change["differences"] = differences(change["before"], change["after"])
    whole = public_fields(change["entity"], change["after"])
    change["published"] = [{"field": k, "label": FIELD_LABELS.get(k, k),
                            "value": readable(v)} for k, v in sorted(whole.items())]
    return change


async def decide_change(conn: aiosqlite.Connection, change_id: int, organizer: str,
                        status: str) -> bool:
    """Mark a waiting change approved or declined; False when it no longer waits (another
    organizer decided first, or a newer proposal replaced it)."""
    cur = await conn.execute(
        "UPDATE changes SET status = ?, decided_by = ?, decided = ? "
        "WHERE id = ? AND status = 'pending'", (status, organizer, iso_now(), change_id))
    return cur.rowcount == 1


async def undo_take_down(db: Database, organizer: str, entity: str, table: str, key_column: str,
                         key: str | int, taken: str, live: str, taken_down_by: str | None) -> bool:
    """Put back what an organizer took down (status `taken` -> `live`) while the take-down
    still stands; audited. False when there was nothing to put back."""
    async def put_back(conn: aiosqlite.Connection) -> int:
        cur = await conn.execute(
            f"UPDATE {table} SET status = ?, taken_down_by = NULL, updated = ? "
            f"WHERE {key_column} = ? AND status = ? AND taken_down_by IS NOT NULL",
            (live, iso_now(), key, taken))
        if cur.rowcount:
            await audit.record(conn, organizer, "restore", entity, str(key),
                               {"status": taken, "taken_down_by": taken_down_by},
                               {"status": live})
        return cur.rowcount

    return bool(await db.write_fn(put_back, public=True))
