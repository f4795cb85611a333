"""Marking a record checked: the only way a public page comes to say "verified" or "reviewed".

An organizer who has checked a record against its sources says so here; the audit log keeps
who and when, and the public pages show that date (server.content.checks). Nothing else can
put a check date on a page: not a data file, not an import, not an edit form.
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiosqlite
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import audit, content
from server.i18n import DEFAULT, FULL, LANGUAGE_INFO
from server.render import card_text
from server.views.admin import admin_page, organizer, see_other
from server.views.base import services


async def index(request: Request) -> Response:
    """Every record with where it came from, when it was added and its last check."""
    db = services(request).db
    groups = []
    for entity, kind in content.CHECKABLE.items():
        table, label, name_column = kind.table, kind.label, kind.name_column
        done = await content.checks(db, entity)
        # Rights articles exist once per language; one check covers the article.
        lang_filter = " WHERE lang = 'en'" if entity == "rights" else ""
        rows = await db.execute(
            f"SELECT slug, {name_column} AS name, source, added FROM {table}{lang_filter} "
            "ORDER BY slug")
        groups.append((entity, label, [dict(r, check=done.get(r["slug"])) for r in rows]))
    return admin_page(request, "admin/checks.html", groups=groups,
                      translations=await translation_rows(request))


async def translation_texts(request: Request, lang: str) -> dict[str, tuple[str, str]]:
    """slug -> (name, hash) of what a native speaker checks in a language, with the English
    it translates: the card's side for its holder, and each rights article written in it."""
    svc = services(request)
    tr, english = svc.renderer.translators[lang], svc.renderer.translators[DEFAULT]
    texts = {"card": (tr.plain("Rights card"),
                      content.translation_hash(card_text(tr), card_text(english)))}
    originals = await content.english_bodies(svc.db)
    for r in await svc.db.execute(
            "SELECT slug, title, body FROM rights WHERE lang = ? ORDER BY ord, slug", (lang,)):
        texts[r["slug"]] = (r["title"],
                            content.translation_hash(r["body"], originals.get(r["slug"], "")))
    return texts


async def translation_rows(request: Request) -> list[dict]:
    """Each translation Vigil shows, with its last native speaker's check, if the text
    checked is still the one shown."""
    db = services(request).db
    rows = []
    for lang, info in LANGUAGE_INFO.items():
        if lang in FULL:
            continue
        checks = {r["slug"]: r for r in await db.execute(
            "SELECT slug, body_hash, checked_by, checked FROM translation_checks "
            "WHERE lang = ? ORDER BY id", (lang,))}
        for slug, (name, bound) in (await translation_texts(request, lang)).items():
            check = checks.get(slug)
            rows.append({"lang": lang, "language": info.name, "slug": slug, "name": name,
                         "check": check, "current": bool(check) and check["body_hash"] == bound})
    return rows


async def translation_check(request: Request) -> Response:
    """Record that the signed-in organizer, reading the language as a native speaker, checked
    this translation's current text against the English. Pages stop saying it is unchecked
    until the text changes; the audit log keeps who and when."""
    lang, slug = request.path_params["lang"], request.path_params["slug"]
    if lang not in LANGUAGE_INFO or lang in FULL:
        raise HTTPException(404, "Translations in that language are not checked here.")
    form = await request.form()
    if form.get("native") != "yes":
        return see_other(f"/admin/checks?error=native#translation-{lang}-{slug}")
    texts = await translation_texts(request, lang)
    if slug not in texts:
        raise HTTPException(404, "No translation with that address.")
    me = organizer(request)["name"]
    check = {"lang": lang, "body_hash": texts[slug][1],
             "checked": datetime.now(UTC).date().isoformat()}

    async def record(conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "INSERT INTO translation_checks (slug, lang, body_hash, checked_by, checked) "
            "VALUES (?, ?, ?, ?, ?)", (slug, lang, check["body_hash"], me, check["checked"]))
        await audit.record(conn, me, "check-translation", "rights", slug, None, check)

    await services(request).db.write_fn(record, public=True)
    return see_other(f"/admin/checks?done=Recorded+the+check+of+{slug}+({lang})."
                     f"#translation-{lang}-{slug}")


async def mark(request: Request) -> Response:
    """Record that the signed-in organizer checked this record today."""
    entity = request.path_params["entity"]
    slug = request.path_params["slug"]
    if entity not in content.CHECKABLE:
        raise HTTPException(404, "Records of that kind cannot be marked checked.")
    table, column = content.CHECKABLE[entity].table, content.CHECKABLE[entity].column
    me = organizer(request)["name"]
    today = datetime.now(UTC).date().isoformat()

    async def record(conn: aiosqlite.Connection) -> None:
        async with conn.execute(f"SELECT {column} FROM {table} WHERE slug = ? LIMIT 1",
                                (slug,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise HTTPException(404, f"No {entity} with that address.")
        await conn.execute(f"UPDATE {table} SET {column} = ? WHERE slug = ?", (today, slug))
        await audit.record(conn, me, content.CHECK_ACTION, entity, slug,
                           {column: row[0] or None}, {column: today})

    await services(request).db.write_fn(record, public=True)
    return see_other(f"/admin/checks?done=Marked+{entity}+{slug}+checked+today.#{entity}-{slug}")


async def attorney_review(request: Request) -> Response:
    """Record that an attorney reviewed a rights article's current text in one language:
    the page then names them, their organization and the date, until the text changes."""
    slug = request.path_params["slug"]
    form = await request.form()
    lang = str(form.get("lang", ""))
    attorney = " ".join(str(form.get("attorney", "")).split())[:120]
    organization = " ".join(str(form.get("organization", "")).split())[:160]
    reviewed = str(form.get("reviewed", ""))
    me = organizer(request)["name"]
    today = datetime.now(UTC).date()
    try:
        on = datetime.strptime(reviewed, "%Y-%m-%d").date()
    except ValueError:
        on = None
    if lang not in ("en", "es") or not attorney or not organization or on is None or on > today:
        return see_other(f"/admin/checks?error=attorney#rights-{slug}")

    async def record(conn: aiosqlite.Connection) -> None:
        async with conn.execute("SELECT body FROM rights WHERE slug = ? AND lang = ?",
                                (slug, lang)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise HTTPException(404, "No rights article with that address.")
        review = {"lang": lang, "attorney": attorney, "organization": organization,
                  "reviewed": on.isoformat(), "body_hash": content.body_hash(row[0])}
        await conn.execute(
            "INSERT INTO legal_reviews (slug, lang, attorney, organization, reviewed, "
            "body_hash, recorded_by, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (slug, lang, attorney, organization, on.isoformat(), review["body_hash"], me,
             content.iso_now()))
        await audit.record(conn, me, "record-attorney-review", "rights", slug, None, review)

    await services(request).db.write_fn(record, public=True)
    return see_other(f"/admin/checks?done=Recorded+the+attorney+review+of+{slug}+({lang})."
                     f"#rights-{slug}")


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/checks", index),
        Route("/admin/checks/rights/{slug:str}/attorney", attorney_review, methods=["POST"]),
        Route("/admin/checks/translations/{lang:str}/{slug:str}", translation_check,
              methods=["POST"]),
        Route("/admin/checks/{entity:str}/{slug:str}", mark, methods=["POST"]),
    ]
