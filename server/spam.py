"""A spam score for public suggestions: cheap, explainable rules, no outside service.

The score only sorts and marks the moderation queue. A flagged suggestion is still stored and
shown to organizers (marked), and nothing is ever published without an organizer, so a false
positive costs a glance, not a lost suggestion. Each rule adds points and says why, in words an
organizer can check against the text.
"""

from __future__ import annotations

import re
from collections import Counter

# A suggestion scoring this much or more is marked as likely spam in the queue.
THRESHOLD = 5

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
# Bare domains ("example.chat") count as links: spam often leaves the scheme off so that
# forms which only look for "http" let it through.
_DOMAIN = re.compile(
    r"(?<![@\w.-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})(?![\w-])",
    re.IGNORECASE,
)
# Top-level domains that are nearly always commercial or adult when they show up here.
_BAD_TLDS = frozenset({
    "adult", "bet", "bid", "cam", "casino", "chat", "click", "dating", "loan", "poker", "porn",
    "sex", "sexy", "xxx", "webcam", "win", "vip",
})
# Words that mark a domain as commercial or adult wherever they appear in it ("adultcams").
_BAD_DOMAIN_PARTS = (
    "adult", "porn", "xxx", "sex", "cams", "webcam", "escort", "casino", "poker", "betting",
    "crypto", "bitcoin", "forex", "viagra", "cialis", "pharma", "pills", "dating", "hookup",
    "loans",
)
# Common file names and abbreviations that look like domains but are not links.
_NOT_DOMAINS = frozenset({"e.g", "i.e", "a.m", "p.m", "u.s", "st.louis"})
_NOT_TLDS = frozenset({"jpg", "jpeg", "png", "gif", "pdf", "doc", "docx", "txt", "html", "htm"})

_COMMERCIAL_WORDS = re.compile(
    r"\b(?:adult (?:industry|content|entertainment|site)s?|web ?cams?|on cams|cam (?:girls?|"
    r"models?|shows?|sites?)|live cams?|casinos?|viagra|cialis|crypto(?:currency)?|bitcoin|"
    r"forex|escorts?|porn\w*|xxx|dating (?:site|app)s?|hot singles|diet pills|payday loans?|"
    r"seo services|buy followers)\b",
    re.IGNORECASE,
)
# The two paragraphs injected into the movement's 2018 page: a "thank you" to an adult
# webcam site for "emotional support", and a named stranger who "gave a great example" by
# telling people to go to social networks and chat rooms. Matched by their shape, not by the
# names in them, so reworded copies score too.
_THANKS = re.compile(r"\b(?:thanks?|thanking|grateful|gratitude)\b", re.IGNORECASE)
_EMOTIONAL_SUPPORT = re.compile(r"\bemotional(?:ly)? support", re.IGNORECASE)
_GREAT_EXAMPLE = re.compile(
    r"\bgreat example (?:of )?how to do (?:it|this|that) was (?:given|shown|set) by\b",
    re.IGNORECASE,
)
_CHAT_ROOMS = re.compile(r"\bchat ?rooms?\b", re.IGNORECASE)
_SOCIAL_AND_CHAT = re.compile(r"\bsocial (?:networks?|media)\b.{0,40}\bchat ?rooms?\b",
                              re.IGNORECASE | re.DOTALL)
_RUN = re.compile(r"(.)\1{9,}", re.DOTALL)
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


def links_in(text: str) -> list[str]:
    """Every URL and bare domain name in the text, lower-cased, in order."""
    found = [m.group(0).lower().rstrip(".,;:!?)]") for m in _URL.finditer(text)]
    without_urls = _URL.sub(" ", text)
    for match in _DOMAIN.finditer(without_urls):
        domain = match.group(1).lower()
        tld = domain.rsplit(".", 1)[-1]
        if domain in _NOT_DOMAINS or tld in _NOT_TLDS:
            continue
        found.append(domain)
    return found


def _host(link: str) -> str:
    host = re.sub(r"^(?:https?://)?", "", link).split("/", 1)[0].split("?", 1)[0]
    return host.split(":", 1)[0]


def _bad_link(link: str) -> bool:
    host = _host(link)
    tld = host.rsplit(".", 1)[-1]
    return tld in _BAD_TLDS or any(part in host for part in _BAD_DOMAIN_PARTS)


def _shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 20:
        return False
    return sum(c.isupper() for c in letters) / len(letters) > 0.7


def _repeated(text: str) -> str | None:
    if _RUN.search(text):
        return "a character repeated many times in a row"
    words = [w.casefold() for w in _WORD.findall(text)]
    if len(words) >= 12:
        word, count = Counter(words).most_common(1)[0]
        if count / len(words) > 0.3:
            return f"the word “{word}” makes up most of the text"
    sentences = [s.strip().casefold() for s in re.split(r"[.!?\n]+", text) if len(s.strip()) > 15]
    if sentences:
        repeats = max(Counter(sentences).values())
        if repeats >= 3:
            return "the same sentence repeated"
    return None


def score(kind: str, title: str, details: str, contact: str) -> tuple[int, list[str]]:
    """How spam-like a suggestion looks, and why, for the moderation queue (see THRESHOLD)."""
    text = f"{title}\n{details}"
    everything = f"{text}\n{contact}"
    points = 0
    reasons: list[str] = []

    def add(n: int, reason: str) -> None:
        nonlocal points
        points += n
        reasons.append(reason)

    links = links_in(everything)
    bad = sorted({_host(link) for link in links if _bad_link(link)})
    if bad:
        add(6, "links to a commercial or adult site: " + ", ".join(bad))
    # A resource is often one article link; a vigil or correction rarely needs more than two.
    allowed = 3 if kind == "resource" else 2
    if len(links) > allowed:
        add(min(6, 2 * (len(links) - allowed)), f"{len(links)} links")
    if links_in(title) and kind != "resource":
        add(1, "a link in the title")
    words = sorted({m.group(0).lower() for m in _COMMERCIAL_WORDS.finditer(everything)})
    if words:
        add(min(6, 3 * len(words)), "commercial or adult words: " + ", ".join(words))
    if _THANKS.search(text) and _EMOTIONAL_SUPPORT.search(text):
        add(3, "thanks someone for “emotional support” (a known injected spam pattern)")
    if _GREAT_EXAMPLE.search(text):
        add(4, "“a great example how to do it was given by …” (a known injected spam pattern)")
    if _SOCIAL_AND_CHAT.search(text):
        add(3, "sends readers to social networks and chat rooms")
    elif _CHAT_ROOMS.search(text):
        add(2, "mentions chat rooms")
    if _shouting(text):
        add(3, "mostly capital letters")
    repeated = _repeated(text)
    if repeated:
        add(3, repeated)
    return points, reasons


def flagged(points: int) -> bool:
    """Whether a score marks the suggestion as likely spam."""
    return points >= THRESHOLD
