"""Translations (Babel catalogs), localized dates, and the language of a request."""

from __future__ import annotations

import functools
import gettext as gettext_module
import io
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import (
    format_date,
    format_datetime,
    format_skeleton,
    get_day_names,
    get_timezone_name,
)
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import Markup, escape

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "es")
DEFAULT = "en"
# Paths that exist only once, in no language; /es/<these> is a 404.
UNPREFIXED = ("/api/", "/admin", "/static/", "/sw.js", "/healthz", "/feed.atom", "/calendar.ics",
              "/offline-manifest.json")
# Evening starts here for "Tonight" and "Every night".
EVENING_HOUR = 17
_DAY_PATTERNS = {"en": "EEEE, MMMM d", "es": "EEEE d 'de' MMMM"}
# RRULE day codes and the weekday numbers of Python and Babel.
WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}


# Babel takes tens of microseconds per date or time it formats, and a state's list at a
# national day of action shows hundreds; the same few clocks, zones and days recur in every
# page, so each is formatted once per language.
@functools.lru_cache(maxsize=4096)
def _clock(lang: str, hour: int, minute: int) -> str:
    skeleton = "ha" if lang == "en" and minute == 0 else "hm"
    return format_skeleton(skeleton, datetime(2000, 1, 1, hour, minute), locale=lang)


@functools.lru_cache(maxsize=256)
def _zone(lang: str, tz: ZoneInfo) -> str:
    name = get_timezone_name(tz, "long", "generic", locale=lang)
    return name.removesuffix(" Time") if lang == "en" else name


@functools.lru_cache(maxsize=4096)
def _day(lang: str, day: date, pattern: str) -> str:
    return format_date(day, pattern, locale=lang)


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


    def clock(self, moment: datetime) -> str:
        """'8 PM' and '8:30 PM' in English, '8:00 p. m.' in Spanish (12-hour, as in the US)."""
        return _clock(self.lang, moment.hour, moment.minute)

    def zone(self, tz: ZoneInfo) -> str:
        """'Pacific' in English, 'hora del Pacífico' in Spanish."""
        return _zone(self.lang, tz)

    def when(self, value: str | datetime | None, now: datetime, tz: str | None = None) -> Markup:
        """A coming start as people say it: 'Tonight, 8 PM (Pacific)', 'Friday, 7 PM'.

        An ISO string carries only an offset, so the place's time zone comes separately."""
        if not value:
            return Markup("")
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        try:
            zone = ZoneInfo(tz) if tz else moment.tzinfo
        except (ZoneInfoNotFoundError, ValueError):
            zone = moment.tzinfo
        if moment.tzinfo is None or not isinstance(zone, ZoneInfo):
            return self.gettext("%(day)s, %(time)s", day=self.date(moment.date(), "full"),
                                time=self.clock(moment))
        moment = moment.astimezone(zone)
        local_now = now.astimezone(moment.tzinfo)
        days = (moment.date() - local_now.date()).days
        params = {"time": self.clock(moment), "zone": self.zone(moment.tzinfo)}
        if days == 0 and moment.hour >= EVENING_HOUR:
            return self.gettext("Tonight, %(time)s (%(zone)s)", **params)
        if days == 0:
            return self.gettext("Today, %(time)s (%(zone)s)", **params)
        if days == 1:
            return self.gettext("Tomorrow, %(time)s (%(zone)s)", **params)
        pattern = "EEEE" if 1 < days < 7 else _DAY_PATTERNS[self.lang]
        day = _day(self.lang, moment.date(), pattern)
        return self.gettext("%(day)s, %(time)s (%(zone)s)", day=day[:1].upper() + day[1:],
                            **params)

    def schedule(self, schedule: dict | None) -> Markup:
        """'Every night at 8 PM (Pacific)', 'Every Monday and Friday at 6 PM (Eastern)'."""
        if not schedule:
            return Markup("")
        try:
            tz = ZoneInfo(schedule["tz"])
            hour, minute = (int(p) for p in schedule["time"].split(":"))
        except (ZoneInfoNotFoundError, ValueError, KeyError):
            return Markup("")
        # Any date will do for the clock; a fixed one keeps the zone name stable.
        moment = datetime(2026, 1, 5, hour, minute, tzinfo=tz)
        params = {"time": self.clock(moment), "zone": self.zone(tz)}
        days = [d for d in schedule.get("byday") or [] if d in WEEKDAYS]
        if schedule.get("freq") == "weekly" and days:
            names = get_day_names("wide", locale=self.lang)
            listed = [names[WEEKDAYS[d]] for d in days]
            joined = (", ".join(listed[:-1]) + " " + str(self.gettext("and")) + " " + listed[-1]
                      if len(listed) > 1 else listed[0])
            return self.gettext("Every %(days)s at %(time)s (%(zone)s)", days=joined, **params)
        if hour >= EVENING_HOUR:
            return self.gettext("Every night at %(time)s (%(zone)s)", **params)
        return self.gettext("Every day at %(time)s (%(zone)s)", **params)


def make_translators() -> dict[str, Translator]:
    return {lang: Translator(lang, load_translations(lang)) for lang in LANGUAGES}


def lang_prefix(lang: str) -> str:
    return "" if lang == DEFAULT else f"/{lang}"


def localize_path(path: str, lang: str) -> str:
    """The same page in another language: /rights -> /es/rights."""
    if lang == DEFAULT:
        return path
    return f"/{lang}" + ("/" if path == "/" else path)

