"""Web Push: the subscription API and its allowlist, the outbox, and the sender against a
real (loopback) push service that checks VAPID and decrypts every message."""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.routing import Mount

from server import push
from server.app import create_app
from server.auth import SharedLimit
from server.config import DEFAULT_PUSH_HOSTS
from server.database import Database
from server.vapid import application_server_key, load_private_key
from server.views import push_api
from tests import dbtools
from tests.conftest import make_settings
from tests.pushservice import PushService

ORIGIN = "http://127.0.0.1:9999"
HOSTS = DEFAULT_PUSH_HOSTS + (ORIGIN,)
FCM = "https://fcm.googleapis.com/fcm/send/"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fresh_keys() -> dict:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {"p256dh": b64(raw), "auth": b64(os.urandom(16))}


def sub_body(endpoint: str = FCM + "abc123", topics=("all",), keys: dict | None = None) -> dict:
    return {
        "subscription": {"endpoint": endpoint, "expirationTime": None,
                         "keys": keys or fresh_keys()},
        "topics": list(topics),
    }


# ---------------------------------------------------------------- the API


@pytest.fixture
async def api(tmp_path):
    settings = make_settings(tmp_path, push_hosts=HOSTS)
    async with dbtools.database(settings.db_path) as db:
        app = Starlette(routes=[Mount("/api/v1", routes=push_api.routes())])
        app.state.vigil = SimpleNamespace(
            settings=settings,
            db=db,
            vapid_public_key=application_server_key(load_private_key(settings)),
            subscribe_limit=SharedLimit(db, settings.secret_key, "subscribe",
                                        push_api.SUBSCRIPTIONS_PER_CLIENT, 3600),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            c.db = db
            yield c


async def test_public_key(api):
    res = await api.get("/api/v1/push/key")
    assert res.status_code == 200
    assert res.headers["cache-control"] == "no-store"
    raw = base64.urlsafe_b64decode(res.json()["publicKey"] + "==")
    assert len(raw) == 65 and raw[0] == 4


async def test_subscribe_then_update_then_delete(api):
    body = sub_body(topics=["state:OR"])
    res = await api.post("/api/v1/push/subscriptions", json=body)
    assert res.status_code == 201, res.text
    assert res.headers["cache-control"] == "no-store"
    body["topics"] = ["state:WA", "urgent"]
    res = await api.post("/api/v1/push/subscriptions", json=body)
    assert res.status_code == 200
    topics = await api.db.execute("SELECT topic FROM subscription_topics ORDER BY topic")
    assert [r[0] for r in topics] == ["state:WA", "urgent"]
    assert await api.db.scalar("SELECT COUNT(*) FROM subscriptions") == 1

    endpoint = body["subscription"]["endpoint"]
    for _ in range(2):
        res = await api.request("DELETE", "/api/v1/push/subscriptions",
                                json={"endpoint": endpoint})
        assert res.status_code == 204
    assert await api.db.scalar("SELECT COUNT(*) FROM subscriptions") == 0
    assert await api.db.scalar("SELECT COUNT(*) FROM subscription_topics") == 0


@pytest.mark.parametrize(
    "endpoint,message",
    [
        ("http://fcm.googleapis.com/fcm/send/x", "https"),
        ("https://fcm.googleapis.com:8443/fcm/send/x", "443"),
        ("https://127.0.0.1/push/x", "IP address"),
        ("https://[::1]/push/x", "IP address"),
        ("https://169.254.169.254/latest/meta-data", "IP address"),
        ("https://2130706433/push/x", "IP address"),
        ("https://0x7f.1/push/x", "IP address"),
        ("https://0177.0.0.1/push/x", "IP address"),
        ("https://user@fcm.googleapis.com/fcm/send/x", "user name"),
        ("https://fcm.googleapis.com:pw@evil.example/x", "user name"),
        ("https://fcm.googleapis.com.evil.example/fcm/send/x", "not an allowed push service"),
        ("https://notify.windows.com.evil/w/x", "not an allowed push service"),
        ("https://notify.windows.com/w/x", "not an allowed push service"),
        ("https://evilnotify.windows.com/w/x", "not an allowed push service"),
        ("https://example.com/push/x", "not an allowed push service"),
        ("https://fcm.googleapis.com./fcm/send/x", "dot"),
        ("ftp://fcm.googleapis.com/fcm/send/x", "https"),
        ("javascript:alert(1)", "https"),
        ("https://fcm.googleapis.com/fcm/send/" + "a" * 2048, "longer than 2048"),
        ("https://fcm.googleapis.com/fcm/send/x#frag", "fragment"),
        ("https://fcm.googleapis.com/fcm/send/x y", "spaces or control"),
        ("https://fcm.googleapis.com/fcm/send/x\n", "spaces or control"),
        ("https://fcm.googleapis.com\\@evil.example/x", "backslash"),
        ("https://fcm%2egoogleapis.com/x", "percent"),
        ("//fcm.googleapis.com/fcm/send/x", "absolute"),
        ("", "empty"),
        (42, "string"),
        ("http://localhost:9999/push/x", "https"),
        ("http://[::1]:9999/push/x", "IP address"),
        ("http://127.0.0.1:9998/push/x", "IP address"),
        ("https://127.0.0.1:9999/push/x", "IP address"),
    ],
)
async def test_endpoints_outside_the_allowlist_are_refused(api, endpoint, message):
    res = await api.post("/api/v1/push/subscriptions", json=sub_body(endpoint))
    assert res.status_code == 400
    assert message in res.json()["error"]
    assert await api.db.scalar("SELECT COUNT(*) FROM subscriptions") == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        FCM + "abc:APA91b-x_y",
        "https://FCM.GoogleAPIs.com:443/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
        "https://wns2-by3p.notify.windows.com/w/?token=BQYAAAB%2b",
        "https://a.b.notify.windows.com/w/?token=x",
        "https://web.push.apple.com/QGx5ZRe",
        ORIGIN + "/push/abc",
    ],
)
async def test_endpoints_on_the_allowlist_are_accepted(api, endpoint):
    res = await api.post("/api/v1/push/subscriptions", json=sub_body(endpoint))
    assert res.status_code == 201, res.text


