"""The names the pages and the service worker share come from one file, as served."""

from __future__ import annotations

import re

from server.render import SHARED_NAMES, SHARED_NAMES_MARK, StaticAssets
from server.views.offline import service_worker_source

NAMES = dict(re.findall(r'^const ([A-Z_]+) = ("[^"]*"|\d+);', SHARED_NAMES.read_text(), re.M))


def served() -> dict[str, str]:
    assets = StaticAssets()
    return {"sw.js": service_worker_source(assets).decode(),
            "alerts.js": assets.get("alerts.js").body.decode(),
            "suggest.js": assets.get("suggest.js").body.decode()}


def test_each_script_gets_the_shared_names_once_and_keeps_no_copy_of_its_own():
    assert {"PREFS_CACHE", "TOPICS_KEY", "SUGGESTIONS_DB", "SUGGESTIONS_STORE",
            "SUGGESTIONS_SYNC_TAG"} <= set(NAMES)
    for name, source in served().items():
        assert SHARED_NAMES_MARK.decode() not in source, name
        for const, value in NAMES.items():
            assert len(re.findall(rf"\bconst {const}\b", source)) == 1, (name, const)
            if value.startswith('"'):
                # the value appears only in the shared block, never as a second literal
                same = sum(v == value for v in NAMES.values())
                element_ids = source.count(f"getElementById({value})")  # the page's, not ours
                assert source.count(value) - element_ids == same, (name, const, value)


def test_the_scripts_use_the_names_they_are_given():
    used = {name: {const for const in NAMES if re.search(rf"\b{const}\b(?! =)", source)}
            for name, source in served().items()}
    assert {"PREFS_CACHE", "TOPICS_KEY"} <= used["alerts.js"] & used["sw.js"]
    assert {"SUGGESTIONS_DB", "SUGGESTIONS_STORE", "SUGGESTIONS_SYNC_TAG"} <= (
        used["suggest.js"] & used["sw.js"])
