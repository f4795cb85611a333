"""Message payloads: what a phone shows for a new listing or an organizer's alert.

A payload is a Declarative Web Push message (W3C Push API; WebKit calls the magic number
8030 after RFC 8030), so Safari 18.4+ shows it with no service worker running; Vigil's
service worker shows the same JSON elsewhere ("mutable" lets it). Each message carries a
payload in every language of server.i18n.LANGUAGES; the sender picks one per subscriber.

An organizer's alert may be of a kind (ALERT_KINDS): its title is a phrase translated ahead
of time into every language, filled in with the place and time the organizer gave, and the
organizer's own words (in English, and Spanish when written) follow it.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import gettext
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from server.content import end_moment
from server.i18n import (
    DEFAULT,
    LANGUAGES,
    N_,
    UNPREFIXED,
    Translator,
    load_translations,
    localize_path,
)
from server.places import STATES, state_name
from server.push.subscriptions import TOPIC_ALL, TOPIC_URGENT, TOPICS
from server.vapid import b64url

MAX_TTL = 28 * 24 * 60 * 60  # 2419200: what the big push services keep a message at most
MAX_PAYLOAD = 3072  # JSON bytes; aes128gcm leaves 3993 of the 4096 a push service accepts
URGENCIES = ("very-low", "low", "normal", "high")
DECLARATIVE_PUSH = 8030

_TOPIC_HEADER_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


@functools.cache
def _catalog(lang: str) -> gettext.NullTranslations:
    return load_translations(lang)


@functools.cache
def translator(lang: str) -> Translator:
    """The language's Translator (its dates and times), outside any request."""
    return Translator(lang, _catalog(lang))


def _say(lang: str, message: str, **params: str) -> str:
    text = _catalog(lang).gettext(message)
    return text % params if params else text


@dataclass(frozen=True)
class Message:
    """One notification and who gets it: the subscribers of any of its topics."""

    payload: dict  # English
    topics: list[str]
    ttl: int  # seconds a push service may keep it for a device that is offline
    urgency: str
    topic_header: str  # RFC 8030 Topic: a newer message with the same one replaces it
    payload_es: dict | None = None  # for Spanish subscribers; without it they get English
    # For subscribers in the other languages, by code; without one they get English.
    payloads: Mapping[str, dict] = field(default_factory=dict)

    @classmethod
    def in_languages(cls, payloads: Mapping[str, dict], topics: list[str], ttl: int,
                     urgency: str, topic_header: str) -> Message:
        """A message from its payload in each language (English required)."""
        return cls(payloads[DEFAULT], topics, ttl, urgency, topic_header,
                   payload_es=payloads.get("es"),
                   payloads={lang: p for lang, p in payloads.items()
                             if lang not in (DEFAULT, "es")})

    def payload_for(self, lang: str) -> dict:
        """The payload a subscriber in this language gets."""
        if lang == "es":
            return self.payload_es if self.payload_es is not None else self.payload
        return self.payloads.get(lang, self.payload)

    def each_payload(self, change: Callable[[dict], dict]) -> Message:
        """The same message with change() applied to the payload of every language."""
        return dataclasses.replace(
            self, payload=change(self.payload),
            payload_es=change(self.payload_es) if self.payload_es is not None else None,
            payloads={lang: change(p) for lang, p in self.payloads.items()})

    def checked_json(self, lang: str = "en", message_id: str | None = None) -> bytes:
        """The payload as JSON after checking every field, or ValueError naming the field;
        with message_id, carrying it as notification.data.id (see new_message_id)."""
        payload = self.payload_for(lang)
        check_declarative(payload)
        if message_id is not None:
            if not _TOPIC_HEADER_RE.fullmatch(message_id):
                raise ValueError("message_id must be 1-32 base64url characters")
            # In the notification's own data member: the declarative format's place for
            # the site's data, which a browser showing the message itself leaves alone.
            payload = {**payload, "notification": {**payload["notification"],
                                                   "data": {"id": message_id}}}
        if not self.topics or any(t not in TOPICS for t in self.topics):
            raise ValueError(f"a message needs known topics, got {self.topics!r}")
        if self.urgency not in URGENCIES:
            raise ValueError(f"urgency must be one of {URGENCIES}")
        if not _TOPIC_HEADER_RE.fullmatch(self.topic_header):
            raise ValueError("topic_header must be 1-32 base64url characters")
        data = _payload_json(payload)
        if len(data) > MAX_PAYLOAD:
            raise ValueError(f"payload is {len(data)} bytes, more than {MAX_PAYLOAD}")
        return data


