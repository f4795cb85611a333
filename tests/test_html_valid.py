"""The Nu Html Checker finds no errors on any public page, in either language, nor on the
alert cards and the organizer pages.

The checker is the `vnu-jar` package from the npm registry and needs Java; point
VIGIL_VNU_JAR at its vnu.jar (`npm install vnu-jar`, then
node_modules/vnu-jar/build/dist/vnu.jar). Without it the test is skipped and says why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_pages import PATHS, spanish

VNU_JAR = os.environ.get("VIGIL_VNU_JAR", "")


@pytest.mark.skipif(not (VNU_JAR and Path(VNU_JAR).is_file() and shutil.which("java")),
                    reason="set VIGIL_VNU_JAR to the Nu Html Checker's vnu.jar (needs java)")
def test_nu_html_checker_finds_no_errors(client, tmp_path):
    files = []
    for url in [u for p in PATHS for u in (p, spanish(p))] + ["/suggest?listing=atlanta-ga"]:
        res = client.get(url)
        assert res.status_code == 200, url
        name = tmp_path / (url.strip("/").replace("/", "_").replace("?", "_") or "home")
        name = name.with_suffix(".html")
        name.write_bytes(res.content)
        files.append(str(name))
    run = subprocess.run(["java", "-jar", VNU_JAR, "--format", "json", "--errors-only", *files],
                         capture_output=True, text=True, timeout=300)
    messages = json.loads(run.stderr or '{"messages": []}')["messages"]
    errors = [f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m['message']}"
              for m in messages if m["type"] == "error"]
    assert not errors, "\n".join(errors)


@pytest.mark.skipif(not (VNU_JAR and Path(VNU_JAR).is_file() and shutil.which("java")),
                    reason="set VIGIL_VNU_JAR to the Nu Html Checker's vnu.jar (needs java)")
def test_alert_cards_and_organizer_pages_are_valid(pair, tmp_path):
    from tests.admin_support import hidden_fields, sign_in

    _, ana, ben = pair
    login = ana.get("/admin/login").content
    csrf = sign_in(ana, "ana")
    form = {"csrf": csrf, "kind": "new_vigil", "place": "Tacoma NWDC", "at": "2030-07-04T19:00",
            "message": "Candles.", "message_es": "", "link": "", "states": ["WA"],
            "expires": "24"}
    preview = ana.post("/admin/alerts/new", data={**form, "action": "preview"}).content
    ana.post("/admin/alerts/new", data={**form, "action": "send"})
    sign_in(ben, "ben")
    pages = {"login": login, "preview": preview}
    for url in ("/admin/", "/admin/alerts", "/admin/alerts/new", "/admin/alerts/1",
                "/admin/alerts/1/retract", "/admin/listings/new", "/admin/audit"):
        res = ben.get(url)
        assert res.status_code == 200, url
        pages[url] = res.content
    ben.post("/admin/alerts/1/approve",
             data=hidden_fields(ben.get("/admin/alerts/1").text, "/admin/alerts/1/approve"))
    for url in ("/alerts", "/es/alerts", "/es/"):
        pages[url] = ben.get(url).content
    files = []
    for n, body in enumerate(pages.values()):
        name = tmp_path / f"{n}.html"
        name.write_bytes(body)
        files.append(str(name))
    run = subprocess.run(["java", "-jar", VNU_JAR, "--format", "json", "--errors-only", *files],
                         capture_output=True, text=True, timeout=300)
    messages = json.loads(run.stderr or '{"messages": []}')["messages"]
    names = {str(tmp_path / f"{n}.html"): url for n, url in enumerate(pages)}
    errors = [f"{names.get(m.get('url', '').removeprefix('file:'), m.get('url'))}:"
              f"{m.get('lastLine')}: {m['message']}" for m in messages if m["type"] == "error"]
    assert not errors, "\n".join(errors)
