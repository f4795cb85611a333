"""Organizers import listings from a CSV file: one upload, one proposal.

The upload page takes a file or pasted text; a file with any bad row saves nothing and comes
back in the text box with every problem listed, so it can be fixed where it is. A good file
becomes one batch of pending listings, which a second organizer reviews on one page and
approves or rejects as a whole (bulk_import.py holds the rules).
"""

from __future__ import annotations

from datetime import UTC, datetime

from babel.numbers import format_decimal
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import approvals, bulk_import
from server.i18n import N_
from server.places import state_name
from server.views.admin import (
    admin_page,
    confirm_page,
    form_of,
    organizer,
    see_other,
    translator,
)
from server.views.base import services

UPLOAD_PATH = "/admin/import"
# The upload's request body: the file and the form around it. Up to this size an oversized
# file gets the page's own message; past it the edge answers 413 before anything is read.
MAX_BODY = 4 * bulk_import.MAX_BYTES
ROWS_SHOWN = 50
FLASHES = (N_("Imported. Nothing is public or sent until a second organizer approves."),
           N_("Imported and published."), N_("Approved and published."),
           N_("Rejected. Nothing was published or sent."), N_("Already decided."),
           N_("Approve or reject the import as a whole."))


async def _batches(request: Request) -> list[dict]:
    rows = await services(request).db.execute(
        "SELECT * FROM import_batches ORDER BY status != 'pending', id DESC LIMIT 30")
    return [dict(r) for r in rows]


async def _upload_page(request: Request, status: int = 200, text: str = "",
                       problems: list[bulk_import.RowError] | None = None,
                       ignored: list[str] | None = None) -> Response:
    tr = translator(request)
    problems = problems or []
    lines = []
    for problem in problems[:bulk_import.MAX_ERRORS_SHOWN]:
        message = tr.gettext(problem.message, **{
            k: format_decimal(v, locale=tr.locale) if isinstance(v, int) else v
            for k, v in problem.params.items()})
        if problem.row and problem.column:
            message = tr.gettext("Row %(row)s, %(column)s: %(problem)s", row=problem.row,
                                 column=problem.column, problem=message)
        elif problem.row:
            message = tr.gettext("Row %(row)s: %(problem)s", row=problem.row, problem=message)
        lines.append(message)
    return admin_page(
        request, "admin/import.html", status=status, text=text, problems=lines,
        more=max(0, len(problems) - bulk_import.MAX_ERRORS_SHOWN), ignored=ignored or [],
        batches=await _batches(request),
        max_rows=format_decimal(bulk_import.MAX_ROWS, locale=tr.locale))


async def upload(request: Request) -> Response:
    if request.method == "GET":
        return await _upload_page(request)
    svc = services(request)
    me = organizer(request)["name"]
    form = await request.form(max_files=1, max_fields=20, max_part_size=MAX_BODY)
    try:
        chosen = form.get("file")
        filename, text = "", str(form.get("csv", ""))
        if isinstance(chosen, UploadFile) and chosen.filename:
            filename = chosen.filename
            data = await chosen.read(bulk_import.MAX_BYTES + 1)
            if len(data) > bulk_import.MAX_BYTES:
                return await _upload_page(request, 413, problems=[bulk_import.RowError(
                    0, "", N_("The file is larger than %(limit)s. Split it into smaller "
                              "files."), {"limit": "1 MB"})])
            try:
                text = bulk_import.decode(data)
            except ValueError:
                return await _upload_page(request, 400, problems=[bulk_import.RowError(
                    0, "", N_("The file is not UTF-8 text. In a spreadsheet, save it as "
                              "“CSV UTF-8”, or download it as CSV."))])
    finally:
        await form.close()
    text = text.removeprefix("\ufeff")
    # Checking 2,000 rows takes a tenth of a second or more: not on the event loop.
    parsed = await run_in_threadpool(bulk_import.read_csv, text)
    if not parsed.ok:
        # The content comes back in the text box, to be fixed there and sent again.
        keep = text if len(text.encode()) <= bulk_import.MAX_BYTES else ""
        return await _upload_page(request, 400, text=keep, problems=parsed.errors,
                                  ignored=parsed.ignored)
    alone = not await approvals.needs_second_organizer(svc.db)

    async def save(conn) -> int:
        batch_id = await bulk_import.save_batch(conn, me, filename, parsed.rows)
        if alone:  # with one organizer, as a single listing does, it goes live at once
            await bulk_import.approve_batch(conn, batch_id, None, me, {},
                                            svc.settings.base_url)
        return batch_id

    batch_id = await svc.db.write_fn(save, public=True)
    if alone:
        svc.push.wake()
        return see_other(f"{UPLOAD_PATH}/{batch_id}?done=Imported+and+published.")
    return see_other(f"{UPLOAD_PATH}/{batch_id}?done=Imported.+Nothing+is+public+or+sent+"
                     "until+a+second+organizer+approves.")