def new_message_id() -> str:
    """An id for one message, the same in every copy of it sent to every subscriber.

    The server sends at least once (a delivery on the wire when its sender died goes
    again), so the service worker shows a message only if it has not shown that id before.
    A correction or retraction is a new message with a new id. Random rather than counted,
    so a database restored from a backup cannot reuse an id a phone has already seen.
    """
    return b64url(os.urandom(9))


def check_declarative(payload: object) -> None:
    """ValueError naming the member unless payload is a declarative push message as the
    Push API's parser reads it (and as Vigil's service worker reads it)."""
    if not isinstance(payload, dict):
        raise ValueError("payload must be a dict")
    if payload.get("web_push") != DECLARATIVE_PUSH:
        raise ValueError(f"payload['web_push'] must be {DECLARATIVE_PUSH}")
    notification = payload.get("notification")
    if not isinstance(notification, dict):
        raise ValueError("payload['notification'] must be a dict")
    for key in ("title", "body", "navigate", "tag", "lang"):
        if not isinstance(notification.get(key), str):
            raise ValueError(f"notification[{key!r}] must be a string")
    if not notification["title"]:
        raise ValueError("notification['title'] must not be empty")
    if not re.match(r"https?://[^/\s]+(/|$)", notification["navigate"]):
        raise ValueError("notification['navigate'] must be an absolute http(s) URL")
    if notification["lang"] not in LANGUAGES:
        raise ValueError(f"notification['lang'] must be one of {LANGUAGES}")
    for key in ("requireInteraction", "renotify", "silent"):
        if key in notification and not isinstance(notification[key], bool):
            raise ValueError(f"notification[{key!r}] must be a bool")
    if payload.get("mutable") is not True:
        raise ValueError("payload['mutable'] must be true, so the service worker sees it")
    if not isinstance(payload.get("urgent"), bool):
        raise ValueError("payload['urgent'] must be a bool")


def _payload_json(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def topic_header_for(tag: str) -> str:
    """An RFC 8030 Topic (<= 32 base64url characters) that is the same for every version
    of an item, so a newer notification replaces a queued older one."""
    if _TOPIC_HEADER_RE.fullmatch(tag):
        return tag
    return b64url(hashlib.sha256(tag.encode("utf-8")).digest())[:32]


def same_origin_url(url: str | None, base_url: str) -> str | None:
    """A path on this site for a same-origin path or absolute URL under base_url, else None."""
    if not url or not isinstance(url, str) or len(url) > 1000:
        return None
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in url):
        return None
    base = base_url.rstrip("/")
    if url.lower().startswith(base.lower()):
        rest = url[len(base):]
        if rest == "":
            return "/"
        if rest[0] in "/?":
            url = rest if rest[0] == "/" else "/" + rest
    if url.startswith("/") and not url.startswith("//"):
        return url
    return None


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def _one_line(text: str) -> str:
    return " ".join(str(text or "").split())


