"""Alerts: compose, preview, send (or wait for a second organizer), correct, retract.

A correction or retraction keeps the alert's tag, so it replaces the earlier version on
phones and in the feed. Retracting never waits for approval: withdrawing a message must be
fast. Sending and correcting do, when the deployment has two or more organizers. With two
or more, a retraction takes the alert off the site and feed at once but sends nothing to
phones: another organizer restores it or confirms the withdrawal, which then reaches phones
(one account alone can neither send nor silently replace an alert on phones).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import approvals, audit, push, sms
from server.content import end_moment, iso_now
from server.i18n import LANGUAGES, N_, Translator
from server.listing_form import STATE_ZONES
from server.places import STATES, state_name, states_sorted
from server.push.messages import (
    ALERT_KINDS,
    TIMED_KINDS,
    URGENT_KINDS,
    alert_message,
    alert_words,
    kind_title,
)
from server.views.admin import (
    admin_lang,
    admin_page,
    confirm_page,
    confirmed,
    form_of,
    organizer,
    see_other,
    translator,
)
from server.views.base import services

EXPIRY_HOURS = (1, 4, 12, 24, 72, 168)
ALL = "ALL"
# Messages are whole sentences, so that each is translated once in the catalog:
# (when nothing is in Spanish, when some is).
_MISSING = {
    "title": (N_("Title is required."),
              N_("Title is required: every alert needs its English text, even with the "
                 "Spanish filled in.")),
    "message": (N_("Message is required."),
                N_("Message is required: every alert needs its English text, even with the "
                   "Spanish filled in.")),
    "title_es": (None, N_("Spanish title is required with a Spanish message, or leave both "
                          "empty.")),
    "message_es": (None, N_("Spanish message is required with a Spanish title, or leave both "
                            "empty.")),
}
_TOO_LONG = {120: N_("At most 120 characters (phones cut longer titles)."),
             1000: N_("At most 1000 characters.")}
PLACE_LIMIT = 80
# The kinds as the form offers them, the fast ones first; "" is an alert in the organizer's
# own words.
KIND_CHOICES = (("urgent", N_("Urgent: come now")), ("rapid_response", N_("Rapid response")),
                ("new_vigil", N_("New vigil")), ("cancelled", N_("Vigil cancelled")),
                ("all_clear", N_("All clear")), ("", N_("My own words")))
KIND_NAMES = dict(KIND_CHOICES)
# An alert's columns as the form names them, for the table of what changed.
FIELD_NAMES = {
    "title": N_("Title"), "body": N_("Message"), "title_es": N_("Spanish title"),
    "body_es": N_("Spanish message"), "url": N_("Link"), "states": N_("States"),
    "urgent": N_("Urgent"), "expires": N_("Expires"), "status": N_("Status"),
    "author": N_("Written by"), "proposed": N_("Proposed correction"),
    "proposed_by": N_("Correction proposed by"), "kind": N_("Kind of alert"),
    "place": N_("Place"), "at": N_("When"), "tz": N_("Time zone"),
}
STATUS_NAMES = {"pending": N_("pending"), "sent": N_("sent"), "retracted": N_("retracted")}
# After an action, shown in the organizer's language (admin_page translates exact matches).
SENT = N_("Sent.")
NOT_SENT = N_("Nothing was sent: fix the fields marked below.")
WAITING = N_("Waiting for a second organizer to approve. Nothing has been sent.")
NOTHING_TO_APPROVE = N_("Nothing to approve.")
APPROVED = N_("Approved and sent.")
ALREADY_APPROVED = N_("Already approved and sent once.")
CORRECTION_APPROVED = N_("Correction approved and sent.")
ONLY_SENT = N_("Only a sent alert can be corrected.")
CORRECTION_WAITS = N_("Correction waits for a second organizer.")
CORRECTION_SENT = N_("Correction sent.")
CANCELLED = N_("Cancelled before sending.")
STOPPED = N_("Stopped: it will not be sent. Its author is told and can restore it.")
ALREADY_RETRACTED = N_("Already retracted.")
ONLY_THE_AUTHOR_RESTORES = N_("Only the organizer who wrote this alert can restore it.")
TAKEN_DOWN = N_("Retracted on the site and in the feed. Phones are told once another "
                "organizer confirms.")
RETRACTED = N_("Retracted on phones and in the feed.")
RESTORED = N_("Restored.")
NOTHING_TO_RESTORE = N_("Nothing to restore.")
NOTHING_TO_CONFIRM = N_("Nothing to confirm.")
CONFIRM_YOURSELF = N_("A second organizer must confirm what you took down: nothing was sent.")
APPROVE_YOURSELF = N_("A second organizer must approve what you proposed: nothing was sent.")
WITHDRAWAL_SENT = N_("Withdrawal sent to phones.")
ALREADY_CONFIRMED = N_("Already confirmed.")


def parse_alert(form, base_url: str, zone: str | None = None,
                now: datetime | None = None) -> tuple[dict, dict, dict | None]:
    """(values as typed, errors by field, alert fields or None). An alert of a kind needs its
    place (and time); its title is the kind's phrase, in every language. A time is in
    `zone`, else in the zone of the states chosen."""
    values = {
        "kind": str(form.get("kind", "")).strip(),
        "place": " ".join(str(form.get("place", "")).split()),
        "at": str(form.get("at", "")).strip(),
        "title": str(form.get("title", "")).strip(),
        "message": str(form.get("message", "")).strip(),
        "title_es": str(form.get("title_es", "")).strip(),
        "message_es": str(form.get("message_es", "")).strip(),
        # A typed address wins over the page chosen from the picker.
        "link": str(form.get("link", "")).strip() or str(form.get("page", "")).strip(),
        "states": [str(s) for s in form.getlist("states")],
        "urgent": form.get("urgent") in ("on", "1", "true"),
        "expires": str(form.get("expires", "")),
    }
    kind = values["kind"]
    errors = {}
    if kind and kind not in ALERT_KINDS:
        errors["kind"] = N_("Choose a kind of alert.")
    elif kind:
        _check_kind(values, errors)
    else:
        _check_own_words(values, errors)
    for name, limit in (("message", 1000), ("message_es", 1000)):
        if len(values[name]) > limit and name not in errors:
            errors[name] = _TOO_LONG[limit]
    values["urgent"] = values["urgent"] or kind in URGENT_KINDS
    link = None
    if values["link"]:
        link = push.same_origin_url(values["link"], base_url)
        if link is None:
            errors["link"] = N_("A page on Vigil, like /listings/portland-or-macadam: "
                                "alerts only open Vigil's own pages.")
    states = values["states"]
    if not states:
        errors["states"] = N_("Choose the states to alert, or All states.")
    elif ALL not in states and any(s not in STATES for s in states):
        errors["states"] = N_("Unknown state.")
    tz = zone or expiry_zone([s for s in states if s in STATES] if ALL not in states else [])
    at = None
    if kind in TIMED_KINDS and "at" not in errors:
        try:
            at = datetime.fromisoformat(values["at"]).replace(tzinfo=ZoneInfo(tz),
                                                              second=0, microsecond=0)
        except ValueError:
            errors["at"] = N_("When it is: a day and a time.")
    try:
        hours = int(values["expires"] or (4 if values["urgent"] else 24))
        if hours not in EXPIRY_HOURS:
            raise ValueError
    except ValueError:
        errors["expires"] = N_("Choose when it expires.")
        hours = 24
    if errors:
        return values, errors, None
    expires = (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0).isoformat()
    fields = {
        "kind": kind or None, "place": values["place"] if kind else None,
        "at": at.isoformat() if at else None, "tz": tz if at else None,
        "title": values["title"], "body": values["message"],
        "title_es": values["title_es"] or None, "body_es": values["message_es"] or None,
        "url": link,
        "states": json.dumps([] if ALL in states else sorted(set(states))),
        "urgent": int(values["urgent"]), "expires": expires,
    }
    if kind:
        # Organizers' lists show the English phrase; every page and phone tells it anew.
        fields["title"] = kind_title(fields, "en", now)[0]
    return values, errors, fields


def _check_own_words(values: dict, errors: dict) -> None:
    """An alert in the organizer's own words: English whole, Spanish whole or not at all."""
    spanish = values["title_es"] or values["message_es"]
    # Every subscriber who reads English (and every Spanish one when there is no Spanish)
    # gets the English text, so it is never optional; Spanish is, but comes whole.
    for name in ("title", "message", "title_es", "message_es"):
        limit = 120 if name.startswith("title") else 1000
        if not values[name]:
            if name in ("title", "message"):
                errors[name] = _MISSING[name][bool(spanish)]
            elif spanish:
                errors[name] = _MISSING[name][True]
        elif len(values[name]) > limit:
            errors[name] = _TOO_LONG[limit]


