"""Translations (Babel catalogs), localized dates, and the language of a request."""

from __future__ import annotations

import gettext as gettext_module
import io
from datetime import date, datetime
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import Markup, escape

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "es")
DEFAULT = "en"


def N_(message: str) -> str:  # noqa: N802 (the name gettext extraction looks for)
    """Mark a message for the catalog; it is translated where it is shown."""
    return message


def load_translations(lang: str) -> gettext_module.NullTranslations:
    """Compile the language's .po catalog in memory (no build step for .mo files)."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT or not po.exists():
        return gettext_module.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext_module.GNUTranslations(buf)


class Translator:
    """gettext for one language, returning escaped Markup with escaped arguments."""

    def __init__(self, lang: str, translations: gettext_module.NullTranslations):
        self.lang = lang
        self._t = translations

    def gettext(self, message: str, **params: object) -> Markup:
        text = Markup(escape(self._t.gettext(message)))  # noqa: S704 (escaped first)
        return text % params if params else text

    def pgettext(self, context: str, message: str, **params: object) -> Markup:
        text = Markup(escape(self._t.pgettext(context, message)))  # noqa: S704
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> Markup:
        text = Markup(escape(self._t.ngettext(singular, plural, n)))  # noqa: S704
        return text % {"num": n, **params}

    def plain(self, message: str) -> str:
        """The translation as plain text, for JSON, notifications and headers."""
        return self._t.gettext(message)

    def date(self, value: str | date | None, fmt: str = "medium") -> str:
        if not value:
            return ""
        if isinstance(value, str):
            if len(value) == 7:  # YYYY-MM
                return format_date(date.fromisoformat(value + "-01"), "MMMM y", locale=self.lang)
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            return format_datetime(value, fmt, tzinfo=value.tzinfo, locale=self.lang)
        return format_date(value, fmt, locale=self.lang)


def make_translators() -> dict[str, Translator]:
    return {lang: Translator(lang, load_translations(lang)) for lang in LANGUAGES}


def lang_prefix(lang: str) -> str:
    return "" if lang == DEFAULT else f"/{lang}"


def localize_path(path: str, lang: str) -> str:
    """The same page in another language: /rights -> /es/rights."""
    if lang == DEFAULT:
        return path
    return f"/{lang}" + ("/" if path == "/" else path)

