"""The organizers' dashboard: a big "Send alert", one queue of everything waiting for this
organizer (approvals of every kind, take-downs to check, suggestions), what they proposed
that waits for someone else, then subscriptions and the latest changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from babel.dates import format_skeleton
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server import audit, push, sms, spam
from server.i18n import N_, Translator
from server.places import STATES, state_name
from server.push.messages import alert_words
from server.views.admin import admin_page, described, organizer, translator
from server.views.admin_alerts import new_alert_url, usual_choices
from server.views.base import services

# It took effect at once; another organizer restores it, or for an alert confirms it.
TAKEN_DOWN = N_("Taken down by another organizer: check it")
# Suggestions listed one by one; more are counted and linked.
SUGGESTIONS_SHOWN = 10


@dataclass(frozen=True)
class Waiting:
    """One thing in a queue: what to do, what it is, who asked, and the page to do it on."""

    what: str
    title: str
    url: str
    by: str | None = None


def _alert_title(row, tr: Translator) -> str:
    return alert_words(dict(row), tr.lang).title


async def waiting_for(db, me: str, tr: Translator) -> list[Waiting]:
    """Everything a second organizer must look at, oldest first within each kind: the
    approvals only someone else may give, take-downs to check, and suggestions."""
    say = tr.plain
    items: list[Waiting] = []
    for row in await db.execute(
            "SELECT * FROM alerts WHERE status = 'pending' AND author != ? ORDER BY id", (me,)):
        items.append(Waiting(say(N_("Alert to approve")), _alert_title(row, tr),
                             f"/admin/alerts/{row['id']}", row["author"]))
    for row in await db.execute(
            "SELECT * FROM alerts WHERE status = 'sent' AND proposed IS NOT NULL "
            "AND proposed_by != ? ORDER BY id", (me,)):
        items.append(Waiting(say(N_("Correction to approve")), _alert_title(row, tr),
                             f"/admin/alerts/{row['id']}", row["proposed_by"]))
    for row in await db.execute(
            "SELECT slug, title, author FROM listings WHERE status = 'pending' "
            "AND batch_id IS NULL AND author != ? ORDER BY created", (me,)):
        items.append(Waiting(say(N_("Listing to approve")), row["title"],
                             f"/admin/listings/{row['slug']}/edit", row["author"]))
    for row in await db.execute(
            "SELECT id, row_count, filename, proposed_by FROM import_batches "
            "WHERE status = 'pending' AND proposed_by != ? ORDER BY id", (me,)):
        items.append(Waiting(say(N_("Import to approve")), tr.ngettext(
            "%(num)s listing", "%(num)s listings", row["row_count"]) + (
            f" · {row['filename']}" if row["filename"] else ""),
            f"/admin/import/{row['id']}", row["proposed_by"]))
    changes = [dict(r) for r in await db.execute(
        "SELECT id, entity, entity_key, proposed_by FROM changes WHERE status = 'pending' "
        "AND proposed_by != ? ORDER BY id", (me,))]
    named = {e["entity_key"]: e for e in await described(
        db, [{"at": "2000-01-01T00:00:00+00:00", "action": "", "entity": c["entity"],
              "entity_key": c["entity_key"]} for c in changes], tr)}
    for change in changes:
        record = named.get(change["entity_key"], {})
        items.append(Waiting(say(N_("Change to approve")),
                             f"{record.get('kind', '')} · {record.get('record', '')}".strip(" ·"),
                             f"/admin/changes/{change['id']}", change["proposed_by"]))
    # Taken down by one organizer: it took effect at once; another restores or confirms it.
    for row in await db.execute(
            "SELECT * FROM alerts WHERE taken_down_by IS NOT NULL AND taken_down_by != ? "
            "AND sent IS NOT NULL ORDER BY id", (me,)):
        items.append(Waiting(say(TAKEN_DOWN),
                             _alert_title(row, tr), f"/admin/alerts/{row['id']}",
                             row["taken_down_by"]))
    for row in await db.execute(
            "SELECT * FROM alerts WHERE status = 'retracted' AND sent IS NULL "
            "AND taken_down_by IS NOT NULL AND taken_down_by != ? AND author = ? ORDER BY id",
            (me, me)):
        items.append(Waiting(say(N_("Your alert was stopped before it was sent: restore it "
                                    "if it should go out")),
                             _alert_title(row, tr), f"/admin/alerts/{row['id']}",
                             row["taken_down_by"]))
    for row in await db.execute(
            "SELECT slug, title, taken_down_by FROM listings WHERE taken_down_by IS NOT NULL "
            "AND taken_down_by != ? ORDER BY updated", (me,)):
        items.append(Waiting(say(TAKEN_DOWN),
                             row["title"], f"/admin/listings/{row['slug']}/edit",
                             row["taken_down_by"]))
    for row in await db.execute(
            "SELECT id, title FROM suggestions WHERE status = 'waiting' AND spam_score < ? "
            "ORDER BY id LIMIT ?", (spam.THRESHOLD, SUGGESTIONS_SHOWN)):
        items.append(Waiting(say(N_("Suggestion to review")), row["title"],
                             f"/admin/suggestions/{row['id']}"))
    return items


async def waiting_for_others(db, me: str, tr: Translator) -> list[Waiting]:
    """What this organizer proposed that waits for someone else's approval."""
    say = tr.plain
    items = [Waiting(say(N_("Your alert")), _alert_title(row, tr), f"/admin/alerts/{row['id']}")
             for row in await db.execute(
                 "SELECT * FROM alerts WHERE status = 'pending' AND author = ? ORDER BY id",
                 (me,))]
    items += [Waiting(say(N_("Your correction")), _alert_title(row, tr),
                      f"/admin/alerts/{row['id']}")
              for row in await db.execute(
                  "SELECT * FROM alerts WHERE status = 'sent' AND proposed_by = ? ORDER BY id",
                  (me,))]
    items += [Waiting(say(N_("Your listing")), row["title"],
                      f"/admin/listings/{row['slug']}/edit")
              for row in await db.execute(
                  "SELECT slug, title FROM listings WHERE status = 'pending' "
                  "AND batch_id IS NULL AND author = ? ORDER BY created", (me,))]
    items += [Waiting(say(N_("Your import")), tr.ngettext(
        "%(num)s listing", "%(num)s listings", row["row_count"]), f"/admin/import/{row['id']}")
              for row in await db.execute(
                  "SELECT id, row_count FROM import_batches WHERE status = 'pending' "
                  "AND proposed_by = ? ORDER BY id", (me,))]
    items += [Waiting(say(N_("Your change")), "", f"/admin/changes/{row['id']}")
              for row in await db.execute(
                  "SELECT id FROM changes WHERE status = 'pending' AND proposed_by = ? "
                  "ORDER BY id", (me,))]
    return items


