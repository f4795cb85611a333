"""Alerts on the site: the Alerts page (current alerts, the sign-up panel, recent ones) and
the banners of current alerts at the top of the home page, a state's view and its listings.

Whoever did not subscribe, was offline or swiped a notification away still sees an alert
here, in the offline bundle too. Times are rendered for the moment of the render and kept
current on the phone by alerts.js (the page may come from the offline copy).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_timedelta
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from server.alerts import recent_alerts
from server.i18n import Translator, locale_of
from server.listing_form import zone_for
from server.places import STATES
from server.views.base import db_of, lang_of, page, services


async def banner(request: Request, state: str | None = None) -> dict:
    """What _alert_banner.html needs: the current alerts that concern the state (every
    current alert when there is none), urgent ones first. An alert one organizer questioned
    stays, saying it is being checked, until it would have ended or a second confirms."""
    now = datetime.now(UTC)
    alerts = [a for a in await recent_alerts(db_of(request), lang_of(request))
              if (a.current or a.questioned and (a.expires is None or a.expires > now))
              and a.concerns(state)]
    return {"banner_alerts": sorted(alerts, key=lambda a: not a.urgent), "ago": ago,
            "clock": local_clock(_translator(request), state)}


def ago(moment: datetime, lang: str, now: datetime | None = None) -> str:
    """'5 minutes ago' in the page's language, as alerts.js would write it."""
    delta = moment - (now or datetime.now(UTC))
    if abs(delta.total_seconds()) < 45:
        delta = timedelta(seconds=-45)
    return format_timedelta(delta, add_direction=True, threshold=1.0, locale=locale_of(lang))


# An alert for every state says when it ends on both coasts' clocks.
NATIONAL_ZONES = ("America/New_York", "America/Los_Angeles")


def alert_zones(states: tuple[str, ...], page_state: str | None, moment: datetime) -> list[str]:
    """The clocks an alert's end is told on: the page's state's, where the alert concerns
    it; else its states' one zone, or the easternmost and westernmost of theirs."""
    if page_state and (not states or page_state in states):
        return [zone_for(page_state)]
    zones = sorted({zone_for(s) for s in states},
                   key=lambda z: -moment.astimezone(ZoneInfo(z)).utcoffset().total_seconds())
    if not zones:
        return list(NATIONAL_ZONES)
    return zones[:1] if len(zones) == 1 else [zones[0], zones[-1]]


def local_clock(tr: Translator, page_state: str | None = None) -> Callable[..., str]:
    """clock(moment, states, sent) for the templates: when an alert ends, on the clock of
    the place it is about, naming the zone ("9:54 AM (Central)"), with the weekday when that
    is not the day it was sent. alerts.js shows it in the phone's own zone instead."""

    def clock(moment: datetime, states: tuple[str, ...] = (), sent: datetime | None = None
              ) -> str:
        parts = []
        for name in alert_zones(states, page_state, moment):
            zone = ZoneInfo(name)
            local = moment.astimezone(zone)
            day = ""
            if sent is not None and sent.astimezone(zone).date() != local.date():
                day = format_date(local, "EEEE", locale=tr.locale) + " "
            parts.append(f"{day}{tr.clock(local)} ({tr.zone(zone)})")
        return " / ".join(parts)

    return clock


def _translator(request: Request) -> Translator:
    return services(request).renderer.translators[lang_of(request)]


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
        "clock": local_clock(_translator(request), wanted if wanted in STATES else None),
    }


def routes() -> list[BaseRoute]:
    return [Route("/alerts", page(alerts_page, key=_chosen_state, deps=("alerts",)), name="alerts")]