def _check_kind(values: dict, errors: dict) -> None:
    """An alert of a kind: its place, its time when the kind tells one, and the organizer's
    words (optional) under Message; the kind writes the title."""
    if not values["place"]:
        errors["place"] = N_("Where: a place people know, like “the ICE office, 4310 SW "
                             "Macadam Ave”.")
    elif len(values["place"]) > PLACE_LIMIT:
        errors["place"] = N_("At most 80 characters: phones show the place in the title.")
    if values["kind"] in TIMED_KINDS and not values["at"]:
        errors["at"] = N_("When it is: a day and a time.")
    for name in ("title", "title_es"):
        if values[name]:
            errors[name] = N_("Leave this empty: the kind of alert writes the title in every "
                              "language. Your own words go under Message.")
    if values["message_es"] and not values["message"]:
        errors["message"] = N_("Write the English too: every language but Spanish gets the "
                               "English text.")


def _done(alert_id: int, message: str) -> Response:
    """Back to the alert's page with what happened, in words admin_page translates."""
    return see_other(f"/admin/alerts/{alert_id}?done={quote_plus(message)}")


async def _page(request: Request, template: str, status: int = 200, **context) -> Response:
    """An alert page with its pickers in the organizer's language."""
    lang = admin_lang(request)
    tr = translator(request)
    return admin_page(
        request, template, status=status,
        state_options=[(ALL, tr.plain("All states")), *states_sorted(lang)],
        kind_options=[(code, tr.plain(name)) for code, name in KIND_CHOICES],
        timed_kinds=sorted(TIMED_KINDS), urgent_kinds=sorted(URGENT_KINDS),
        expiry_options=[("", tr.plain(N_("Usual: 4 hours if urgent, else 1 day"))),
                        *((str(h), tr.ngettext("%(num)s hour", "%(num)s hours", h) if h < 72
                           else tr.ngettext("%(num)s day", "%(num)s days", h // 24))
                          for h in EXPIRY_HOURS)],
        link_options=await _link_options(services(request).db, tr), **context)


async def usual_choices(db, name: str) -> dict:
    """The states and place of the organizer's last alert, for the next one: most alerts
    go where the last one went."""
    row = await db.first("SELECT states, place FROM alerts WHERE author = ? "
                         "ORDER BY id DESC LIMIT 1", (name,))
    if row is None:
        return {}
    return {"states": json.loads(row["states"]) or [ALL], "place": row["place"] or ""}


def new_alert_url(choices: dict) -> str:
    """The alert form with these states (and place) already chosen."""
    query = [("states", s) for s in choices.get("states", [])]
    if choices.get("place"):
        query.append(("place", choices["place"]))
    return "/admin/alerts/new" + (f"?{urlencode(query)}" if query else "")


def _chosen(request: Request) -> dict:
    """The form's first values from its address: a kind, states and a place given there."""
    query = request.query_params
    kind = query.get("kind", "")
    kind = kind if kind in ALERT_KINDS else ""
    return {"kind": kind,
            "states": [s for s in query.getlist("states") if s == ALL or s in STATES],
            "place": " ".join(query.get("place", "").split())[:PLACE_LIMIT],
            "expires": ""}


def _as_alert(row) -> dict:
    alert = dict(row)
    alert["states"] = json.loads(alert["states"])
    alert["message_ids"] = json.loads(alert["message_ids"])
    return alert


async def _alert(request: Request) -> dict:
    row = await services(request).db.first("SELECT * FROM alerts WHERE id = ?",
                                            (request.path_params["id"],))
    if row is None:
        raise HTTPException(404, "No such alert.")
    return _as_alert(row)


async def index(request: Request) -> Response:
    db = services(request).db
    lang = admin_lang(request)
    rows = await db.execute("SELECT * FROM alerts ORDER BY id DESC LIMIT 200")
    # An alert of a kind by its phrase in the organizer's language.
    alerts = [{**alert, "title": alert_words(alert, lang).title}
              for alert in map(_as_alert, rows)]
    return admin_page(request, "admin/alerts.html", alerts=alerts, send_alert=new_alert_url(
        await usual_choices(db, organizer(request)["name"])))


PAGES = (("/", N_("Home: vigils near you")), ("/legal", N_("Legal help")),
         ("/rights", N_("Know your rights")), ("/facilities", N_("Facilities")),
         ("/resources", N_("Resources")))
# Where a tap on the notification leads, named as the site's own menus name each page.
PAGE_NAMES = {
    "/": N_("the home page"), "/alerts": N_("Alerts"), "/legal": N_("Legal help"),
    "/rights": N_("Know your rights"), "/facilities": N_("ICE offices and detention centers"),
    "/resources": N_("Resources"), "/about": N_("About"), "/search": N_("Search"),
    "/suggest": N_("Suggest a vigil or correction"), "/before-you-go": N_("Before you go"),
    "/open-data": N_("Open data"),
}
_LANG_PREFIX = re.compile(r"^/es(?=/|$)")


def _title(row, lang: str) -> str:
    return (lang == "es" and row["title_es"]) or row["title"]


async def _link_options(db, tr: Translator) -> list[tuple[str, str]]:
    """Pages an alert can open: the site's main pages, then live and waiting listings."""
    rows = await db.execute(
        "SELECT slug, title, title_es, city, state FROM listings "
        "WHERE status IN ('active', 'pending') ORDER BY state, city, title")
    return [("", tr.plain(N_("No page: the home page"))),
            *((path, tr.plain(label)) for path, label in PAGES),
            *((f"/listings/{r['slug']}", f"{r['state']} · {_title(r, tr.lang)}, {r['city']}")
              for r in rows)]


async def opens(db, url: str | None, tr: Translator) -> str:
    """What a tap on the notification opens, in words: organizers should never have to read
    a path to know where subscribers will land."""
    parts = urlsplit(url or "/")
    path = _LANG_PREFIX.sub("", parts.path).rstrip("/") or "/"
    state = parse_qs(parts.query).get("state", [""])[0].upper()
    if path == "/" and state in STATES:
        return tr.plain(N_("the vigils in %(state)s")) % {"state": state_name(state, tr.lang)}
    if path in PAGE_NAMES:
        return tr.plain(PAGE_NAMES[path])
    kind, _, slug = path[1:].partition("/")
    if kind == "listings" and slug:
        row = await db.first("SELECT title, title_es FROM listings WHERE slug = ?", (slug,))
        return _title(row, tr.lang) if row else tr.plain(
            N_("a listing Vigil does not have: check the link"))
    if kind == "rights" and slug:
        row = await db.first("SELECT title FROM rights WHERE slug = ? ORDER BY lang = ? DESC",
                             (slug, tr.lang))
        if row:
            return row["title"]
    return tr.plain(N_("a page of Vigil"))


def expiry_zone(states: list[str]) -> str:
    """The time zone an alert's expiry is told in without the organizer's phone: its states'
    zone when they share one, else Eastern, the zone national notices use."""
    zones = {STATE_ZONES.get(s, "America/New_York") for s in states or STATES}
    return zones.pop() if len(zones) == 1 else "America/New_York"


async def new(request: Request) -> Response:
    svc = services(request)
    if request.method == "GET":
        return await _page(request, "admin/alert_form.html", values=_chosen(request),
                           errors={}, preview=None)
    form = await form_of(request)
    values, errors, fields = parse_alert(form, svc.settings.base_url)
    if fields is None:
        return await _page(request, "admin/alert_form.html", status=400, values=values,
                           errors=errors, preview=None, flash=NOT_SENT)
    if form.get("action") == "preview":
        return await _page(request, "admin/alert_form.html", values=values, errors={},
                           preview=await _preview(request, fields))
    me = organizer(request)
    now = iso_now()
    columns = ("kind", "place", "at", "tz", "title", "body", "title_es", "body_es", "url",
               "states", "urgent", "expires")

    async def create(conn) -> int:
        cur = await conn.execute(
            f"INSERT INTO alerts ({', '.join(columns)}, status, author, created, updated) "
            f"VALUES ({', '.join('?' * len(columns))}, 'pending', ?, ?, ?) RETURNING id",
            (*(fields[c] for c in columns), me["name"], now, now))
        (alert_id,) = await cur.fetchone()
        await audit.record(conn, me["name"], "compose", "alert", str(alert_id), None, fields)
        return alert_id

    alert_id = await svc.db.write_fn(create)
    if await approvals.needs_second_organizer(svc.db):
        return _done(alert_id, WAITING)
    await _send(request, alert_id, approver=None)
    return _done(alert_id, SENT)


async def _preview(request: Request, fields: dict) -> dict:
    """Each phone as it will show the alert, where a tap opens it, and who gets it."""
    svc = services(request)
    tr = translator(request)
    alert = {**fields, "id": 0, "states": json.loads(fields["states"])}
    message = alert_message(alert, svc.settings.base_url)
    phones = []
    for code in ("en", "es"):
        words = alert_words(alert, code)
        body_lang = words.details[0][0] if words.details else code
        phones.append((code, message.payload_for(code), words.title_lang, body_lang))
    return {
        "phones": phones,
        "others": bool(fields["kind"]) and len(LANGUAGES) > 2,
        "opens": await opens(svc.db, fields["url"], tr),
        "states": [state_name(s, tr.lang) for s in alert["states"]],
        "urgent": bool(fields["urgent"]),
        "sms": await sms.preview(svc.db, svc.settings, alert),
    }


async def _send(request: Request, alert_id: int, approver: str | None,
                changes: dict | None = None, action: str = "send",
                expect: dict | None = None) -> bool:
    """Apply changes (a correction or retraction), mark sent and queue the push, all in one
    transaction, so an alert is never marked sent without its deliveries; only while the
    alert still holds `expect` (column: value), so that of simultaneous approvals one
    sends. False when it did not."""
    svc = services(request)
    me = organizer(request)
    now = iso_now()

    async def apply(conn) -> bool:
        sets = {"updated": now, **(changes or {})}
        if action == "send":
            sets.update(status="sent", sent=now, approver=approver)
        where, params = approvals.where_seen({"id": alert_id, **(expect or {})})
        cur = await conn.execute(
            f"UPDATE alerts SET {', '.join(f'{k} = ?' for k in sets)} WHERE {where}",
            [*sets.values(), *params])
        if cur.rowcount != 1:
            return False
        await audit.record(conn, me["name"], action, "alert", str(alert_id), expect, sets)
        async with conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)) as cur:
            alert = _as_alert(await cur.fetchone())
        message_id = await push.enqueue(conn, push.alert_message(alert, svc.settings.base_url))
        await sms.queue_alert(conn, svc.settings, alert)
        await conn.execute("UPDATE alerts SET message_ids = ? WHERE id = ?",
                           (json.dumps([*alert["message_ids"], message_id]), alert_id))
        return True

    if not await svc.db.write_fn(apply, public=True):
        return False
    svc.push.wake()
    return True