async def waiting_counts(db) -> dict[str, int]:
    """How many of each kind wait, whoever proposed them; each count links to its own list."""
    return {
        "suggestions": await db.scalar(
            "SELECT COUNT(*) FROM suggestions WHERE status = 'waiting'"),
        "alerts": await db.scalar(
            "SELECT COUNT(*) FROM alerts WHERE status = 'pending' "
            "OR (status = 'sent' AND proposed IS NOT NULL)"),
        # An import's listings count once, as the import.
        "listings": await db.scalar(
            "SELECT COUNT(*) FROM listings WHERE status = 'pending' AND batch_id IS NULL"),
        "changes": await db.scalar("SELECT COUNT(*) FROM changes WHERE status = 'pending'"),
        "imports": await db.scalar(
            "SELECT COUNT(*) FROM import_batches WHERE status = 'pending'"),
    }


def topic_name(topic: str, tr: Translator) -> str:
    """A push topic as organizers say it: a state's name, all states, urgent calls."""
    if topic == push.TOPIC_ALL:
        return tr.plain(N_("All states"))
    if topic == push.TOPIC_URGENT:
        return tr.plain(N_("Urgent calls anywhere"))
    code = topic.removeprefix("state:")
    return state_name(code, tr.lang) if code in STATES else topic


async def dashboard(request: Request) -> Response:
    db = services(request).db
    me = organizer(request)["name"]
    tr = translator(request)
    usual = await usual_choices(db, me)
    growth = await push.subscription_growth(db)
    sms_on = services(request).settings.sms_on
    return admin_page(
        request, "admin/dashboard.html", sms=await sms.counts(db) if sms_on else None,
        send_alert=new_alert_url(usual),
        usual_states=[state_name(s, tr.lang) if s in STATES else tr.plain(N_("All states"))
                      for s in usual.get("states", [])],
        waiting=await waiting_for(db, me, tr), counts=await waiting_counts(db),
        theirs=await waiting_for_others(db, me, tr),
        topics=[(topic_name(t, tr), n) for t, n in (await push.topic_counts(db)).items()],
        entries=await described(db, await audit.recent(db, 10), tr),
        growth=[{"hour": h.hour.isoformat(), "added": h.added, "removed": h.removed,
                 # Kept on one line: "Sun 17:00".
                 "label": format_skeleton("EHm", h.hour, tzinfo=UTC, locale=tr.lang)
                 .replace(" ", "\u00a0")} for h in growth],
    )


def routes() -> list[BaseRoute]:
    return [Route("/admin/", dashboard)]

