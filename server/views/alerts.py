"""Alerts on the site: the Alerts page (current alerts, the sign-up panel, recent ones) and
the banners of current alerts at the top of the home page, a state's view and its listings.

Whoever did not subscribe, was offline or swiped a notification away still sees an alert
here, in the offline bundle too. Times are rendered for the moment of the render and kept
current on the phone by alerts.js (the page may come from the offline copy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from babel.dates import format_timedelta
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from server.content import end_moment
from server.database import Database
from server.i18n import DEFAULT, localize_path
from server.middleware import UNPREFIXED
from server.places import STATES
from server.push import alert_text, same_origin_url
from server.views.base import db_of, lang_of

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
        title, body, in_lang = alert_text(alert, lang)
        expires = end_moment(alert["expires"])
        sent = _moment(alert["sent"]) or now
        views.append(AlertView(
            id=alert["id"], title=title, body=body, in_lang=in_lang,
            urgent=bool(alert["urgent"]), status=alert["status"],
            corrected=int(alert["revision"] or 1) > 1 and alert["status"] == "sent",
            states=tuple(s for s in json.loads(alert["states"] or "[]") if s in STATES),
            url=_link(alert["url"], lang),
            sent=sent, updated=_moment(alert["updated"]) or sent, expires=expires,
            current=alert["status"] == "sent" and (expires is None or expires > now),
            questioned=alert["status"] == "retracted" and bool(alert["taken_down_by"]),
        ))
    return views


async def banner(request: Request, state: str | None = None) -> dict:
    """What _alert_banner.html needs: the current alerts that concern the state (every
    current alert when there is none), urgent ones first. An alert one organizer questioned
    stays, saying it is being checked, until it would have ended or a second confirms."""
    now = datetime.now(UTC)
    alerts = [a for a in await recent_alerts(db_of(request), lang_of(request))
              if (a.current or a.questioned and (a.expires is None or a.expires > now))
              and a.concerns(state)]
    return {"banner_alerts": sorted(alerts, key=lambda a: not a.urgent), "ago": ago,
            "clock": clock}


def ago(moment: datetime, lang: str, now: datetime | None = None) -> str:
    """'5 minutes ago' in the page's language, as alerts.js would write it."""
    delta = moment - (now or datetime.now(UTC))
    if abs(delta.total_seconds()) < 45:
        delta = timedelta(seconds=-45)
    return format_timedelta(delta, add_direction=True, threshold=1.0, locale=lang)


def clock(moment: datetime) -> str:
    """A moment as UTC hours and minutes; alerts.js shows it in the phone's own time zone."""
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def _chosen_state(request: Request) -> str:
    return (request.query_params.get("state") or "").strip().upper()[:2]


async def alerts_page(request: Request) -> tuple[str, dict]:
    """Current alerts first, then the panel to get them on this phone, then recent ones."""
    lang = lang_of(request)
    wanted = (request.query_params.get("state") or "").strip().upper()
    alerts = await recent_alerts(db_of(request), lang)
    return "alerts.html", {
        "current": sorted([a for a in alerts if a.current], key=lambda a: not a.urgent),
        "recent": [a for a in alerts if not a.current],
        "chosen_state": wanted if wanted in STATES else None,
        "ago": ago,
        "clock": clock,
    }


def routes() -> list[BaseRoute]:
    # pages imports this module for the banners, so its page wrapper is fetched here.
    from server.views.pages import page

    return [Route("/alerts", page(alerts_page, key=_chosen_state, deps=("alerts",)), name="alerts")]