async def _batch(request: Request) -> dict:
    row = await services(request).db.first("SELECT * FROM import_batches WHERE id = ?",
                                           (request.path_params["id"],))
    if row is None:
        raise HTTPException(404, "No import with that number.")
    return dict(row)


async def batch_page(request: Request, status: int = 200, **extra) -> Response:
    db = services(request).db
    batch = await _batch(request)
    tr = translator(request)
    version = await bulk_import.batch_version(db.execute, batch["id"])
    # Every row, whole, as it will be published: a page at a time.
    pages = max(1, -(-version["listings"] // ROWS_SHOWN))
    try:
        page = min(max(1, int(request.query_params.get("page", "1"))), pages)
    except ValueError:
        page = 1
    rows = await db.execute("SELECT * FROM listings WHERE batch_id = ? ORDER BY id LIMIT ? "
                            "OFFSET ?", (batch["id"], ROWS_SHOWN, (page - 1) * ROWS_SHOWN))
    states = await db.execute(
        "SELECT state, COUNT(*) AS n FROM listings WHERE batch_id = ? GROUP BY state "
        "ORDER BY n DESC, state", (batch["id"],))
    # A listing whose address had to take a number (-2, -3...) shares its title and city
    # with another one: often the same file imported twice.
    named = await db.execute("SELECT slug, title, city FROM listings WHERE batch_id = ? "
                             "ORDER BY id", (batch["id"],))
    twins = [dict(r) for r in named
             if r["slug"] != bulk_import.slug_base(r["title"], r["city"])]
    me = organizer(request)["name"]
    mine = me in await bulk_import.authors(db.execute, batch["id"])
    now = datetime.now(UTC)
    return admin_page(
        request, "admin/import_batch.html", status=status, batch=batch, version=version,
        rows=[{**dict(r), "when": tr.when(r["starts"], now) if r["starts"] else "",
               "fields": [{"label": approvals.FIELD_LABELS.get(k, k), "value": v}
                          for k, v in sorted(approvals.public_fields("listing", dict(r)).items())
                          if k not in ("status", "slug") and v not in (None, "", "[]")]}
              for r in rows],
        page=page, pages=pages,
        states=[(s["state"], state_name(s["state"], tr.lang), s["n"]) for s in states],
        approval=approvals.seen_fields(version) if batch["status"] == "pending" else None,
        twins=twins, mine=mine, changed=extra.pop("changed", []), **extra)


async def batch_view(request: Request) -> Response:
    return await batch_page(request)


async def approve(request: Request) -> Response:
    svc = services(request)
    batch = await _batch(request)
    me = organizer(request)["name"]
    form = await form_of(request)
    url = f"{UPLOAD_PATH}/{batch['id']}"

    async def go_live(conn) -> int:
        return await bulk_import.approve_batch(conn, batch["id"], me, me, form,
                                               svc.settings.base_url)

    try:
        count = await svc.db.write_fn(go_live, public=True)
    except approvals.Refused as exc:
        current = await bulk_import.batch_version(svc.db.execute, batch["id"])
        await approvals.record_refusal(svc.db, me, "import", str(batch["id"]), str(exc),
                                       approvals.read_seen(form), current)
        return await batch_page(request, status=exc.status, flash=str(exc),
                                changed=exc.changed)
    if count is None:
        return see_other(f"{url}?done=Already+decided.")
    svc.push.wake()
    return see_other(f"{url}?done=Approved+and+published.")


async def reject(request: Request) -> Response:
    """Reject a waiting import, after asking: its listings are removed, nothing is sent.
    The uploader may withdraw their own."""
    batch = await _batch(request)
    url = f"{UPLOAD_PATH}/{batch['id']}"
    if batch["status"] != "pending":
        return see_other(f"{url}?done=Already+decided.")
    if not (request.method == "POST" and (await form_of(request)).get("confirm") == "yes"):
        tr = translator(request)
        return confirm_page(
            request, tr.gettext("Reject this import of %(count)s listings?",
                                count=batch["row_count"]),
            tr.gettext("Its listings are removed and nothing is published or sent. The audit "
                       "log keeps each one."), tr.gettext("Reject"), url)
    me = organizer(request)["name"]

    async def remove(conn) -> int:
        return await bulk_import.reject_batch(conn, batch["id"], me)

    removed = await services(request).db.write_fn(remove, public=True)
    done = "Already+decided." if removed is None else "Rejected.+Nothing+was+published+or+sent."
    return see_other(f"{url}?done={done}")


def routes() -> list[BaseRoute]:
    return [
        Route(UPLOAD_PATH, upload, methods=["GET", "POST"]),
        Route(UPLOAD_PATH + "/{id:int}", batch_view),
        Route(UPLOAD_PATH + "/{id:int}/approve", approve, methods=["POST"]),
        Route(UPLOAD_PATH + "/{id:int}/reject", reject, methods=["GET", "POST"]),
    ]