def approval_version(row) -> dict | None:
    """What an approver of this alert approves, as stored: the alert itself while it waits,
    or the correction proposed for it; None when nothing waits."""
    if row["status"] == "pending":
        # Every column a visitor sees (a column added later too), and who wrote it.
        return {**approvals.public_fields("alert", dict(row)), "author": row["author"]}
    if row["status"] == "sent" and row["proposed"]:
        return {k: row[k] for k in ("status", "proposed", "proposed_by")}
    return None


async def detail(request: Request, status: int = 200, **extra) -> Response:
    alert = await _alert(request)
    svc = services(request)
    db = svc.db
    totals: dict[str, int] = {}
    for message_id in alert["message_ids"]:
        for state, n in (await push.delivery_counts(db, message_id)).items():
            totals[state] = totals.get(state, 0) + n
    proposed = json.loads(alert["proposed"]) if alert["proposed"] else None
    version = approval_version(await db.first("SELECT * FROM alerts WHERE id = ?",
                                              (alert["id"],)))
    approval = approvals.seen_fields(version) if version else None
    many = await approvals.organizer_count(db) >= 2
    context = {"values": {}, "errors": {}, "changed": [], **extra}
    return await _page(request, "admin/alert.html", status=status,
                       **await _described(request, alert, proposed), counts=totals,
                       me=organizer(request)["name"], approval=approval, many=many, **context)


