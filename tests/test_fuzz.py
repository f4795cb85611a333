"""Property tests: whatever a visitor sends to a public address, Vigil never answers 5xx
and never shows a traceback.

The GET routes come from the app's own router (every public route, in both languages where
the language prefix applies), with random slugs, paths, query strings and headers; the push
API gets random JSON; the suggestion form gets random fields. Each test keeps one database
for all its examples (the `client` fixture), so state built by one example (suggestions,
subscriptions) is there for the next. About 2,000 examples in all.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route

from server.i18n import UNPREFIXED
from server.places import STATES
from tests import dbtools
from tests.admin_support import create_organizer, sign_in

FUZZ = dict(
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
KNOWN_KEYS = ["q", "state", "lang", "listing", "v", "page", "done", "utm_source", ""]
# What leaks when an exception reaches the client: a traceback, a source location, a
# database error class. (Echoed input cannot forge the second: quotes are escaped.)
LEAKS = re.compile(r'Traceback \(most recent call last\)|File "/|sqlite3\.\w*Error|'
                   r"aiosqlite|starlette\.|jinja2\.exceptions")


def public_get_paths(app) -> list[str]:
    """Every GET route outside /admin, as its path template (mounted routes included)."""
    paths = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Route) and "GET" in (route.methods or ()):
                paths.append(prefix + route.path)

    walk(app.routes, "")
    return sorted({p for p in paths if not p.startswith("/admin")})


def prefixable(path: str) -> bool:
    """Whether /es<path> is the Spanish version of the page (LanguagePrefix's rule)."""
    return not path.startswith(UNPREFIXED)


def known_slugs(client) -> dict[str, list[str]]:
    """Real slugs of the default dataset, fetched once per test through the API."""
    cached = getattr(client, "_fuzz_slugs", None)
    if cached is None:
        listings = client.get("/api/v1/listings").json()["listings"]
        rights = client.get("/api/v1/rights").json()["rights"]
        cached = {
            "slug": [r["slug"] for r in listings] + [r["slug"] for r in rights],
            "path": ["app.css", "app.js", "icons/icon-192.png", "nope.css", "../server/app.py",
                     "%2e%2e/%2e%2e/etc/passwd", "..%2f..%2fpyproject.toml"],
            "id": ["1", "0", "999999999999999999999", "-1"],
        }
        client._fuzz_slugs = cached
    return cached


def text_segment() -> st.SearchStrategy[str]:
    """One path segment: real-looking, random, or hostile, percent-encoded as a browser does."""
    return st.one_of(
        st.from_regex(r"[a-z0-9-]{0,80}", fullmatch=True),
        st.text(max_size=60).map(lambda s: quote(s, safe="")),
        st.sampled_from(["", ".", "..", "%00", "%2F", "%2e%2e", "%ff%fe", "a" * 3000, "%",
                         "%zz", "ñ", "%C3%B1", "x.ics", "..%2F..%2F"]),
    )


def query_strings() -> st.SearchStrategy[str]:
    pair = st.tuples(
        st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12)),
        st.one_of(
            st.text(max_size=80),
            st.sampled_from(sorted(STATES) + ["or", "OR ", "ZZ", "", "en", "es", "fr",
                                              "EN", "a" * 5000]),
        ),
    )
    encoded = st.lists(pair, max_size=5).map(lambda pairs: urlencode(pairs))
    raw = st.text(alphabet=PRINTABLE, max_size=60).map(
        lambda s: s.replace("#", "%23").replace(" ", "%20"))
    return st.one_of(st.just(""), encoded, raw)


def header_values() -> st.SearchStrategy[str]:
    return st.text(alphabet=PRINTABLE, max_size=120)


def headers() -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "if-none-match": st.one_of(
                header_values(), st.sampled_from(['*', 'W/"abc"', '"abc"', 'W/"', ", ,"])),
            "accept-encoding": st.one_of(
                header_values(),
                st.sampled_from(["gzip", "br", "identity", "*", "gzip;q=0", "deflate, gzip"])),
            "accept": st.one_of(header_values(), st.sampled_from(["application/json", "*/*"])),
            "accept-language": header_values(),
            "if-modified-since": header_values(),
            "range": st.one_of(header_values(), st.just("bytes=0-10")),
            "cookie": header_values(),
            "x-forwarded-for": header_values(),
            "content-type": header_values(),
        },
    )


def assert_sane(res) -> None:
    event(f"status {res.status_code}")
    assert res.status_code < 500, (res.status_code, res.request.url, res.text[:500])
    leak = LEAKS.search(res.text)
    assert leak is None, (res.request.url, res.text[max(0, leak.start() - 300):leak.end() + 300])


