"""The organizers' queue of public suggestions: read one, approve it as a draft or reject it.

Approving a suggestion creates a draft, never public content: a vigil becomes a draft
listing, a resource a draft article, and a correction is handed to the listing's edit page.
Each decision is audited in the transaction that makes it.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlsplit

import aiosqlite
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import audit, content, spam
from server.dataset import slugify, unique_slug
from server.suggestions import clean
from server.views.admin import admin_page, form_of, organizer, see_other
from server.views.base import not_found, services

REASON_MAX = 200
QUEUE_DECIDED_SHOWN = 100
_LINK = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def _suggestion_record(row: Any) -> dict:
    rec = dict(row)
    rec["spam_reasons"] = json.loads(rec["spam_reasons"] or "[]")
    rec["flagged"] = spam.flagged(rec["spam_score"])
    return rec


async def queue(request: Request) -> Response:
    """Waiting suggestions first (likely spam after the rest), then recent decisions."""
    db = services(request).db
    waiting = await db.execute(
        "SELECT * FROM suggestions WHERE status = 'waiting' "
        "ORDER BY spam_score >= ?, id DESC", (spam.THRESHOLD,),
    )
    decided = await db.execute(
        "SELECT * FROM suggestions WHERE status != 'waiting' "
        "ORDER BY COALESCE(decided, created) DESC, id DESC LIMIT ?", (QUEUE_DECIDED_SHOWN,),
    )
    counts = {"waiting": 0, "approved": 0, "rejected": 0}
    for row in await db.execute("SELECT status, COUNT(*) AS n FROM suggestions GROUP BY status"):
        counts[row["status"]] = row["n"]
    waiting_recs = [_suggestion_record(r) for r in waiting]
    return admin_page(
        request, "admin/suggestions.html",
        waiting=waiting_recs, decided=[_suggestion_record(r) for r in decided], counts=counts,
        flagged=sum(r["flagged"] for r in waiting_recs),
    )


async def _load(request: Request) -> dict:
    row = await services(request).db.first(
        "SELECT * FROM suggestions WHERE id = ?", (request.path_params["id"],)
    )
    if row is None:
        raise not_found()
    return _suggestion_record(row)


def _detail_page(request: Request, suggestion: dict, status: int = 200,
                 reason: str = "", error: str | None = None) -> Response:
    return admin_page(request, "admin/suggestion.html", status=status, s=suggestion,
                      reason=reason, error=error)


async def detail(request: Request) -> Response:
    return _detail_page(request, await _load(request))


async def _fetch(conn: aiosqlite.Connection, sql: str, params: tuple) -> Any:
    cur = await conn.execute(sql, params)
    return await cur.fetchone()


def _first_web_link(text: str) -> str | None:
    """The first http(s) address in the text, for a draft resource (never shown as a link
    until an organizer checks and publishes it)."""
    for match in _LINK.finditer(text):
        url = match.group(0).rstrip(".,;:!?)]")
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc and len(url) <= 500:
            return url
    return None


async def _decide(conn: aiosqlite.Connection, before: Any, who: str, status: str,
                  reason: str | None, listing_slug: str | None) -> None:
    now = content.iso_now()
    await conn.execute(
        "UPDATE suggestions SET status = ?, reason = ?, decided_by = ?, decided = ?, "
        "listing_slug = ? WHERE id = ?",
        (status, reason, who, now, listing_slug, before["id"]),
    )
    after = await _fetch(conn, "SELECT * FROM suggestions WHERE id = ?", (before["id"],))
    action = "approve" if status == "approved" else "reject"
    await audit.record(conn, who, action, "suggestion", str(before["id"]), before, after)


async def _create_listing(conn: aiosqlite.Connection, s: Any, who: str) -> str:
    base = slugify(f"{s['title']} {s['city'] or ''}") or f"suggestion-{s['id']}"
    slug = await unique_slug(conn, "listings", base)
    now = content.iso_now()
    await conn.execute(
        "INSERT INTO listings (slug, kind, title, description_en, description_es, city, state, "
        "status, source, verified, created, updated) "
        "VALUES (?, 'vigil', ?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?)",
        (slug, s["title"], s["details"], s["details"], s["city"] or "", s["state"] or "",
         f"Public suggestion #{s['id']}", now[:10], now, now),
    )
    after = await _fetch(conn, "SELECT * FROM listings WHERE slug = ?", (slug,))
    await audit.record(conn, who, "create-draft", "listing", slug, None, after)
    return slug


async def _create_article(conn: aiosqlite.Connection, s: Any, who: str) -> str:
    slug = await unique_slug(conn, "articles", slugify(s["title"]) or f"suggestion-{s['id']}")
    today = content.iso_now()[:10]
    await conn.execute(
        "INSERT INTO articles (slug, title, publisher, date, url, source, verified, status) "
        "VALUES (?, ?, '', ?, ?, ?, ?, 'draft')",
        (slug, s["title"], today, _first_web_link(f"{s['title']}\n{s['details']}"),
         f"Public suggestion #{s['id']}", today),
    )
    after = await _fetch(conn, "SELECT * FROM articles WHERE slug = ?", (slug,))
    await audit.record(conn, who, "create-draft", "article", slug, None, after)
    return slug


def _queue_with(note: str) -> Response:
    return see_other("/admin/suggestions?done=" + quote(note))


async def approve(request: Request) -> Response:
    """Approve: a vigil becomes a draft listing, a resource a draft article, a correction is
    handed to the listing's edit page. Nothing becomes public here."""
    who = organizer(request)["name"]
    suggestion_id = request.path_params["id"]

    async def run(conn: aiosqlite.Connection) -> tuple[str, str | None]:
        s = await _fetch(conn, "SELECT * FROM suggestions WHERE id = ?", (suggestion_id,))
        if s is None:
            return "missing", None
        if s["status"] != "waiting":
            return "decided", s["status"]
        if s["kind"] == "vigil":
            slug = await _create_listing(conn, s, who)
            await _decide(conn, s, who, "approved", None, slug)
            return "listing", slug
        if s["kind"] == "resource":
            slug = await _create_article(conn, s, who)
            await _decide(conn, s, who, "approved", None, s["listing_slug"])
            return "article", slug
        await _decide(conn, s, who, "approved", None, s["listing_slug"])
        return "correction", s["listing_slug"]

    outcome, value = await services(request).db.write_fn(run)
    if outcome == "missing":
        raise not_found()
    if outcome == "decided":
        return see_other(f"/admin/suggestions/{suggestion_id}?done="
                         + quote(f"This suggestion was already {value}."))
    if outcome in ("listing", "correction") and value:
        return see_other(f"/admin/listings/{quote(value)}/edit")
    if outcome == "article":
        return _queue_with(f"Suggestion #{suggestion_id} approved: draft resource “{value}” "
                           "created. Publish it from Other content once it is checked.")
    return _queue_with(f"Suggestion #{suggestion_id} approved. It names no listing: apply the "
                       "correction by editing the listing it is about.")