@pytest.mark.parametrize("lang", ["de", "ES", "", 5, ["es"], "x" * 500])
async def test_an_unknown_language_is_a_400_with_a_message(api, lang):
    res = await api.post("/api/v1/push/subscriptions", json=sub_body() | {"lang": lang})
    assert res.status_code == 400
    assert "unknown lang" in res.json()["error"] and "'es'" in res.json()["error"]
    assert await api.db.scalar("SELECT COUNT(*) FROM subscriptions") == 0


async def test_the_language_is_kept_and_a_repeat_changes_it(api):
    body = sub_body()
    res = await api.post("/api/v1/push/subscriptions", json=body)
    assert res.status_code == 201 and res.json()["lang"] == "en"
    res = await api.post("/api/v1/push/subscriptions", json=body | {"lang": "es"})
    assert res.status_code == 200 and res.json()["lang"] == "es"
    assert await api.db.scalar("SELECT lang FROM subscriptions") == "es"


def test_endpoint_allowed_function():
    assert push.endpoint_allowed(ORIGIN + "/push/a", (ORIGIN,))
    assert not push.endpoint_allowed("https://127.0.0.1:9999/push/a", (ORIGIN,))
    assert not push.endpoint_allowed(FCM + "x", (ORIGIN,))
    assert push.endpoint_allowed("https://x.push.apple.com/a", ("*.push.apple.com",))
    assert not push.endpoint_allowed("https://push.apple.com/a", ("*.push.apple.com",))
    assert push.endpoint_allowed("http://[::1]:9999/a", ("http://[::1]:9999",))
    assert not push.endpoint_allowed("http://[::1]:9998/a", ("http://[::1]:9999",))
    # IDNA: a full-width lookalike of an allowed host normalises to that host
    assert push.check_endpoint("https://ｆｃｍ.googleapis.com/x", DEFAULT_PUSH_HOSTS) == (
        "https://fcm.googleapis.com/x"
    )


def test_bad_allowlist_entries_are_a_config_error():
    from server.config import ConfigError

    push.check_allowlist(DEFAULT_PUSH_HOSTS + (ORIGIN,))
    for entry in ("fcm.googleapis.com:8443", "127.0.0.1", "*.", "http://x/y/z"):
        with pytest.raises(ConfigError):
            push.check_allowlist((entry,))


def _not_on_curve() -> str:
    return b64(b"\x04" + (1).to_bytes(32, "big") + (1).to_bytes(32, "big"))


@pytest.mark.parametrize(
    "keys,message",
    [
        ({"p256dh": b64(b"\x04" + os.urandom(63)), "auth": b64(os.urandom(16))}, "65-byte"),
        ({"p256dh": _not_on_curve(), "auth": b64(os.urandom(16))}, "curve"),
        ({"p256dh": "not base64!", "auth": b64(os.urandom(16))}, "base64url"),
        ({"p256dh": fresh_keys()["p256dh"], "auth": b64(os.urandom(15))}, "16 bytes"),
        ({"p256dh": fresh_keys()["p256dh"], "auth": b64(os.urandom(32))}, "16 bytes"),
        ({"p256dh": fresh_keys()["p256dh"]}, "auth"),
        ({"p256dh": 5, "auth": b64(os.urandom(16))}, "p256dh"),
    ],
)
async def test_bad_keys_are_refused(api, keys, message):
    body = sub_body()
    body["subscription"]["keys"] = keys
    res = await api.post("/api/v1/push/subscriptions", json=body)
    assert res.status_code == 400
    assert message in res.json()["error"]


@pytest.mark.parametrize(
    "topics,message",
    [
        ([], "non-empty"),
        (None, "non-empty"),
        ("all", "non-empty"),
        (["state:ZZ"], "unknown topic"),
        (["state:or"], "unknown topic"),
        (["everything"], "unknown topic"),
        ([1], "string"),
        (["all", "all"], "repeat"),
        (["all"] * 61, "at most 60"),
    ],
)
async def test_bad_topics_are_refused(api, topics, message):
    body = sub_body()
    body["topics"] = topics
    res = await api.post("/api/v1/push/subscriptions", json=body)
    assert res.status_code == 400
    assert message in res.json()["error"]


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b'{"topics": ["all"]}', b'{"subscription": "x"}', b"\xff\xfe",
     b"[" * 5000],
)
async def test_malformed_bodies_are_400(api, content):
    res = await api.post("/api/v1/push/subscriptions", content=content,
                         headers={"content-type": "application/json"})
    assert res.status_code == 400
    assert res.json()["error"]


