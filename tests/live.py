"""A real uvicorn in a subprocess on a free port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server import ROOT
from tests import dbtools
from tests.conftest import TEST_SECRET

CHROMIUM = os.environ.get("VIGIL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, tmp: Path, port: int, proc: subprocess.Popen, log: Path,
                 host: str = "127.0.0.1"):
        self.tmp = tmp
        self.port = port
        self.proc = proc
        self.log = log
        self.url = f"http://{host}:{port}"
        self.db_path = tmp / "vigil.db"

    def sql(self, statement: str, params: tuple = (), *, public: bool = True) -> None:
        """Change the data behind the server's back, as another process would."""
        conn = dbtools.connect(self.db_path, timeout=10)
        try:
            conn.execute(statement, params)
            if public:
                conn.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'"
                )
            conn.commit()
        finally:
            conn.close()

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as res:
                if res.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


@contextmanager
def live_server(
    tmp: Path, port: int | None = None, host: str = "127.0.0.1", workers: int = 1, **env: str
) -> Iterator[LiveServer]:
    port = port or free_port(host)
    log = tmp / f"server-{port}-{time.monotonic_ns()}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    full_env.update(
        VIGIL_DB=str(dbtools.target(tmp / "vigil.db")),
        VIGIL_SECRET_KEY=TEST_SECRET,
        VIGIL_VAPID_KEY=str(tmp / "vapid.pem"),
        VIGIL_VAPID_SUBJECT="mailto:test@example.invalid",
        VIGIL_BASE_URL=f"http://{host}:{port}",
        PYTHONUNBUFFERED="1",
    )
    full_env.update(env)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.run_server", "serve", "--host", host, "--port",
             str(port), "--workers", str(workers)],
            cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://{host}:{port}", proc, log)
        yield LiveServer(tmp, port, proc, log, host)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


assert (ROOT / "server").is_dir()