# ---------------------------------------------------------------- every public GET route


def test_the_router_has_the_routes_we_fuzz(client):
    paths = public_get_paths(client.app)
    for expected in ("/", "/listings/{slug:str}", "/rights/{slug:str}", "/search",
                     "/api/v1/rights", "/api/v1/listings/{slug:str}", "/suggest",
                     "/static/{path:path}", "/api/v1/push/key"):
        assert expected in paths


@settings(max_examples=1200, **FUZZ)
@given(data=st.data())
def test_public_get_routes_never_fail(client, data):
    templates = public_get_paths(client.app)
    template = data.draw(st.sampled_from(templates), label="route")
    real = known_slugs(client)

    def fill(match: re.Match) -> str:
        name, convertor = match.group(1), match.group(2)
        if convertor == "path":
            segments = st.lists(text_segment(), min_size=1, max_size=4).map("/".join)
            return data.draw(st.one_of(st.sampled_from(real["path"]), segments), label=name)
        pool = real["id"] if convertor == "int" else real["slug"]
        return data.draw(st.one_of(st.sampled_from(pool), text_segment()), label=name)

    path = PARAM.sub(fill, template)
    if prefixable(template) and data.draw(st.booleans(), label="spanish"):
        path = "/es" + (path if path != "/" else data.draw(st.sampled_from(["", "/"])))
    query = data.draw(query_strings(), label="query")
    url = path + ("?" + query if query else "")
    method = data.draw(st.sampled_from(["GET", "GET", "GET", "HEAD"]), label="method")
    res = client.request(method, url, headers=data.draw(headers(), label="headers"),
                         follow_redirects=False)
    assert_sane(res)


@settings(max_examples=200, **FUZZ)
@given(
    page=st.sampled_from(["/search", "/es/search", "/", "/es/", "/api/v1/rights", "/suggest",
                          "/es/suggest"]),
    value=st.one_of(st.text(max_size=300), st.sampled_from(sorted(STATES)),
                    st.from_regex(r"[a-z]{2}", fullmatch=True)),
    etag=st.one_of(st.none(), st.sampled_from(["*", 'W/"0"']), header_values()),
)
def test_the_parameters_pages_read_never_fail(client, page, value, etag):
    name = {"/search": "q", "/es/search": "q", "/api/v1/rights": "lang", "/suggest": "listing",
            "/es/suggest": "listing"}.get(page, "state")
    res = client.get(page, params={name: value},
                     headers={"if-none-match": etag} if etag is not None else {})
    assert_sane(res)
    if page == "/api/v1/rights":
        assert res.status_code in (200, 304, 400)
        if res.status_code == 400:
            assert res.json()["error"]


# ---------------------------------------------------------------- the push API

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
B64 = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{0,120}={0,2}", fullmatch=True),
    st.text(max_size=100),
    st.integers(),
    st.none(),
)
ENDPOINTS = st.one_of(
    st.text(max_size=100),
    st.builds(lambda host, path: f"https://{host}/{path}",
              st.sampled_from(["fcm.googleapis.com", "updates.push.services.mozilla.com",
                               "a.notify.windows.com", "web.push.apple.com", "127.0.0.1",
                               "[::1]", "evil.example", "fcm.googleapis.com.evil.example",
                               "0x7f.1", "FCM.GOOGLEAPIS.COM:443", "ｆｃｍ.googleapis.com",
                               "fcm.googleapis.com:0", "fcm.googleapis.com:99999"]),
              st.text(max_size=40).map(lambda s: quote(s, safe="/?=&"))),
    st.integers(),
    st.none(),
)
TOPICS = st.one_of(
    st.lists(st.one_of(st.sampled_from(["all", "urgent", "state:OR", "state:or", "state:ZZ"]),
                       st.text(max_size=10), st.integers()), max_size=8),
    JSON,
)


