"""Listings from a CSV file, as event platforms export them, held as one batch.

Reading: UTF-8 with or without a byte-order mark, the header names the common platforms use
(COLUMNS), every row checked with the listing form's own rules (listing_form.parse). Errors
name the row as a spreadsheet numbers it (the header is row 1) and the column as the file
names it. A file with any error saves nothing.

Saving: the rows become pending listings of one batch, which a second organizer approves or
rejects as a whole, naming the version they saw (approvals.py); the uploader cannot approve
it, nor can anyone who wrote one of its rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiosqlite

from server import approvals, audit
from server.content import iso_now, listing_record
from server.dataset import slugify, unique_slug
from server.i18n import N_
from server.listing_form import CITY_SPOT_SQL, DAY, parse, zone_for
from server.places import STATES
from server.push import digest

# Reads rows: Database.execute outside a transaction, reader(conn) inside one.
Query = Callable[..., Awaitable[list]]

MAX_BYTES = 1024 * 1024
MAX_ROWS = 2000
# Errors listed on the page; past this a count says how many more there are.
MAX_ERRORS_SHOWN = 500

# Each column the import reads, and the header names that mean it (compared lower-case,
# without accents, punctuation as spaces). Other columns are ignored.
COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "event title", "event name", "name"),
    "title_es": ("title es", "spanish title", "title spanish", "titulo es"),
    "kind": ("kind",),
    "start": ("start", "starts", "start datetime", "start date time", "start at", "starts at",
              "begins", "timeslot start", "event start"),
    "start_date": ("start date", "date", "event date", "event start date"),
    "start_time": ("start time", "time", "event start time"),
    "end": ("end", "ends", "end datetime", "end date time", "end at", "ends at",
            "timeslot end", "event end"),
    "end_date": ("end date", "event end date"),
    "end_time": ("end time", "event end time"),
    "address": ("address", "address line 1", "address 1", "address1", "street",
                "street address", "venue address", "location address"),
    "address2": ("address line 2", "address 2", "address2"),
    "city": ("city", "town", "locality", "venue city"),
    "state": ("state", "region", "state province", "state or region", "province",
              "state code", "venue state"),
    "zip": ("zip", "zip code", "zipcode", "postal code", "postcode", "venue zip"),
    "description": ("description", "details", "event description", "description en"),
    "description_es": ("description es", "spanish description", "description spanish",
                       "descripcion"),
    "link": ("link", "url", "event url", "event link", "event page", "website"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
}
REQUIRED_COLUMNS = ("title", "city", "state", "description")
_ROLE_OF = {alias: role for role, aliases in COLUMNS.items() for alias in aliases}
# A form field's error goes to the column it came from.
_FIELD_ROLES = {"title": "title", "title_es": "title_es", "kind": "kind", "address": "address",
                "city": "city", "state": "state", "zip": "zip", "tz": "state", "lat": "lat",
                "lon": "lon",
                "starts": "start", "ends": "end", "links": "link", "description": "description",
                "description_es": "description_es"}
# The form's wording where a spreadsheet needs other words.
DATE_MESSAGE = N_("A date and time like 2026-12-01 20:00 or 12/1/2026 8:00 PM.")
LINK_MESSAGE = N_("A web address starting with http:// or https://.")
_CSV_WORDING = {
    "Choose a state.": N_("Not a US state: use its two-letter code (OR) or its name (Oregon)."),
    "Choose a kind.": N_("Use one of: vigil, occupation, rally, action."),
    "A date and time like 2026-12-01T20:00.": DATE_MESSAGE,
}
_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::\d{2})?\s*([ap])\.?\s*m\.?|(\d{1,2}):(\d{2})"
                    r"(?::\d{2})?", re.I)
_US_DAY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


@dataclass(frozen=True)
class RowError:
    """One problem: the spreadsheet row (1 is the header), the column as the file names it,
    and a message (a catalog id; `params` fill it)."""

    row: int
    column: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Parsed:
    """What a file holds: listing rows ready to save, or the errors that stop it."""

    rows: list[dict] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)


def _fold(text: str) -> str:
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.casefold())
                     if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", folded).split())


_STATE_NAMES = {_fold(name): code for code, names in STATES.items() for name in names}


def decode(data: bytes) -> str:
    """The file as text; ValueError when it is not UTF-8."""
    return data.decode("utf-8-sig")


def _state_code(value: str) -> str:
    """A state's USPS code from its code or its name in either language; else the value."""
    value = value.strip()
    return value.upper() if value.upper() in STATES else _STATE_NAMES.get(_fold(value), value)


