"""Every language a full part of the site: its own addresses, every interface string, the
rights articles and the card, with a translation that says it is unchecked until a native
speaker checked it."""

from __future__ import annotations

import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server import ROOT
from server.i18n import FULL, LANGUAGE_INFO, LANGUAGES, LOCALE_DIR, localize_path
from tests import dbtools
from tests.admin_support import create_organizer, csrf_from, sign_in

NEW = [code for code in LANGUAGES if code not in FULL]
PAGES = ("/", "/alerts", "/legal", "/rights", "/rights/at-your-door", "/card", "/facilities",
         "/resources", "/about", "/suggest", "/search", "/open-data", "/offline",
         "/before-you-go", "/listings/portland-or-macadam")
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}")
# Where organizers work: their pages are in English and Spanish.
ORGANIZER_ONLY = ("admin", "server/accounts", "server/approvals", "server/bulk_import",
                  "server/listing_form", "server/content_forms", "server/content_kinds")


def test_the_site_has_the_languages_of_the_people_at_risk():
    assert set(LANGUAGES) >= {"en", "es", "ht", "pt", "vi", "zh-Hans", "ar", "fr", "ko", "ru"}
    names = {code: info.name for code, info in LANGUAGE_INFO.items()}
    assert names["ht"] == "Kreyòl Ayisyen" and names["ar"] == "العربية"
    assert names["zh-Hans"].startswith("中文") and names["pt"] == "Português"
    assert [code for code, info in LANGUAGE_INFO.items() if info.rtl] == ["ar"]


def public_messages() -> set[tuple[str | None, str]]:
    """Every message a visitor can see: the interface strings outside the organizer pages."""
    method_map = [("server/**.py", "python"), ("web/templates/**.html", "jinja2")]
    found = set()
    for file, _line, message, _comments, context in extract_from_dir(
            ROOT, method_map, options_map={"web/templates/**.html": {"trim_blocks": "true"}}):
        if not any(part in file for part in ORGANIZER_ONLY):
            found.add((context, message if isinstance(message, str) else message[0]))
    return found


@pytest.mark.parametrize("lang", NEW)
def test_every_interface_string_a_visitor_sees_is_translated(lang):
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh)
    translated = {}
    for m in catalog:
        if not m.id:
            continue
        key = (m.context, m.id[0] if isinstance(m.id, tuple) else m.id)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        translated[key] = strings if all(strings) else None
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        for text in strings:
            # The same placeholders, or a page would fail or lose a name or a number.
            assert set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(" ".join(ids))), (
                lang, m.id, text)
            assert set(PLACEHOLDER.findall(ids[0])) <= set(PLACEHOLDER.findall(text)) or (
                len(ids) > 1), (lang, m.id, text)
    missing = sorted(str(mid) for mid in public_messages()
                     if not translated.get(mid))
    assert not missing, f"{lang}: untranslated: {missing}"


def test_every_page_in_every_language_says_its_language(client):
    for lang in LANGUAGES:
        for path in PAGES:
            url = localize_path(path, lang)
            res = client.get(url)
            assert res.status_code == 200, url
            html = res.text
            rtl = ' dir="rtl"' if LANGUAGE_INFO[lang].rtl else ""
            assert f'<html lang="{lang}"{rtl}>' in html, url
            # Alternates for every language, and a picker naming each in itself.
            for code, info in LANGUAGE_INFO.items():
                assert f'hreflang="{code}" href="http://testserver' \
                       f'{localize_path(path, code)}"' in html, (url, code)
                assert re.search(rf'<a href="{re.escape(localize_path(path, code))}" '
                                 rf'hreflang="{code}" lang="{code}"[^>]*>{re.escape(info.name)}'
                                 r"</a>", html), (url, code)


