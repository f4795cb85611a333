"""What a text message says and how many segments it costs.

A text is sent in GSM-7 when every character is in the GSM 03.38 basic set or its extension
table (which costs two septets each), else in UCS-2: 160 septets in one segment or 153 per
segment of a longer text, against 70 UTF-16 units or 67. One accented letter outside GSM-7
("í", "ó", "ú", "á" are not in it; "é", "ñ", "ü" are) turns a 160-character text into three
segments, so every text Vigil composes is measured and cut to fit.

The replies speak English or Spanish, the languages of the keywords; a subscriber who signed
up in Spanish gets Spanish replies and alerts, everyone else English.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
MAX_SEGMENTS = 2
LANGS = ("en", "es")


@dataclass(frozen=True, slots=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    count: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)


def is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def _pack(sizes: list[int], single: int, per_part: int) -> int:
    """Segments needed for characters of these sizes; a character never splits across two."""
    total = sum(sizes)
    if total <= single:
        return 1 if sizes else 0
    count, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            count, used = count + 1, 0
        used += size
    return count


def segments(text: str) -> Segments:
    """How a phone network will carry text: its encoding and number of segments."""
    if is_gsm(text):
        sizes = [2 if c in GSM_EXTENSION else 1 for c in text]
        return Segments("GSM-7", _pack(sizes, 160, 153), sum(sizes))
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return Segments("UCS-2", _pack(sizes, 70, 67), sum(sizes))


def _gsm_safe(text: str) -> str:
    """Punctuation that word processors put in, replaced by its GSM-7 look-alike, so that a
    curly quote alone does not halve what a segment holds."""
    table = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...",
             "\u00a0": " ", "\t": " "}
    return "".join(table.get(c, c) for c in text)


def _one_line(text: str) -> str:
    return " ".join(_gsm_safe(text).split())


ALERT_WORDS = {
    "en": {"urgent": "URGENT", "withdrawn": "Withdrawn", "updated": "Updated"},
    "es": {"urgent": "URGENTE", "withdrawn": "Retirada", "updated": "Actualizada"},
}


def alert_sms(title: str, body: str, place: str, link: str, lang: str, *, urgent: bool,
              status: str = "sent", revision: int = 1) -> str:
    """The alert as a text of at most MAX_SEGMENTS segments: its title, the place and the
    link, with the message too when it fits. The link is never cut; the title is, last."""
    words = ALERT_WORDS.get(lang, ALERT_WORDS["en"])
    head = f"Vigil {words['urgent']}: " if urgent else "Vigil: "
    if status == "retracted":
        head += f"{words['withdrawn']}: "
        body = ""
    elif revision > 1:
        head += f"{words['updated']}: "
    title, body = _one_line(title), _one_line(body)
    where = f" ({place})" if place else ""

    def text(t: str, b: str) -> str:
        line = f"{head}{t}{where}"
        stop = "" if line.endswith((".", "!", "?")) else "."
        return f"{line}{stop} {b + ' ' if b else ''}{link}"

    if body and segments(full := text(title, body)).count <= MAX_SEGMENTS:
        return full
    if segments(full := text(title, "")).count <= MAX_SEGMENTS:
        return full
    # Cut the title: the longest prefix that fits, found by halving.
    low, high = 0, len(title)
    while low < high:
        mid = (low + high + 1) // 2
        if segments(text(title[:mid].rstrip() + "...", "")).count <= MAX_SEGMENTS:
            low = mid
        else:
            high = mid - 1
    return text(title[:low].rstrip() + "...", "")


# Replies to keywords. Each fits one GSM-7 segment (tests/test_sms.py checks).
REPLIES = {
    "en": {
        "subscribed": "Vigil: you will get alerts for {what}. Up to a few texts a day. "
                      "Reply STOP to stop and delete your number, HELP for help.",
        "urgent": "urgent calls anywhere",
        "state": "{state}",
        "stopped": "Vigil: you will get no more texts. Your number is deleted.",
        "help": "Vigil alerts for vigils at immigration facilities. Text VIGIL and a state "
                "code (VIGIL OR) or URGENT to sign up, STOP to stop. Msg&data rates may apply.",
        "start": "Vigil: to get alerts, text VIGIL and a state code (VIGIL OR), or URGENT. "
                 "STOP to stop.",
    },
    "es": {
        "subscribed": "Vigil: recibira alertas de {what}. Pocos textos al dia. Responda "
                      "PARAR para dejarlas y borrar su numero, AYUDA para ayuda.",
        "urgent": "llamadas urgentes en todo el pais",
        "state": "{state}",
        "stopped": "Vigil: no recibira mas textos. Su numero fue borrado.",
        "help": "Vigil: alertas de vigilias en centros de inmigracion. Envie ALERTAS y el "
                "estado (ALERTAS OR) o URGENTE para recibirlas, PARAR para dejarlas.",
        "start": "Vigil: para recibir alertas envie ALERTAS y el estado (ALERTAS OR) o "
                 "URGENTE. PARAR para dejarlas.",
    },
}


def reply(lang: str, key: str, **values: str) -> str:
    texts = REPLIES.get(lang, REPLIES["en"])
    return texts[key].format(**values)


def subscribed_reply(lang: str, topics: list[str]) -> str:
    texts = REPLIES.get(lang, REPLIES["en"])
    parts = [t.split(":", 1)[1] if t.startswith("state:") else texts["urgent"]
             for t in sorted(topics, key=lambda t: (t == "urgent", t))]
    return reply(lang, "subscribed", what=", ".join(parts))


STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "PARAR",
                        "BAJA"})
SPANISH_STOP = frozenset({"PARAR", "BAJA"})


@dataclass(frozen=True, slots=True)
class Command:
    action: str  # "subscribe", "stop", "start", "help"
    lang: str | None  # None: the subscriber's own, or English
    topic: str | None = None  # "state:XX" or "urgent"


def parse(body: str, states: frozenset[str] | set[str]) -> Command:
    """The keyword a text starts with, case-insensitive; anything else asks for help."""
    words = _one_line(body).upper().replace(",", " ").replace(".", " ").split()
    first = words[0] if words else ""
    if first in STOP_WORDS:
        return Command("stop", "es" if first in SPANISH_STOP else None)
    if first in ("START", "UNSTOP"):
        return Command("start", None)
    if first in ("URGENT", "URGENTE"):
        return Command("subscribe", "es" if first == "URGENTE" else "en", "urgent")
    if first in ("VIGIL", "ALERTAS"):
        lang = "es" if first == "ALERTAS" else "en"
        if len(words) >= 2 and words[1] in states:
            return Command("subscribe", lang, f"state:{words[1]}")
        if len(words) >= 2 and words[1] in ("URGENT", "URGENTE"):
            return Command("subscribe", lang, "urgent")
        return Command("help", lang)
    if first == "AYUDA":
        return Command("help", "es")
    return Command("help", None)