async def _described(request: Request, alert: dict, proposed: dict | None) -> dict:
    """The alert and its proposed correction with what organizers read instead of codes:
    where a tap opens, the states by name, and the expiry in words."""
    tr = translator(request)
    db = services(request).db
    now = datetime.now(UTC)
    expires = end_moment(alert["expires"])
    words = alert_words(alert, tr.lang, now)
    at = datetime.fromisoformat(alert["at"]) if alert.get("at") else None
    return {
        "alert": alert, "proposed": proposed, "heading": words.title,
        "kind_name": tr.plain(KIND_NAMES[alert["kind"]]) if alert.get("kind") else None,
        "when_words": tr.when(at, now, alert.get("tz")) if at else "",
        "phrases": [(code, alert_words(alert, code, now).title) for code in ("en", "es")]
        if alert.get("kind") else [],
        # The correction form as the alert stands, its time as the organizer typed it.
        "as_typed": {"kind": alert.get("kind") or "", "place": alert.get("place") or "",
                     "at": at.astimezone(ZoneInfo(alert["tz"])).strftime("%Y-%m-%dT%H:%M")
                     if at and alert.get("tz") else "",
                     "title": "" if alert.get("kind") else alert["title"],
                     "message": alert["body"], "title_es": alert["title_es"],
                     "message_es": alert["body_es"], "link": alert["url"]},
        "opens": await opens(db, alert["url"], tr),
        "proposed_opens": await opens(db, proposed.get("url"), tr) if proposed else None,
        "state_names": [state_name(s, tr.lang) for s in alert["states"]],
        "expires_at": expires.isoformat() if expires else None,
        "expired": expires is not None and expires <= now,
        "expires_words": tr.when(expires, now, expiry_zone(alert["states"])) if expires else "",
    }


