"""Legal help that exists: every shipped number says what it is for, where it is published
and when that page was read; a page offers "call" only where a legal-help number exists for
the visitor's state or the whole country, and otherwise says what to do instead."""

from __future__ import annotations

import re
import shutil
import tomllib
from datetime import date

import pytest
from starlette.testclient import TestClient

from server import ROOT
from server.app import create_app
from server.dataset import LEGAL_PURPOSES, PHONE_PURPOSES
from tests import dbtools
from tests.conftest import make_settings

CONTACTS = ROOT / "data" / "contacts.toml"
# What a page says when it offers a call, in each language.
OFFERS = {"en": ("Need legal help? Call a hotline", "Write the hotline on your arm"),
          "es": ("¿Necesita ayuda legal? Llame a una línea de ayuda",
                 "Escriba la línea de ayuda en su brazo")}
INSTEAD = {"en": "Need legal help? Find a lawyer", "es": "¿Necesita ayuda legal? Busque un abogado"}
PREFIX = {"en": "", "es": "/es"}


def shipped() -> list[dict]:
    return tomllib.loads(CONTACTS.read_text())["contact"]


def test_every_shipped_number_has_its_purpose_source_page_and_the_day_it_was_read():
    phones = [(c["slug"], p) for c in shipped() for p in c.get("phones", [])]
    assert phones
    for slug, p in phones:
        assert p["purpose"] in PHONE_PURPOSES, slug
        assert re.match(r"^https?://[^\s/]+\.[^\s]+$", p["source"]), slug
        read = date.fromisoformat(p["read"])
        assert date(2026, 1, 1) <= read <= date.today(), (slug, p["read"])
        assert p["label"]["en"] and p["label"]["es"], slug
        assert re.match(r"^\+1-\d{3}-\d{3}-\d{4}$", p["number"]), slug


def test_a_shipped_number_shows_the_day_its_page_was_read(client):
    html = client.get("/legal?state=NY").text
    assert re.search(r'Where this number comes from</a> \(page read Dec 6, 2026\)', html)


def data_dir(tmp_path, keep_legal: bool, national: bool):
    """The shipped data, with or without its legal-help numbers, and with or without one
    national legal-help line."""
    out = tmp_path / "data"
    shutil.copytree(ROOT / "data", out)
    text = CONTACTS.read_text()
    if not keep_legal:
        for purpose in LEGAL_PURPOSES:
            text = re.sub(rf'\n  \{{[^\n]*purpose = "{purpose}"[^\n]*\}},', "", text)
    if national:
        text += '''
[[contact]]
slug = "a-national-line"
organization = "A National Legal Line"
role = "legal"
description = { en = "Lawyers for people detained.", es = "Abogados para personas detenidas." }
states = ["*"]
languages = ["en", "es"]
phones = [
  { label = { en = "Legal line", es = "Línea legal" }, number = "+1-555-555-0100", \
purpose = "legal-help", source = "https://example.org/help", read = "2026-12-06" },
]
sources = [ { title = "Example", url = "https://example.org/help" } ]
source = "example.org"
added = "2026-12-06"
'''
    (out / "contacts.toml").write_text(text)
    return out


def app_client(tmp_path, **kw) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path, data_dir=data_dir(tmp_path, **kw))),
                      base_url="http://testserver")


def offers_call(html: str, lang: str) -> bool:
    return any(o in html for o in OFFERS[lang])


def legal_tel_links(html: str) -> list[str]:
    return re.findall(r'<a class="btn call" href="(tel:[^"]+)"', html)


