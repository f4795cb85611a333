"""The rights card: an English side for the agent on every card, the holder's side in the
page's language, labelled numbers only, and a blank line for the holder's own lawyer."""

from __future__ import annotations

import re

import pytest

AGENT_SENTENCES = (
    "I am using my right to remain silent under the Fifth Amendment",
    "I will not sign or hand you any documents",
    "Under the Fourth Amendment, I do not give you permission to enter my home unless you have "
    "a warrant signed by a judge or magistrate, with my name on it",
    "I do not give you permission to search me or any of my belongings",
    "I want to speak with a lawyer",
)


def _side(html: str, name: str) -> str:
    match = re.search(rf'<section class="side {name}"(.*?)</section>', html, re.S)
    assert match, name
    return match.group(0)


@pytest.mark.parametrize("path", ["/card", "/es/card"])
def test_every_card_has_an_english_side_for_the_agent(client, path):
    agent = _side(client.get(path).text, "agent")
    assert 'lang="en"' in agent.split(">", 1)[0]
    for sentence in AGENT_SENTENCES:
        assert sentence in agent, (path, sentence)
    assert "Estoy" not in agent and "derecho" not in agent


@pytest.mark.parametrize(("path", "words"), [
    ("/card", ("Do not open the door", "Sign nothing", "My lawyer / hotline:")),
    ("/es/card", ("No abra la puerta", "No firme nada", "Mi abogado / línea de ayuda:")),
])
def test_the_holder_side_is_in_the_page_language_with_a_blank_for_a_lawyer(client, path, words):
    html = client.get(path).text
    holder = _side(html, "holder")
    assert 'lang=' not in holder.split(">", 1)[0]  # inherits the page's language
    for word in words:
        assert word in holder, (path, word)
    assert re.search(r'class="blank">[^<]*<span class="line"', holder)
    assert " tu " not in holder and " tus " not in holder


@pytest.mark.parametrize("path", ["/card", "/es/card"])
def test_every_number_on_the_card_says_what_it_is_for(client, path):
    holder = _side(client.get(path).text, "holder")
    numbers = re.findall(r"<li>([^<:]+): <a href=\"tel:", holder)
    assert numbers, "the card shows at least the reporting line"
    assert all(label.strip() for label in numbers)
    assert ("Report raids" if path == "/card" else "Reportar redadas") in numbers
    # The detainee locator is not legal help and does not pretend to be.
    assert "Legal help: <a" not in holder and "Ayuda legal: <a" not in holder


def test_the_print_button_needs_no_inline_script(client):
    html = client.get("/card").text
    assert re.search(r'<button type="button" id="print-card" class="btn" hidden>', html)
    assert re.search(r'<script src="/static/card\.js\?v=[0-9a-f]+" defer></script>', html)
    assert re.search(r'<link rel="stylesheet" href="/static/card\.css\?v=[0-9a-f]+">', html)
    assert "onclick" not in html
    assert 'id="print-hint"' in html