async def approve(request: Request) -> Response:
    svc = services(request)
    me = organizer(request)["name"]
    form = await form_of(request)
    row = await svc.db.first("SELECT * FROM alerts WHERE id = ?", (request.path_params["id"],))
    if row is None:
        raise HTTPException(404, "No such alert.")
    alert_id = row["id"]
    version = approval_version(row)
    if version is None:
        return _done(alert_id, NOTHING_TO_APPROVE)
    proposer = row["author"] if row["status"] == "pending" else row["proposed_by"]
    try:
        if proposer == me:
            raise approvals.Refused(APPROVE_YOURSELF, 403)
        seen = approvals.check_seen(form, version)
    except approvals.Refused as exc:
        await approvals.record_refusal(svc.db, me, "alert", str(alert_id), str(exc),
                                       approvals.read_seen(form), version)
        changed = _named(exc.changed, translator(request))
        return await detail(request, status=exc.status, flash=str(exc), changed=changed)
    if row["status"] == "pending":
        sent = await _send(request, alert_id, approver=me, expect=seen)
        return _done(alert_id, APPROVED if sent else ALREADY_APPROVED)
    changes = {**json.loads(row["proposed"]), "proposed": None, "proposed_by": None,
               "revision": row["revision"] + 1}
    sent = await _send(request, alert_id, approver=None, changes=changes, action="correct",
                       expect=seen)
    return _done(alert_id, CORRECTION_APPROVED if sent else ALREADY_APPROVED)


