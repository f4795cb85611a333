"""The service worker's source is one file a job, joined by the server into the one classic
script the browser gets as /sw.js."""

from __future__ import annotations

import re
from collections import Counter

from server.render import SERVICE_WORKER_DIR, SERVICE_WORKER_PARTS, StaticAssets
from server.views.offline import service_worker_source


def test_every_part_is_joined_once_and_says_its_job_on_its_first_line():
    names = [part.name for part in SERVICE_WORKER_PARTS]
    assert names[0] == "sw.js"
    assert sorted(names) == sorted(p.name for p in SERVICE_WORKER_DIR.glob("*.js"))
    for part in SERVICE_WORKER_PARTS:
        first = part.read_text().split("\n", 1)[0]
        assert re.fullmatch(r"/\* [^*]+ \*/", first), f"{part.name}: {first!r}"


def test_the_served_worker_is_one_classic_script_with_everything_filled_in():
    source = service_worker_source(StaticAssets()).decode()
    assert "importScripts" not in source
    assert not re.search(r"^\s*(import|export)\b", source, re.M)
    assert source.count('"use strict";') == 1
    assert source.index('"use strict";') < source.index("const ")
    assert not re.search(r'"__[A-Z]+__"', source)
    assert "/* vigil:shared-names */" not in source
    # Parts share one scope: a name declared in two of them would stop the whole script.
    declared = re.findall(r"^(?:const|let|(?:async )?function) (\w+)", source, re.M)
    assert [name for name, n in Counter(declared).items() if n > 1] == []