async def test_large_bodies_are_413(tmp_path):
    """The app's one body limit covers the push API, by Content-Length and as it streams."""
    app = create_app(make_settings(tmp_path, push_hosts=HOSTS))
    too_big = 64 * 1024 + 1
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            body = sub_body()
            body["padding"] = "x" * too_big
            res = await api.post("/api/v1/push/subscriptions", json=body)
            assert res.status_code == 413

            async def stream():  # no Content-Length: the limit applies as it arrives
                yield b'{"padding": "'
                for _ in range(too_big // 1000 + 1):
                    yield b"x" * 1000
                yield b'"}'

            res = await api.post("/api/v1/push/subscriptions", content=stream(),
                                 headers={"content-type": "application/json"})
            assert res.status_code == 413
            small = await api.post("/api/v1/push/subscriptions", json=sub_body())
            assert small.status_code == 201
        assert await app.state.vigil.db.scalar("SELECT COUNT(*) FROM subscriptions") == 1


async def test_delete_needs_an_endpoint(api):
    for payload in ({}, {"endpoint": 5}, [], {"endpoint": ""}):
        res = await api.request("DELETE", "/api/v1/push/subscriptions", json=payload)
        assert res.status_code == 400
    res = await api.request("DELETE", "/api/v1/push/subscriptions", content=b"nope")
    assert res.status_code == 400


async def test_nothing_about_the_person_is_stored(api):
    body = sub_body(topics=["state:OR", "urgent"])
    res = await api.post(
        "/api/v1/push/subscriptions",
        json=body,
        headers={"User-Agent": "Mozilla/5.0 TellTale", "X-Forwarded-For": "203.0.113.9"},
    )
    assert res.status_code == 201
    columns = await _columns(api.db, "subscriptions")
    assert columns == ["id", "endpoint", "p256dh", "auth", "created", "lang", "refusals"]
    (row,) = await api.db.execute("SELECT * FROM subscriptions")
    sub = body["subscription"]
    assert row["endpoint"] == sub["endpoint"]
    assert row["p256dh"] == sub["keys"]["p256dh"]
    assert row["auth"] == sub["keys"]["auth"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["created"])  # the day, not the moment
    topic_columns = await _columns(api.db, "subscription_topics")
    assert topic_columns == ["subscription_id", "topic"]
    growth = await _columns(api.db, "subscription_growth")
    assert growth == ["hour", "added", "removed"]  # counts, never linked to a subscription
    dump = "\n".join(await _dump(api.db))
    assert "TellTale" not in dump and "203.0.113.9" not in dump


async def _columns(db: Database, table: str) -> list[str]:
    return [r[0] for r in await db.execute(db.dialect.table_columns, (table,))]


async def _dump(db: Database) -> list[str]:
    tables = [r[0] for r in await db.execute(db.dialect.tables)]
    lines = []
    for table in tables:
        for row in await db.execute(f"SELECT * FROM {table}"):
            lines.append(repr(tuple(row)))
    return lines


# ---------------------------------------------------------------- messages


def test_listing_message():
    now = datetime(2030, 5, 1, 12, tzinfo=UTC)
    listing = {
        "slug": "portland-or-vigil", "kind": "vigil", "title": "Vigil at the ICE office",
        "city": "Portland", "state": "OR", "starts": "2030-05-02T18:00:00-07:00",
        "address": "4310 SW Macadam Ave",
        "description": {"en": "Bring candles.", "es": "Traiga velas."},
    }
    message = push.listing_message(listing, BASE, now=now)
    payload, topics, ttl, urgency, topic = (message.payload, message.topics, message.ttl,
                                            message.urgency, message.topic_header)
    push.check_declarative(payload)
    note = payload["notification"]
    assert note["title"] == "New vigil in Portland, OR: Vigil at the ICE office"
    assert note["navigate"] == BASE + "/listings/portland-or-vigil"
    assert payload["urgent"] is False and note["tag"] == "listing-portland-or-vigil"
    assert "requireInteraction" not in note and note["lang"] == "en"
    assert "Bring candles." in note["body"]
    spanish = message.payload_for("es")["notification"]
    assert spanish["title"] == "Nueva vigilia en Portland, OR: Vigil at the ICE office"
    assert spanish["navigate"] == BASE + "/es/listings/portland-or-vigil"
    assert "Traiga velas." in spanish["body"] and spanish["lang"] == "es"
    assert spanish["tag"] == note["tag"]
    assert topics == ["all", "state:OR"]
    assert ttl == int((datetime(2030, 5, 3, 1, tzinfo=UTC) - now).total_seconds())
    assert urgency == "normal"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", topic)
    past = dict(listing, starts="2020-01-01")
    assert push.listing_message(past, BASE, now=now).ttl == 24 * 3600
    far = dict(listing, starts="2031-01-01")
    assert push.listing_message(far, BASE, now=now).ttl == push.MAX_TTL
    undated = dict(listing, starts=None)
    assert push.listing_message(undated, BASE, now=now).ttl == 24 * 3600


def test_alert_message_is_declarative_push_and_versions_share_a_tag():
    now = datetime(2030, 5, 1, 12, tzinfo=UTC)
    alert = {"id": 7, "revision": 1, "title": "Raid reported", "body": "Go now",
             "url": "http://testserver/listings/x", "states": ["WA"], "urgent": True,
             "expires": None}
    first = push.alert_message(alert, "http://testserver", now)
    payload, topics, ttl, urgency, topic = (first.payload, first.topics, first.ttl,
                                            first.urgency, first.topic_header)
    assert topics == ["all", "state:WA", "urgent"]
    assert (ttl, urgency) == (4 * 3600, "high")
    assert payload == {
        "web_push": 8030, "mutable": True, "urgent": True,
        "notification": {"title": "Raid reported", "body": "Go now",
                         "navigate": "http://testserver/listings/x", "tag": "alert-7",
                         "lang": "en", "dir": "ltr", "silent": False,
                         "requireInteraction": True, "renotify": True},
    }
    # No Spanish text: Spanish subscribers get the English words, in a Spanish frame.
    es = first.payload_for("es")["notification"]
    assert (es["title"], es["lang"]) == ("Raid reported", "es")
    assert es["navigate"] == "http://testserver/es/listings/x"
    fixed = dict(alert, revision=2, title="Raid reported (corrected)", urgent=False,
                 expires=(now + timedelta(hours=2)).isoformat())
    second = push.alert_message(fixed, "http://testserver", now)
    assert second.topic_header == topic and second.payload["notification"]["tag"] == "alert-7"
    assert second.payload["notification"]["title"].startswith("Updated: ")
    assert "requireInteraction" not in second.payload["notification"]
    assert (second.ttl, second.urgency) == (7200, "normal")
    assert "urgent" not in second.topics
    gone = dict(alert, status="retracted", title_es="Redada", body_es="Vaya ya")
    withdrawn = push.alert_message(gone, "http://testserver", now)
    assert withdrawn.payload["notification"]["title"].startswith("Withdrawn")
    assert withdrawn.payload_for("es")["notification"]["title"] == "Retirada: Redada"
    everywhere = dict(alert, states=[], urgent=False)
    third = push.alert_message(everywhere, "http://testserver", now)
    assert "state:OR" in third.topics and "state:PR" in third.topics
    assert third.ttl == 24 * 3600
    offsite = dict(alert, url="https://evil.example/phish")
    assert (push.alert_message(offsite, "http://testserver", now)
            .payload["notification"]["navigate"]) == "http://testserver/"
    feed = dict(alert, url="/feed.atom")
    assert (push.alert_message(feed, "http://testserver", now).payload_for("es")
            ["notification"]["navigate"]) == "http://testserver/feed.atom"


def test_alert_in_spanish_for_spanish_subscribers():
    alert = {"id": 9, "revision": 2, "title": "Vigil moved", "body": "Now at the park",
             "title_es": "La vigilia cambió de lugar", "body_es": "Ahora en el parque",
             "url": None, "states": ["OR"], "urgent": False, "expires": None}
    message = push.alert_message(alert, BASE)
    es = json.loads(message.checked_json("es"))
    assert es["notification"]["title"] == "Actualización: La vigilia cambió de lugar"
    assert es["notification"]["body"] == "Ahora en el parque"
    assert es["notification"]["lang"] == "es"
    en = json.loads(message.checked_json("en"))
    assert en["notification"]["title"] == "Updated: Vigil moved"


@pytest.mark.parametrize("broken, field", [
    ({"web_push": 8031}, "web_push"),
    ({"mutable": False}, "mutable"),
    ({"notification": "x"}, "notification"),
    ({"notification": {"title": "t", "body": "b", "tag": "t", "lang": "en",
                       "navigate": "/relative"}}, "navigate"),
    ({"notification": {"title": "", "body": "b", "tag": "t", "lang": "en",
                       "navigate": "https://a.example/"}}, "title"),
    ({"notification": {"title": "t", "body": "b", "tag": "t", "lang": "de",
                       "navigate": "https://a.example/"}}, "lang"),
])
def test_checked_json_refuses_what_a_browser_would_not_show(broken, field):
    payload = push.build_payload("t", "b", BASE + "/", "t1", True) | broken
    with pytest.raises(ValueError, match=field):
        push.Message(payload, ["all"], 60, "high", "t1").checked_json()


def test_payloads_stay_small():
    listing = {"slug": "x", "kind": "vigil", "title": "T" * 500, "city": "Ciudad", "state": "PR",
               "description": "ñ€😀" * 3000}
    message = push.listing_message(listing, BASE)
    for lang in ("en", "es"):
        assert len(message.checked_json(lang)) < 3000
        note = message.payload_for(lang)["notification"]
        assert len(note["title"]) <= 120 and note["body"].endswith("…")


def test_first_retries_come_within_seconds_then_back_off(psettings, db):
    sender = push.PushSender(psettings, db, load_private_key(psettings))
    waits = [sender.retry_delay(n) for n in range(1, 6)]
    assert waits[0] <= 2 and waits[1] <= 6  # a push service's hiccup delays an alert by seconds
    assert waits[2] >= 20 and waits[3] > waits[2] and waits[4] > waits[3]


def test_same_origin_url():
    base = "https://vigil.example"
    assert push.same_origin_url("/listings/a", base) == "/listings/a"
    assert push.same_origin_url("https://vigil.example/about", base) == "/about"
    assert push.same_origin_url("https://vigil.example", base) == "/"
    assert push.same_origin_url("https://vigil.example.evil/x", base) is None
    assert push.same_origin_url("//evil.example/x", base) is None
    assert push.same_origin_url("/\\evil.example", base) is None
    assert push.same_origin_url("javascript:alert(1)", base) is None


def test_retry_after_parsing():
    assert push.parse_retry_after("120") == 120
    now = time.time()
    later = datetime.fromtimestamp(now + 60, UTC)
    assert 58 <= push.parse_retry_after(format_datetime(later, usegmt=True), now) <= 61
    assert push.parse_retry_after("soon") is None
    assert push.parse_retry_after(None) is None


async def test_enqueue_validates_and_writes_nothing_it_refuses(tmp_path):
    ok = push.Message(push.build_payload("t", "b", BASE + "/", "t", False), ["all"], 60,
                      "normal", "t")
    long_body = dict(ok.payload["notification"], body="x" * 5000)
    bad = [
        dataclasses.replace(ok, topics=["nope"]),
        dataclasses.replace(ok, topics=[]),
        dataclasses.replace(ok, urgency="urgentest"),
        dataclasses.replace(ok, topic_header="not a topic!"),
        dataclasses.replace(ok, payload=dict(ok.payload, notification=long_body)),
        dataclasses.replace(ok, payload=dict(ok.payload, urgent="yes")),
        dataclasses.replace(ok, payload_es=dict(ok.payload, web_push=1)),
    ]
    async with dbtools.database(tmp_path / "v.db") as db:
        await queue(db, ok)
        for message in bad:
            with pytest.raises(ValueError):
                await queue(db, message)
        assert await db.scalar("SELECT COUNT(*) FROM push_messages") == 1


# ---------------------------------------------------------------- the sender


@pytest.fixture
def service():
    with PushService() as svc:
        yield svc
    assert svc.errors == []


@pytest.fixture
def psettings(tmp_path, service):
    return make_settings(
        tmp_path, push_hosts=(service.origin,), push_timeout=0.5, push_max_attempts=4,
        push_concurrency=8,
    )


@pytest.fixture
async def db(psettings):
    async with dbtools.database(psettings.db_path) as database:
        yield database


def make_sender(settings, db, **kw) -> push.PushSender:
    kw = dict(quick_retries=(0.05,), backoff_base=0.05, backoff_cap=0.2,
              flush_interval=0.02) | kw
    return push.PushSender(settings, db, load_private_key(settings), **kw)


@pytest.fixture
async def sender(psettings, db):
    s = make_sender(psettings, db)
    await s.start()
    yield s
    await s.stop()


async def subscribe(db, service, topics, settings, **kw):
    sub = service.new_subscription(**kw)
    body = {"subscription": sub.subscription_info(), "topics": list(topics)}
    await push.save_subscription(db, *push.validate_subscription(body, settings.push_hosts))
    return sub


BASE = "http://testserver"
LISTING = {"slug": "portland-or-vigil", "kind": "vigil", "title": "Vigil at the ICE office",
           "city": "Portland", "state": "OR", "starts": None}


async def queue(db, message: push.Message, sender=None) -> int:
    """Enqueue in a transaction of its own and wake the sender after the commit."""
    mid = await db.write_fn(lambda conn: push.enqueue(conn, message))
    if sender is not None:
        sender.wake()
    return mid


async def send(db, sender, message) -> int:
    mid = await queue(db, message, sender)
    await sender.idle()
    return mid


async def test_every_message_has_an_id_of_its_own_in_both_languages(
        db, service, sender, psettings):
    """The id a phone uses to show a message once: one per message, shared by all its copies
    (whatever the subscriber's language), new for the next message, a correction included."""
    subs = []
    for lang in ("en", "es", "en"):
        sub = service.new_subscription()
        body = {"subscription": sub.subscription_info(), "topics": ["all"], "lang": lang}
        await push.save_subscription(db, *push.validate_subscription(body, psettings.push_hosts))
        subs.append(sub)
    alert = {"id": 7, "title": "Vigil moved", "body": "To the park.", "title_es": "Se movió",
             "body_es": "Al parque.", "states": ["OR"], "urgent": False, "revision": 1}
    await send(db, sender, push.alert_message(alert, BASE))
    await send(db, sender, push.alert_message({**alert, "revision": 2}, BASE))
    received = await service.wait_for_async(6)
    ids = {}
    for msg in received:
        note = msg.json()["notification"]
        ids.setdefault(note["title"].startswith(("Updated", "Actualiz")),
                       set()).add((note["data"]["id"], note["lang"]))
    first, correction = ids[False], ids[True]
    assert {lang for _, lang in first} == {"en", "es"} == {lang for _, lang in correction}
    assert len({i for i, _ in first}) == 1 and len({i for i, _ in correction}) == 1
    assert {i for i, _ in first} != {i for i, _ in correction}
    assert {m.sub_id for m in received} == {s.id for s in subs}


async def test_delivery_decrypts_with_headers(db, service, sender, psettings):
    sub = await subscribe(db, service, ["state:OR"], psettings)
    message = push.listing_message(LISTING, BASE)
    mid = await send(db, sender, message)
    (msg,) = await service.wait_for_async(1)
    assert msg.sub_id == sub.id
    received = msg.json()
    assert re.fullmatch(r"[A-Za-z0-9_-]{12}", received["notification"].pop("data")["id"])
    assert received == message.payload
    assert 24 * 3600 - 10 <= msg.ttl <= 24 * 3600
    assert msg.urgency == "normal"
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", msg.topic)
    assert "portland" not in msg.topic  # the slug stays out of what the push service sees
    assert msg.vapid_claims["sub"] == psettings.vapid_subject
    assert msg.vapid_claims["aud"] == service.origin
    assert 0 < msg.vapid_claims["exp"] - time.time() <= 24 * 3600  # RFC 8292's limit
    assert msg.vapid_key == application_server_key(load_private_key(psettings))
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 1, "failed": 0, "gone": 0}
    assert service.rejected == []