def _clock(text: str) -> tuple[int, int]:
    match = _CLOCK.fullmatch(text.strip())
    if not match:
        raise ValueError(text)
    if match.group(3):  # 12-hour
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        if not 1 <= hour <= 12:
            raise ValueError(text)
        hour = hour % 12 + (12 if match.group(3).lower() == "p" else 0)
    else:
        hour, minute = int(match.group(4)), int(match.group(5))
    if hour > 23 or minute > 59:
        raise ValueError(text)
    return hour, minute


def moment(text: str, zone: str) -> str:
    """A date and time as the listing form takes it (2026-12-01T20:00, or a day alone), in
    the listing's own time zone; ValueError when it cannot be read."""
    text = " ".join(text.split())
    if not text:
        return ""
    if DAY.fullmatch(text):
        date.fromisoformat(text)
        return text
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        day_text, _, clock_text = text.partition(" ")
        us = _US_DAY.fullmatch(day_text)
        if us:
            day = date(int(us.group(3)), int(us.group(1)), int(us.group(2)))
        else:
            day = date.fromisoformat(day_text)
        if not clock_text:
            return day.isoformat()
        value = datetime(day.year, day.month, day.day, *_clock(clock_text))
    if value.tzinfo is not None:  # an instant: shown as the clock reads where it happens
        value = value.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M")


def _when(cells: dict[str, str], prefix: str, zone: str) -> str:
    """One moment from a column of its own or from a date column and a time column."""
    whole, day, clock = (cells.get(prefix, ""), cells.get(f"{prefix}_date", ""),
                         cells.get(f"{prefix}_time", ""))
    if whole:
        return moment(whole, zone)
    if day and clock:
        try:
            return moment(clock, zone)  # some exports repeat the date in the time column
        except ValueError:
            return moment(f"{day} {clock}", zone)
    return moment(day or clock, zone)


def _link_line(url: str) -> str:
    """The form's link line for a URL: labelled with its site's name, which reads the same
    in both languages."""
    host = urlsplit(url).hostname or ""
    return f"{host.removeprefix('www.') or url} | {url}" if url else ""


