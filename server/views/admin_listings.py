"""Organizers publish, edit, verify, end and delete listings.

A new listing that goes live notifies subscribers, so when the deployment has two or more
organizers it waits (status 'pending') until a second organizer approves it: a fake vigil
location is as dangerous as a fake urgent call. For the same reason, editing a listing
someone else proposed makes you its proposer, and a change to a public listing's facts
(where, when) waits in the changes queue while the public keeps the approved version.
Ending and deleting ask first (a page of their own, so no script is needed), take effect at
once and can be undone: an ended listing by Restore, a deleted one from Recently deleted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import approvals, audit, push
from server.content import iso_now, listing_record
from server.dataset import LISTING_KINDS, slugify
from server.i18n import N_
from server.listing_form import CITY_SPOT_SQL, TIME_ZONES, parse, values_from_row, zone_for
from server.places import states_sorted
from server.push import digest
from server.views.admin import (
    admin_page,
    confirm_page,
    confirmed,
    form_of,
    organizer,
    see_other,
    translator,
)
from server.views.base import services

NOT_SAVED = N_("Nothing was saved: fix the fields marked below.")
KIND_LABELS = {"occupation": "Occupation", "vigil": "Vigil", "rally": "Rally", "action": "Action"}


async def _row(request: Request) -> dict:
    row = await services(request).db.first(
        "SELECT * FROM listings WHERE slug = ?", (request.path_params["slug"],)
    )
    if row is None:
        raise HTTPException(404, "No listing with that address.")
    return dict(row)


async def _form_page(request: Request, values: dict, errors: dict, status: int = 200,
                     listing: dict | None = None, **extra) -> Response:
    facilities = await services(request).db.execute(
        "SELECT slug, name, city, state FROM facilities ORDER BY state, city, name")
    tr = translator(request)
    kinds = {"occupation": tr.pgettext("listing kind", "Occupation"),
             "vigil": tr.pgettext("listing kind", "Vigil"),
             "rally": tr.pgettext("listing kind", "Rally"),
             "action": tr.pgettext("listing kind", "Action")}
    return admin_page(
        request, "admin/listing_form.html", status=status, values=values, errors=errors,
        listing=listing, kinds=[(k, kinds.get(k, KIND_LABELS[k])) for k in LISTING_KINDS],
        states=[("", tr.gettext("Choose…")), *states_sorted(tr.lang)],
        zones=[("", tr.gettext("Follows the state and city")),
               *((zone, tr.gettext(name)) for zone, name in TIME_ZONES)],
        facilities=[("", tr.gettext("None")),
                    *((f["slug"], f"{f['state']} · {f['name']}, {f['city']}")
                      for f in facilities)], **extra,
    )


async def _check_and_place(request: Request, values: dict, errors: dict,
                           fields: dict | None) -> dict | None:
    """Check the facility named exists; place a listing without coordinates at its facility,
    or where the site already knows that city to be, never at 0,0."""
    db = services(request).db
    facility = None
    if values.get("facility"):
        facility = await db.first("SELECT lat, lon FROM facilities WHERE slug = ?",
                                  (values["facility"],))
        if facility is None:
            errors["facility"] = N_("Choose a facility from the list.")
    if errors or fields is None:
        return None
    if fields["lat"] is None:
        spot = facility if facility and facility["lat"] is not None else await db.first(
            CITY_SPOT_SQL, {"city": fields["city"], "state": fields["state"]})
        if spot and spot["lat"] is not None:
            fields = {**fields, "lat": spot["lat"], "lon": spot["lon"]}
    return fields


async def index(request: Request) -> Response:
    rows = await services(request).db.execute(
        "SELECT slug, title, city, state, status, verified, author FROM listings "
        "ORDER BY CASE status WHEN 'pending' THEN 0 WHEN 'draft' THEN 1 WHEN 'active' THEN 2 "
        "ELSE 3 END, updated DESC"
    )
    return admin_page(request, "admin/listings.html", listings=[dict(r) for r in rows])


async def new(request: Request) -> Response:
    if request.method == "GET":
        return await _form_page(request, {"kind": "vigil", "tz": "", "repeat": "none",
                                          "time": "20:00"}, {})
    svc = services(request)
    me = organizer(request)
    form = await form_of(request)
    values, errors, fields = parse(dict(form))
    fields = await _check_and_place(request, values, errors, fields)
    if fields is None:
        return await _form_page(request, values, errors, status=400, flash=NOT_SAVED)
    as_draft = form.get("action") == "draft"
    now = iso_now()
    today = now[:10]
    base_slug = slugify(f"{fields['title']}-{fields['city']}")

    async def create(conn) -> tuple[str, str]:
        slug = base_slug
        n = 1
        while True:
            async with conn.execute("SELECT 1 FROM listings WHERE slug = ?", (slug,)) as cur:
                if not await cur.fetchone():
                    break
            n += 1
            slug = f"{base_slug}-{n}"
        row = {**fields, "slug": slug, "status": "draft", "verified": today, "created": now,
               "updated": now, "author": me["name"]}
        cols = ", ".join(row)
        await conn.execute(f"INSERT INTO listings ({cols}) VALUES ({', '.join('?' * len(row))})",
                           list(row.values()))
        await audit.record(conn, me["name"], "create", "listing", slug, None, row)
        return slug

    slug = await svc.db.write_fn(create, public=True)
    if as_draft:
        return see_other(f"/admin/listings/{slug}/edit?done=Saved+as+a+draft.")
    return await _publish(request, slug)


async def publish(request: Request) -> Response:
    row = await _row(request)
    if row["status"] not in ("draft",):
        return see_other(f"/admin/listings/{row['slug']}/edit?done=Already+{row['status']}.")
    return await _publish(request, row["slug"])


async def _publish(request: Request, slug: str) -> Response:
    """Make a draft live now, or send it for approval under the two-person rule."""
    svc = services(request)
    me = organizer(request)
    row = dict(await svc.db.first("SELECT * FROM listings WHERE slug = ?", (slug,)))
    if await approvals.needs_second_organizer(svc.db):
        async def hold(conn) -> None:
            await conn.execute(
                "UPDATE listings SET status = 'pending', author = ?, updated = ? WHERE slug = ?",
                (me["name"], iso_now(), slug))
            await audit.record(conn, me["name"], "propose", "listing", slug)

        await svc.db.write_fn(hold, public=True)
        return see_other(f"/admin/listings/{slug}/edit?done=Waiting+for+a+second+organizer"
                         "+to+approve.+Nothing+is+public+or+sent+yet.")
    await _go_live(request, slug, approver=None, expect={"status": row["status"]})
    return see_other(f"/admin/listings/{slug}/edit?done=Published.")


async def _go_live(request: Request, slug: str, approver: str | None,
                   expect: dict | None = None) -> bool:
    """Make the listing live and queue its announcement in one transaction, only while it
    still holds `expect` (column: value), so that of simultaneous approvals one announces.
    False when it did not."""
    svc = services(request)
    me = organizer(request)

    async def activate(conn) -> bool:
        where, params = approvals.where_seen({"slug": slug, **(expect or {})})
        cur = await conn.execute(
            f"UPDATE listings SET status = 'active', approver = ?, updated = ? WHERE {where}",
            (approver, iso_now(), *params))
        if cur.rowcount != 1:
            return False
        await audit.record(conn, me["name"], "approve" if approver else "publish", "listing",
                           slug, expect, None)
        async with conn.execute("SELECT * FROM listings WHERE slug = ?", (slug,)) as cur:
            rec = listing_record(await cur.fetchone())
        if rec["status"] == "active":  # a listing whose end has passed announces nothing
            await digest.announce(conn, rec, svc.settings.base_url)
        return True

    if not await svc.db.write_fn(activate, public=True):
        return False
    svc.push.wake()
    return True




async def waiting_import(db, row: dict) -> int | None:
    """The import a pending listing waits with, if any: it is approved or rejected only with
    the whole import."""
    if row["status"] != "pending" or row.get("batch_id") is None:
        return None
    status = await db.scalar("SELECT status FROM import_batches WHERE id = ?",
                             (row["batch_id"],))
    return row["batch_id"] if status == "pending" else None


def approval_version(row: dict) -> dict | None:
    """What an approver of this listing approves, as stored: every column a visitor sees,
    and who proposed it; None unless it waits."""
    if row["status"] != "pending":
        return None
    return {**approvals.public_fields("listing", row), "author": row["author"]}


async def approve(request: Request) -> Response:
    row = await _row(request)
    svc = services(request)
    me = organizer(request)["name"]
    form = await form_of(request)
    version = approval_version(row)
    if version is None:
        return see_other(f"/admin/listings/{row['slug']}/edit?done=Nothing+to+approve.")
    batch = await waiting_import(svc.db, row)
    if batch is not None:
        return see_other(f"/admin/import/{batch}?done=Approve+or+reject+the+import+as+a+whole.")
    try:
        if row["author"] == me:
            raise approvals.Refused("A second organizer must approve what you proposed: "
                                    "nothing was published or sent.", 403)
        seen = approvals.check_seen(form, version)
    except approvals.Refused as exc:
        await approvals.record_refusal(svc.db, me, "listing", row["slug"], str(exc),
                                       approvals.read_seen(form), version)
        return await edit_page(request, row, status=exc.status, flash=str(exc),
                               changed=exc.changed)
    live = await _go_live(request, row["slug"], approver=me, expect=seen)
    done = "Approved+and+published." if live else "Already+approved+and+announced+once."
    return see_other(f"/admin/listings/{row['slug']}/edit?done={done}")


# The summary's rows and the stored fields each tells.
SUMMARY_ROWS = ((N_("What"), ("kind", "title", "title_es")),
                (N_("Where"), ("address", "city", "state", "zip", "facility", "lat", "lon")),
                (N_("When"), ("starts", "ends", "schedule")),
                (N_("Description"), ("description_en", "description_es")))


async def changed_since_proposed(db, slug: str) -> set[str]:
    """The fields edited since the listing was last proposed for approval (audit log)."""
    rows = await db.execute(
        "SELECT before, after FROM audit WHERE entity = 'listing' AND entity_key = ? "
        "AND action = 'edit' AND id > (SELECT COALESCE(MAX(id), 0) FROM audit "
        "WHERE entity = 'listing' AND entity_key = ? AND action = 'propose')", (slug, slug))
    changed: set[str] = set()
    for row in rows:
        before, after = json.loads(row["before"] or "{}"), json.loads(row["after"] or "{}")
        changed |= {k for k in after if before.get(k) != after[k] and k != "author"}
    return changed


async def summary(request: Request, row: dict, changed: set[str]) -> list[dict]:
    """What a listing waiting for approval says, read-only and in words: what, where, when
    and its text, each marked when a field of it changed."""
    tr = translator(request)
    rec = listing_record(row)
    kind = tr.pgettext("listing kind", KIND_LABELS.get(rec["kind"], rec["kind"]))
    what = f"{kind} · {rec['title']}" + (f" / {rec['title_es']}" if rec.get("title_es") else "")
    place = ", ".join(p for p in (rec.get("address"), rec["city"],
                                  " ".join(p for p in (rec["state"], rec.get("zip")) if p)) if p)
    if rec.get("facility"):
        name = await services(request).db.scalar("SELECT name FROM facilities WHERE slug = ?",
                                                  (rec["facility"],))
        place += f" · {name or rec['facility']}"
    now = datetime.now(UTC)
    zone = (rec["schedule"] or {}).get("tz") or zone_for(rec["state"], rec["city"])
    if rec["schedule"]:
        when = str(tr.schedule(rec["schedule"]))
        if rec.get("starts"):
            when += " · " + str(tr.gettext("from %(day)s", day=tr.date(rec["starts"][:10])))
    elif rec.get("starts"):
        when = str(tr.when(rec["starts"], now, zone) if "T" in rec["starts"]
                   else tr.date(rec["starts"]))
        if rec.get("ends"):
            when += " – " + str(tr.when(rec["ends"], now, zone) if "T" in rec["ends"]
                                else tr.date(rec["ends"]))
    else:
        when = tr.plain(N_("Ongoing, no set time: shown as happening now"))
    text = rec["description"]["en"]
    values = (what, place, when, text if len(text) <= 400 else text[:400].rsplit(" ", 1)[0] + "…")
    return [{"label": tr.plain(label), "value": value, "changed": bool(changed & set(fields))}
            for (label, fields), value in zip(SUMMARY_ROWS, values, strict=True)]


async def edit_page(request: Request, row: dict, status: int = 200, **extra) -> Response:
    svc = services(request)
    counts = (await push.delivery_counts(svc.db, row["message_id"])
              if row.get("message_id") else None)
    batch = await waiting_import(svc.db, row)
    version = approval_version(row) if batch is None else None
    tr = translator(request)
    waiting = await svc.db.first(
        "SELECT * FROM changes WHERE entity = 'listing' AND entity_key = ? "
        "AND status = 'pending'", (row["slug"],))
    changed = await changed_since_proposed(svc.db, row["slug"]) if version else set()
    changed |= {c["field"] for c in extra.get("changed", [])}
    return await _form_page(request, values_from_row(row), {}, status=status, listing=row,
                      summary=await summary(request, row, changed) if version else None,
                      changed_names=sorted({tr.plain(approvals.FIELD_LABELS.get(f, f))
                                            for f in changed}),
                      counts=counts, me=organizer(request)["name"],
                      approval=approvals.seen_fields(version) if version else None,
                      waiting=approvals.as_change(waiting) if waiting else None,
                      changed=extra.pop("changed", []), import_waiting=batch, **extra)


async def edit(request: Request) -> Response:
    row = await _row(request)
    if request.method == "GET":
        return await edit_page(request, row)
    svc = services(request)
    me = organizer(request)
    values, errors, fields = parse(dict(await form_of(request)))
    fields = await _check_and_place(request, values, errors, fields)
    if fields is None:
        return await _form_page(request, values, errors, status=400, listing=row, flash=NOT_SAVED,
                          me=me["name"], counts=None, approval=None, waiting=None, changed=[])
    before = {k: row[k] for k in fields}
    slug = row["slug"]
    if (row["status"] in ("active", "ended") and await approvals.organizer_count(svc.db) >= 2
            and approvals.touches_public_facts("listing", before, fields)):
        async def propose(conn) -> None:
            await approvals.propose_change(conn, me["name"], "listing", slug, before, fields)

        await svc.db.write_fn(propose)
        return see_other(f"/admin/listings/{slug}/edit?done=Your+change+waits+for+a+second"
                         "+organizer.+The+public+page+keeps+the+approved+version.")
    # Whoever last edits a waiting listing is its proposer: the approval must come from
    # someone who did not write what is published.
    take_over = row["status"] == "pending" and row["author"] != me["name"]
    changes = {**fields, **({"author": me["name"]} if take_over else {})}

    async def save(conn) -> None:
        await conn.execute(
            f"UPDATE listings SET {', '.join(f'{k} = ?' for k in changes)}, updated = ? "
            "WHERE slug = ?", [*changes.values(), iso_now(), slug])
        await audit.record(conn, me["name"], "edit", "listing", slug,
                           {k: row[k] for k in changes}, changes)

    await svc.db.write_fn(save, public=True)
    if take_over:
        return see_other(f"/admin/listings/{slug}/edit?done=Saved.+You+are+now+its+proposer:"
                         "+another+organizer+must+approve+it.")
    return see_other(f"/admin/listings/{slug}/edit?done=Saved.")


async def end(request: Request) -> Response:
    """End a listing at once, after asking; anyone can restore it."""
    row = await _row(request)
    if row["status"] != "active":
        # Restore makes a listing active again, so only a live one may be ended.
        return see_other(f"/admin/listings/{row['slug']}/edit?done=Only+a+live+listing+"
                         "can+be+ended.")
    if not await confirmed(request):
        tr = translator(request)
        return confirm_page(
            request, tr.gettext("End “%(name)s”?", name=row["title"]),
            tr.gettext("It stays visible as ended, and is no longer happening now. Restore "
                       "puts it back."),
            tr.gettext("End"), f"/admin/listings/{row['slug']}/edit")
    svc = services(request)
    me = organizer(request)["name"]
    many = await approvals.organizer_count(svc.db) >= 2

    async def change(conn) -> None:
        await conn.execute(
            "UPDATE listings SET status = 'ended', taken_down_by = ?, updated = ? "
            "WHERE slug = ?", (me, iso_now(), row["slug"]))
        await audit.record(conn, me, "take-down" if many else "end", "listing", row["slug"],
                           {"status": row["status"]}, {"status": "ended"})

    await svc.db.write_fn(change, public=True)
    return see_other(f"/admin/listings/{row['slug']}/edit?done=Ended.+It+now+shows+as+ended.")


async def restore(request: Request) -> Response:
    row = await _row(request)
    restored = await approvals.undo_take_down(
        services(request).db, organizer(request)["name"], "listing", "listings", "slug",
        row["slug"], taken="ended", live="active", taken_down_by=row["taken_down_by"])
    done = "Restored." if restored else "Nothing+to+restore."
    return see_other(f"/admin/listings/{row['slug']}/edit?done={done}")


def _simple_change(action: str, sql: str, done: str):
    async def endpoint(request: Request) -> Response:
        row = await _row(request)
        me = organizer(request)
        svc = services(request)

        async def change(conn) -> None:
            await conn.execute(sql, {"slug": row["slug"], "now": iso_now(),
                                     "today": datetime.now(UTC).date().isoformat()})
            await audit.record(conn, me["name"], action, "listing", row["slug"], row, None)

        await svc.db.write_fn(change, public=True)
        return see_other(f"/admin/listings/{row['slug']}/edit?done={done}")

    endpoint.__name__ = action.replace("-", "_")
    return endpoint


verify = _simple_change(
    "mark-verified", "UPDATE listings SET verified = :today, updated = :now WHERE slug = :slug",
    "Marked+verified+today.")


async def delete(request: Request) -> Response:
    """Delete after asking; the audit entry keeps the whole listing, restorable for a while."""
    row = await _row(request)
    if not await confirmed(request):
        tr = translator(request)
        return confirm_page(
            request, tr.gettext("Delete “%(name)s”?", name=row["title"]),
            tr.gettext("It disappears from the site at once. For 30 days it can be restored "
                       "from Recently deleted."),
            tr.gettext("Delete"), f"/admin/listings/{row['slug']}/edit")
    me = organizer(request)["name"]

    async def remove(conn) -> None:
        await conn.execute("DELETE FROM listings WHERE slug = ?", (row["slug"],))
        await audit.record(conn, me, "delete", "listing", row["slug"], row, None)

    await services(request).db.write_fn(remove, public=True)
    return see_other(f"/admin/deleted?done=Deleted+{quote(row['title'])}.")


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/listings", index),
        Route("/admin/listings/new", new, methods=["GET", "POST"]),
        Route("/admin/listings/{slug:str}/edit", edit, methods=["GET", "POST"]),
        Route("/admin/listings/{slug:str}/publish", publish, methods=["POST"]),
        Route("/admin/listings/{slug:str}/approve", approve, methods=["POST"]),
        Route("/admin/listings/{slug:str}/verify", verify, methods=["POST"]),
        Route("/admin/listings/{slug:str}/end", end, methods=["GET", "POST"]),
        Route("/admin/listings/{slug:str}/restore", restore, methods=["POST"]),
        Route("/admin/listings/{slug:str}/delete", delete, methods=["GET", "POST"]),
    ]