PAGES = ["/", "/?state=CA", "/?state=NY", "/?state=OR", "/before-you-go", "/card",
         "/listings/portland-or-macadam"]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_with_no_legal_number_no_page_offers_a_call_and_each_says_what_to_do(tmp_path, lang):
    with app_client(tmp_path, keep_legal=False, national=False) as c:
        for path in PAGES:
            html = c.get(PREFIX[lang] + path).text
            assert not offers_call(html, lang), path
        assert INSTEAD[lang] in c.get(PREFIX[lang] + "/?state=NY").text
        card = c.get(PREFIX[lang] + "/card").text
        assert "tel:" not in card.split('class="side agent"')[0].split('class="side holder"')[1]
        before = c.get(PREFIX[lang] + "/before-you-go").text
        instead = "Write a lawyer" if lang == "en" else "Escriba en su brazo el número de un"
        assert instead in before


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_state_with_a_number_offers_the_call_and_its_legal_page_has_it(client, lang):
    states = {s for c in shipped() for p in c.get("phones", []) if p["purpose"] in LEGAL_PURPOSES
              for s in c["states"]}
    national = "*" in states
    for code in ("NY", "CA", "FL", "KS", "KY", "OR", "WA", "PA", "GA"):
        home = client.get(f"{PREFIX[lang]}/?state={code}").text
        if code in states or national:
            assert OFFERS[lang][0] in home, code
            legal = client.get(f"{PREFIX[lang]}/legal?state={code}").text
            assert legal_tel_links(legal), code
        else:
            assert not offers_call(home, lang), code
            assert INSTEAD[lang] in home, code


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_national_number_is_offered_everywhere_and_goes_on_the_card(tmp_path, lang):
    with app_client(tmp_path, keep_legal=True, national=True) as c:
        for path in ("/", "/?state=KS", "/before-you-go"):
            assert offers_call(c.get(PREFIX[lang] + path).text, lang), path
        assert "tel:+15555550100" in c.get(PREFIX[lang] + "/before-you-go").text
        card = c.get(PREFIX[lang] + "/card").text
        assert 'href="tel:+15555550100"' in card


@pytest.mark.parametrize("lang", ["en", "es"])
def test_forget_without_javascript_asks_the_browser_to_clear_everything(client, lang):
    res = client.post(PREFIX[lang] + "/forget", headers={"Origin": "http://testserver"})
    assert res.status_code == 200
    assert res.headers["clear-site-data"] == '"cache", "cookies", "storage"'
    assert res.headers["cache-control"] == "no-store"
    assert ("were removed from this phone" if lang == "en" else "se borraron de este teléfono") \
        in res.text


def test_forget_from_another_site_is_refused(client):
    res = client.post("/forget", headers={"Origin": "https://evil.example"})
    assert res.status_code == 403
    assert "clear-site-data" not in res.headers


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_page_links_to_the_one_place_that_removes_vigil(client, lang):
    for path in ("/", "/legal", "/rights/at-a-protest"):
        html = client.get(PREFIX[lang] + path).text
        assert f'href="{PREFIX[lang]}/about#remove"' in html, path
    about = client.get(PREFIX[lang] + "/about").text
    assert 'id="forget-form"' in about and f'action="{PREFIX[lang]}/forget"' in about


def test_an_attorney_review_is_named_only_while_the_text_is_the_one_reviewed(tmp_path):
    from tests.admin_support import create_organizer, sign_in

    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        page = c.get("/rights/remain-silent").text
        assert "Not yet checked by a Vigil organizer" in page and "attorney" not in page
        csrf = sign_in(c, "ana")
        review = {"csrf": csrf, "lang": "en", "attorney": "Jane Roe",
                  "organization": "Example Legal Aid", "reviewed": "2026-12-01"}
        for bad in ({"attorney": ""}, {"reviewed": "2999-01-01"}, {"lang": "fr"}):
            c.post("/admin/checks/rights/remain-silent/attorney", data={**review, **bad})
            assert "Jane Roe" not in c.get("/rights/remain-silent").text, bad
        res = c.post("/admin/checks/rights/remain-silent/attorney", data=review,
                     follow_redirects=False)
        assert res.status_code == 303
        assert ("Reviewed by Jane Roe, attorney (Example Legal Aid), "
                '<time datetime="2026-12-01">') in c.get("/rights/remain-silent").text
        assert "Jane Roe" not in c.get("/es/rights/remain-silent").text  # English only
    with dbtools.connect(settings.db_path) as conn:
        assert conn.execute("SELECT organizer, action FROM audit WHERE action = "
                            "'record-attorney-review'").fetchall() == [
            ("ana", "record-attorney-review")]
        conn.execute("UPDATE rights SET body = body || ' Changed.' WHERE slug = 'remain-silent' "
                     "AND lang = 'en'")
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        assert "Jane Roe" not in c.get("/rights/remain-silent").text