async def correct(request: Request) -> Response:
    alert = await _alert(request)
    svc = services(request)
    me = organizer(request)
    form = await form_of(request)
    if alert["status"] != "sent":
        return _done(alert["id"], ONLY_SENT)
    merged = {name: form.get(name, "") for name in (
        "kind", "place", "at", "title", "message", "title_es", "message_es", "link", "page")}
    # Who gets it stays as sent; only the words and the page change.
    merged.update(states=[ALL], expires="24")
    values, errors, fields = parse_alert(_Form(merged), svc.settings.base_url,
                                         zone=alert["tz"] or expiry_zone(alert["states"]))
    if fields is None:
        return await detail(request, status=400, values=values, errors=errors,
                            flash=NOT_SENT)
    change = {k: fields[k] for k in ("kind", "place", "at", "tz", "title", "body", "url",
                                     "title_es", "body_es")}
    if await approvals.needs_second_organizer(svc.db):
        async def propose(conn) -> None:
            await conn.execute("UPDATE alerts SET proposed = ?, proposed_by = ? WHERE id = ?",
                               (json.dumps(change), me["name"], alert["id"]))
            await audit.record(conn, me["name"], "propose-correction", "alert",
                               str(alert["id"]), None, change)

        await svc.db.write_fn(propose)
        return _done(alert["id"], CORRECTION_WAITS)
    await _send(request, alert["id"], approver=None, action="correct",
                changes={**change, "revision": alert["revision"] + 1})
    return _done(alert["id"], CORRECTION_SENT)


