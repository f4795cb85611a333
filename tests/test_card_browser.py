"""The rights card in Chromium: it prints on one page in both languages and paper sizes, and
its Print button works under the site's CSP, or is not shown when scripts are off."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from tests.live import live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("card")) as srv:
        yield srv


@pytest.mark.parametrize("paper", ["Letter", "A4"])
@pytest.mark.parametrize("path", ["/card", "/es/card"])
def test_the_card_prints_on_one_page(server, context, path, paper):
    page = context.new_page()
    page.goto(server.url + path)
    page.emulate_media(media="print")
    assert page.locator("section.agent").is_visible()
    assert page.locator("section.holder").is_visible()
    assert not page.locator("nav.nav").is_visible()
    pdf = page.pdf(format=paper, print_background=False)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1, (path, paper)


@pytest.mark.parametrize("path", ["/card", "/es/card"])
def test_the_print_button_opens_printing_without_breaking_the_csp(server, context, path):
    page = context.new_page()
    page.add_init_script("window.print = () => { window.__printed = true; };")
    problems = []
    page.on("console", lambda msg: problems.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(server.url + path)
    button = page.locator("#print-card")
    button.wait_for(state="visible")
    assert page.locator("#print-hint").is_hidden()
    button.click()
    page.wait_for_function("window.__printed === true")
    assert problems == []


def test_without_scripts_there_is_no_dead_print_button(server, browser):
    ctx = browser.new_context(java_script_enabled=False)
    try:
        page = ctx.new_page()
        page.goto(server.url + "/es/card")
        assert page.locator("#print-card").is_hidden()
        assert page.get_by_text("use la opción Imprimir de su navegador").is_visible()
    finally:
        ctx.close()
