"""The public suggestion form: a vigil, a resource or a correction, sent without signing in.

The public form has no session and sets no cookie: a signed, time-stamped hidden field proves
the form came from this server and how long it was on screen, a honeypot catches form-filling
bots, and an in-memory throttle keyed by a salted hash of the client address (never stored or
logged) limits how many one client sends. Suggestions keep only what was typed, with a spam
score, and wait for an organizer (views/admin_suggestions.py).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server import content, spam
from server.auth import FormStamp, SharedLimit, SpentStamps
from server.i18n import N_, Translator
from server.places import STATES
from server.suggestions import STAMP_MAX_AGE, clean, store
from server.views.admin import form_of
from server.views.base import lang_of, render_page, services

KINDS = ("vigil", "resource", "correction")
LIMITS = {"title": 140, "details": 4000, "city": 80, "contact": 200}
REQUIRED = ("kind", "title", "details")
SUGGESTIONS_PER_CLIENT = 5
SUGGESTION_WINDOW = 10 * 60
HONEYPOT = "website"


REQUIRED_MESSAGE = N_("Please fill this in.")
TOO_LONG = N_("Please use at most %(max)s characters (this has %(count)s).")
BAD_KIND = N_("Choose one of the options.")
BAD_STATE = N_("Choose a state from the list.")
BAD_LISTING = N_("We could not find the listing this correction is about.")
FIX_FIELDS = N_("Please check the fields marked below.")
STAMP_USED = N_("This form was already sent. We loaded a fresh one: check it and send it "
                "again if you meant to send another suggestion.")
BAD_STAMP = N_("This form expired or did not come from Vigil. We loaded a fresh one: check it "
               "and send it again.")
TOO_FAST = N_("Please take a moment to check your suggestion, then send it again.")
RATE_LIMITED = N_("You have sent several suggestions in a short time. Please try again in "
                  "%(minutes)s minutes.")
QUEUED = "queued for moderation"


def _stamp(request: Request) -> FormStamp:
    return services(request).suggest_stamp


def _spent(request: Request) -> SpentStamps:
    return services(request).suggest_spent


def _throttle(request: Request) -> SharedLimit:
    return services(request).suggest_throttle


def _translator(request: Request) -> Translator:
    return services(request).renderer.translators[lang_of(request)]


def _values(form: FormData) -> dict[str, str]:
    values = {
        "kind": clean(form.get("kind")),
        "title": clean(form.get("title")),
        "details": clean(form.get("details"), multiline=True),
        "city": clean(form.get("city")),
        "state": clean(form.get("state")).upper(),
        "contact": clean(form.get("contact")),
        "listing": clean(form.get("listing")),
    }
    if values["kind"] != "correction":
        values["listing"] = ""
    return values


async def _listing_for(request: Request, slug: str) -> dict | None:
    if not slug or len(slug) > 200:
        return None
    return await content.listing(services(request).db, slug)


async def _validate(request: Request, values: dict[str, str], tr: Translator) -> dict[str, str]:
    """Field name -> message, in the page's language; empty when everything is fine."""
    errors: dict[str, str] = {}
    for name in REQUIRED:
        if not values[name]:
            errors[name] = tr.plain(REQUIRED_MESSAGE)
    if values["kind"] and values["kind"] not in KINDS:
        errors["kind"] = tr.plain(BAD_KIND)
    for name, limit in LIMITS.items():
        if len(values[name]) > limit:
            errors[name] = tr.plain(TOO_LONG) % {"max": limit, "count": len(values[name])}
    if values["state"] and values["state"] not in STATES:
        errors["state"] = tr.plain(BAD_STATE)
    if values["listing"] and await _listing_for(request, values["listing"]) is None:
        errors["listing"] = tr.plain(BAD_LISTING)
    return errors


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


async def _form_page(
    request: Request, status: int, values: dict[str, str], stamp: str,
    errors: dict[str, str] | None = None, form_error: str | None = None,
) -> Response:
    svc = services(request)
    html = svc.renderer.render(
        "suggest.html", lang_of(request), request.url.path, request=request,
        values=values, stamp=stamp, errors=errors or {}, form_error=form_error,
        listing=await _listing_for(request, values.get("listing", "")),
        honeypot=HONEYPOT, limits=LIMITS,
    )
    return _no_store(HTMLResponse(html, status_code=status))


