"""The rights card: an English side for the agent on every card, the holder's side in the
page's language, labelled legal-help numbers only, no place for the holder's own lawyer on a
card that is handed over, and the date it was written."""

from __future__ import annotations

import re

import pytest

AGENT_SENTENCES = (
    "I am using my right to remain silent under the Fifth Amendment",
    "I will not sign anything without first speaking with a lawyer",
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
    # A person with status must show papers to an immigration agent who asks: the card
    # does not refuse them (the articles say the same).
    assert "documents" not in agent and "papers" not in agent


@pytest.mark.parametrize(("path", "words"), [
    ("/card", ("Do not open the door", "Sign nothing", "Do not write your lawyer",
               "show them if an immigration agent asks", "not legal advice")),
    ("/es/card", ("No abra la puerta", "No firme nada", "No escriba el número de su abogado",
                  "muéstrelos si un agente de inmigración se los pide", "no es asesoría legal")),
])
def test_the_holder_side_is_in_the_page_language_and_keeps_no_lawyer_number(client, path, words):
    html = client.get(path).text
    holder = _side(html, "holder")
    assert 'lang=' not in holder.split(">", 1)[0]  # inherits the page's language
    for word in words:
        assert word in holder, (path, word)
    assert 'class="blank"' not in holder and 'class="line"' not in holder
    assert re.search(r'class="card-date">[^<]*(2026)', holder)
    assert " tu " not in holder and " tus " not in holder


@pytest.mark.parametrize("path", ["/card", "/es/card"])
def test_every_number_on_the_card_is_for_legal_help_and_says_so(client, path):
    holder = _side(client.get(path).text, "holder")
    numbers = re.findall(r"<li>([^<:]+): <a href=\"tel:", holder)
    legal = {"Legal help", "Arrested at a protest"} if path == "/card" else {
        "Ayuda legal", "Arresto en una protesta"}
    assert set(label.strip() for label in numbers) <= legal, numbers
    # Reporting lines and ICE's own locator line are not legal help.
    assert "844-363-1423" not in holder and "888-351-4024" not in holder


def test_the_print_button_needs_no_inline_script(client):
    html = client.get("/card").text
    assert re.search(r'<button type="button" id="print-card" class="btn" hidden>', html)
    assert re.search(r'<script src="/static/card\.js\?v=[0-9a-f]+" defer></script>', html)
    assert re.search(r'<link rel="stylesheet" href="/static/card\.css\?v=[0-9a-f]+">', html)
    assert "onclick" not in html
    assert 'id="print-hint"' in html