async def test_the_largest_payload_vigil_builds_is_accepted(db, service, sender, psettings):
    """Clipped to MAX_PAYLOAD, padded and encrypted, the biggest notification still fits the
    4096 bytes a push service takes."""
    await subscribe(db, service, ["all"], psettings)
    listing = dict(LISTING, title="😀" * 500, description="😀" * 3000)
    message = push.listing_message(listing, psettings.base_url)
    assert len(message.checked_json()) > push.MAX_PAYLOAD * 2 // 3  # near the limit
    mid = await send(db, sender, message)
    received = (await service.wait_for_async(1))[0].json()
    assert received["notification"].pop("data")["id"] and received == message.payload
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 1, "failed": 0, "gone": 0}


async def test_each_subscriber_gets_their_language(db, service, sender, psettings):
    english = await subscribe(db, service, ["state:OR"], psettings)
    spanish = service.new_subscription()
    body = {"subscription": spanish.subscription_info(), "topics": ["urgent"], "lang": "es"}
    await push.save_subscription(db, *push.validate_subscription(body, psettings.push_hosts))
    alert = {"id": 4, "revision": 1, "title": "Raid at the office", "body": "Come now",
             "title_es": "Redada en la oficina", "body_es": "Venga ahora", "url": "/",
             "states": ["OR"], "urgent": True, "expires": None}
    await send(db, sender, push.alert_message(alert, psettings.base_url))
    (en,) = service.messages_for(english)
    (es,) = service.messages_for(spanish)
    assert en.json()["notification"]["title"] == "Raid at the office"
    assert es.json()["notification"] == dict(
        en.json()["notification"], title="Redada en la oficina", body="Venga ahora",
        lang="es", navigate=psettings.base_url + "/es/")
    for msg in (en, es):
        push.check_declarative(msg.json())