def build_payload(title: str, body: str, navigate: str, tag: str, urgent: bool,
                  lang: str = "en") -> dict:
    """The declarative push message, clipped so the encrypted message stays well under 4 KB.

    Urgent calls stay on screen until dismissed and alert again when corrected; the tag is
    the same for every version of an item, so a correction replaces the notification.
    """
    notification = {
        "title": _clip(_one_line(title), 120),
        "body": _clip(str(body or ""), 1000),
        "navigate": navigate,
        "tag": tag,
        "lang": lang,
        "dir": "ltr",
        "silent": False,
    }
    if urgent:
        notification["requireInteraction"] = True
        notification["renotify"] = True
    payload = {"web_push": DECLARATIVE_PUSH, "notification": notification, "mutable": True,
               "urgent": bool(urgent)}
    while len(_payload_json(payload)) > MAX_PAYLOAD - 64 and len(notification["body"]) > 40:
        # non-ASCII text can take 3 bytes a character (and JSON escapes more)
        notification["body"] = _clip(notification["body"], len(notification["body"]) * 2 // 3)
    return payload


def absolute_url(path: str, base_url: str) -> str:
    """A path on this site as the absolute URL a notification opens."""
    return base_url.rstrip("/") + (path if path.startswith("/") else "/" + path)


def _ttl_until(moment: datetime | None, default: int, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    if moment is None or moment <= now:
        return default
    return max(60, min(int((moment - now).total_seconds()), MAX_TTL))


_NEW_LISTING = {
    "vigil": N_("New vigil in %(place)s: %(title)s"),
    "occupation": N_("New occupation in %(place)s: %(title)s"),
    "rally": N_("New rally in %(place)s: %(title)s"),
    "action": N_("New action in %(place)s: %(title)s"),
}


def _localized(value: object, lang: str) -> str:
    if isinstance(value, dict):
        value = value.get(lang) or value.get("en")
    return str(value or "")


def listing_message(listing: dict, base_url: str, *, now: datetime | None = None) -> Message:
    """The announcement of a newly published listing."""
    state = str(listing.get("state") or "").upper()
    place = ", ".join(p for p in (_one_line(listing.get("city") or ""), state) if p)
    slug = str(listing["slug"])
    tag = f"listing-{slug}"
    payloads = {}
    for lang in LANGUAGES:
        kind = str(listing.get("kind") or "vigil")
        title = _say(lang, _NEW_LISTING.get(kind, _NEW_LISTING["vigil"]), place=place,
                     title=_one_line(_localized(listing.get("title"), lang)))
        body_parts = []
        starts = str(listing.get("starts") or "")
        if starts:
            body_parts.append(_say(lang, N_("Starts %(when)s"),
                                   when=starts[:16].replace("T", " ")))
        if listing.get("address"):
            body_parts.append(_one_line(listing["address"]))
        description = _localized(listing.get("description"), lang)
        if description:
            body_parts.append(description)
        path = localize_path(f"/listings/{slug}", lang)
        payloads[lang] = build_payload(title, " · ".join(body_parts),
                                       absolute_url(path, base_url), tag, False, lang)
    topics = [TOPIC_ALL] + ([f"state:{state}"] if state in STATES else [])
    ttl = _ttl_until(end_moment(listing.get("starts")), 24 * 3600, now)
    return Message.in_languages(payloads, topics, ttl, "normal", topic_header_for(tag))


# Alert kinds: the title phones show, translated ahead of time into every language and
# filled in with the organizer's place (and, for some, time); the organizer's own words
# follow it. The place is a name people know, not translated.
ALERT_KINDS = {
    "urgent": N_("Urgent: come to %(place)s now"),
    "rapid_response": N_("Rapid response needed: %(place)s"),
    "new_vigil": N_("New vigil: %(place)s, %(time)s"),
    "cancelled": N_("Cancelled: %(place)s, %(time)s"),
    "all_clear": N_("All clear: %(place)s"),
}
TIMED_KINDS = frozenset({"new_vigil", "cancelled"})
# Kinds that always go out as urgent calls (to everyone who asked for them, and they stay on
# screen).
URGENT_KINDS = frozenset({"urgent", "rapid_response"})
# The languages organizers write an alert's own words in.
WRITTEN = (DEFAULT, "es")
MORE_DETAILS = N_("More details in English and Spanish:")


@dataclass(frozen=True)
class AlertWords:
    """An alert's words for a reader of one language: the title, and the organizers' own
    text as (language, text) paragraphs, after `lead` when they are in other languages."""

    title: str
    title_lang: str
    details: tuple[tuple[str, str], ...] = ()
    lead: str = ""

    def body(self) -> str:
        """The text as a notification's body: the lead, then each paragraph."""
        text = "\n\n".join(words for _, words in self.details)
        return f"{self.lead}\n{text}" if self.lead else text


def kind_title(alert: Mapping, lang: str, now: datetime | None = None) -> tuple[str, str]:
    """(title, its language): the kind's phrase in lang, with the place and the time told in
    lang; in English when lang's catalog does not have the phrase yet."""
    phrase = ALERT_KINDS[alert["kind"]]
    if lang != DEFAULT and _catalog(lang).gettext(phrase) == phrase:
        lang = DEFAULT
    params = {"place": _one_line(alert.get("place") or "")}
    if alert["kind"] in TIMED_KINDS:
        when = translator(lang).when(alert.get("at"), now or datetime.now(UTC), alert.get("tz"))
        params["time"] = when.unescape()
    return _say(lang, phrase, **params), lang


def alert_words(alert: Mapping, lang: str, now: datetime | None = None) -> AlertWords:
    """The alert for a reader of lang: a kind's phrase in lang, or the organizers' title in
    lang when they wrote one (else in English); their text in lang when they wrote it, else
    in English, and in English and Spanish after a lead in lang for every other language."""
    english = str(alert.get("body") or "").strip()
    spanish = str(alert.get("body_es") or "").strip()
    if alert.get("kind") in ALERT_KINDS:
        title, title_lang = kind_title(alert, lang, now)
        if lang not in WRITTEN:
            details = tuple(d for d in ((DEFAULT, english), ("es", spanish)) if d[1])
            lead = _say(lang, MORE_DETAILS) if details else ""
            return AlertWords(title, title_lang, details, lead)
        chosen = ("es", spanish) if lang == "es" and spanish else (DEFAULT, english)
        return AlertWords(title, title_lang, (chosen,) if chosen[1] else ())
    if lang == "es" and (alert.get("title_es") or "").strip():
        return AlertWords(str(alert["title_es"]), "es", (("es", spanish),) if spanish else ())
    return AlertWords(str(alert.get("title") or ""), DEFAULT,
                      ((DEFAULT, english),) if english else ())


def alert_text(alert: Mapping, lang: str, now: datetime | None = None) -> tuple[str, str, bool]:
    """(title, body, in_lang): the alert as plain text for a reader of lang; in_lang is False
    when any of it is in another language than lang without saying so."""
    words = alert_words(alert, lang, now)
    in_lang = words.title_lang == lang and (
        bool(words.lead) or all(text_lang == lang for text_lang, _ in words.details))
    return words.title, words.body(), in_lang


def alert_message(alert: dict, base_url: str, now: datetime | None = None) -> Message:
    """An organizer's alert, its correction or its retraction.

    The tag (and so the Topic) is the same for every revision, so a correction or a
    retraction replaces the earlier version on the device and in the push service's queue.
    An empty states list means every state: subscribers to any state get it too.
    """
    urgent = bool(alert.get("urgent"))
    states = [s.upper() for s in alert.get("states") or [] if str(s).upper() in STATES]
    if not alert.get("states"):
        states = list(STATES)
    topics = [TOPIC_ALL] + [f"state:{s}" for s in states] + ([TOPIC_URGENT] if urgent else [])
    path = same_origin_url(alert.get("url"), base_url) or "/"
    tag = f"alert-{alert['id']}"
    payloads = {}
    for lang in LANGUAGES:
        title, body, _ = alert_text(alert, lang, now)
        title = _one_line(title)
        if alert.get("status") == "retracted":
            title = _say(lang, N_("Withdrawn: %(title)s"), title=title)
            body = _say(lang, N_("Organizers withdrew this alert."))
        elif int(alert.get("revision") or 1) > 1:
            title = _say(lang, N_("Updated: %(title)s"), title=title)
        where = path
        if lang != "en" and not path.startswith((f"/{lang}/", *UNPREFIXED)):
            where = localize_path(path, lang)
        payloads[lang] = build_payload(title, body, absolute_url(where, base_url), tag, urgent,
                                       lang)
    default = 4 * 3600 if urgent else 24 * 3600
    expires = end_moment(alert.get("expires"))
    ttl = _ttl_until(expires, default, now)
    if expires is not None and expires <= (now or datetime.now(UTC)):
        ttl = 0  # already over: show it only to devices reachable right now
    return Message.in_languages(payloads, topics, ttl, "high" if urgent else "normal",
                                topic_header_for(tag))


def _new_today(lang: str, kind: str | None, n: int, state: str) -> str:
    catalog = _catalog(lang)
    if kind == "vigil":
        text = catalog.ngettext("%(num)s new vigil in %(state)s today",
                                "%(num)s new vigils in %(state)s today", n)
    elif kind == "occupation":
        text = catalog.ngettext("%(num)s new occupation in %(state)s today",
                                "%(num)s new occupations in %(state)s today", n)
    elif kind == "rally":
        text = catalog.ngettext("%(num)s new rally in %(state)s today",
                                "%(num)s new rallies in %(state)s today", n)
    elif kind == "action":
        text = catalog.ngettext("%(num)s new action in %(state)s today",
                                "%(num)s new actions in %(state)s today", n)
    else:  # a mix of kinds
        text = catalog.ngettext("%(num)s new event in %(state)s today",
                                "%(num)s new events in %(state)s today", n)
    return text % {"num": n, "state": state}


def digest_message(state: str, listings: list[dict], tag: str, base_url: str,
                   ttl: int) -> Message:
    """One notification for a state's listings of the day: how many, and where.

    It carries the tag (and so the Topic) of the day's first announcement in the state, and
    no renotify, so it quietly replaces that notification instead of adding another.
    """
    kinds = {str(listing.get("kind") or "vigil") for listing in listings}
    kind = kinds.pop() if len(kinds) == 1 else None
    places = collections.Counter(_one_line(listing.get("city") or "") or state
                                 for listing in listings)
    body = " · ".join(f"{city} ({n})" for city, n in
                      sorted(places.items(), key=lambda item: (-item[1], item[0])))
    payloads = {}
    for lang in LANGUAGES:
        title = _new_today(lang, kind, len(listings), state_name(state, lang))
        path = localize_path("/", lang) + f"?state={state}"
        payloads[lang] = build_payload(title, body, absolute_url(path, base_url), tag, False,
                                       lang)
    topics = [TOPIC_ALL] + ([f"state:{state}"] if state in STATES else [])
    return Message.in_languages(payloads, topics, max(0, min(int(ttl), MAX_TTL)), "normal",
                                topic_header_for(tag))
