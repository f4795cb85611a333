"""A throw-away PostgreSQL cluster for the tests: initdb in a temporary folder, a free port.

As root, the cluster runs as Debian's `postgres` user (PostgreSQL refuses to run as root);
otherwise as whoever runs the tests. `python -m tests.pgcluster` starts one and prints its
URL, for trying things by hand; the test session starts and stops its own.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

VERSIONS = Path("/usr/lib/postgresql")


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: PATH first, then the newest of Debian's versions."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    if VERSIONS.is_dir():
        for version in sorted(VERSIONS.iterdir(), key=lambda p: p.name, reverse=True):
            if (version / "bin" / "pg_ctl").exists():
                return version / "bin"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One cluster: start() it, take url(name) for databases in it, stop() it."""

    def __init__(self) -> None:
        binaries = bin_dir()
        if binaries is None:
            raise RuntimeError("PostgreSQL is missing: install Debian's 'postgresql' package")
        self.bin = binaries
        self.root = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> Cluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, self.user)
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=300 -c shared_buffers=64MB")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
                  "-w", "-t", "60", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    cluster = Cluster().start()
    print(cluster.url(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        cluster.stop()
