"""Alerts on the site: the Alerts page (current alerts, the sign-up panel, recent ones) and
the banners of current alerts at the top of the home page, a state's view and its listings.

Whoever did not subscribe, was offline or swiped a notification away still sees an alert
here, in the offline bundle too. Times are rendered for the moment of the render and kept
current on the phone by alerts.js (the page may come from the offline copy).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from babel.dates import format_timedelta
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from server.alerts import recent_alerts
from server.i18n import locale_of
from server.places import STATES
from server.views.base import db_of, lang_of, page


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
    return format_timedelta(delta, add_direction=True, threshold=1.0, locale=locale_of(lang))


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
    return [Route("/alerts", page(alerts_page, key=_chosen_state, deps=("alerts",)), name="alerts")]