async def test_topic_filtering(db, service, sender, psettings):
    oregon = await subscribe(db, service, ["state:OR"], psettings)
    washington = await subscribe(db, service, ["state:WA"], psettings)
    everything = await subscribe(db, service, ["all"], psettings)
    urgent = await subscribe(db, service, ["urgent"], psettings)

    def got() -> dict[str, list[str]]:
        out = collections.defaultdict(list)
        for m in service.messages:
            out[m.sub_id].append(m.json()["notification"]["tag"])
        service.clear()
        return out

    await send(db, sender, push.listing_message(LISTING, BASE))
    assert set(got()) == {oregon.id, everything.id}

    alert = {"id": 1, "revision": 1, "title": "Raid", "body": "Now", "url": "/",
             "states": ["WA"], "urgent": True, "expires": None}
    await send(db, sender, push.alert_message(alert, psettings.base_url))
    received = got()
    assert set(received) == {washington.id, everything.id, urgent.id}
    assert [m for ms in received.values() for m in ms] == ["alert-1"] * 3

    calm = dict(alert, id=2, states=[], urgent=False)
    await send(db, sender, push.alert_message(calm, psettings.base_url))
    assert set(got()) == {oregon.id, washington.id, everything.id}


async def test_urgent_alert_headers_and_one_copy_per_subscriber(db, service, sender, psettings):
    sub = await subscribe(db, service, ["all", "state:WA", "urgent", "state:OR"], psettings)
    alert = {"id": 3, "revision": 1, "title": "Raid", "body": "Now", "url": "/",
             "states": ["WA", "OR"], "urgent": True, "expires": None}
    mid = await send(db, sender, push.alert_message(alert, psettings.base_url))
    assert service.attempts[sub.id] == 1
    (msg,) = service.messages
    assert msg.urgency == "high" and 4 * 3600 - 10 <= msg.ttl <= 4 * 3600
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 1, "failed": 0, "gone": 0}
    corrected = dict(alert, revision=2, title="Raid (corrected)")
    await send(db, sender, push.alert_message(corrected, psettings.base_url))
    first, second = service.messages
    assert first.topic == second.topic  # the correction replaces the original


