"""PostgreSQL going away and coming back under a running server: /healthz says so at once,
an organizer's edit during the outage is refused rather than half-kept, and once the
database answers again the same server serves and saves without a restart."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from tests import dbtools
from tests.admin_support import create_organizer
from tests.conftest import make_settings
from tests.live import live_server
from tests.test_faults import Organizer, query

pytestmark = [dbtools.postgresql_only]


class Cable:
    """A TCP forwarder between the server and PostgreSQL that the test can pull out: cut()
    drops every connection and refuses new ones; plug() lets them through again."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.plugged = threading.Event()
        self.plugged.set()
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.plugged.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def cut(self) -> None:
        self.plugged.clear()
        with self.lock:
            for s in self.open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self.open.clear()

    def plug(self) -> None:
        self.plugged.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def eventually(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def health(url: str) -> int:
    try:
        return httpx.get(url + "/healthz", timeout=10).status_code
    except httpx.HTTPError:
        return 0


def test_the_database_going_away_and_coming_back(tmp_path):
    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    direct = urlsplit(settings.db_url)
    cable = Cable(direct.hostname or "127.0.0.1", direct.port or 5432)
    through = settings.db_url.replace(f":{direct.port}/", f":{cable.port}/", 1)
    try:
        with live_server(tmp_path, VIGIL_DB=through) as server:
            organizer = Organizer(server)
            try:
                slug = organizer.publish()
                assert health(server.url) == 200
                cable.cut()
                started = time.monotonic()
                eventually(lambda: health(server.url) == 503, 15, "/healthz kept saying ok")
                assert time.monotonic() - started < 10
                refused = organizer.edit(slug, title="Said while the database was away")
                assert refused >= 500
                cable.plug()
                eventually(lambda: health(server.url) == 200, 30,
                           "the server never found the database again")
                assert organizer.edit(slug, title="Said once it was back") == 303
                page = httpx.get(f"{server.url}/listings/{slug}", timeout=10).text
                assert "Said once it was back" in page
            finally:
                organizer.close()
    finally:
        cable.close()
    titles = [r[0] for r in query(settings.db_path, "SELECT title FROM listings WHERE slug = ?",
                                   (slug,))]
    assert titles == ["Said once it was back"]