async def retract(request: Request) -> Response:
    alert = await _alert(request)
    svc = services(request)
    me = organizer(request)["name"]
    if alert["status"] == "pending":
        return await _stop(request, alert, me)
    if request.method != "POST":
        return see_other(f"/admin/alerts/{alert['id']}")
    if alert["status"] != "sent":
        return _done(alert["id"], ALREADY_RETRACTED)
    if await approvals.organizer_count(svc.db) >= 2:
        async def take_down(conn) -> None:
            await conn.execute(
                "UPDATE alerts SET status = 'retracted', taken_down_by = ?, proposed = NULL, "
                "proposed_by = NULL, updated = ? WHERE id = ? AND status = 'sent'",
                (me, iso_now(), alert["id"]))
            await audit.record(conn, me, "take-down", "alert", str(alert["id"]),
                               {"status": "sent"}, {"status": "retracted"})

        await svc.db.write_fn(take_down, public=True)
        return _done(alert["id"], TAKEN_DOWN)
    await _send(request, alert["id"], approver=None, action="retract",
                changes={"status": "retracted", "revision": alert["revision"] + 1,
                         "proposed": None, "proposed_by": None})
    return _done(alert["id"], RETRACTED)


async def _stop(request: Request, alert: dict, me: str) -> Response:
    """Keep a pending alert from being sent. Its author withdraws it at once; a colleague
    is asked first, since it stops someone else's call, and its author is told (on their
    dashboard and the alert's page) and can restore it."""
    colleague = alert["author"] != me
    if colleague and not await confirmed(request):
        tr = translator(request)
        return confirm_page(
            request, tr.gettext("Stop “%(title)s” from being sent?",
                                title=alert_words(alert, tr.lang).title),
            tr.gettext("It will not be sent. %(name)s, who wrote it, sees that you stopped "
                       "it and can restore it to wait for approval again.",
                       name=alert["author"]),
            tr.gettext("Stop this alert"), f"/admin/alerts/{alert['id']}",
            keep=tr.gettext("Keep it waiting"))
    if request.method != "POST":
        return see_other(f"/admin/alerts/{alert['id']}")

    async def cancel(conn) -> None:
        await conn.execute("UPDATE alerts SET status = 'retracted', taken_down_by = ?, "
                           "updated = ? WHERE id = ? AND status = 'pending'",
                           (me, iso_now(), alert["id"]))
        await audit.record(conn, me, "cancel", "alert", str(alert["id"]),
                           {"status": "pending"}, {"status": "retracted"})

    await services(request).db.write_fn(cancel)
    return _done(alert["id"], STOPPED if colleague else CANCELLED)