async def reject(request: Request) -> Response:
    who = organizer(request)["name"]
    suggestion = await _load(request)
    form = await form_of(request)
    reason = clean(form.get("reason"))
    error = None
    if not reason:
        error = "Give a short reason (organizers see it; the sender does not)."
    elif len(reason) > REASON_MAX:
        error = f"Keep the reason under {REASON_MAX} characters (this has {len(reason)})."
    if error:
        return _detail_page(request, suggestion, status=400, reason=reason, error=error)

    async def run(conn: aiosqlite.Connection) -> str | None:
        s = await _fetch(conn, "SELECT * FROM suggestions WHERE id = ?", (suggestion["id"],))
        if s["status"] != "waiting":
            return s["status"]
        await _decide(conn, s, who, "rejected", reason, s["listing_slug"])
        return None

    already = await services(request).db.write_fn(run)
    if already:
        return see_other(f"/admin/suggestions/{suggestion['id']}?done="
                         + quote(f"This suggestion was already {already}."))
    return _queue_with(f"Suggestion #{suggestion['id']} rejected.")



def routes() -> list[BaseRoute]:
    return [
        Route("/admin/suggestions", queue),
        Route("/admin/suggestions/{id:int}", detail),
        Route("/admin/suggestions/{id:int}/approve", approve, methods=["POST"]),
        Route("/admin/suggestions/{id:int}/reject", reject, methods=["POST"]),
    ]
