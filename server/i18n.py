"""Translations (Babel catalogs), localized dates, and the language of a request."""

from __future__ import annotations

import functools
import gettext as gettext_module
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import (
    format_date,
    format_datetime,
    format_skeleton,
    format_time,
    get_day_names,
    get_timezone_name,
)
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import Markup, escape

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"
# The languages every record is written in (title_es, description_es, ...); the others
# translate the interface and the rights articles, and show these where a record has no
# text of theirs.
FULL = ("en", "es")
_HEADER_LANGUAGE = re.compile(rb'^"Language: ([A-Za-z_]+)\\n"$', re.MULTILINE)


@dataclass(frozen=True)
class Language:
    """A language of the site: `code` is its address prefix (/pt, /zh-Hans), `locale` the
    Babel locale its catalog names (pt_BR, zh_Hans), `name` what its speakers call it."""

    code: str
    locale: str
    name: str
    rtl: bool


def _language(code: str, locale: str) -> Language:
    parsed = Locale.parse(locale)
    # "Português", not "português (Brasil)": the picker names the language, not the variant,
    # except where the script is the point ("中文 (简体)").
    bare = Locale(parsed.language, script=parsed.script) if parsed.script else Locale(
        parsed.language)
    name = bare.get_display_name(bare) or code
    return Language(code, locale, name[:1].upper() + name[1:], parsed.text_direction == "rtl")


def discover(locale_dir: Path = LOCALE_DIR) -> dict[str, Language]:
    """English, then every language with a catalog at <locale_dir>/<code>/LC_MESSAGES/
    messages.po: Spanish first, the rest in the order of their codes. Adding a language is
    adding its catalog (and its rights articles in data/rights): no code changes."""
    found = {DEFAULT: _language(DEFAULT, DEFAULT)}
    codes = sorted(p.parent.parent.name for p in locale_dir.glob("*/LC_MESSAGES/messages.po"))
    for code in sorted(codes, key=lambda c: (c != "es", c)):
        head = (locale_dir / code / "LC_MESSAGES" / "messages.po").read_bytes()[:4096]
        named = _HEADER_LANGUAGE.search(head)
        found[code] = _language(code, named.group(1).decode() if named else code)
    return found


LANGUAGE_INFO = discover()
LANGUAGES = tuple(LANGUAGE_INFO)
# Paths that exist only once, in no language; /es/<these> is a 404.
UNPREFIXED = ("/api/", "/admin", "/sms/", "/static/", "/sw.js", "/healthz", "/feed.atom",
              "/calendar.ics", "/offline-manifest.json")
# Evening starts here for "Tonight" and "Every night".
EVENING_HOUR = 17
# English and Spanish read US clocks (8 PM, 8:00 p. m.); the others their own locale's.
_TWELVE_HOUR = ("en", "es")
# RRULE day codes and the weekday numbers of Python and Babel.
WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}


# Babel takes tens of microseconds per date or time it formats, and a state's list at a
# national day of action shows hundreds; the same few clocks, zones and days recur in every
# page, so each is formatted once per language.
@functools.lru_cache(maxsize=4096)
def _clock(lang: str, hour: int, minute: int) -> str:
    moment = datetime(2000, 1, 1, hour, minute)
    if lang not in _TWELVE_HOUR:
        return format_time(moment, "short", locale=locale_of(lang))
    skeleton = "ha" if lang == "en" and minute == 0 else "hm"
    return format_skeleton(skeleton, moment, locale=lang)


@functools.lru_cache(maxsize=256)
def _zone(lang: str, tz: ZoneInfo) -> str:
    name = get_timezone_name(tz, "long", "generic", locale=locale_of(lang))
    return name.removesuffix(" Time") if lang == "en" else name


@functools.lru_cache(maxsize=64)
def day_pattern(locale: str) -> str:
    """A weekday, day and month as the locale writes them, with the weekday in full:
    "Friday, December 25", "vendredi 25 décembre", "12月25日星期五"."""
    if locale in _DAY_PATTERNS:
        return _DAY_PATTERNS[locale]
    skeleton = Locale.parse(locale).datetime_skeletons["MMMMEd"]
    return re.sub(r"E+", "EEEE", skeleton.pattern)


@functools.lru_cache(maxsize=64)
def has_calendar(locale: str) -> bool:
    """Whether Babel's data for the locale names months and days (Haitian Creole's, for
    one, gives only "M12" and English day names)."""
    return Locale.parse(locale).months["format"]["wide"][1] != "M01"


_DAY_PATTERNS = {"en": "EEEE, MMMM d", "es": "EEEE d 'de' MMMM"}
# Day and month names by number, as calendar.po of a language without calendar data in
# Babel translates them (msgctxt "weekday" and "month").
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")


def locale_of(lang: str) -> str:
    """The Babel locale of a site language ("pt" -> "pt_BR")."""
    info = LANGUAGE_INFO.get(lang)
    return info.locale if info else lang


