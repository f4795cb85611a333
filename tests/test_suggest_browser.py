"""The suggestion form in a real Chromium: sent in the background, or kept on the phone while
offline and sent by the service worker when the connection comes back."""

from __future__ import annotations

import time

import pytest

from tests import dbtools
from tests.live import live_server
from tests.test_offline import wait_for_worker

pytestmark = pytest.mark.browser

MIN_FILL_SECONDS = 3.0  # the server's default (settings.suggest_min_seconds)


@pytest.fixture
def server(tmp_path):
    with live_server(tmp_path) as srv:
        yield srv


def stored(server) -> list[tuple]:
    conn = dbtools.connect(server.db_path, timeout=10)
    try:
        return conn.execute(
            "SELECT kind, title, city, state, status FROM suggestions ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def fill(page, labels: dict[str, str], title: str) -> None:
    page.get_by_label(labels["what"], exact=True).select_option("vigil")
    page.get_by_label(labels["title"], exact=True).fill(title)
    page.get_by_label(labels["details"], exact=True).fill(
        "Nightly vigil at the Tacoma NWDC, 8 pm, bring candles")
    page.get_by_label(labels["city"], exact=True).fill("Tacoma")
    page.get_by_label(labels["state"], exact=True).select_option(label="Washington")
    page.get_by_role("button", name=labels["send"]).click()


EN = {"what": "What", "title": "Title", "details": "Details", "city": "City", "state": "State",
      "send": "Send suggestion"}
ES = {"what": "Qué", "title": "Título", "details": "Detalles", "city": "Ciudad",
      "state": "Estado", "send": "Enviar sugerencia"}


def test_online_submission_is_sent_in_the_background(server, context):
    page = context.new_page()
    page.goto(server.url + "/suggest")
    wait_for_worker(page)
    page.wait_for_timeout(MIN_FILL_SECONDS * 1000 + 200)
    fill(page, EN, "Sent while online")
    page.wait_for_selector("#outbox li[data-state='sent']", timeout=10000)
    assert "waits for an organizer" in page.inner_text("#suggest-status")
    assert page.url == server.url + "/suggest"
    assert stored(server) == [("vigil", "Sent while online", "Tacoma", "WA", "waiting")]
    assert context.cookies() == []


def test_offline_submission_waits_on_the_phone_then_is_sent(server, context):
    page = context.new_page()
    page.goto(server.url + "/suggest")
    wait_for_worker(page)
    page.wait_for_timeout(MIN_FILL_SECONDS * 1000 + 200)
    context.set_offline(True)
    fill(page, EN, "Sent from a dead zone")
    page.wait_for_selector("#outbox li[data-state='queued']", timeout=10000)
    assert "Saved on this phone" in page.inner_text("#suggest-status")
    assert "Sent from a dead zone" in page.inner_text("#outbox")
    time.sleep(1.0)
    assert stored(server) == []  # nothing left the phone
    context.set_offline(False)
    page.wait_for_selector("#outbox li[data-state='sent']", timeout=15000)
    assert "waiting for an organizer" in page.inner_text("#outbox")
    assert stored(server) == [("vigil", "Sent from a dead zone", "Tacoma", "WA", "waiting")]
    # Only a receipt stays on the device: the text typed (and any contact) is gone from it.
    kept = page.evaluate("""() => new Promise((resolve) => {
        const open = indexedDB.open("vigil-suggestions", 1);
        open.onsuccess = () => {
            const req = open.result.transaction("outbox").objectStore("outbox").getAll();
            req.onsuccess = () => resolve(req.result);
        };
    })""")
    assert len(kept) == 1 and kept[0]["state"] == "sent" and "body" not in kept[0]
    assert context.cookies() == []


def test_the_saved_spanish_page_works_offline(server, context):
    page = context.new_page()
    page.goto(server.url + "/es/suggest")
    wait_for_worker(page)
    page.wait_for_timeout(MIN_FILL_SECONDS * 1000 + 200)
    context.set_offline(True)
    page.goto(server.url + "/es/suggest")  # from the service worker's cache
    assert page.locator("h1").inner_text() == "Sugiera una vigilia, un recurso o una corrección"
    fill(page, ES, "Vigilia sin conexión")
    page.wait_for_selector("#outbox li[data-state='queued']", timeout=10000)
    assert "Guardada en este teléfono" in page.inner_text("#suggest-status")
    assert stored(server) == []
    context.set_offline(False)
    page.wait_for_selector("#outbox li[data-state='sent']", timeout=15000)
    assert "Enviada" in page.inner_text("#outbox")
    assert stored(server) == [("vigil", "Vigilia sin conexión", "Tacoma", "WA", "waiting")]


def test_a_refusal_is_shown_and_what_was_typed_kept(server, context):
    page = context.new_page()
    page.goto(server.url + "/suggest")
    # Typed and sent at once: the server asks for a moment, and nothing is lost.
    page.get_by_label("Title", exact=True).fill("Quick one")
    page.get_by_label("Details", exact=True).fill("Too quick")
    page.get_by_role("button", name="Send suggestion").click()
    page.wait_for_selector("#suggest-status .error", timeout=10000)
    assert "take a moment" in page.inner_text("#suggest-status")
    assert page.get_by_label("Title", exact=True).input_value() == "Quick one"
    assert stored(server) == []


def test_a_refused_offline_suggestion_can_be_put_back_and_resent(server, context):
    page = context.new_page()
    page.goto(server.url + "/suggest")
    wait_for_worker(page)
    page.wait_for_timeout(MIN_FILL_SECONDS * 1000 + 200)
    good_stamp = page.get_attribute("input[name=stamp]", "value")
    page.evaluate("document.querySelector('input[name=stamp]').value = 'tampered'")
    context.set_offline(True)
    fill(page, EN, "Refused then fixed")
    page.wait_for_selector("#outbox li[data-state='queued']", timeout=10000)
    context.set_offline(False)
    page.wait_for_selector("#outbox li[data-state='failed']", timeout=15000)
    assert "Not accepted:" in page.inner_text("#outbox")
    assert stored(server) == []
    page.evaluate("s => { document.querySelector('input[name=stamp]').value = s; }", good_stamp)
    page.get_by_role("button", name="Put it back in the form").click()
    assert page.get_by_label("Title", exact=True).input_value() == "Refused then fixed"
    assert page.get_by_label("City", exact=True).input_value() == "Tacoma"
    page.get_by_role("button", name="Send suggestion").click()
    page.wait_for_selector("#outbox li[data-state='sent']", timeout=10000)
    assert stored(server) == [("vigil", "Refused then fixed", "Tacoma", "WA", "waiting")]