def test_no_english_interface_text_is_left_on_a_translated_page(client):
    english = client.get("/legal").text
    # Interface strings of the English page (between tags, words only), none of which may
    # appear on the same page in another language, except names and numbers.
    words = {t.strip() for t in re.findall(r">([^<>{}]{12,})<", english)}
    words = {w for w in words if re.search(r"[a-z]{3} [a-z]{3}", w)}
    assert len(words) > 10
    for lang in NEW:
        page = client.get(localize_path("/legal", lang)).text
        main = page.split('<main id="main">', 1)[1].split("</main>", 1)[0]
        interface = {w for w in words if w in main and not re.search(r"\d", w)}
        # Organizations describe themselves in English or Spanish; their names stay.
        leftovers = {w for w in interface if "<" not in w and w not in client.get(
            "/api/v1/contacts").text}
        assert not leftovers, (lang, leftovers)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_card_speaks_to_the_agent_in_english_in_every_language(client, lang):
    html = client.get(localize_path("/card", lang)).text
    agent = html.split('<section class="side agent" lang="en" dir="ltr"', 1)[1].split(
        "</section>", 1)[0]
    assert "I am using my right to remain silent under the Fifth Amendment" in agent
    assert "I want to speak with a lawyer." in agent
    holder = html.split('<section class="side holder"', 1)[1].split("</section>", 1)[0]
    if lang != "en":
        assert "Stay silent. Never lie or show false papers." not in holder


def test_a_translation_says_it_is_unchecked_until_a_native_speaker_checks_it(settings, client):
    create_organizer(settings, "ana")
    for lang in NEW:
        for path in ("/rights/at-your-door", "/card"):
            html = client.get(localize_path(path, lang)).text
            notice = html.split('<p class="notice" role="note">', 1)
            assert len(notice) == 2, (lang, path)
            # In the page's language, with the English and Spanish versions linked.
            assert "checked by a native speaker" not in notice[1].split("</p>")[0]
            assert f'href="{path}" hreflang="en"' in notice[1]
            assert f'href="/es{path}" hreflang="es"' in notice[1]
    for lang in FULL:
        assert 'role="note"' not in client.get(localize_path("/card", lang)).text

    sign_in(client, "ana")
    checks = client.get("/admin/checks").text
    csrf = csrf_from(checks)
    assert 'action="/admin/checks/translations/ht/card"' in checks
    # The organizer must say they read the language natively: nothing is recorded otherwise.
    res = client.post("/admin/checks/translations/ht/card", data={"csrf": csrf},
                      follow_redirects=False)
    assert res.status_code == 303 and "error=native" in res.headers["location"]
    assert 'role="note"' in client.get("/ht/card").text
    for slug in ("card", "at-your-door"):
        res = client.post(f"/admin/checks/translations/ht/{slug}",
                          data={"csrf": csrf, "native": "yes"}, follow_redirects=False)
        assert res.status_code == 303
    assert 'role="note"' not in client.get("/ht/card").text
    assert 'role="note"' not in client.get("/ht/rights/at-your-door").text
    # Only Haitian Creole was checked; and only these two texts.
    assert 'role="note"' in client.get("/fr/card").text
    assert 'role="note"' in client.get("/ht/rights/remain-silent").text
    log = client.app.state.vigil.db

    async def audit_rows():
        return await log.execute(
            "SELECT organizer, entity_key FROM audit WHERE action = 'check-translation'")

    rows = client.portal.call(audit_rows)
    assert {(r["organizer"], r["entity_key"]) for r in rows} == {("ana", "card"),
                                                                ("ana", "at-your-door")}

    # A change to the text brings the notice back: the check was of the old text.
    async def edit():
        await log.write("UPDATE rights SET body = body || ' Nouvo.' WHERE slug = 'at-your-door' "
                        "AND lang = 'ht'", public=True)

    client.portal.call(edit)
    assert 'role="note"' in client.get("/ht/rights/at-your-door").text
    # So does a change to the English it translates, once checked again.
    res = client.post("/admin/checks/translations/ht/at-your-door",
                      data={"csrf": csrf, "native": "yes"}, follow_redirects=False)
    assert res.status_code == 303
    assert 'role="note"' not in client.get("/ht/rights/at-your-door").text

    async def correct_the_english():
        await log.write("UPDATE rights SET body = body || ' Corrected.' WHERE slug = "
                        "'at-your-door' AND lang = 'en'", public=True)

    client.portal.call(correct_the_english)
    assert 'role="note"' in client.get("/ht/rights/at-your-door").text


