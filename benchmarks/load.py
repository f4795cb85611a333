"""Vigil under load while an organizer edits: public pages in both languages and the JSON
API, 100 concurrent clients, with a listing edited through the real admin form every second,
then the same load against the bare Starlette endpoint in the same run.

Every edit changes public content, so each one invalidates the rendered pages and ETags
while the readers keep coming: this measures the single writer beside the readers (and the
re-renders) rather than a warm cache alone. Vigil is started twice, as `serve --workers 1`
and as `serve --workers 2` (each on a fresh database with the default dataset); each has
its organizer, created with `python -m server add-organizer` against that server's
database file. The Vigils and the bare endpoint take turns (ROUNDS each, pooled), as in the
throughput benchmark; an organizer edits during its own Vigil's turns only.

Each of the two runs on both backends, side by side in the same turns: a SQLite file, and
a database in a throw-away PostgreSQL cluster on this machine (tests/pgcluster.py), so the
PostgreSQL figures are read against SQLite's from the same minutes.

    python -m benchmarks --only load [--quick]
"""

from __future__ import annotations

import http.client
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from benchmarks.common import (
    HOST,
    ROOT,
    Row,
    Server,
    Target,
    bare_server,
    fetch,
    interleaved,
    load_cli,
    log,
    postgresql_databases,
    vigil_server,
)
from benchmarks.throughput import figure, implementation

CONCURRENCY = 100
DURATION = 30.0
QUICK_DURATION = 5.0
ROUNDS = 6
QUICK_ROUNDS = 2
WORKERS = (1, 2)  # Vigil is loaded as `serve --workers 1` and `--workers 2`, side by side
BACKENDS = ("sqlite", "postgresql")
PG_RATIO_GOAL = 0.8  # of SQLite's requests a second, same workers, same run
EDIT_EVERY = 1.0  # seconds between the starts of two organizer edits
P99_GOAL = 0.250
RATIO_GOAL = 0.60
ORGANIZER = "load-bench"
PASSWORD = "load benchmark organizer password"

LISTING = {"title": "Load-test vigil", "kind": "vigil", "address": "1623 E J St",
           "city": "Tacoma", "state": "WA", "tz": "America/Los_Angeles",
           "starts": "2030-06-01T20:00", "description": "Bring candles."}
PAGES = ["/", "/listings/portland-or-macadam", "/listings/{slug}", "/facilities", "/legal",
         "/rights", "/resources", "/about"]
API = ["/api/v1/listings", "/api/v1/listings/{slug}", "/api/v1/facilities", "/api/v1/contacts",
       "/api/v1/rights?lang=en", "/api/v1/rights?lang=es", "/api/v1/resources"]


def paths_for(slug: str) -> list[str]:
    """Every public page in English and Spanish, then the API, with the edited listing."""
    pages = [p.format(slug=slug) for p in PAGES]
    spanish = ["/es" + p for p in pages]
    return pages + spanish + [p.format(slug=slug) for p in API]


def add_organizer(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", "add-organizer", ORGANIZER, "--password-stdin"],
        input=PASSWORD + "\n", env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"add-organizer failed: {done.stderr.strip() or done.stdout}")