@pytest.mark.parametrize("behaviour", ["404", "410"])
async def test_gone_subscriptions_are_deleted(db, service, sender, psettings, behaviour):
    sub = await subscribe(db, service, ["all"], psettings)
    keep = await subscribe(db, service, ["all"], psettings)
    service.set_behaviour(sub, behaviour)
    mid = await send(db, sender, push.listing_message(LISTING, BASE))
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 1, "failed": 0, "gone": 1}
    assert await db.scalar("SELECT COUNT(*) FROM subscriptions") == 1
    assert await db.scalar("SELECT COUNT(*) FROM subscription_topics") == 1
    assert [m.sub_id for m in service.messages] == [keep.id]


async def test_a_transient_error_delays_an_alert_by_seconds(db, service, psettings):
    """With the sender's own retry schedule (not the tests' short one), a push service's
    500 costs the alert about a second, not the minutes of a plain exponential backoff."""
    sub = await subscribe(db, service, ["all"], psettings)
    service.set_behaviour(sub, "500", times=1)
    async with make_sender(psettings, db, quick_retries=push.sender.QUICK_RETRIES,
                           backoff_base=30.0) as sender:
        started = time.monotonic()
        await queue(db, push.listing_message(LISTING, BASE), sender)
        await service.wait_for_async(1, timeout=5)
        assert time.monotonic() - started < 3.0
        assert service.attempts[sub.id] == 2


