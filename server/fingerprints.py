"""What each page is made of, as short hashes, so an edit renders again only what it touches.

A page declares the topics it reads (`listing:<slug>`, `state:<XX>`, `listings`, `contacts`,
`alerts:<XX>`...). The topics' hashes are computed from the public records whenever the
database's revision changes (an edit in any process) and once a minute besides, since a
listing's status and next date, and whether an alert is current, follow the clock. A
cached page stays valid while the hashes of its topics do; the offline manifest gives every
URL the hash of its topics, so it is built without rendering a page.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from server import ROOT, content
from server.alerts import recent_alerts
from server.database import Database
from server.i18n import LANGUAGES
from server.listing_form import zone_for
from server.places import STATES

T = TypeVar("T")
# Pages hold time-derived state; the hashes follow it at least this often.
REFRESH_EVERY = 60.0
ALL = "*"


def _hash(*parts: Any) -> str:
    data = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(data.encode(), digest_size=8).hexdigest()


def code_version(extra: Iterable[str] = ()) -> str:
    """The templates and catalogs pages are rendered with (and `extra`, the static assets'
    hashes): a deployment that changes them changes every page's hash."""
    digest = hashlib.blake2b(digest_size=8)
    for directory in (ROOT / "web" / "templates", ROOT / "server" / "locale"):
        for file in sorted(directory.rglob("*")):
            if file.is_file() and file.suffix in (".html", ".po", ".mo", ".svg"):
                digest.update(file.relative_to(ROOT).as_posix().encode())
                digest.update(file.read_bytes())
    for item in extra:
        digest.update(item.encode())
    return digest.hexdigest()


async def _table(db: Database, name: str) -> str:
    order = db.dialect.row_order.format(table=name)
    rows = await db.execute(f"SELECT * FROM {name} ORDER BY {order}")  # noqa: S608 (fixed names)
    return _hash([tuple(r) for r in rows])


def _timing_key(rec: dict, now: datetime) -> tuple | None:
    """What of a listing's timing its card and page show (its phase, the start and end that
    matter, "starts in 2 hours"), so that they are made again when it moves on."""
    found = content.timing(rec, now, zone_for(rec["state"], rec["city"]))
    if found is None:
        return None
    soon = content.starts_in(found.start, now) if found.phase == "today" and found.timed else None
    return found.phase, str(found.start), str(found.end), soon


async def compute(db: Database, listings: list[dict],
                  hashes: dict[int, tuple[dict, str]] | None = None) -> dict[str, str]:
    """Every topic's hash, from the records as the public sees them right now (`listings`,
    as content.listings gives them; `hashes` keeps each record's hash while the record
    object is the same)."""

    hashes = {} if hashes is None else hashes
    now = content.utcnow()
    topics: dict[str, str] = {}
    by_state: dict[str, list[str]] = {}
    for rec in listings:
        kept = hashes.get(id(rec))
        if kept is None or kept[0] is not rec:
            kept = hashes[id(rec)] = (rec, _hash(rec, _timing_key(rec, now)))
        h = topics[f"listing:{rec['slug']}"] = kept[1]
        by_state.setdefault(rec["state"], []).append(h)
    for code in STATES:
        topics[f"state:{code}"] = _hash(by_state.get(code, []))
    topics["listings"] = _hash(sorted(topics[f"state:{c}"] for c in STATES))
    # Through the same queries as the pages, so an organizer's check shows in the hash.
    topics["contacts"] = _hash(await content.contacts(db))
    topics["facilities"] = _hash(await content.facilities(db))
    topics["rights"] = _hash(*[await content.rights(db, lang) for lang in LANGUAGES],
                             *[await content.translation_checks(db, lang) for lang in LANGUAGES])
    topics["resources"] = _hash(await content.resources(db))
    topics["statements"] = _hash(await content.statements(db))
    current = await recent_alerts(db, "en")
    # The title too: an alert of a kind tells its time as people say it ("Tonight, 8 PM"),
    # which changes with the clock.
    topics["alerts"] = _hash([(a.id, a.status, a.current, a.updated, a.title) for a in current],
                             await _table(db, "alerts"))
    for code in STATES:
        topics[f"alerts:{code}"] = _hash([(a.id, a.updated, a.urgent) for a in current
                                          if a.current and a.concerns(code)])
    return topics


class Fingerprints:
    """The topics' hashes for the current revision, computed once however many ask, and
    the public listings they were computed from, which pages listing many of them share.

    After an edit only the listings whose stored row changed are made again; every
    REFRESH_EVERY seconds all of them are, so a status or next date that follows the clock
    is at most that late, like a cached page."""

    def __init__(self) -> None:
        self._revision: int | None = None
        self._at = 0.0
        self._topics: dict[str, str] = {}
        self._listings: list[dict] = []
        self._combined: dict[tuple[str, ...], str] = {}  # topics' hashes -> one hash
        self._records: dict[str, tuple[Any, dict]] = {}
        self._hashes: dict[int, tuple[dict, str]] = {}
        self._derived: dict[tuple[int, Any], tuple[dict, Any]] = {}
        self._made_at = 0.0
        self._lock = asyncio.Lock()

    def _stale(self, revision: int) -> bool:
        return revision != self._revision or time.monotonic() - self._at >= REFRESH_EVERY

    async def topics(self, db: Database) -> tuple[int, dict[str, str]]:
        revision = await db.revision()
        if not self._stale(revision):
            return revision, self._topics
        async with self._lock:
            revision = await db.revision()
            if self._stale(revision):
                now = time.monotonic()
                if now - self._made_at >= REFRESH_EVERY:
                    self._records, self._hashes, self._made_at = {}, {}, now
                    self._derived = {}
                self._listings = await content.listings(db, memo=self._records)
                self._topics = await compute(db, self._listings, self._hashes)
                self._revision, self._at = revision, now
        return revision, self._topics

    async def listings(self, db: Database) -> list[dict]:
        """The public listings as content.listings gives them, made once per revision.
        The records are shared: read them, do not change them."""
        await self.topics(db)
        return list(self._listings)

    def derived(self, rec: dict, kind: Hashable, make: Callable[[dict], T]) -> T:
        """`make(rec)` for one of the shared records, kept while the record is the same
        object: after an edit, pages and files that list every listing make again only the
        parts for the listings that changed. `kind` names what is made (and anything else
        it depends on). Kept values go when the records are all made again."""
        key = (id(rec), kind)
        kept = self._derived.get(key)
        if kept is None or kept[0] is not rec:
            kept = self._derived[key] = (rec, make(rec))
        return kept[1]

    async def of(self, db: Database, deps: tuple[str, ...]) -> str:
        """One hash for what a page reads; ALL stands for every record, so a page that
        declares nothing follows every change. A topic with no records (a listing not
        there) hashes as absent, and changes when one appears."""
        revision, topics = await self.topics(db)
        return self.combine(revision, topics, deps)

    def combine(self, revision: int, topics: dict[str, str], deps: tuple[str, ...]) -> str:
        """What of() answers, for topics already in hand (many pages at once)."""
        if ALL in deps:
            return f"r{revision}"
        # Keyed by the topics' hashes, so after an edit only pages it touched hash again.
        parts = tuple(topics.get(topic, f"absent:{topic}") for topic in deps)
        combined = self._combined.get(parts)
        if combined is None:
            if len(self._combined) > 16384:  # a few per listing and page: bounded all the same
                self._combined.clear()
            combined = self._combined[parts] = _hash(parts)
        return combined
