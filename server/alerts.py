"""Alerts as visitors see them: the sent and retracted alerts of the last two weeks, each in
the page's language when it has that text (an alert of a kind always: its phrase is
translated ahead of time). The Alerts page and the banners show them
(views/alerts.py); what every page is made of (fingerprints.py) reads them too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from server.content import end_moment
from server.database import Database
from server.i18n import DEFAULT, UNPREFIXED, localize_path
from server.places import STATES
from server.push.messages import alert_words, same_origin_url

# Alerts that ended or were retracted stay listed this long under "Recent alerts".
RECENT = timedelta(days=14)
BANNER_BODY = 240


@dataclass(frozen=True)
class AlertView:
    """One alert as a visitor sees it, in the page's language when it has that text."""

    id: int
    title: str
    body: str
    in_lang: bool  # False: the English text on a Spanish page, marked as such
    urgent: bool
    status: str  # sent or retracted
    corrected: bool
    states: tuple[str, ...]  # empty: every state
    url: str | None  # a path on this site
    sent: datetime
    updated: datetime
    expires: datetime | None
    current: bool
    # Taken down by one organizer, not yet confirmed by a second: "being checked", not
    # "disregard it", since one account alone must not silence a true alert either.
    questioned: bool = False
    # The languages of the title and the body, where they differ from the page's, and a
    # lead-in before organizers' words in languages the page is not in.
    title_lang: str = DEFAULT
    body_lang: str = DEFAULT
    lead: str = ""
    more: tuple[tuple[str, str], ...] = ()  # further paragraphs: (language, text)

    @property
    def banner_body(self) -> str:
        if len(self.body) <= BANNER_BODY:
            return self.body
        return self.body[:BANNER_BODY].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"

    def concerns(self, state: str | None) -> bool:
        return state is None or not self.states or state in self.states


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _link(url: str | None, lang: str) -> str | None:
    """The alert's link as a path in the page's language (as its notification opens it)."""
    path = same_origin_url(url, "") if url else None
    if path and lang != DEFAULT and not path.startswith((f"/{lang}/", *UNPREFIXED)):
        return localize_path(path, lang)
    return path


async def recent_alerts(db: Database, lang: str, now: datetime | None = None) -> list[AlertView]:
    """Alerts sent in the last RECENT, newest first: current ones, expired and retracted."""
    now = now or datetime.now(UTC)
    since = (now - RECENT).replace(microsecond=0).isoformat()
    rows = await db.execute(
        "SELECT * FROM alerts WHERE status IN ('sent', 'retracted') AND sent IS NOT NULL "
        "AND sent >= ? ORDER BY sent DESC, id DESC LIMIT 200",
        (since,),
    )
    views = []
    for row in rows:
        alert = dict(row)
        words = alert_words(alert, lang, now)
        (body_lang, body), *more = words.details or ((lang, ""),)
        expires = end_moment(alert["expires"])
        sent = _moment(alert["sent"]) or now
        views.append(AlertView(
            id=alert["id"], title=words.title, body=body,
            in_lang=words.title_lang == lang and (body_lang == lang or bool(words.lead)),
            title_lang=words.title_lang, body_lang=body_lang, lead=words.lead,
            more=tuple(more),
            urgent=bool(alert["urgent"]), status=alert["status"],
            corrected=int(alert["revision"] or 1) > 1 and alert["status"] == "sent",
            states=tuple(s for s in json.loads(alert["states"] or "[]") if s in STATES),
            url=_link(alert["url"], lang),
            sent=sent, updated=_moment(alert["updated"]) or sent, expires=expires,
            current=alert["status"] == "sent" and (expires is None or expires > now),
            questioned=alert["status"] == "retracted" and bool(alert["taken_down_by"]),
        ))
    return views