async def test_429_waits_for_retry_after(db, service, sender, psettings):
    sub = await subscribe(db, service, ["all"], psettings)
    service.set_behaviour(sub, "429", times=1, retry_after=1)
    started = time.monotonic()
    mid = await queue(db, push.listing_message(LISTING, BASE), sender)
    (msg,) = await service.wait_for_async(1, timeout=10)
    assert time.monotonic() - started >= 0.9
    assert service.attempts[sub.id] == 2
    await sender.idle()
    assert (await push.delivery_counts(db, mid))["sent"] == 1
    assert msg.json()["notification"]["tag"] == "listing-portland-or-vigil"


async def test_server_errors_are_retried(db, service, sender, psettings):
    sub = await subscribe(db, service, ["all"], psettings)
    service.set_behaviour(sub, "500", times=2)
    mid = await send(db, sender, push.listing_message(LISTING, BASE))
    await service.wait_for_async(1)
    assert service.attempts[sub.id] == 3
    assert (await push.delivery_counts(db, mid))["sent"] == 1


async def test_persistent_errors_fail_after_max_attempts(db, service, sender, psettings):
    sub = await subscribe(db, service, ["all"], psettings)
    service.set_behaviour(sub, "503", retry_after=0)
    other = await subscribe(db, service, ["all"], psettings)
    service.set_behaviour(other, "500")
    mid = await queue(db, push.listing_message(LISTING, BASE), sender)
    deadline = time.monotonic() + 15
    while (await push.delivery_counts(db, mid))["failed"] < 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert service.attempts[sub.id] == psettings.push_max_attempts
    assert service.attempts[other.id] == psettings.push_max_attempts
    rows = await db.execute("SELECT attempts, last_code FROM deliveries ORDER BY last_code")
    assert [tuple(r) for r in rows] == [(4, 500), (4, 503)]
    assert await db.scalar("SELECT COUNT(*) FROM subscriptions") == 2


async def test_vapid_refusals_fail_and_keep_the_subscription(db, service, sender, psettings,
                                                             caplog):
    other_key = application_server_key(ec.generate_private_key(ec.SECP256R1()))
    await subscribe(db, service, ["all"], psettings, application_server_key=other_key)  # 403
    mid = await send(db, sender, push.listing_message(LISTING, BASE))
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 0, "failed": 1, "gone": 0}
    assert await db.scalar("SELECT last_code FROM deliveries") == 403
    assert await db.scalar("SELECT COUNT(*) FROM subscriptions") == 1
    assert "VAPID" in caplog.text
    assert "/push/" not in caplog.text  # hosts only, never the capability URL


async def test_401_fails_and_keeps_the_subscription(db, service, sender, psettings,
                                                    monkeypatch):
    await subscribe(db, service, ["all"], psettings)
    monkeypatch.setattr(sender, "_vapid_header", lambda origin: "vapid t=x.y.z,k=nope")
    mid = await send(db, sender, push.listing_message(LISTING, BASE))
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 0, "failed": 1, "gone": 0}
    assert await db.scalar("SELECT last_code FROM deliveries") == 401
    assert await db.scalar("SELECT COUNT(*) FROM subscriptions") == 1


async def test_413_fails(db, service, sender, psettings):
    sub = await subscribe(db, service, ["all"], psettings)
    service.set_behaviour(sub, "413")
    mid = await send(db, sender, push.listing_message(LISTING, BASE))
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 0, "failed": 1, "gone": 0}
    assert service.attempts[sub.id] == 1
    assert await db.scalar("SELECT COUNT(*) FROM subscriptions") == 1


@pytest.mark.parametrize("behaviour", ["slow", "drop"])
async def test_timeouts_and_dropped_connections_are_retried(db, service, sender, psettings,
                                                            behaviour):
    sub = await subscribe(db, service, ["all"], psettings)
    service.set_behaviour(sub, behaviour, times=1, delay=2.0)
    mid = await queue(db, push.listing_message(LISTING, BASE), sender)
    await service.wait_for_async(1, timeout=10)
    await sender.idle()
    assert service.attempts[sub.id] == 2
    assert len(service.messages) == 1
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 1, "failed": 0, "gone": 0}


async def test_redirects_are_not_followed(db, service, psettings, tmp_path):
    target = service.new_subscription()

    async def redirect(request):
        raise web.HTTPTemporaryRedirect(target.endpoint)

    app = web.Application()
    app.router.add_post("/{tail:.*}", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
        settings = make_settings(tmp_path, push_hosts=(origin, service.origin))
        body = {"subscription": dict(target.subscription_info(), endpoint=origin + "/p/1"),
                "topics": ["all"]}
        await push.save_subscription(db, *push.validate_subscription(body, settings.push_hosts))
        async with make_sender(settings, db) as sender:
            mid = await send(db, sender, push.listing_message(LISTING, BASE))
        assert await db.scalar("SELECT last_code FROM deliveries") == 307
        assert (await push.delivery_counts(db, mid))["failed"] == 1
        assert service.attempts[target.id] == 0
    finally:
        await runner.cleanup()


async def test_expired_messages_are_not_sent(db, service, sender, psettings):
    sub = await subscribe(db, service, ["all"], psettings)
    service.set_behaviour(sub, "500", times=1)
    payload = push.build_payload("t", "b", BASE + "/", "t1", False)
    mid = await queue(db, push.Message(payload, ["all"], 1, "normal", "t1"))
    await db.write("UPDATE push_messages SET created = ?",
                   ((datetime.now(UTC) - timedelta(seconds=5)).isoformat(),))
    sender.wake()
    await sender.idle()
    assert service.attempts[sub.id] == 0
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 0, "failed": 1, "gone": 0}