def N_(message: str) -> str:  # noqa: N802 (the name gettext extraction looks for)
    """Mark a message for the catalog; it is translated where it is shown."""
    return message


def load_translations(lang: str, domain: str = "messages") -> gettext_module.NullTranslations:
    """Compile one of the language's .po catalogs in memory (no build step for .mo files)."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    if lang == DEFAULT or not po.exists():
        return gettext_module.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale_of(lang))
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext_module.GNUTranslations(buf)


class Translator:
    """gettext for one language, returning escaped Markup with escaped arguments."""

    def __init__(self, lang: str, translations: gettext_module.NullTranslations):
        self.lang = lang
        self.locale = locale_of(lang)
        self._t = translations
        self._days: dict[date, str] = {}

    def weekday_name(self, weekday: int) -> str:
        if has_calendar(self.locale):
            return get_day_names("wide", locale=self.locale)[weekday]
        return side_catalog(self.lang, "calendar").pgettext("weekday", _WEEKDAY_NAMES[weekday])

    def _calendar_date(self, value: date, weekday: bool = False) -> str:
        """A date in a language Babel has no month names for: "vandredi 25 desanm 2026"."""
        month = side_catalog(self.lang, "calendar").pgettext("month", _MONTH_NAMES[value.month - 1])
        text = f"{value.day} {month}"
        return f"{self.weekday_name(value.weekday())} {text}" if weekday else text

    def day(self, value: date, weekday_only: bool = False) -> str:
        """"Friday, December 25" (or "Friday" alone), in the language's own order."""
        if weekday_only:
            return self.weekday_name(value.weekday())
        if not has_calendar(self.locale):
            return self._calendar_date(value, weekday=True)
        found = self._days.get(value)
        if found is None:
            found = self._days[value] = format_date(value, day_pattern(self.locale),
                                                    locale=self.locale)
        return found

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
        if isinstance(value, str) and not has_calendar(self.locale):
            value = (date.fromisoformat(value + "-01") if len(value) == 7 else
                     datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value))
        if not has_calendar(self.locale) and isinstance(value, date):
            day = value.date() if isinstance(value, datetime) else value
            text = f"{self._calendar_date(day)} {day.year}"
            return f"{text}, {self.clock(value)}" if isinstance(value, datetime) else text
        if isinstance(value, str):
            if len(value) == 7:  # YYYY-MM
                return format_skeleton("yMMMM", date.fromisoformat(value + "-01"),
                                       locale=self.locale)
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            return format_datetime(value, fmt, tzinfo=value.tzinfo, locale=self.locale)
        return format_date(value, fmt, locale=self.locale)

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
        day = self.day(moment.date(), weekday_only=1 < days < 7)
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
            listed = [self.weekday_name(WEEKDAYS[d]) for d in days]
            if self.lang in FULL or not has_calendar(self.locale):
                joined = (", ".join(listed[:-1]) + " " + str(self.gettext("and")) + " "
                          + listed[-1] if len(listed) > 1 else listed[0])
            else:
                joined = format_list(listed, locale=self.locale)
            return self.gettext("Every %(days)s at %(time)s (%(zone)s)", days=joined, **params)
        if hour >= EVENING_HOUR:
            return self.gettext("Every night at %(time)s (%(zone)s)", **params)
        return self.gettext("Every day at %(time)s (%(zone)s)", **params)


@functools.cache
def side_catalog(lang: str, domain: str) -> gettext_module.NullTranslations:
    """A catalog beside the language's messages.po that `make messages` leaves alone:
    data.po (Vigil's data, keyed by the English text it translates) and calendar.po (month
    and weekday names, for a language Babel has none for)."""
    return load_translations(lang, domain)


def pick(text: dict[str, str] | None, lang: str) -> str | None:
    """A record's text ({"en": ..., "es": ...}) in a language: its own, else the data
    catalog's translation of the English, else the English. A translation is of one English
    text: when the English changes, the page shows the new English until it is translated."""
    if not text:
        return None
    if text.get(lang):
        return text[lang]
    english = text.get(DEFAULT)
    return side_catalog(lang, "data").gettext(english) if english else None


def make_translators() -> dict[str, Translator]:
    return {lang: Translator(lang, load_translations(lang)) for lang in LANGUAGES}


def lang_prefix(lang: str) -> str:
    return "" if lang == DEFAULT else f"/{lang}"


def split_lang(path: str) -> tuple[str, str]:
    """"/pt/legal" -> ("pt", "/legal"); a path with no language prefix is English."""
    first = path[1:].partition("/")[0]
    if first != DEFAULT and first in LANGUAGE_INFO:
        return first, path[len(first) + 1:] or "/"
    return DEFAULT, path


def localize_path(path: str, lang: str) -> str:
    """The same page in another language: /rights -> /es/rights."""
    if lang == DEFAULT:
        return path
    return f"/{lang}" + ("/" if path == "/" else path)