def _valid_keys(n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        raw = key.public_key().public_bytes(serialization.Encoding.X962,
                                            serialization.PublicFormat.UncompressedPoint)
        out.append((b64url(raw), b64url(bytes([i]) * 16)))
    return out


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


VALID_KEYS = _valid_keys(3)
GOOD_TOPICS = st.lists(st.sampled_from(["all", "urgent", *(f"state:{s}" for s in STATES)]),
                       min_size=1, max_size=60, unique=True)
SUBSCRIPTION_BODIES = st.builds(
    lambda endpoint, p256dh, auth, topics, extra: {
        "subscription": {"endpoint": endpoint, "expirationTime": extra,
                         "keys": {"p256dh": p256dh, "auth": auth}},
        "topics": topics,
    },
    ENDPOINTS, B64, B64, TOPICS, JSON,
)
# Mostly valid: an allowed endpoint, real keys and known topics, with one part perturbed.
NEAR_VALID_BODIES = st.builds(
    lambda token, keys, topics, expiration: {
        "subscription": {"endpoint": "https://fcm.googleapis.com/fcm/send/" + token,
                         "expirationTime": expiration,
                         "keys": {"p256dh": keys[0], "auth": keys[1]}},
        "topics": topics,
    },
    st.from_regex(r"[A-Za-z0-9:_-]{1,40}", fullmatch=True),
    st.sampled_from(VALID_KEYS),
    st.one_of(GOOD_TOPICS, TOPICS),
    st.one_of(st.none(), st.integers(), st.text(max_size=10)),
)


@settings(max_examples=400, **FUZZ)
@given(
    body=st.one_of(NEAR_VALID_BODIES, SUBSCRIPTION_BODIES, JSON, st.binary(max_size=300)),
    content_type=st.sampled_from(["application/json", "text/plain", None,
                                  "application/x-www-form-urlencoded"]),
)
def test_subscribing_with_random_json_never_fails(client, body, content_type):
    fresh_suggestion_limit(client)  # the same limit table counts new subscriptions
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"content-type": content_type} if content_type else {}
    res = client.post("/api/v1/push/subscriptions", content=content, headers=hdrs)
    assert_sane(res)
    if content_type == "application/json":
        assert res.status_code in (200, 201, 400, 413), res.text
    else:
        assert res.status_code == 415, res.text
    if res.status_code >= 400:
        assert isinstance(res.json()["error"], str)


@settings(max_examples=150, **FUZZ)
@given(body=st.one_of(st.builds(lambda e: {"endpoint": e}, ENDPOINTS), JSON,
                      st.binary(max_size=200)))
def test_unsubscribing_with_random_json_never_fails(client, body):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    res = client.request("DELETE", "/api/v1/push/subscriptions", content=content,
                         headers={"content-type": "application/json"})
    assert_sane(res)
    assert res.status_code in (204, 400, 413), res.text


# ---------------------------------------------------------------- the suggestion form


def fresh_suggestion_limit(client) -> None:
    """A new per-client limit (5 suggestions in 10 minutes): without it every later example
    would get the same 429, and validation would go unfuzzed."""
    conn = dbtools.connect(client.app.state.vigil.settings.db_path)
    with conn:
        conn.execute("DELETE FROM rate_events")
    conn.close()


FORM_TEXT = st.one_of(st.text(max_size=200), st.sampled_from(["", " ", "\x00", "a" * 5000,
                                                               "\r\n" * 10]))


@settings(max_examples=300, **FUZZ)
@given(data=st.data())
def test_random_suggestions_never_fail(client, data):
    fresh_suggestion_limit(client)
    prefix = data.draw(st.sampled_from(["", "/es"]), label="prefix")
    stamp_kind = data.draw(st.sampled_from(["real", "random", "missing"]), label="stamp")
    fields = {
        "kind": data.draw(st.one_of(st.sampled_from(["vigil", "resource", "correction"]),
                                    FORM_TEXT), label="kind"),
        "title": data.draw(FORM_TEXT, label="title"),
        "details": data.draw(FORM_TEXT, label="details"),
        "city": data.draw(FORM_TEXT, label="city"),
        "state": data.draw(st.one_of(st.sampled_from(sorted(STATES)), FORM_TEXT), label="st"),
        "contact": data.draw(FORM_TEXT, label="contact"),
        "listing": data.draw(st.one_of(st.sampled_from(known_slugs(client)["slug"]),
                                       FORM_TEXT), label="listing"),
        "website": data.draw(st.sampled_from(["", "", "http://spam.example"]), label="honey"),
    }
    if stamp_kind == "real":
        page = client.get(f"{prefix}/suggest").text
        fields["stamp"] = re.search(r'name="stamp" value="([^"]+)"', page).group(1)
    elif stamp_kind == "random":
        fields["stamp"] = data.draw(FORM_TEXT, label="stamp value")
    dropped = data.draw(st.sets(st.sampled_from(sorted(fields))), label="dropped")
    fields = {k: v for k, v in fields.items() if k not in dropped}
    accept = data.draw(st.sampled_from(["text/html", "application/json"]), label="accept")
    res = client.post(f"{prefix}/suggest", data=fields, headers={"accept": accept},
                      follow_redirects=False)
    assert_sane(res)
    assert res.status_code in (201, 400, 413, 429), res.text[:500]
    assert "set-cookie" not in res.headers


