"""Write 360 px screenshots of the pages a protester opens first, in every language.

    python -m tests.screenshots [OUT_DIR]     (default var/screenshots)

A fresh server with the default data runs on a free port; pages that do not exist yet
(answering 404) are skipped and named on stdout.
"""

from __future__ import annotations

import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from server.i18n import LANGUAGES, localize_path
from tests.live import CHROMIUM, CHROMIUM_ARGS, live_server

PAGES = {"home": "/", "legal": "/legal", "listing": "/listings/portland-or-macadam",
         "alerts": "/alerts"}
PHONE = {"width": 360, "height": 740}


def localized(path: str, lang: str) -> str:
    return localize_path(path, lang)


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            return res.status
    except urllib.error.HTTPError as exc:
        return exc.code


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, live_server(Path(tmp)) as server, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=PHONE, device_scale_factor=1,
                                      is_mobile=True, has_touch=True)
        page = context.new_page()
        for name, path in PAGES.items():
            for lang in LANGUAGES:
                url = server.url + localized(path, lang)
                if status_of(url) != 200:
                    print(f"skipped {url} (not 200)")
                    continue
                page.goto(url)
                target = out / f"{name}-{lang}.png"
                page.screenshot(path=str(target), full_page=True)
                page.screenshot(path=str(out / f"{name}-{lang}-first-screen.png"))
                print(f"wrote {target}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "var/screenshots")))
