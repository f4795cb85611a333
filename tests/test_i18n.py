"""Both languages are complete: every UI string has a Spanish translation."""

from __future__ import annotations

import re

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server import ROOT
from server.i18n import LOCALE_DIR

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted_ids() -> set[tuple[str | None, str]]:
    method_map = [("server/**.py", "python"), ("web/templates/**.html", "jinja2")]
    ids = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        ROOT, method_map, options_map={"web/templates/**.html": {"trim_blocks": "true"}}
    ):
        msgid = message if isinstance(message, str) else message[0]
        ids.add((context, msgid))
    return ids


def test_spanish_catalog_translates_every_ui_string():
    with open(LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh)
    # A plural entry is keyed by its singular, as the extractor reports it.
    translated = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id):
                  (m.string if isinstance(m.string, str) else all(m.string) and m.string[0])
                  for m in catalog if m.id}
    missing = [mid for mid in extracted_ids() if not translated.get(mid)]
    assert not missing, f"untranslated (run `make messages`, then translate): {missing}"
    for (_ctx, msgid), msgstr in translated.items():
        if isinstance(msgid, str) and msgstr:
            assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(msgstr)), msgid


def test_times_read_as_people_say_them_in_both_languages():
    from datetime import UTC, datetime

    from server.i18n import make_translators

    tr = make_translators()
    now = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)  # 11 AM in Portland
    tonight = "2026-11-29T20:00:00-08:00"
    pacific = "America/Los_Angeles"

    def plain(text: str) -> str:
        return re.sub(r"[\u00a0\u202f]", " ", str(text))

    assert plain(tr["en"].when(tonight, now, pacific)) == "Tonight, 8 PM (Pacific)"
    assert plain(tr["es"].when(tonight, now, pacific)) == "Hoy, 8:00 p. m. (hora del Pacífico)"
    assert plain(tr["en"].when("2026-11-30T18:30:00-08:00", now, pacific)) == (
        "Tomorrow, 6:30 PM (Pacific)")
    assert plain(tr["en"].when("2026-12-03T20:00:00-08:00", now, pacific)) == (
        "Thursday, 8 PM (Pacific)")
    nightly = {"freq": "daily", "time": "20:00", "tz": pacific}
    assert plain(tr["en"].schedule(nightly)) == "Every night at 8 PM (Pacific)"
    assert plain(tr["es"].schedule(nightly)) == "Todas las noches, 8:00 p. m. (hora del Pacífico)"
    weekly = {"freq": "weekly", "byday": ["MO", "FR"], "time": "18:00", "tz": "America/New_York"}
    assert plain(tr["en"].schedule(weekly)) == "Every Monday and Friday at 6 PM (Eastern)"
    assert plain(tr["es"].schedule(weekly)) == "Cada lunes y viernes, 6:00 p. m. (hora oriental)"


# Forms that only tú uses; imperatives such as "usa" are left out, as they also read as
# "Vigil usa" (third person).
TU_FORMS = re.compile(r"\b(tú|tu|tus|ti|te|contigo|puedes|quieres|tienes|estás|necesitas|"
                      r"elijas|vuelvas|enviaste|escribes|cuéntanos|revísalo|déjalo|tómate|"
                      r"imprímela|dóblala|llévala|ábrela|escríbete|inténtalo)\b", re.IGNORECASE)


def test_spanish_interface_speaks_usted():
    with open(LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh)
    tu = [m.string for m in catalog if m.id and isinstance(m.string, str)
          and TU_FORMS.search(m.string)]
    assert not tu, tu