def _form_values(cells: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the listing form's fields for one row, errors by form field found before the form
    sees them: dates it cannot read)."""
    state = _state_code(cells.get("state", ""))
    zone = zone_for(state, cells.get("city", ""))
    errors: dict[str, str] = {}
    moments = {}
    for name, prefix in (("starts", "start"), ("ends", "end")):
        try:
            moments[name] = _when(cells, prefix, zone)
        except ValueError:
            errors[name] = DATE_MESSAGE
            moments[name] = ""
    address = ", ".join(p for p in (cells.get("address", ""), cells.get("address2", "")) if p)
    return {
        "title": cells.get("title", ""), "title_es": cells.get("title_es", ""),
        "kind": cells.get("kind", "").casefold() or "vigil", "address": address,
        "city": cells.get("city", ""), "state": state, "zip": cells.get("zip", ""),
        "lat": cells.get("lat", ""), "lon": cells.get("lon", ""), "tz": "",
        "starts": moments["starts"], "ends": moments["ends"],
        # A row without a start is listed as going on, as it always was; the form asks a
        # one-time vigil for its start.
        "repeat": "none" if moments["starts"] or "starts" in errors else "ongoing", "time": "",
        "description": cells.get("description", ""),
        "description_es": cells.get("description_es", ""),
        "needs": "", "links": _link_line(cells.get("link", "")), "source": "",
        "facility": "",
    }, errors


def _header(names: list[str], parsed: Parsed) -> dict[str, int]:
    """The column index of each role the header names; problems go to `parsed`."""
    found: dict[str, int] = {}
    for index, name in enumerate(names):
        role = _ROLE_OF.get(_fold(name))
        if role is None:
            if name.strip():
                parsed.ignored.append(name.strip())
            continue
        if role in found:
            parsed.errors.append(RowError(
                1, name.strip(), N_("Two columns give the same thing (“%(other)s” and this "
                                    "one): keep one."), {"other": names[found[role]].strip()}))
            continue
        found[role] = index
    for role in REQUIRED_COLUMNS:
        if role not in found:
            parsed.errors.append(RowError(
                1, role, N_("No column for this. Accepted names: %(names)s."),
                {"names": ", ".join(COLUMNS[role])}))
    return found


def _dialect(text: str) -> str:
    first = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=first.count)


def read_csv(text: str) -> Parsed:
    """Every row of the file checked; the listings to save only when none has an error."""
    parsed = Parsed()
    if len(text.encode()) > MAX_BYTES:
        parsed.errors.append(RowError(0, "", N_("The file is larger than %(limit)s. Split it "
                                                "into smaller files."), {"limit": "1 MB"}))
        return parsed
    if "\0" in text:
        parsed.errors.append(RowError(0, "", N_("This is not a CSV file: save the sheet as "
                                                "CSV (comma-separated values).")))
        return parsed
    records = csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(text))
    try:
        names = next(records, None)
        if not names or not any(n.strip() for n in names):
            parsed.errors.append(RowError(1, "", N_("The first row must name the columns, "
                                                    "such as title, start, city, state.")))
            return parsed
        columns = _header(names, parsed)
        if parsed.errors:
            return parsed
        labels = {role: names[index].strip() for role, index in columns.items()}
        number = 1
        for cells in records:
            number += 1
            if not any(c.strip() for c in cells):
                continue  # an empty line in the sheet
            if number - 1 > MAX_ROWS:
                parsed.rows.clear()
                parsed.errors = [RowError(number, "", N_(
                    "More than %(limit)s rows. Split the file into smaller files."),
                    {"limit": MAX_ROWS})]
                return parsed
            if len(cells) > len(names) and any(c.strip() for c in cells[len(names):]):
                parsed.errors.append(RowError(number, "", N_(
                    "This row has more cells than the header has columns: a comma inside a "
                    "value needs quotes around the value.")))
                continue
            row = {role: (cells[index] if index < len(cells) else "").strip()
                   for role, index in columns.items()}
            _check_row(number, row, labels, parsed)
    except csv.Error as exc:
        parsed.errors.append(RowError(records.line_num, "", N_(
            "The file cannot be read as CSV here (%(problem)s)."), {"problem": str(exc)}))
    if not parsed.rows and not parsed.errors:
        parsed.errors.append(RowError(2, "", N_("The file has a header but no listings.")))
    if parsed.errors:
        parsed.rows.clear()
    return parsed


def _check_row(number: int, cells: dict[str, str], labels: dict[str, str],
               parsed: Parsed) -> None:
    values, early = _form_values(cells)
    _, errors, fields = parse(values)
    errors = {**errors, **early}
    if errors:
        found = []
        for name, message in errors.items():
            role = _FIELD_ROLES.get(name, name)
            if name == "starts" and "start" not in labels:
                role = "start_date" if "start_date" in labels else "start_time"
            if name == "ends" and "end" not in labels:
                role = "end_date" if "end_date" in labels else "end_time"
            if name == "links":  # the form counts lines of links; a row has one
                message = LINK_MESSAGE
            found.append((role, RowError(number, labels.get(role, role),
                                         _CSV_WORDING.get(message, message))))
        # In the order of the file's columns, as the organizer reads the row.
        order = list(labels)
        found.sort(key=lambda pair: order.index(pair[0]) if pair[0] in order else len(order))
        parsed.errors.extend(error for _, error in found)
        return
    assert fields is not None
    parsed.rows.append({**fields, "row": number})


# --- the batch: one proposal -------------------------------------------------------------

# What an approver of a batch approves: every row as stored (every column a visitor sees,
# and who wrote it), through its digest.
def row_version(row: Any) -> dict:
    return {**approvals.public_fields("listing", dict(row)), "id": row["id"],
            "author": row["author"]}


def slug_base(title: str, city: str) -> str:
    """A listing's address before a number is added to tell it from another one."""
    return slugify(f"{title}-{city}") or "listing"


async def announce(conn: aiosqlite.Connection, listings: list[Any], base_url: str) -> None:
    """Queue the announcement of listings that have just gone live together, inside the
    caller's transaction: one message per state (push/digest.py), so an approved file of
    800 vigils does not ring a phone 800 times. Listings whose end has passed announce
    nothing."""
    records = [rec for rec in map(listing_record, listings) if rec["status"] == "active"]
    if records:
        await digest.announce_many(conn, records, base_url)


async def _all(conn: aiosqlite.Connection, sql: str, params: Any = ()) -> list:
    async with conn.execute(sql, params) as cur:
        return list(await cur.fetchall())


def reader(conn: aiosqlite.Connection) -> Query:
    """A query function over a transaction's connection (Database.execute is the other)."""
    return lambda sql, params=(): _all(conn, sql, params)