async def test_unsubscribed_before_sending_is_gone(db, service, psettings):
    sub = await subscribe(db, service, ["all"], psettings)
    mid = await queue(db, push.listing_message(LISTING, BASE))
    await push.delete_subscription(db, sub.endpoint)
    async with make_sender(psettings, db) as sender:
        await sender.idle()
    assert service.attempts[sub.id] == 0
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 0, "failed": 0, "gone": 1}


async def test_endpoints_are_checked_again_when_sending(db, service, psettings, tmp_path):
    sub = await subscribe(db, service, ["all"], psettings)
    narrowed = make_settings(tmp_path, push_hosts=DEFAULT_PUSH_HOSTS)
    async with make_sender(narrowed, db) as sender:
        mid = await send(db, sender, push.listing_message(LISTING, BASE))
    assert service.attempts[sub.id] == 0
    assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 0, "failed": 1, "gone": 0}
    assert await db.scalar("SELECT COUNT(*) FROM subscriptions") == 1


async def test_prune_removes_old_finished_messages(db, service, psettings):
    await subscribe(db, service, ["all"], psettings)
    old = await queue(db, push.listing_message(LISTING, BASE))
    await db.write("UPDATE push_messages SET created = '2000-01-01T00:00:00+00:00'")
    await db.write("UPDATE deliveries SET status = 'sent'")
    new = await queue(db, push.listing_message(LISTING, BASE))
    async with make_sender(psettings, db, prune_after=30 * 24 * 3600) as sender:
        await sender.idle()
    assert await push.delivery_counts(db, old) == dict.fromkeys(push.STATUSES, 0)
    assert (await push.delivery_counts(db, new))["sent"] == 1


async def _many(db, service, settings, n: int, topic: str = "all") -> list:
    subs = [service.new_subscription() for _ in range(n)]
    created = datetime.now(UTC).date().isoformat()

    async def run(conn):
        for sub in subs:
            cur = await conn.execute(
                "INSERT INTO subscriptions (endpoint, p256dh, auth, created) VALUES (?,?,?,?) "
                "RETURNING id", (sub.endpoint, sub.p256dh, sub.auth, created),
            )
            (sub_id,) = await cur.fetchone()
            await conn.execute(
                "INSERT INTO subscription_topics (subscription_id, topic) VALUES (?, ?)",
                (sub_id, topic),
            )

    await db.write_fn(run)
    return subs


async def test_restart_mid_fanout_delivers_everything_once(tmp_path):
    with PushService(delay=0.05) as service:
        settings = make_settings(tmp_path, push_hosts=(service.origin,), push_concurrency=4)
        async with dbtools.database(settings.db_path) as db:
            await _many(db, service, settings, 60)
            mid = await queue(db, push.listing_message(LISTING, BASE))
            first = make_sender(settings, db, batch_size=10)
            await first.start()
            await service.wait_for_async(5)
            await first.stop()
            done = await push.delivery_counts(db, mid)
            assert 5 <= done["sent"] < 60 and done["pending"] == 60 - done["sent"]
            assert len(service.messages) == done["sent"]  # nothing in flight was lost

            # A crash after claiming: rows left 'sending' are resent by the next process.
            await db.write(
                "UPDATE deliveries SET status = 'sending' WHERE subscription_id IN ("
                "SELECT subscription_id FROM deliveries WHERE status = 'pending' LIMIT 3)"
            )
            async with make_sender(settings, db, batch_size=10) as second:
                await second.idle()
            counts = collections.Counter(m.sub_id for m in service.messages)
            assert len(counts) == 60 and set(counts.values()) == {1}
            assert await push.delivery_counts(db, mid) == {"pending": 0, "sent": 60, "failed": 0,
                                                  "gone": 0}
        assert service.errors == []


async def test_fanout_does_not_block_requests(tmp_path):
    with PushService(delay=0.02) as service:
        settings = make_settings(tmp_path, push_hosts=(service.origin,))
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            vigil = app.state.vigil
            db, sender = vigil.db, vigil.push  # the app's own sender
            await _many(db, service, settings, 2000)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                await queue(db, push.listing_message(LISTING, BASE), sender)
                await service.wait_for_async(50)
                slowest = 0.0
                for _ in range(5):
                    started = time.monotonic()
                    res = await c.get("/api/v1/listings")
                    assert res.status_code == 200
                    slowest = max(slowest, time.monotonic() - started)
                assert len(service.messages) < 2000, "the fanout finished too soon to tell"
                assert slowest < 1.0
                await service.wait_for_async(2000, timeout=60)
                await sender.idle()
        counts = collections.Counter(m.sub_id for m in service.messages)
        assert len(counts) == 2000 and set(counts.values()) == {1}
        assert service.errors == []
