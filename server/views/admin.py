"""Organizer sign-in, sessions, dashboard, password and audit log. Guarded by
admin_guard.AdminGuard."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from server import audit, push, sms
from server.accounts import (
    AccountError,
    Busy,
    check_new_password,
    hash_password,
    hash_password_off_loop,
    verify_password_off_loop,
)
from server.auth import DEVICE_COOKIE, LOGIN_COOKIE, login_cookie_header, signed_notice
from server.i18n import LANGUAGES, N_, Translator
from server.views.base import services

# Failures from unknown browsers, per account name in any letter case, before those
# browsers wait; failures from one known browser before it is slowed.
LOGIN_FAILURES_PER_ACCOUNT = 5
LOGIN_FAILURES_PER_DEVICE = 10
DEVICE_SLOWDOWN = 2.0
# Argon2 verification of a name that does not exist costs the same as one that does.
_DUMMY_HASH = hash_password("not a real password, only timing cover")


def organizer(request: Request) -> dict:
    return request.scope["state"]["organizer"]


def csrf_token(request: Request) -> str:
    session = request.scope["state"].get("session")
    return services(request).sessions.csrf_token(session) if session else ""


# Messages shown after an action, translated when they match exactly.
FLASHES = (N_("Published."), N_("Saved."), N_("Saved as a draft."), N_("Restored."),
           N_("Nothing to restore."), N_("Marked verified today."),
           N_("Ended. It now shows as ended."), N_("Only a live listing can be ended."),
           N_("Waiting for a second organizer to approve. Nothing is public or sent yet."),
           N_("Your change waits for a second organizer. The public page keeps the approved "
              "version."))
LANG_COOKIE = "vigil_admin_lang"
_BACK = re.compile(r"/admin(/[\w./-]*)?")


def admin_lang(request: Request) -> str:
    """The organizer's chosen language for these pages (a preference cookie), else English."""
    lang = request.cookies.get(LANG_COOKIE)
    return lang if lang in LANGUAGES else "en"


def translator(request: Request) -> Translator:
    return services(request).renderer.translators[admin_lang(request)]


def admin_page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """An organizer page in the organizer's language, never cached, with the CSRF token every
    form needs."""
    svc = services(request)
    lang = admin_lang(request)
    tr = svc.renderer.translators[lang]
    flash = context.pop("flash", None)
    if flash is None:
        # Only a notice this server put in a redirect (admin_guard signs them): a link
        # with made-up text shows nothing on the real pages.
        flash = signed_notice(svc.settings.secret_key, request.query_params)
    if isinstance(context.get("errors"), dict):
        context["errors"] = {k: tr.plain(v) if isinstance(v, str) and v else v
                             for k, v in context["errors"].items()}
    html = svc.renderer.render(
        template, lang, request.url.path, request=request,
        organizer=request.scope["state"].get("organizer"), csrf=csrf_token(request),
        flash=tr.plain(flash) if flash else flash, **context,
    )
    return HTMLResponse(html, status_code=status)


async def language(request: Request) -> Response:
    """Switch the organizer pages between English and Spanish, then go back."""
    lang = request.query_params.get("to", "")
    back = request.query_params.get("next", "/admin/")
    if not _BACK.fullmatch(back):
        back = "/admin/"
    response = see_other(back)
    if lang in LANGUAGES:
        secure = "; Secure" if services(request).settings.https else ""
        response.headers.append(
            "set-cookie",
            f"{LANG_COOKIE}={lang}; Path=/admin; Max-Age=31536000; SameSite=Lax{secure}")
    return response


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def form_of(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=200)