async def save_batch(conn: aiosqlite.Connection, organizer: str, filename: str,
                     rows: list[dict]) -> int:
    """Save the rows as pending listings of one new batch; its id. Inside the caller's
    transaction, so a failure saves nothing."""
    now = iso_now()
    cur = await conn.execute(
        "INSERT INTO import_batches (filename, row_count, proposed_by, proposed) "
        "VALUES (?, ?, ?, ?) RETURNING id", (filename[:200], len(rows), organizer, now))
    (batch_id,) = await cur.fetchone()
    spots: dict[tuple[str, str], Any] = {}
    for fields in rows:
        fields = {k: v for k, v in fields.items() if k != "row"}
        if fields["lat"] is None:
            place = (fields["city"].casefold(), fields["state"])
            if place not in spots:
                found = await _all(conn, CITY_SPOT_SQL,
                                   {"city": fields["city"], "state": fields["state"]})
                spots[place] = found[0] if found and found[0]["lat"] is not None else None
            if spots[place] is not None:
                fields = {**fields, "lat": spots[place]["lat"], "lon": spots[place]["lon"]}
        slug = await unique_slug(conn, "listings", slug_base(fields["title"], fields["city"]))
        row = {**fields, "slug": slug, "status": "pending", "verified": now[:10],
               "created": now, "updated": now, "author": organizer, "batch_id": batch_id}
        await conn.execute(
            f"INSERT INTO listings ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()))
        await audit.record(conn, organizer, "create", "listing", slug, None, row)
    summary = await batch_version(reader(conn), batch_id)
    await audit.record(conn, organizer, "propose", "import", str(batch_id), None,
                       {"filename": filename, **summary})
    return batch_id


async def batch_version(query: Query, batch_id: int) -> dict:
    """What an approver approves: the batch, how many listings in which states, and a digest
    of every listing as stored, so a change to any row after the page was opened shows."""
    batch = (await query("SELECT * FROM import_batches WHERE id = ?", (batch_id,)))[0]
    rows = [row_version(r) for r in await query(
        "SELECT * FROM listings WHERE batch_id = ? ORDER BY id", (batch_id,))]
    states = Counter(r["state"] for r in rows)
    return {"batch": batch_id, "status": batch["status"], "proposed_by": batch["proposed_by"],
            "listings": len(rows),
            "states": ", ".join(f"{s} {n}" for s, n in sorted(states.items())),
            "content": approvals.digest(json.dumps(rows, default=str, sort_keys=True))}


async def authors(query: Query, batch_id: int) -> set[str]:
    """Everyone who proposed the batch or last wrote one of its listings."""
    found = {r[0] for r in await query(
        "SELECT DISTINCT author FROM listings WHERE batch_id = ?", (batch_id,))}
    found |= {r[0] for r in await query(
        "SELECT proposed_by FROM import_batches WHERE id = ?", (batch_id,))}
    return found


async def approve_batch(conn: aiosqlite.Connection, batch_id: int, approver: str | None,
                        organizer: str, form: Any, base_url: str) -> int | None:
    """Make every listing of a waiting batch live and announce each, in one transaction,
    when `form` names the version current now; the number made live, None when the batch
    no longer waits. Refused otherwise:
    the approver wrote some of it, or it changed since they opened it. `approver` is None
    when no second organizer is needed."""
    current = await batch_version(reader(conn), batch_id)
    if current["status"] != "pending":
        return None
    if approver is not None:
        if approver in await authors(reader(conn), batch_id):
            raise approvals.Refused(N_(
                "A second organizer must approve what you proposed or edited: nothing was "
                "published or sent."), 403)
        approvals.check_seen(form, current)
    cur = await conn.execute(
        "UPDATE import_batches SET status = 'approved', decided_by = ?, decided = ? "
        "WHERE id = ? AND status = 'pending'", (organizer, iso_now(), batch_id))
    if cur.rowcount != 1:
        return None
    now = iso_now()
    await conn.execute(
        "UPDATE listings SET status = 'active', approver = ?, updated = ? "
        "WHERE batch_id = ? AND status = 'pending'", (approver, now, batch_id))
    listings = await _all(conn, "SELECT * FROM listings WHERE batch_id = ? AND "
                                "status = 'active' ORDER BY id", (batch_id,))
    action = "approve" if approver else "publish"
    for listing in listings:
        await audit.record(conn, organizer, action, "listing", listing["slug"],
                           {"status": "pending", "batch": batch_id}, None)
    await announce(conn, listings, base_url)
    await audit.record(conn, organizer, action, "import", str(batch_id), current,
                       {"status": "approved"})
    return len(listings)


async def reject_batch(conn: aiosqlite.Connection, batch_id: int,
                       organizer: str) -> int | None:
    """Remove every listing of a waiting batch; the audit log keeps each. The number
    removed; None when the batch no longer waits."""
    current = await batch_version(reader(conn), batch_id)
    cur = await conn.execute(
        "UPDATE import_batches SET status = 'rejected', decided_by = ?, decided = ? "
        "WHERE id = ? AND status = 'pending'", (organizer, iso_now(), batch_id))
    if cur.rowcount != 1:
        return None
    listings = await _all(conn, "SELECT * FROM listings WHERE batch_id = ? AND "
                                "status = 'pending'", (batch_id,))
    for listing in listings:
        await audit.record(conn, organizer, "reject", "listing", listing["slug"], listing,
                           None)
    await conn.execute("DELETE FROM listings WHERE batch_id = ? AND status = 'pending'",
                       (batch_id,))
    await audit.record(conn, organizer, "reject", "import", str(batch_id), current,
                       {"status": "rejected"})
    return len(listings)