class OrganizerBrowser:
    """Signs in and posts the admin forms as a browser does: a session cookie and the CSRF
    token from the page, over one kept-alive connection."""

    def __init__(self, server: Server):
        self.server = server
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(self, method: str, path: str,
                form: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, Location, body); one reconnect if the kept-alive connection was closed."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.server.port, timeout=10)
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            headers = {"Cookie": cookie} if cookie else {}
            body = None
            if form is not None:
                body = urlencode(form)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            try:
                self.conn.request(method, path, body=body, headers=headers)
                res = self.conn.getresponse()
                text = res.read().decode("utf-8", "replace")
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
                continue
            # Every /admin cookie (session, device, the sign-in form's own) is sent back.
            for value in res.headers.get_all("Set-Cookie") or []:
                name, _, cookie = value.split(";", 1)[0].partition("=")
                if cookie:
                    self.cookies[name] = cookie
                else:
                    self.cookies.pop(name, None)
            if res.headers.get("Connection", "").lower() == "close":
                self.close()
            return res.status, res.headers.get("Location", ""), text
        raise AssertionError("unreachable")

    @staticmethod
    def _csrf(html: str) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', html)
        if match is None:
            raise RuntimeError("no CSRF token in the page")
        return match.group(1)

    def sign_in(self) -> None:
        status, _, page = self.request("GET", "/admin/login")
        form = {"csrf": self._csrf(page), "username": ORGANIZER, "password": PASSWORD}
        status, location, text = self.request("POST", "/admin/login", form)
        if status != 303 or "vigil_organizer" not in self.cookies:
            raise RuntimeError(f"sign-in failed: {status} {text[:200]}")
        status, _, page = self.request("GET", "/admin/")
        self.csrf = self._csrf(page)

    def publish(self) -> str:
        form = {"csrf": self.csrf, **LISTING, "action": "publish"}
        status, location, text = self.request("POST", "/admin/listings/new", form)
        match = re.search(r"/admin/listings/([^/?]+)/edit", location)
        if status != 303 or match is None or "Published" not in location:
            raise RuntimeError(f"publishing failed: {status} {location} {text[:200]}")
        return match.group(1)

    def edit(self, slug: str, n: int) -> tuple[int, str]:
        form = {"csrf": self.csrf, **LISTING, "title": f"Load-test vigil, edit #{n}",
                "description": f"Bring candles. (Edit number {n}.)"}
        status, location, _ = self.request("POST", f"/admin/listings/{slug}/edit", form)
        return status, location

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


@dataclass
class Edits:
    attempted: int = 0
    saved: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@dataclass
class App:
    """One Vigil under load, with the organizer who edits on it."""

    workers: int
    backend: str
    target: Target
    browser: OrganizerBrowser
    slug: str
    active: threading.Event = field(default_factory=threading.Event)
    edits: Edits = field(default_factory=Edits)
    logs: str = ""


def edit_every_second(browser: OrganizerBrowser, slug: str, stop: threading.Event,
                      active: threading.Event, edits: Edits) -> None:
    """Edit while `active` is set, once a second, until `stop`."""
    n = 0
    while not stop.is_set():
        if not active.wait(0.1):
            continue
        started = time.perf_counter()
        n += 1
        edits.attempted += 1
        try:
            status, location = browser.edit(slug, n)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            edits.failures.append(f"{type(exc).__name__}: {exc}")
        else:
            edits.latencies.append(time.perf_counter() - started)
            if status == 303 and "Saved" in location:
                edits.saved += 1
            else:
                edits.failures.append(f"HTTP {status} {location}")
        stop.wait(max(0.0, EDIT_EVERY - (time.perf_counter() - started)))


def check_paths(server: Server, paths: list[str]) -> None:
    for path in paths:
        status = fetch(server.url + path).status
        if status != 200:
            raise RuntimeError(f"{path} answered {status} before the load")


