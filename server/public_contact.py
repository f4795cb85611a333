"""Phone numbers, email addresses and web addresses as the links that reach them.

A listing's public contact is typed by an organizer, imported, or hand-edited, so the link is
worked out again wherever it is shown: only these three kinds ever become an href.
"""

from __future__ import annotations

import json
import re

from markupsafe import Markup, escape

CONTACT_LIMIT = 200
LABEL_LIMIT = 80

_PHONE = re.compile(r"\+?[\d(][\d ().-]{5,24}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# No quotes, angle brackets or backslashes: nothing that could end an attribute or be read
# as markup by a careless consumer of the API.
_WEB = re.compile(r"https?://[^\s/\"'<>\\]+\.[^\s\"'<>\\]+", re.IGNORECASE)


# A US phone number in running text, grouped as people write one: "210-555-0143",
# "(210) 555-0143", "210.555.0143", "+1 210 555 0143". Only with its area code, never ten
# digits run together, and never touching other digits, letters, dashes, slashes or dots,
# so dates, ZIP+4 codes, years, street numbers, case and A-numbers stay text.
PHONE_IN_TEXT = re.compile(r"""
    (?<![\w+./-])
    (?:\+?1[ .-]?)?
    (?:\([2-9]\d\d\)\ ?|[2-9]\d\d[ .-])
    [2-9]\d\d[ .-]\d{4}
    (?![\w/-]|[.,]\d)
""", re.VERBOSE)


def phone_spans(text: str) -> list[tuple[str, str | None]]:
    """The text in pieces, each (piece, its tel: link or None), numbers cut out as links."""
    pieces: list[tuple[str, str | None]] = []
    at = 0
    for found in PHONE_IN_TEXT.finditer(text):
        if found.start() > at:
            pieces.append((text[at:found.start()], None))
        pieces.append((found.group(0), tel_uri(found.group(0))))
        at = found.end()
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces


def link_phones(text: str | None) -> Markup:
    """Plain text as markup, escaped, with each phone number in it a link that dials it."""
    return Markup("").join(
        Markup('<a href="{}">{}</a>').format(href, piece) if href else escape(piece)
        for piece, href in phone_spans(text or ""))


def tel_uri(number: str) -> str:
    """A tel: link in global form (RFC 3966), so it dials the same from any phone; numbers
    here are North American unless they carry their own country code."""
    digits = re.sub(r"[^\d+]", "", number)
    if not digits.startswith("+"):
        digits = "+" + digits if len(digits) == 11 and digits[0] == "1" else "+1" + digits
    return "tel:" + digits


def phone_problem(value: str) -> str | None:
    """Why value is not a phone number that can be dialled from anywhere, or None."""
    if not _PHONE.fullmatch(value):
        return "not a phone number"
    digits = re.sub(r"\D", "", value)
    if value.startswith("+"):
        return None if 8 <= len(digits) <= 15 else "not a phone number"
    if len(digits) == 10 or (len(digits) == 11 and digits[0] == "1"):
        return None
    return "area code"


def contact_href(value: str) -> str | None:
    """The link that reaches a public contact: tel:, mailto: or the web address itself;
    None for anything else."""
    if not isinstance(value, str) or len(value) > CONTACT_LIMIT or value != value.strip():
        return None
    if _WEB.fullmatch(value):
        return value
    if _EMAIL.fullmatch(value):
        return "mailto:" + value
    if phone_problem(value) is None:
        return tel_uri(value)
    return None


def stored_contact(raw: str | None) -> dict[str, str]:
    """A contact column as {value, label?}, whatever shape an import or a hand edit left it
    in; {} when it holds nothing usable."""
    try:
        contact = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {"value": raw} if isinstance(raw, str) else {}
    if isinstance(contact, str):
        return {"value": contact}
    if not isinstance(contact, dict):
        return {}
    return {k: contact[k] for k in ("value", "label") if isinstance(contact.get(k), str)}