async def restore(request: Request) -> Response:
    """Undo a take-down that has not reached phones: they still show the alert. A pending
    alert that was cancelled before it was sent goes back to waiting, at its author's word."""
    alert = await _alert(request)
    me = organizer(request)["name"]
    never_sent = alert["sent"] is None
    if never_sent and alert["author"] != me:
        return _done(alert["id"], ONLY_THE_AUTHOR_RESTORES)
    restored = await approvals.undo_take_down(
        services(request).db, me, "alert", "alerts", "id", alert["id"],
        taken="retracted", live="pending" if never_sent else "sent",
        taken_down_by=alert["taken_down_by"])
    return _done(alert["id"], RESTORED if restored else NOTHING_TO_RESTORE)


async def confirm_retraction(request: Request) -> Response:
    """A second organizer confirms a take-down: the withdrawal now reaches phones."""
    alert = await _alert(request)
    me = organizer(request)["name"]
    if alert["status"] != "retracted" or not alert["taken_down_by"] or alert["sent"] is None:
        return _done(alert["id"], NOTHING_TO_CONFIRM)
    if alert["taken_down_by"] == me:
        reason = CONFIRM_YOURSELF
        await approvals.record_refusal(services(request).db, me, "alert", str(alert["id"]),
                                       reason)
        return await detail(request, status=403, flash=reason)
    sent = await _send(request, alert["id"], approver=None, action="retract",
                       changes={"taken_down_by": None, "revision": alert["revision"] + 1},
                       expect={"status": "retracted", "taken_down_by": alert["taken_down_by"]})
    return _done(alert["id"], WITHDRAWAL_SENT if sent else ALREADY_CONFIRMED)


def _named(changed: list[dict], tr: Translator) -> list[dict]:
    """What changed, with the statuses named in the organizer's language and the fields
    as the alert form calls them (the page translates them)."""
    def status(value):
        return tr.plain(STATUS_NAMES[value]) if value in STATUS_NAMES else value

    return [{"field": c["field"], "label": FIELD_NAMES.get(c["field"], c["field"]),
             "before": status(c["before"]) if c["field"] == "status" else c["before"],
             "after": status(c["after"]) if c["field"] == "status" else c["after"]}
            for c in changed]


class _Form(dict):
    def getlist(self, key: str) -> list:
        value = self.get(key)
        return value if isinstance(value, list) else ([] if value is None else [value])


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/alerts", index),
        Route("/admin/alerts/new", new, methods=["GET", "POST"]),
        Route("/admin/alerts/{id:int}", detail),
        Route("/admin/alerts/{id:int}/approve", approve, methods=["POST"]),
        Route("/admin/alerts/{id:int}/correct", correct, methods=["POST"]),
        Route("/admin/alerts/{id:int}/retract", retract, methods=["GET", "POST"]),
        Route("/admin/alerts/{id:int}/restore", restore, methods=["POST"]),
        Route("/admin/alerts/{id:int}/confirm-retraction", confirm_retraction,
              methods=["POST"]),
    ]
