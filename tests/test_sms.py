"""Text messages: segments, numbers at rest, the gateway, keywords, the outbox."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.sms import numbers, store, text
from server.sms.gateway import Gateway, signature
from server.sms.sender import PACE_SLACK, SmsSender
from tests import dbtools
from tests.admin_support import csrf_from, hidden_fields, sign_in
from tests.conftest import TEST_SECRET, make_settings
from tests.smsprovider import ACCOUNT, FROM, TOKEN, FakeProvider
from tests.test_organizers import alert_form, switch_to
from tests.test_organizers import make_client as make_client  # noqa: F401 (a fixture)
from tests.test_organizers import push as push  # noqa: F401 (a fixture)


def test_gsm7_and_ucs2_segments():
    assert text.segments("a" * 160) == text.Segments("GSM-7", 1, 160)
    assert text.segments("a" * 161).count == 2
    assert text.segments("a" * 306).count == 2
    assert text.segments("a" * 307).count == 3
    # The extension table costs two septets a character.
    assert text.segments("€" * 80).count == 1
    assert text.segments("€" * 81).count == 2
    # é and ñ are GSM-7; í, ó, á and ú are not: one of them makes it UCS-2.
    assert text.segments("mañana é" + "a" * 150).encoding == "GSM-7"
    assert text.segments("Inmigración" + "a" * 59) == text.Segments("UCS-2", 1, 70)
    assert text.segments("Inmigración" + "a" * 60).count == 2
    assert text.segments("ó" * 134).count == 2
    assert text.segments("ó" * 135).count == 3
    # A character outside the BMP is two UTF-16 units and never split across segments.
    assert text.segments("😀" * 35).count == 1
    assert text.segments("a" * 69 + "😀").count == 2
    assert text.segments("a" * 66 + "😀" + "a" * 66).count == 3  # 66, then 2 + 65, then 1


def test_an_alert_fits_two_segments_in_both_languages_and_keeps_its_link():
    link = "https://vigil.example/es/listings/portland-or-macadam"
    long_title = "Redada en curso: se necesitan observadores legales en la oficina de ICE " * 4
    for title, body in [("Short", "A message."), (long_title, "Vengan ahora " * 30),
                        ("Acción urgente en Tacoma", "Traigan agua. " * 20)]:
        for urgent in (True, False):
            sms = text.alert_sms(title, body, "OR", link, "es", urgent=urgent)
            assert text.segments(sms).count <= 2, sms
            assert sms.endswith(link) and "(OR)" in sms
    short = text.alert_sms("Short", "A message.", "OR, WA", "https://v.example/alerts", "en",
                           urgent=True)
    assert short == "Vigil URGENT: Short (OR, WA). A message. https://v.example/alerts"
    cut = text.alert_sms(long_title, "", "", link, "en", urgent=False)
    assert "..." in cut and text.segments(cut).count == 2
    withdrawn = text.alert_sms("Short", "A message.", "", link, "es", urgent=False,
                               status="retracted")
    assert withdrawn.startswith("Vigil: Retirada: Short") and "message" not in withdrawn


def test_every_reply_fits_one_gsm7_segment():
    for lang in text.LANGS:
        texts = [text.reply(lang, key) for key in ("stopped", "help", "start")]
        texts.append(text.subscribed_reply(lang, ["urgent", "state:OR", "state:WA"]))
        for reply in texts:
            assert text.segments(reply) .encoding == "GSM-7", reply
            assert text.segments(reply).count == 1, (len(reply), reply)


def test_keywords_in_both_languages():
    states = frozenset({"OR", "TX"})
    assert text.parse("vigil or", states) == text.Command("subscribe", "en", "state:OR")
    assert text.parse(" Alertas  TX ", states) == text.Command("subscribe", "es", "state:TX")
    assert text.parse("URGENTE", states) == text.Command("subscribe", "es", "urgent")
    assert text.parse("urgent", states) == text.Command("subscribe", "en", "urgent")
    for word in ("STOP", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT"):
        assert text.parse(word, states) == text.Command("stop", None)
    assert text.parse("parar", states) == text.Command("stop", "es")
    assert text.parse("Baja", states) == text.Command("stop", "es")
    assert text.parse("START", states).action == "start"
    assert text.parse("ayuda", states) == text.Command("help", "es")
    assert text.parse("help", states) == text.Command("help", None)
    assert text.parse("VIGIL ZZ", states) == text.Command("help", "en")


def test_numbers_are_encrypted_and_hashed_with_keys_from_the_secret():
    number = numbers.normalize("(503) 555-0142")
    assert number == "+15035550142"
    blob = numbers.encrypt(TEST_SECRET, number)
    assert number.encode() not in blob and b"5035550142" not in blob
    assert numbers.decrypt(TEST_SECRET, blob) == number
    assert numbers.encrypt(TEST_SECRET, number) != blob  # a fresh nonce each time
    assert numbers.number_hash(TEST_SECRET, number) == numbers.number_hash(TEST_SECRET, number)
    assert numbers.number_hash("another secret", number) != numbers.number_hash(TEST_SECRET,
                                                                                  number)
    with pytest.raises(Exception):  # noqa: B017
        numbers.decrypt("another secret", blob)
    with pytest.raises(numbers.NumberError):
        numbers.normalize("call me")


def test_the_signature_is_twilios():
    # The examples twilio-python's own tests check its RequestValidator against.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
              "To": "+18005551212", "Caller": "+14158675309"}
    assert signature("12345", url, params.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"),
                ("Digits", "1234")]
    assert signature("12345", url, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


async def test_the_gateway_speaks_the_messages_api(tmp_path):
    with FakeProvider() as provider:
        settings = make_settings(tmp_path, **provider.settings())
        gateway = Gateway(settings)
        await gateway.start()
        try:
            answer = await gateway.send("+15035550142", "Hola, mañana")
            assert answer.code == 201 and answer.sid.startswith("SM")
            provider.script.extend([429, 500])
            assert (await gateway.send("+15035550142", "x")).code == 429
            assert (await gateway.send("+15035550142", "x")).retry_after is None
        finally:
            await gateway.close()
        wrong = Gateway(make_settings(tmp_path, **{**provider.settings(),
                                                   "sms_token": "wrong"}))
        await wrong.start()
        try:
            assert (await wrong.send("+15035550142", "x")).code == 401
        finally:
            await wrong.close()
    assert provider.received == [{"To": "+15035550142", "From": provider.sender,
                                  "Body": "Hola, mañana"}]
    assert provider.refused == ["authorization"]


# Inbound texts, through the app as the provider calls it.

NUMBER = "+15035550142"
OTHER = "+15035550199"


@pytest.fixture
def provider():
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def sms_settings(tmp_path, provider):
    return make_settings(tmp_path, sms_rate=1000.0, **provider.settings())


@pytest.fixture
def sms_client(sms_settings):
    with TestClient(create_app(sms_settings), base_url="http://testserver") as c:
        yield c


def text_in(client, body: str, number: str = NUMBER, token: str = TOKEN,
            sign: bool = True, url: str = "http://testserver/sms/inbound"):
    fields = {"From": number, "To": FROM, "Body": body, "MessageSid": "SM" + "0" * 32,
              "AccountSid": ACCOUNT, "NumMedia": "0"}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        headers["X-Twilio-Signature"] = signature(token, url, fields.items())
    return client.post("/sms/inbound", content=urlencode(fields), headers=headers)


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def replies_to(provider, number: str) -> list[str]:
    return [m["Body"] for m in provider.received if m["To"] == number]


def subscribers(settings) -> list[sqlite3.Row]:
    conn = dbtools.connect(settings.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM sms_subscribers ORDER BY id").fetchall()
    finally:
        conn.close()


def test_signing_up_and_stopping_by_text_in_english(sms_client, sms_settings, provider):
    answer = text_in(sms_client, "vigil or")
    assert answer.status_code == 200 and "<Response></Response>" in answer.text
    wait_for(lambda: replies_to(provider, NUMBER))
    assert replies_to(provider, NUMBER) == [
        "Vigil: you will get alerts for OR. Up to a few texts a day. Reply STOP to stop and "
        "delete your number, HELP for help."]
    text_in(sms_client, "URGENT")
    wait_for(lambda: len(replies_to(provider, NUMBER)) == 2)
    assert "OR, urgent calls anywhere" in replies_to(provider, NUMBER)[1]
    [row] = subscribers(sms_settings)
    assert (row["lang"], json.loads(row["topics"]), row["confirmed"]) == (
        "en", ["state:OR", "urgent"], 1)
    assert NUMBER.encode() not in row["number_enc"] and NUMBER[2:] not in row["number_hash"]
    text_in(sms_client, "HELP")
    wait_for(lambda: len(replies_to(provider, NUMBER)) == 3)
    assert replies_to(provider, NUMBER)[2].startswith("Vigil alerts for vigils")
    text_in(sms_client, "Stop")
    wait_for(lambda: len(replies_to(provider, NUMBER)) == 4)
    assert replies_to(provider, NUMBER)[3] == (
        "Vigil: you will get no more texts. Your number is deleted.")
    assert subscribers(sms_settings) == []
    text_in(sms_client, "START")
    wait_for(lambda: len(replies_to(provider, NUMBER)) == 5)
    assert "text VIGIL and a state code" in replies_to(provider, NUMBER)[4]
    assert subscribers(sms_settings) == []
    # Nothing keeps the number once the replies are sent.
    raw = dbtools.stored_bytes(sms_settings.db_path)
    assert NUMBER.encode() not in raw and b"5035550142" not in raw


def test_signing_up_and_stopping_by_text_in_spanish(sms_client, sms_settings, provider):
    text_in(sms_client, "Alertas TX", number=OTHER)
    wait_for(lambda: replies_to(provider, OTHER))
    assert replies_to(provider, OTHER)[0].startswith("Vigil: recibira alertas de TX.")
    [row] = subscribers(sms_settings)
    assert row["lang"] == "es" and json.loads(row["topics"]) == ["state:TX"]
    text_in(sms_client, "ayuda", number=OTHER)
    wait_for(lambda: len(replies_to(provider, OTHER)) == 2)
    assert "Envie ALERTAS" in replies_to(provider, OTHER)[1]
    # STOP, the carriers' word, answers in the subscriber's language.
    text_in(sms_client, "STOP", number=OTHER)
    wait_for(lambda: len(replies_to(provider, OTHER)) == 3)
    assert replies_to(provider, OTHER)[2] == (
        "Vigil: no recibira mas textos. Su numero fue borrado.")
    assert subscribers(sms_settings) == []
    text_in(sms_client, "URGENTE", number=OTHER)
    text_in(sms_client, "baja", number=OTHER)
    wait_for(lambda: len(replies_to(provider, OTHER)) == 5)
    assert subscribers(sms_settings) == []


def test_a_forged_or_unsigned_text_is_refused_before_anything_happens(sms_client,
                                                                       sms_settings, provider):
    assert text_in(sms_client, "VIGIL OR", sign=False).status_code == 403
    assert text_in(sms_client, "VIGIL OR", token="not the token").status_code == 403
    assert text_in(sms_client, "VIGIL OR",
                   url="http://testserver/sms/other").status_code == 403
    # A valid signature over other fields does not carry over to these.
    fields = {"From": NUMBER, "To": FROM, "Body": "VIGIL OR"}
    forged = signature(TOKEN, "http://testserver/sms/inbound", {**fields, "Body": "HELP"}.items())
    answer = sms_client.post("/sms/inbound", content=urlencode(fields),
                             headers={"Content-Type": "application/x-www-form-urlencoded",
                                      "X-Twilio-Signature": forged})
    assert answer.status_code == 403
    assert subscribers(sms_settings) == []
    conn = dbtools.connect(sms_settings.db_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM sms_outbox").fetchone()[0] == 0
    finally:
        conn.close()
    assert provider.received == []


def test_with_no_gateway_there_is_no_inbound_address(client):
    assert text_in(client, "VIGIL OR").status_code == 404
    assert client.post("/es/sms/inbound").status_code == 404


# Sending: alerts from the organizers' pages, then the outbox against the fake provider.


def test_an_approved_alert_is_texted_to_its_states_and_urgent_numbers_in_their_language(
        make_client, provider):
    client, settings = make_client(organizers=("ana", "ben"), sms_rate=1000.0,
                                   **provider.settings())
    text_in(client, "VIGIL OR", number="+15035550001")
    text_in(client, "ALERTAS WA", number="+12065550002")
    text_in(client, "URGENT", number="+13125550003")
    wait_for(lambda: len(provider.received) == 3)
    provider.received.clear()
    csrf = sign_in(client, "ana")
    res = client.post("/admin/alerts/new", follow_redirects=False, data=alert_form(
        csrf, title_es="Urgente: se necesitan observadores legales",
        message_es="Venga al NWDC de Tacoma ahora."))
    alert_url = res.headers["location"].split("?")[0]
    time.sleep(1.5)  # the sender looks at the outbox every second: nothing is there
    assert provider.received == []
    switch_to(client, "ben")
    client.post(alert_url + "/approve",
                data=hidden_fields(client.get(alert_url).text, alert_url + "/approve"))
    wait_for(lambda: len(provider.received) == 2)
    got = {m["To"]: m["Body"] for m in provider.received}
    assert got == {
        "+12065550002": "Vigil URGENTE: Urgente: se necesitan observadores legales (WA). "
                        "Venga al NWDC de Tacoma ahora. http://testserver/es/legal",
        "+13125550003": "Vigil URGENT: Urgent: legal observers needed (WA). "
                        "Come to the Tacoma NWDC now. http://testserver/legal"}
    # A retraction, once confirmed by a second organizer, goes to the same numbers.
    provider.received.clear()
    page = client.get(alert_url).text
    client.post(alert_url + "/retract", data={"csrf": csrf_from(page)})
    switch_to(client, "ana")
    page = client.get(alert_url).text
    client.post(alert_url + "/confirm-retraction", data={"csrf": csrf_from(page)})
    wait_for(lambda: len(provider.received) == 2)
    got = {m["To"]: m["Body"] for m in provider.received}
    assert got["+12065550002"].startswith("Vigil URGENTE: Retirada: Urgente: se necesitan")
    assert got["+13125550003"].startswith("Vigil URGENT: Withdrawn: Urgent: legal observers")
    time.sleep(1.2)
    assert len(provider.received) == 2  # each once


async def fanout_db(tmp_path, provider, count: int, rate: float, **extra):
    settings = make_settings(tmp_path, sms_rate=rate, **provider.settings(), **extra)
    db = await dbtools.database(settings.db_path).connect()
    for i in range(count):
        await db.write_fn(lambda conn, i=i: store.handle_text(
            conn, settings.secret_key, f"+1503555{i:04d}", "VIGIL OR"))
    await db.write("DELETE FROM sms_outbox")
    return settings, db


ALERT = {"id": 7, "title": "Come now", "body": "", "states": ["OR"], "urgent": 1,
         "url": "/legal", "status": "sent", "revision": 1}


async def test_stop_during_a_fanout_cancels_what_is_still_queued(tmp_path, provider):
    settings, db = await fanout_db(tmp_path, provider, 40, rate=50.0)
    try:
        assert await db.write_fn(lambda conn: store.queue_alert(conn, ALERT, "http://t")) == 40
        sender = await SmsSender(settings, db).start()
        try:
            await asyncio.to_thread(wait_for, lambda: len(provider.received) >= 5)
            await db.write_fn(lambda conn: store.handle_text(
                conn, settings.secret_key, "+15035550035", "STOP"))
            sender.wake()
            await asyncio.wait_for(sender.idle(), 20)
        finally:
            await sender.stop()
        bodies = [(m["To"], m["Body"]) for m in provider.received]
        alerts = [to for to, body in bodies if body.startswith("Vigil URGENT")]
        assert len(alerts) == len(set(alerts)) == 39
        assert "+15035550035" not in alerts
        assert ("+15035550035", text.reply("en", "stopped")) in bodies
        assert await db.scalar("SELECT COUNT(*) FROM sms_subscribers") == 39
        assert await db.scalar("SELECT COUNT(*) FROM sms_outbox WHERE sid IS NULL") == 0
        assert await db.scalar(
            "SELECT COUNT(*) FROM sms_outbox WHERE number_enc IS NOT NULL") == 0
    finally:
        await db.close()


async def test_429_and_500_are_retried_with_a_pause_then_sent(tmp_path, provider,
                                                               monkeypatch, caplog):
    from server.sms import sender as sender_module

    monkeypatch.setattr(sender_module, "QUICK_RETRIES", (0.05, 0.1))
    settings, db = await fanout_db(tmp_path, provider, 2, rate=100.0)
    caplog.set_level(logging.DEBUG)
    try:
        await db.write_fn(lambda conn: store.queue_alert(conn, ALERT, "http://t"))
        provider.script.extend([429, 500])
        started = time.monotonic()
        sender = await SmsSender(settings, db).start()
        try:
            await asyncio.wait_for(sender.idle(), 20)
        finally:
            await sender.stop()
        # The 429 asked for a second's pause (Retry-After: 1): nothing went out meanwhile.
        assert time.monotonic() - started >= 1.0
        assert provider.count == 4 and len(provider.received) == 2
        rows = await db.execute("SELECT status, attempts, last_code, sid FROM sms_outbox "
                                "ORDER BY id")
        # Both went at once: one was answered 429, the other 500, and each went again.
        assert sorted(tuple(r)[:3] for r in rows) == [("sent", 2, 201), ("sent", 2, 201)]
        assert all(r["sid"].startswith("SM") for r in rows)
    finally:
        await db.close()
    logged = caplog.text
    assert "429" in logged and "500" in logged
    for i in range(2):
        assert f"555{i:04d}" not in logged


async def test_a_refusal_fails_the_text_and_retries_give_up(tmp_path, provider, monkeypatch):
    from server.sms import sender as sender_module

    monkeypatch.setattr(sender_module, "QUICK_RETRIES", (0.01, 0.01))
    monkeypatch.setattr(sender_module, "MAX_WAIT", 0.01)
    settings, db = await fanout_db(tmp_path, provider, 2, rate=100.0)
    try:
        await db.write_fn(lambda conn: store.queue_alert(conn, ALERT, "http://t"))
        provider.script.extend([400] + [503] * store.MAX_ATTEMPTS)
        sender = await SmsSender(settings, db).start()
        try:
            await asyncio.wait_for(sender.idle(), 20)
        finally:
            await sender.stop()
        rows = await db.execute("SELECT status, attempts, last_code FROM sms_outbox")
        assert sorted(tuple(r) for r in rows) == [("failed", 1, 400),
                                                  ("failed", store.MAX_ATTEMPTS, 503)]
    finally:
        await db.close()


async def test_after_a_crash_a_text_with_a_stored_sid_is_not_sent_again(tmp_path, provider):
    settings, db = await fanout_db(tmp_path, provider, 3, rate=100.0)
    try:
        await db.write_fn(lambda conn: store.queue_alert(conn, ALERT, "http://t"))
        # A sender claimed all three, had the first answered and recorded, then died
        # (its leases ran out long ago).
        claimed = await db.write_fn(lambda conn: store.claim(conn, "dead", 10, time.time() - 100))
        assert len(claimed) == 3
        await db.write_fn(lambda conn: store.record(conn, "dead", [store.Outcome(
            claimed[0].id, "sent", 1, 0, 201, "SMfirst")]))
        sender = await SmsSender(settings, db).start()
        try:
            await asyncio.wait_for(sender.idle(), 20)
        finally:
            await sender.stop()
        # The two without a sid go (again, if the dead sender had sent them: documented).
        assert sorted(m["To"] for m in provider.received) == ["+15035550001", "+15035550002"]
        assert await db.scalar("SELECT sid FROM sms_outbox WHERE id = ?",
                               (claimed[0].id,)) == "SMfirst"
    finally:
        await db.close()


async def test_the_send_rate_is_kept(tmp_path, provider):
    settings, db = await fanout_db(tmp_path, provider, 10, rate=20.0)
    try:
        await db.write_fn(lambda conn: store.queue_alert(conn, ALERT, "http://t"))
        started = time.monotonic()
        sender = await SmsSender(settings, db).start()
        try:
            await asyncio.wait_for(sender.idle(), 20)
        finally:
            await sender.stop()
        assert len(provider.received) == 10
        # Nine gaps of 1/20 s, less the catch-up a sender that fell behind is allowed.
        assert time.monotonic() - started >= 9 / 20 - PACE_SLACK
    finally:
        await db.close()


# What visitors and organizers see.


def test_about_says_what_is_kept_only_while_sms_is_on(client, sms_client):
    for path in ("/about", "/es/about"):
        assert "text message" not in client.get(path).text
        assert "mensaje de texto" not in client.get(path).text
    page = html.unescape(sms_client.get("/about").text)
    assert (f"text VIGIL and your state's code (VIGIL OR), or URGENT, to "
            f'<a href="sms:{FROM}" class="nowrap">{FROM}</a>. Text STOP to stop.') in page
    assert "we keep your phone number (encrypted), its language and the states" in page
    assert "until you text STOP" in page and "No organizer can see your number" in page
    es = html.unescape(sms_client.get("/es/about").text)
    assert ("envíe ALERTAS y el código de su estado (ALERTAS OR), o URGENTE, al "
            f'<a href="sms:{FROM}" class="nowrap">{FROM}</a>') in es
    assert "guardamos su número de teléfono (cifrado)" in es


def test_the_dashboard_counts_numbers_and_never_shows_one(make_client, provider):
    client, settings = make_client(sms_rate=1000.0, **provider.settings())
    text_in(client, "VIGIL OR", number="+15035550001")
    text_in(client, "ALERTAS OR", number="+15035550002")
    text_in(client, "URGENTE", number="+15035550002")
    wait_for(lambda: len(provider.received) == 3)
    sign_in(client, "ana")
    page = html.unescape(client.get("/admin").text)
    assert "Numbers signed up: 2 (1 in Spanish)." in page
    assert "<td>state:OR</td><td>2</td>" in page and "<td>urgent</td><td>1</td>" in page
    assert "555000" not in page


def test_the_dashboard_says_nothing_of_texts_while_sms_is_off(make_client):
    client, _ = make_client()
    sign_in(client, "ana")
    page = client.get("/admin").text
    assert "Dashboard" in page and "Text messages" not in page


def test_numbers_are_not_in_the_export_or_the_logs(tmp_path, provider, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path, sms_rate=1000.0, **provider.settings())
    provider.script.extend([500, 429])
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        for body in ("VIGIL OR", "URGENT", "HELP", "ALERTAS TX"):
            assert text_in(c, body).status_code == 200
        wait_for(lambda: len(provider.received) == 4)
        assert text_in(c, "STOP").status_code == 200
        wait_for(lambda: len(provider.received) == 5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(VIGIL_DB=str(dbtools.target(settings.db_path)), VIGIL_SECRET_KEY=settings.secret_key,
               VIGIL_VAPID_KEY=str(tmp_path / "vapid.pem"),
               VIGIL_VAPID_SUBJECT="mailto:test@example.invalid")
    exported = subprocess.run([sys.executable, "-m", "server", "export"], env=env,
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert not any("sms" in key for key in json.loads(exported.stdout))
    out, err = capfd.readouterr()
    assert "provider answered 500" in caplog.text  # the log was captured
    for seen in (exported.stdout, exported.stderr, out, err, caplog.text):
        assert "5035550142" not in seen


async def test_two_processes_send_at_the_one_rate(tmp_path, provider):
    # Batches of two seconds' worth (10 texts): both would have some to send.
    settings, db = await fanout_db(tmp_path, provider, 20, rate=5.0)
    other = await dbtools.database(settings.db_path).connect()
    try:
        await db.write_fn(lambda conn: store.queue_alert(conn, ALERT, "http://t"))
        started = time.monotonic()
        first = await SmsSender(settings, db).start()
        second = await SmsSender(settings, other).start()
        try:
            await asyncio.wait_for(first.idle(), 20)
        finally:
            await first.stop()
            await second.stop()
        assert sorted(m["To"] for m in provider.received) == [
            f"+1503555{i:04d}" for i in range(20)]
        assert time.monotonic() - started >= 19 / 5 - 0.3
    finally:
        await other.close()
        await db.close()


def test_the_alert_form_previews_the_text_its_segments_and_its_reach(make_client, provider):
    client, _ = make_client(sms_rate=1000.0, **provider.settings())
    text_in(client, "VIGIL WA", number="+12065550001")
    text_in(client, "URGENTE", number="+13125550002")
    text_in(client, "VIGIL OR", number="+15035550003")
    wait_for(lambda: len(provider.received) == 3)
    csrf = sign_in(client, "ana")
    page = html.unescape(client.post("/admin/alerts/new", data=alert_form(
        csrf, action="preview", title_es="Acción urgente",
        message_es="Venga al NWDC de Tacoma ahora.")).text)
    assert "By text message, to 2 numbers" in page
    # One accented letter (ó) makes the Spanish text UCS-2: 96 characters, two segments.
    assert "In English: GSM-7, segments: 1" in page and "In Spanish: UCS-2, segments: 2" in page
    assert ("Vigil URGENT: Urgent: legal observers needed (WA). Come to the Tacoma NWDC now. "
            "http://testserver/legal") in page
    assert provider.count == 3  # a preview sends nothing


def test_the_alert_form_says_nothing_of_texts_while_sms_is_off(make_client):
    client, _ = make_client()
    csrf = sign_in(client, "ana")
    page = client.post("/admin/alerts/new", data=alert_form(csrf, action="preview")).text
    assert "Preview, as the notification will look" in page and "text message" not in page


async def test_stopping_lets_texts_on_the_wire_finish_and_keeps_their_sid(tmp_path, provider):
    settings, db = await fanout_db(tmp_path, provider, 1, rate=100.0)
    on_the_wire = threading.Event()

    def slow(fields):
        on_the_wire.set()
        time.sleep(0.5)

    provider.on_request = slow
    try:
        await db.write_fn(lambda conn: store.queue_alert(conn, ALERT, "http://t"))
        sender = await SmsSender(settings, db).start()
        await asyncio.to_thread(on_the_wire.wait, 10)
        await sender.stop()
        row = await db.first("SELECT status, sid FROM sms_outbox")
        assert row["status"] == "sent" and row["sid"].startswith("SM")
    finally:
        await db.close()