@settings(max_examples=60, **FUZZ)
@given(body=st.one_of(st.binary(max_size=400), st.text(max_size=200).map(str.encode)),
       content_type=st.sampled_from(["application/x-www-form-urlencoded",
                                     "multipart/form-data; boundary=x", "multipart/form-data",
                                     "application/json", "text/plain"]))
def test_malformed_form_bodies_never_fail(client, body, content_type):
    fresh_suggestion_limit(client)
    res = client.post("/suggest", content=body, headers={"content-type": content_type})
    assert_sane(res)


# ---------------------------------------------------------------- what organizers save


ORGANIZER_TEXT = st.one_of(
    st.text(max_size=120),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60),
    st.sampled_from(["|", " | ", "| https://example.org/a", "x |", "x | https://", "\x00",
                     "\r\n", "\u2028", "{{ 7*7 }}", "%(count)s", "<b>", "&amp;", "\x0b"]),
)
LINK_LINES = st.lists(
    st.one_of(ORGANIZER_TEXT,
              st.builds(lambda label, path: f"{label} | https://example.org/{quote(path)}",
                        ORGANIZER_TEXT.map(lambda t: t.replace("|", " ")),
                        st.text(max_size=20))),
    max_size=5,
).map("\n".join)


# Public contacts: what the form takes, and what must never become a link.
CONTACTS = st.one_of(
    st.sampled_from(["(253) 555-0147", "+44 20 7946 0958", "vigil@example.org",
                     "https://signal.group/#x", "javascript:alert(1)", "JAVASCRIPT:alert(1)",
                     "data:text/html,<script>alert(1)</script>", "mailto:x@example.org",
                     "https://x.example/\"onmouseover=alert(1)", "tel:+12535550147",
                     "//evil.example/x", "https://x.example/<svg/onload=alert(1)>"]),
    st.builds(lambda s: f"https://example.org/{quote(s)}", st.text(max_size=30)),
)


def signed_in(client) -> str:
    """The CSRF token of an organizer session on this client, signed in once per test."""
    token = getattr(client, "_fuzz_csrf", None)
    if token is None:
        create_organizer(client.app.state.vigil.settings, "fuzz")
        token = client._fuzz_csrf = sign_in(client, "fuzz")
    return token


@settings(max_examples=80, **FUZZ)
@given(title=ORGANIZER_TEXT, address=ORGANIZER_TEXT, city=ORGANIZER_TEXT,
       description=ORGANIZER_TEXT, needs=ORGANIZER_TEXT, links=LINK_LINES,
       source=ORGANIZER_TEXT, repeat=st.sampled_from(["none", "daily", "weekly"]),
       contact=st.one_of(ORGANIZER_TEXT, CONTACTS), contact_label=ORGANIZER_TEXT)
def test_whatever_a_listing_form_accepts_its_public_pages_show(
        client, title, address, city, description, needs, links, source, repeat, contact,
        contact_label):
    csrf = signed_in(client)
    res = client.post("/admin/listings/new", follow_redirects=False, data={
        "csrf": csrf, "title": f"T {title}", "kind": "vigil", "address": address,
        "city": f"C {city}", "state": "OR", "tz": "America/Los_Angeles",
        "starts": "2031-03-01T18:00", "repeat": repeat, "time": "18:00",
        "description": f"D {description}", "description_es": description, "needs": needs,
        "links": links, "source": source, "contact": contact, "contact_label": contact_label,
        "action": "publish"})
    assert_sane(res)
    event(f"saved {res.status_code}")
    if res.status_code != 303:
        assert res.status_code == 400  # refused with the form and its messages
        return
    slug = res.headers["location"].split("/")[3]
    for url in (f"/listings/{slug}", f"/es/listings/{slug}", f"/api/v1/listings/{slug}",
                f"/listings/{slug}.ics", "/feed.atom", "/calendar.ics", "/?state=OR"):
        res = client.get(url)
        assert_sane(res)
        assert res.status_code == 200, (url, res.status_code)
    page = client.get(f"/listings/{slug}").text
    if "contact-h" in page:  # only a phone, an email or a web address becomes a link
        href = re.search(r'<p class="contact"><a class="btn secondary" href="([^"]*)"', page)
        assert href and href.group(1).startswith(("tel:+", "mailto:", "https://", "http://"))
