"""When alerts cannot be turned on, the panel says what went wrong and what to do about it:
notifications blocked or not allowed, the browser's push service out of reach, Vigil's
server refusing, a browser without push, no connection. In both languages."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.live import live_server
from tests.test_offline import wait_for_worker

pytestmark = pytest.mark.browser

# A subscription the page's pushManager hands out, pointing at a push service this server
# does not allow (VIGIL_PUSH_HOSTS), so the server refuses it.
FOREIGN_SUBSCRIPTION = """() => {
  const subscription = { endpoint: "https://push.example.invalid/abc", expirationTime: null,
    keys: { p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1Xbjh"
                    + "azAkj7I99e8QcYP7DkM", auth: "tBHItJI5svbpez7KI4CCXg" } };
  PushManager.prototype.getSubscription = async () => null;
  PushManager.prototype.subscribe = async () => ({ ...subscription, toJSON: () => subscription });
}"""


def failing_subscribe(name: str, message: str) -> str:
    return f"""() => {{
  PushManager.prototype.getSubscription = async () => null;
  PushManager.prototype.subscribe = async () => {{
    throw new DOMException({message!r}, {name!r});
  }};
}}"""


def permission(answer: str) -> str:
    return f"Notification.requestPermission = async () => {answer!r};"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("alert-errors")) as srv:
        yield srv


def turn_on(browser, server, path: str, init: str | None = None, stub: str | None = None,
            offline: bool = False, granted: bool = True):
    context = browser.new_context(permissions=["notifications"] if granted else [])
    page = context.new_page()
    if init:
        page.add_init_script(init)
    page.goto(server.url + path)
    wait_for_worker(page, bundle=False)
    if stub:
        page.evaluate(stub)
    if offline:
        context.set_offline(True)
    page.locator("#t-urgent").check()
    page.locator("#alerts-on").click()
    return context, page.locator("#alerts-status")


CASES = [
    # what went wrong, how, what the panel says in English and in Spanish
    ("blocked", dict(init=permission("denied"), granted=False),
     "Notifications are blocked for Vigil in this browser's settings. Allow them in the "
     "site's settings", "Para permitirlas, abra la configuración del sitio"),
    ("not allowed", dict(init=permission("default"), granted=False),
     "Notifications were not allowed. Tap Get alerts again and choose Allow.",
     "elija “Permitir”"),
    ("push service out of reach",
     dict(stub=failing_subscribe("AbortError", "Registration failed - push service error")),
     "Your browser's push service cannot be reached",
     "No se puede contactar el servicio de notificaciones de su navegador"),
    # This Chromium has no push service of its own (it answers AbortError), as a phone
    # whose push service is down or blocked by the network.
    ("no push service here", {}, "Your browser's push service cannot be reached",
     "No se puede contactar el servicio de notificaciones de su navegador"),
    ("blocked at subscribing",
     dict(stub=failing_subscribe("NotAllowedError", "Registration failed - permission denied")),
     "Notifications are blocked for Vigil", "Las notificaciones de Vigil están bloqueadas"),
    ("a browser without push",
     dict(stub=failing_subscribe("NotSupportedError", "Push is not supported")),
     "This browser cannot receive alerts.", "Este navegador no puede recibir alertas."),
    ("server refused", dict(stub=FOREIGN_SUBSCRIPTION),
     "Vigil's server did not accept this phone's alerts.",
     "El servidor de Vigil no aceptó las alertas de este teléfono."),
    ("offline", dict(stub=failing_subscribe("AbortError", "x"), offline=True),
     "No connection. Connect to the internet, then try again.",
     "Sin conexión. Conéctese a internet y vuelva a intentarlo."),
]


@pytest.mark.parametrize(("what", "how", "english", "spanish"), CASES,
                         ids=[case[0] for case in CASES])
def test_a_failure_says_what_went_wrong_and_what_to_do(server, browser, what, how, english,
                                                       spanish):
    for path, expected in (("/alerts", english), ("/es/alerts", spanish)):
        context, status = turn_on(browser, server, path, **how)
        expect(status).to_contain_text(expected, timeout=20000)
        assert "Check your connection" not in status.inner_text(), what
        context.close()