def test_a_visitors_offline_bundle_holds_their_languages_only(client):
    manifest = client.get("/offline-manifest.json?langs=ht").json()
    assert manifest["langs"] == ["ht"]
    urls = set(manifest["urls"])
    assert {"/ht/", "/ht/card", "/ht/legal", "/ht/offline", "/ht/rights/at-your-door",
            "/ht/manifest.webmanifest"} <= urls
    assert not [u for u in urls if u.startswith(("/es/", "/fr/")) or u == "/legal"]
    both = client.get("/offline-manifest.json?langs=ar,en").json()
    assert both["langs"] == ["en", "ar"]  # the site's order
    assert "/legal" in both["urls"] and "/ar/legal" in both["urls"]
    # No languages named, or none the site has: English and Spanish, as before.
    assert client.get("/offline-manifest.json?langs=xx").json()["langs"] == ["en", "es"]


def test_the_installed_app_is_named_in_its_language(client):
    ar = client.get("/ar/manifest.webmanifest").json()
    assert ar["lang"] == "ar" and ar["dir"] == "rtl" and ar["start_url"] == "/ar/"
    assert ar["name"] != client.get("/manifest.webmanifest").json()["name"]
    assert client.get("/vi/manifest.webmanifest").json()["dir"] == "ltr"


def test_dates_and_times_are_written_as_each_language_writes_them():
    from datetime import UTC, datetime

    from server.i18n import make_translators

    tr = make_translators()
    now = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    later = "2026-12-25T19:30:00-08:00"
    pacific = "America/Los_Angeles"
    assert "desanm" in tr["ht"].when(later, now, pacific)  # not Babel's "M12"
    assert "vandredi" in tr["ht"].when(later, now, pacific).lower()
    assert "19:30" in tr["fr"].when(later, now, pacific)
    assert "décembre" in tr["fr"].when(later, now, pacific)
    assert "12月25日" in tr["zh-Hans"].when(later, now, pacific)
    assert "дек" in tr["ru"].date("2026-12-06")
    assert "desanm" in tr["ht"].date("2026-12-06")
    weekly = {"freq": "weekly", "byday": ["MO", "FR"], "time": "18:00", "tz": pacific}
    assert "lendi ak vandredi" in tr["ht"].schedule(weekly)
    assert "星期一和星期五" in tr["zh-Hans"].schedule(weekly)


def test_language_prefixes_route_like_spanish(client):
    assert client.get("/zh-Hans/").status_code == 200
    assert client.get("/zh-Hans").status_code == 200
    assert client.get("/es/pt/legal").status_code == 404
    assert client.get("/pt/admin/login").status_code == 404
    assert client.get("/pt/api/v1/listings").status_code == 404


def test_init_brings_a_new_languages_articles_into_an_existing_database(settings, tmp_path):
    import asyncio

    from server.cli import _init

    assert "ready" in asyncio.run(_init(settings))

    async def drop_and_edit() -> None:
        async with dbtools.database(settings.db_path) as db:
            await db.write("DELETE FROM rights WHERE lang = 'ko'", public=True)
            await db.write("UPDATE rights SET title = 'Edited by an organizer' "
                           "WHERE slug = 'at-your-door' AND lang = 'fr'", public=True)

    asyncio.run(drop_and_edit())
    message = asyncio.run(_init(settings))
    assert "loaded 5 rights articles in new languages" in message

    async def stored() -> tuple[int, str]:
        async with dbtools.database(settings.db_path) as db:
            return (await db.scalar("SELECT COUNT(*) FROM rights WHERE lang = 'ko'"),
                    await db.scalar("SELECT title FROM rights WHERE slug = 'at-your-door' "
                                    "AND lang = 'fr'"))

    assert asyncio.run(stored()) == (5, "Edited by an organizer")
    assert asyncio.run(_init(settings)).endswith("is up to date")


def test_a_vigil_starting_soon_reads_in_every_language(settings):
    """"Starts in 2 hours" and alert times go through Babel with each language's locale
    (pt_BR, zh_Hans), not its address prefix."""
    from datetime import UTC, datetime, timedelta

    from starlette.testclient import TestClient

    from server.app import create_app
    from tests.test_now_means_now import add_listing

    with TestClient(create_app(settings), base_url="http://testserver") as client:
        soon = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
        add_listing(settings, "soon-vigil", "Portland", "OR", soon.isoformat(), None, None)
        for lang in LANGUAGES:
            for path in ("/", "/listings/soon-vigil", "/?state=OR"):
                res = client.get(localize_path(path, lang))
                assert res.status_code == 200, (lang, path)
