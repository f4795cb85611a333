"""Organizer sign-in, dashboard, password and audit log. Guarded by middleware.AdminGuard."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from server import audit, push
from server.accounts import AccountError, check_new_password, hash_password, verify_password
from server.views.base import services

LOGIN_FAILURES_PER_ACCOUNT = 5
LOGIN_FAILURES_PER_CLIENT = 20
# Argon2 verification of a name that does not exist costs the same as one that does.
_DUMMY_HASH = hash_password("not a real password, only timing cover")


def organizer(request: Request) -> dict:
    return request.scope["state"]["organizer"]


def csrf_token(request: Request) -> str:
    session = request.scope["state"].get("session")
    return services(request).extras["sessions"].csrf_token(session) if session else ""


def admin_page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """An organizer page: English, never cached, with the CSRF token every form needs."""
    svc = services(request)
    html = svc.renderer.render(
        template, "en", request.url.path, request=request,
        organizer=request.scope["state"].get("organizer"), csrf=csrf_token(request),
        flash=context.pop("flash", request.query_params.get("done")), **context,
    )
    return HTMLResponse(html, status_code=status)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def form_of(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=200)


async def login(request: Request) -> Response:
    svc = services(request)
    stamp = svc.extras["login_stamp"].issue()
    if request.method == "GET":
        return admin_page(request, "admin/login.html", stamp=stamp, error=None, username="")
    form = await form_of(request)
    username = str(form.get("username", ""))[:100]
    password = str(form.get("password", ""))[:1024]
    per_account = svc.extras["login_throttle_account"]
    per_client = svc.extras["login_throttle_client"]
    account_key = username.casefold()
    client_key = per_client.key_for_client(request.client.host if request.client else None)
    if per_account.blocked(account_key) or per_client.blocked(client_key):
        wait = max(per_account.retry_after(account_key), per_client.retry_after(client_key))
        minutes = max(1, (wait + 59) // 60)
        page = admin_page(
            request, "admin/login.html", status=429, stamp=stamp, username=username,
            error=f"Too many failed sign-ins. Try again in {minutes} minute(s).",
        )
        page.headers["Retry-After"] = str(wait)
        return page
    row = await svc.db.first(
        "SELECT id, name, password_hash, session_epoch FROM organizers WHERE name = ?",
        (username,),
    )
    ok = verify_password(row["password_hash"] if row else _DUMMY_HASH, password)
    if not (row and ok):
        per_account.hit(account_key)
        per_client.hit(client_key)
        return admin_page(request, "admin/login.html", status=401, stamp=stamp,
                          username=username, error="Wrong username or password.")
    per_account.reset(account_key)
    signer = svc.extras["sessions"]
    session = signer.new(row["id"], row["session_epoch"])
    response = see_other("/admin/")
    response.headers.append("set-cookie", signer.cookie_header(session, svc.settings.https))

    async def log_in(conn):
        await audit.record(conn, row["name"], "sign-in", "organizer", row["name"])

    await svc.db.write_fn(log_in)
    return response


async def logout(request: Request) -> Response:
    svc = services(request)
    request.scope["state"]["session"] = None
    response = see_other("/admin/login")
    response.headers.append("set-cookie", svc.extras["sessions"].cookie_header(
        None, svc.settings.https))
    return response


async def dashboard(request: Request) -> Response:
    db = services(request).db
    waiting = await db.scalar("SELECT COUNT(*) FROM suggestions WHERE status = 'waiting'")
    pending_alerts = await db.scalar("SELECT COUNT(*) FROM alerts WHERE status = 'pending'")
    pending_listings = await db.scalar("SELECT COUNT(*) FROM listings WHERE status = 'pending'")
    topics = await push.topic_counts(db)
    return admin_page(
        request, "admin/dashboard.html",
        waiting_suggestions=waiting, waiting_approval=pending_alerts + pending_listings,
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
    if not verify_password(stored, current):
        errors["current"] = "This is not your current password."
    try:
        check_new_password(new)
    except AccountError as exc:
        errors["new"] = str(exc).capitalize() + "."
    if new != confirm:
        errors["confirm"] = "The two new passwords differ."
    if errors:
        return admin_page(request, "admin/password.html", status=400, errors=errors)

    async def change(conn):
        await conn.execute(
            "UPDATE organizers SET password_hash = ?, session_epoch = session_epoch + 1 "
            "WHERE id = ?", (hash_password(new), me["id"]))
        await audit.record(conn, me["name"], "change-password", "organizer", me["name"])

    await svc.db.write_fn(change)
    signer = svc.extras["sessions"]
    session = signer.new(me["id"], me["session_epoch"] + 1)
    request.scope["state"]["session"] = session
    response = see_other("/admin/?done=Password+changed.")
    response.headers.append("set-cookie", signer.cookie_header(session, svc.settings.https))
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/login", login, methods=["GET", "POST"]),
        Route("/admin/logout", logout, methods=["POST"]),
        Route("/admin/", dashboard),
        Route("/admin/audit", audit_log),
        Route("/admin/password", password, methods=["GET", "POST"]),
    ]