def device_name(user_agent: str) -> str:
    """A short name for a browser, enough to tell an organizer's devices apart."""
    browser = next((name for marker, name in (
        ("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
        ("Safari/", "Safari")) if marker in user_agent), "A browser")
    system = next((name for marker, name in (
        ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
        ("Mac OS", "macOS"), ("Linux", "Linux")) if marker in user_agent), "")
    return f"{browser} on {system}" if system else browser


def _login_page(request: Request, status: int, username: str = "",
                error: str | None = None) -> Response:
    """The sign-in form, its stamp bound to the form's own cookie (set here when missing)."""
    svc = services(request)
    bound = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    page = admin_page(request, "admin/login.html", status=status, username=username,
                      error=error, stamp=svc.login_stamp.issue(bound))
    if request.cookies.get(LOGIN_COOKIE) != bound:
        page.headers.append("set-cookie", login_cookie_header(bound, svc.settings.https))
    return page


async def login(request: Request) -> Response:
    if request.method == "GET":
        return _login_page(request, 200)
    svc = services(request)
    form = await form_of(request)
    username = str(form.get("username", ""))[:100]
    password = str(form.get("password", ""))[:1024]
    per_account = svc.login_throttle_account
    per_device = svc.login_throttle_device
    devices = svc.devices
    account_key = per_account.key_for(username)
    device = devices.device_for(request.cookies.get(DEVICE_COOKIE), username)
    device_key = per_device.key_for_client(device) if device is not None else b""
    if device is None:
        # Strangers' failures lock out strangers only: a browser this organizer has signed
        # in from before carries a device cookie and never waits for them. The attempt is
        # counted before its password is checked.
        if await per_account.attempt(account_key):
            wait = await per_account.retry_after(account_key)
            minutes = max(1, (wait + 59) // 60)
            page = _login_page(
                request, 429, username,
                f"Too many failed sign-ins. Try again in {minutes} minute(s).")
            page.headers["Retry-After"] = str(wait)
            return page
    elif await per_device.retry_after(device_key):
        # A known browser is never refused, only slowed, so its own organizer still gets in.
        await asyncio.sleep(DEVICE_SLOWDOWN)
    row = await svc.db.first("SELECT id, name, password_hash FROM organizers WHERE name = ?",
                             (username,))
    try:
        ok = await verify_password_off_loop(row["password_hash"] if row else _DUMMY_HASH,
                                            password, known_device=device is not None)
    except Busy:
        page = _login_page(request, 503, username,
                           "Too many sign-ins at this moment. Try again in a few seconds.")
        page.headers["Retry-After"] = "5"
        return page
    if not (row and ok):
        if device is not None:
            await per_device.take(device_key)
        return _login_page(request, 401, username, "Wrong username or password.")
    if device is None:
        await per_account.reset(account_key)
    else:
        await per_device.reset(device_key)
    store = svc.sessions
    agent = device_name(request.headers.get("user-agent", ""))

    async def log_in(conn):
        session = await store.start(conn, row["id"], agent)
        await audit.record(conn, row["name"], "sign-in", "organizer", row["name"], None,
                           {"device": agent})
        return session

    session = await svc.db.write_fn(log_in)
    secure = svc.settings.https
    response = see_other("/admin/")
    response.headers.append("set-cookie", store.cookie_header(session, secure))
    if device is None:
        response.headers.append("set-cookie", devices.cookie_header(
            devices.issue(row["name"]), secure))
    return response


async def logout(request: Request) -> Response:
    svc = services(request)
    session = request.scope["state"]["session"]
    me = organizer(request)

    async def end(conn):
        await svc.sessions.end(conn, session.id)
        await audit.record(conn, me["name"], "sign-out", "organizer", me["name"])

    await svc.db.write_fn(end)
    response = see_other("/admin/login")
    response.headers.append("set-cookie", svc.sessions.cookie_header(
        None, svc.settings.https))
    return response


async def sessions_page(request: Request) -> Response:
    svc = services(request)
    rows = await svc.db.execute(
        "SELECT id, device, started, last_used FROM sessions WHERE organizer_id = ? "
        "ORDER BY last_used DESC", (organizer(request)["id"],))
    current = request.scope["state"]["session"].id
    return admin_page(request, "admin/sessions.html", current=current, sessions=[
        {**dict(r), "started": _when(r["started"]), "last_used": _when(r["last_used"])}
        for r in rows])


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def end_session(request: Request) -> Response:
    svc = services(request)
    me = organizer(request)
    target = request.path_params["id"]

    async def end(conn):
        cur = await conn.execute("DELETE FROM sessions WHERE id = ? AND organizer_id = ?",
                                 (target, me["id"]))
        if cur.rowcount:
            await audit.record(conn, me["name"], "end-session", "organizer", me["name"])
        return cur.rowcount

    if target == request.scope["state"]["session"].id:
        return see_other("/admin/sessions?done=To+end+this+session%2C+sign+out.")
    ended = await svc.db.write_fn(end)
    return see_other("/admin/sessions?done=" + ("Session+ended." if ended
                                                else "That+session+had+already+ended."))


async def end_other_sessions(request: Request) -> Response:
    svc = services(request)
    me = organizer(request)
    keep = request.scope["state"]["session"].id

    async def end(conn):
        count = await svc.sessions.end_all(conn, me["id"], keep=keep)
        await audit.record(conn, me["name"], "end-sessions", "organizer", me["name"], None,
                           {"ended": count})
        return count

    count = await svc.db.write_fn(end)
    return see_other(f"/admin/sessions?done=Ended+{count}+other+session(s).")


async def dashboard(request: Request) -> Response:
    db = services(request).db
    waiting = await db.scalar("SELECT COUNT(*) FROM suggestions WHERE status = 'waiting'")
    pending_alerts = await db.scalar("SELECT COUNT(*) FROM alerts WHERE status = 'pending'")
    # An import's listings count once, as the import.
    pending_listings = await db.scalar(
        "SELECT COUNT(*) FROM listings WHERE status = 'pending' AND batch_id IS NULL")
    imports = await db.scalar("SELECT COUNT(*) FROM import_batches WHERE status = 'pending'")
    pending_corrections = await db.scalar(
        "SELECT COUNT(*) FROM alerts WHERE status = 'sent' AND proposed IS NOT NULL")
    changes = await db.scalar("SELECT COUNT(*) FROM changes WHERE status = 'pending'")
    me = organizer(request)["name"]
    # What one organizer took down shows here to the others, who may restore it.
    taken_down = [dict(r) for r in await db.execute(
        "SELECT 'alert' AS entity, CAST(id AS TEXT) AS key, title, taken_down_by, "
        "'/admin/alerts/' || id AS url FROM alerts WHERE taken_down_by IS NOT NULL "
        "AND taken_down_by != ? UNION ALL "
        "SELECT 'listing', slug, title, taken_down_by, '/admin/listings/' || slug || '/edit' "
        "FROM listings WHERE taken_down_by IS NOT NULL AND taken_down_by != ?", (me, me))]
    topics = await push.topic_counts(db)
    sms_on = services(request).settings.sms_on
    return admin_page(
        request, "admin/dashboard.html", sms=await sms.counts(db) if sms_on else None,
        waiting_suggestions=waiting,
        waiting_approval=pending_alerts + pending_listings + pending_corrections,
        waiting_changes=changes, waiting_imports=imports, taken_down=taken_down,
        topics=list(topics.items()), entries=await audit.recent(db, 10),
        growth=await push.subscription_growth(db),
    )


async def audit_log(request: Request) -> Response:
    try:
        page = max(0, int(request.query_params.get("page", "0")))
    except ValueError:
        page = 0
    entries = await audit.recent(services(request).db, 101, page * 100)
    return admin_page(request, "admin/audit.html", entries=entries[:100],
                      more=len(entries) > 100, page=page)


async def password(request: Request) -> Response:
    if request.method == "GET":
        return admin_page(request, "admin/password.html", errors={})
    svc = services(request)
    me = organizer(request)
    form = await form_of(request)
    current, new, confirm = (str(form.get(k, "")) for k in ("current", "new", "confirm"))
    errors = {}
    stored = await svc.db.scalar("SELECT password_hash FROM organizers WHERE id = ?", (me["id"],))
    if not await verify_password_off_loop(stored, current):
        errors["current"] = "This is not your current password."
    try:
        check_new_password(new)
    except AccountError as exc:
        errors["new"] = str(exc).capitalize() + "."
    if new != confirm:
        errors["confirm"] = "The two new passwords differ."
    if errors:
        return admin_page(request, "admin/password.html", status=400, errors=errors)

    new_hash = await hash_password_off_loop(new)
    store = svc.sessions
    agent = device_name(request.headers.get("user-agent", ""))

    async def change(conn):
        await conn.execute(
            "UPDATE organizers SET password_hash = ?, session_epoch = session_epoch + 1 "
            "WHERE id = ?", (new_hash, me["id"]))
        # Every session ends, this one included; this browser gets a fresh one.
        await store.end_all(conn, me["id"])
        session = await store.start(conn, me["id"], agent)
        await audit.record(conn, me["name"], "change-password", "organizer", me["name"])
        return session

    session = await svc.db.write_fn(change)
    response = see_other("/admin/?done=Password+changed.+Your+other+sessions+have+ended.")
    response.headers.append("set-cookie", store.cookie_header(session, svc.settings.https))
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/login", login, methods=["GET", "POST"]),
        Route("/admin/language", language),
        Route("/admin/logout", logout, methods=["POST"]),
        Route("/admin/", dashboard),
        Route("/admin/audit", audit_log),
        Route("/admin/password", password, methods=["GET", "POST"]),
        Route("/admin/sessions", sessions_page),
        Route("/admin/sessions/end-others", end_other_sessions, methods=["POST"]),
        Route("/admin/sessions/{id:int}/end", end_session, methods=["POST"]),
    ]