async def _refuse(
    request: Request, status: int, message: str, code: str, values: dict[str, str], stamp: str,
    errors: dict[str, str] | None = None, headers: dict[str, str] | None = None,
) -> Response:
    """The form again with what was typed and why it was not accepted (JSON for scripts)."""
    if _wants_json(request):
        body: dict[str, Any] = {"error": message, "code": code, "errors": errors or {}}
        if code in ("stamp", "stamp-used"):
            body["stamp"] = stamp
        response: Response = _no_store(JSONResponse(body, status_code=status))
    else:
        response = await _form_page(request, status, values, stamp, errors, message)
    response.headers.update(headers or {})
    return response


async def _accepted(request: Request, values: dict[str, str]) -> Response:
    if _wants_json(request):
        return _no_store(JSONResponse({"status": QUEUED}, status_code=201))
    svc = services(request)
    html = svc.renderer.render(
        "suggest_done.html", lang_of(request), request.url.path, request=request,
        suggestion=values, listing=await _listing_for(request, values["listing"]),
    )
    return _no_store(HTMLResponse(html, status_code=201))


async def suggest_form(request: Request) -> Response:
    """GET: the empty form (a correction when ?listing= names a listing). POST: a suggestion."""
    if request.method == "POST":
        return await _submit(request)
    listing = await _listing_for(request, request.query_params.get("listing", ""))
    values = dict.fromkeys(("title", "details", "city", "state", "contact"), "")
    values["kind"] = "correction" if listing else "vigil"
    values["listing"] = listing["slug"] if listing else ""
    return await render_page(
        request, "suggest.html", values=values, stamp=_stamp(request).issue(), errors={},
        form_error=None, listing=listing, honeypot=HONEYPOT, limits=LIMITS,
    )


async def _submit(request: Request) -> Response:
    form = await form_of(request)
    values = _values(form)
    tr = _translator(request)
    stamps = _stamp(request)
    throttle = _throttle(request)
    client = throttle.key_for_client(request.client.host if request.client else None)
    token = form.get("stamp")
    token = token if isinstance(token, str) else None

    async def limited() -> Response:
        wait = await throttle.retry_after(client) or 60
        minutes = max(1, (wait + 59) // 60)
        return await _refuse(
            request, 429, tr.plain(RATE_LIMITED) % {"minutes": minutes}, "rate-limited", values,
            token or stamps.issue(), headers={"Retry-After": str(wait)},
        )

    if await throttle.retry_after(client):
        return await limited()
    age = stamps.age(token, STAMP_MAX_AGE)
    if age is None:
        return await _refuse(request, 400, tr.plain(BAD_STAMP), "stamp", values, stamps.issue())
    assert token is not None
    spent = _spent(request)
    issued = time.time() - age
    if spent.is_spent(token, issued):
        return await _refuse(request, 400, tr.plain(STAMP_USED), "stamp-used", values,
                             stamps.issue())
    if clean(form.get(HONEYPOT)):
        # A bot filled the field people cannot see: thank it and keep nothing.
        spent.spend(token, issued)
        await throttle.take(client)
        return await _accepted(request, values)
    if age < services(request).settings.suggest_min_seconds:
        return await _refuse(request, 400, tr.plain(TOO_FAST), "too-fast", values, token)
    errors = await _validate(request, values, tr)
    if errors:
        return await _refuse(request, 400, tr.plain(FIX_FIELDS), "invalid", values, token, errors)
    # Checked again: the same stamp may have been sent twice at once while this one waited.
    if not spent.spend(token, issued):
        return await _refuse(request, 400, tr.plain(STAMP_USED), "stamp-used", values,
                             stamps.issue())

    points, reasons = spam.score(values["kind"], values["title"], values["details"],
                                 values["contact"])

    try:
        stored = await services(request).db.write_fn(
            lambda conn: store(conn, throttle, client, token, issued, values, points, reasons))
    except BaseException:
        spent.give_back(token)
        raise
    if stored is None:
        spent.give_back(token)
        return await limited()
    if not stored:
        return await _refuse(request, 400, tr.plain(STAMP_USED), "stamp-used", values,
                             stamps.issue())
    return await _accepted(request, values)


def routes() -> list[BaseRoute]:
    return [Route("/suggest", suggest_form, methods=["GET", "POST"], name="suggest")]