def ms_(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def run(quick: bool, concurrency: int = CONCURRENCY, duration: float | None = None,
        workers: tuple[int, ...] = WORKERS,
        backends: tuple[str, ...] = BACKENDS) -> list[Row]:
    duration = duration or (QUICK_DURATION if quick else DURATION)
    rounds = QUICK_ROUNDS if quick else ROUNDS
    settings = (f"{concurrency} connections, {duration:.0f} s per target in {rounds} turns, "
                f"Accept-Encoding: gzip, {implementation()}")
    log(f"load: {settings}; Vigil with --workers {' and '.join(map(str, workers))} on "
        f"{' and '.join(backends)}")
    apps: list[App] = []
    with ExitStack() as stack:
        bare = stack.enter_context(bare_server())
        new_database = (stack.enter_context(postgresql_databases())
                        if "postgresql" in backends else None)
        for backend in backends:
            for n in workers:
                db = {"VIGIL_DB": new_database()} if backend == "postgresql" and new_database \
                    else {}
                server = stack.enter_context(vigil_server(workers=n, **db))
                add_organizer(server.env)
                browser = OrganizerBrowser(server)
                stack.callback(browser.close)
                browser.sign_in()
                slug = browser.publish()
                paths = paths_for(slug)
                check_paths(server, paths)
                name = f"vigil --workers {n} on {backend}"
                apps.append(App(n, backend, Target(name, server, paths), browser, slug))
        log(f"  {len(apps[0].target.paths)} paths; an organizer edits its listing on each "
            f"Vigil every {EDIT_EVERY:.0f} s while that one is loaded")
        stop = threading.Event()
        editors = [threading.Thread(target=edit_every_second,
                                    args=(app.browser, app.slug, stop, app.active, app.edits),
                                    name=f"organizer-{app.workers}", daemon=True)
                   for app in apps]
        by_target = {id(app.target): app for app in apps}

        @contextmanager
        def editing(target: Target) -> Iterator[None]:
            app = by_target.get(id(target))
            if app is not None:
                app.active.set()
            try:
                yield
            finally:
                if app is not None:
                    app.active.clear()

        for editor in editors:
            editor.start()
        bare_target = Target("bare", bare, ["/json"])
        try:
            interleaved([*(app.target for app in apps), bare_target], concurrency, duration,
                        rounds, around=editing)
        finally:
            stop.set()
            for editor in editors:
                editor.join(15)
        for app in apps:
            app.logs = app.target.server.logs()

    base, base_cpu = bare_target.result, bare_target.server_cpu
    brief = (f"bare /json: {base.rps:,.0f} req/s, p50 {base.p50 * 1000:.1f} ms, "
             f"p99 {base.p99 * 1000:.1f} ms")
    rows = [Row("load: bare Starlette /json (turns taken with the app's, pooled)", figure(base),
                note=f"load: {settings}; bare server CPU {base_cpu * 100:.0f}% of a core")]
    first = apps[0].target.result
    on_sqlite = {app.workers: app.target.result for app in apps if app.backend == "sqlite"}
    for app in apps:
        edits, result, cpu = app.edits, app.target.result, app.target.server_cpu
        locked = len(re.findall(r"database is locked", app.logs, re.IGNORECASE))
        tracebacks = app.logs.count("Traceback")
        log(f"  organizer on --workers {app.workers}: {edits.saved}/{edits.attempted} edits "
            f"saved, failures {edits.failures[:3]}; 'database is locked' x{locked}, "
            f"tracebacks x{tracebacks}")
        ratio = result.rps / base.rps if base.rps else float("nan")
        met = (result.error_count == 0 and result.p99 <= P99_GOAL and ratio >= RATIO_GOAL)
        edit_p50 = statistics.median(edits.latencies) if edits.latencies else float("nan")
        edit_max = max(edits.latencies) if edits.latencies else float("nan")
        edits_met = (edits.attempted > 0 and edits.saved == edits.attempted and locked == 0
                     and tracebacks == 0)
        against = "" if app is apps[0] else (
            f"; {result.rps / first.rps:.2f}× --workers {apps[0].workers} on "
            f"{apps[0].backend}" if first.rps else "")
        sqlite = on_sqlite.get(app.workers)
        pg_ratio = (result.rps / sqlite.rps if app.backend == "postgresql" and sqlite
                    and sqlite.rps else None)
        if pg_ratio is not None:
            against += f"; {pg_ratio:.2f}× SQLite with as many workers"
            met = met and pg_ratio >= PG_RATIO_GOAL
        processes = f"--workers {app.workers} on {app.backend}"
        rows += [
            Row(f"load: Vigil {processes}, {len(app.target.paths)} public pages (en + es) and "
                "API URLs while an organizer edits a listing every second",
                f"{figure(result)} ({ratio:.2f}× bare{against})", baseline=brief,
                goal=f"0 errors, p99 ≤ {P99_GOAL * 1000:.0f} ms, ≥ {RATIO_GOAL:.0%} of bare"
                     + ("" if pg_ratio is None else f", ≥ {PG_RATIO_GOAL}× SQLite"),
                met=met,
                note=f"load on Vigil {processes}: server CPU {cpu * 100:.0f}% of a core (all "
                     f"its processes), load generator CPU {app.target.client_cpu * 100:.0f}%; "
                     f"statuses {dict(sorted(result.statuses.items()))}"),
            Row(f"load: organizer edits through /admin/listings/<slug>/edit during that load "
                f"({processes})",
                f"{edits.saved} of {edits.attempted} saved (303), edit p50 {ms_(edit_p50)}, "
                f"slowest {ms_(edit_max)}; 'database is locked' in the server log: "
                f"{'no' if not locked else f'{locked} times'}",
                goal="every edit saved, no 'database is locked'", met=edits_met,
                note=("organizer edit failures: " + "; ".join(edits.failures[:5]))
                if edits.failures else ""),
        ]
    return rows


def main() -> None:
    load_cli(__doc__, run, CONCURRENCY)


if __name__ == "__main__":
    main()
