"""What every benchmark shares: the Row it reports, free ports, and real uvicorn servers
(the app and the bare Starlette baseline) in subprocesses bound to 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.loadgen import LoadResult, run_load

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

# The same browser and flags as tests/live.py (not imported: that module needs pytest).
CHROMIUM = os.environ.get("VIGIL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
BENCH_SECRET = "benchmark-secret-key-that-is-long-enough-0123456789"
KB = 1000  # goals are in SI kilobytes: 14 KB is the ~14,600-byte first TCP round trip


@dataclass
class Row:
    """One line of the table: a figure, its same-run baseline, the goal and whether it is met.

    `met` is None when there is no goal. `note` is printed under the table.
    """

    benchmark: str
    figure: str
    baseline: str = "—"
    goal: str = "—"
    met: bool | None = None
    note: str = ""


def kb(n: float) -> str:
    return f"{n / KB:.1f} KB"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def log(message: str) -> None:
    """Progress goes to stderr so stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextmanager
def temp_dir(prefix: str = "vigil-bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path
    env: dict[str, str] = field(default_factory=dict)  # lets CLI commands reach its database

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def logs(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far (Linux): its process and the
        worker processes it runs (`serve --workers N`)."""
        total = 0.0
        for pid in (self.pid, *_children(self.pid)):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                if pid == self.pid:
                    return float("nan")
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _wait_until_up(url: str, proc: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n"
                               f"{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as res:
                if res.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer {url} within {timeout:.0f}s:\n"
                       f"{log_path.read_text(errors='replace')[-3000:]}")


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@contextmanager
def server_process(
    name: str, argv: list[str], env: dict[str, str], health_path: str, workdir: Path,
    port: int | None = None, timeout: float = 90, root: Path = ROOT,
) -> Iterator[Server]:
    """Start `argv` (which must bind 127.0.0.1:<port>; "{port}" in argv is replaced), wait
    for `health_path` to answer 200, and always stop it afterwards."""
    port = port or free_port()
    log_path = workdir / f"{name}-{port}.log"
    argv = [a.replace("{port}", str(port)) for a in argv]
    with log_path.open("w") as out:
        proc = subprocess.Popen(argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        _wait_until_up(f"http://{HOST}:{port}{health_path}", proc, log_path, timeout)
        yield Server(name, port, proc, log_path, env)
    finally:
        stop_process(proc)


def _clean_env(root: Path = ROOT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(root)
    return env


@contextmanager
def vigil_server(root: Path = ROOT, workers: int = 1, **settings: str) -> Iterator[Server]:
    """`python -m server serve [--workers N]` on a fresh database in a temp dir (the default
    dataset is loaded on first start); the temp dir goes when the server stops. `root` serves
    another checkout of Vigil (a baseline); `settings` override VIGIL_* variables."""
    with temp_dir("vigil-bench-app-") as tmp:
        port = free_port()
        env = _clean_env(root)
        env.update(
            VIGIL_DB=str(tmp / "vigil.db"),
            VIGIL_SECRET_KEY=BENCH_SECRET,
            VIGIL_VAPID_KEY=str(tmp / "vapid.pem"),
            VIGIL_VAPID_SUBJECT="mailto:bench@example.invalid",
            VIGIL_BASE_URL=f"http://{HOST}:{port}",
        )
        env.update(settings)
        argv = [sys.executable, "-m", "server", "serve", "--host", HOST, "--port", str(port)]
        if workers != 1:  # a baseline checkout may not know the option
            argv += ["--workers", str(workers)]
        with server_process("vigil", argv, env, "/healthz", tmp, port=port, root=root) as srv:
            # /healthz answers once one worker is up; the load waits for all of them.
            deadline = time.monotonic() + 90
            while srv.logs().count("Application startup complete") < workers:
                if time.monotonic() > deadline or srv.proc.poll() is not None:
                    raise RuntimeError(f"not every worker started:\n{srv.logs()[-3000:]}")
                time.sleep(0.1)
            yield srv


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """The given git revision of this repository, exported to a temp dir."""
    with temp_dir("vigil-bench-baseline-") as tmp:
        archive = tmp / "src.tar"
        subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), revision],
                       cwd=ROOT, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp / "src", filter="data")
        yield tmp / "src"


@contextmanager
def postgresql_databases() -> Iterator[Callable[[], str]]:
    """A throw-away PostgreSQL cluster for the run; yields a function that makes a new, empty
    database in it and returns its URL (a VIGIL_DB)."""
    import psycopg

    from tests.pgcluster import Cluster

    cluster = Cluster().start()
    made = itertools.count(1)
    try:
        def new_database() -> str:
            name = f"bench_{next(made)}"
            with psycopg.connect(cluster.url(), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            return cluster.url(name)

        yield new_database
    finally:
        cluster.stop()


@contextmanager
def bare_server() -> Iterator[Server]:
    """The baseline: one Starlette route returning a small JSON, under the same uvicorn."""
    with temp_dir("vigil-bench-bare-") as tmp:
        argv = [sys.executable, "-m", "benchmarks.bare", "--host", HOST, "--port", "{port}"]
        with server_process("bare", argv, _clean_env(), "/json", tmp) as srv:
            yield srv


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on the event loop the server runs on: uvicorn's "auto" picks uvloop when it
    is installed (it is pinned in constraints.txt), plain asyncio otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


@dataclass
class Target:
    """One server and the paths to load it with, and what interleaved() measured."""

    name: str
    server: Server
    paths: list[str]
    result: LoadResult = field(default_factory=LoadResult)
    server_cpu: float = 0.0  # CPU seconds of the server process per second of load

    @property
    def client_cpu(self) -> float:
        r = self.result
        return r.client_cpu / r.elapsed if r.elapsed else 0.0


def interleaved(targets: list[Target], concurrency: int, duration: float, rounds: int,
                gzip: bool = True, around: Callable[[Target], AbstractContextManager] | None
                = None) -> list[Target]:
    """Load each target for `duration` seconds in all, in `rounds` turns taken in rotation,
    and pool each target's turns.

    On a shared machine the load from elsewhere drifts over a run; taking turns spreads the
    drift over every target alike instead of letting it fall on whichever ran during a busy
    spell. Each target gets a short unrecorded warm-up first. `around(target)`, when given,
    wraps each of that target's turns (the load benchmark edits only while Vigil is loaded).
    """
    for target in targets:
        run_load(target.server.url, target.paths, concurrency, min(1.0, duration / 3), gzip)
    turns: dict[str, list[LoadResult]] = {t.name: [] for t in targets}
    cpu = dict.fromkeys(turns, 0.0)
    for _ in range(rounds):
        for target in targets:
            with around(target) if around else nullcontext():
                cpu0 = target.server.cpu_seconds()
                turns[target.name].append(run_load(
                    target.server.url, target.paths, concurrency, duration / rounds, gzip))
                cpu[target.name] += target.server.cpu_seconds() - cpu0
    for target in targets:
        target.result = LoadResult.pooled(turns[target.name])
        elapsed = target.result.elapsed
        target.server_cpu = cpu[target.name] / elapsed if elapsed else 0.0
        log(f"  {target.name}: {target.result.summary()}, "
            f"server CPU {target.server_cpu * 100:.0f}%")
        for sample in target.result.error_samples:
            log(f"    error: {sample}")
    return targets


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes  # as sent on the wire (still compressed when content-encoding says so)

    @property
    def decoded(self) -> bytes:
        if self.headers.get("content-encoding", "").lower() == "gzip":
            return gzip.decompress(self.body)
        return self.body


def fetch(url: str, gzip_ok: bool = True, timeout: float = 10) -> Fetched:
    """GET `url`; urllib does not decompress, so `body` is what the server sent."""
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {"Accept-Encoding": "identity"}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as res:
        return Fetched(res.status, {k.lower(): v for k, v in res.headers.items()}, res.read())


def launch_chromium(playwright):  # -> playwright.sync_api.Browser
    """Debian's Chromium with the flags tests/live.py uses (headless)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                      timeout=60000)


def wait_for_worker(page, timeout_ms: int = 30000) -> None:
    """Wait until the service worker controls the page and has stored the whole offline
    bundle (as tests/test_offline.py does)."""
    ready = page.evaluate(
        "ms => Promise.race([navigator.serviceWorker.ready.then(() => true),"
        " new Promise(resolve => setTimeout(() => resolve(false), ms))])", timeout_ms)
    if not ready:
        raise RuntimeError(f"the service worker was not ready after {timeout_ms / 1000:.0f}s")
    if not page.evaluate("Boolean(navigator.serviceWorker.controller)"):
        page.wait_for_function("Boolean(navigator.serviceWorker.controller)", timeout=timeout_ms)
    # The install stores only the shell; the rest of the bundle downloads in the background.
    page.wait_for_function(
        """() => caches.keys().then(async (names) => {
          const name = names.find((n) => n.startsWith("vigil-content-"));
          const saved = name && await (await caches.open(name)).match("/__vigil/bundle");
          window.__vigilBundle = Boolean(saved && (await saved.json()).complete);
        }) && window.__vigilBundle""", timeout=timeout_ms, polling=200)


def load_cli(description: str, run, concurrency: int) -> None:
    """The command line of a load benchmark: --quick, -c CONCURRENCY, -d SECONDS."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("-c", "--concurrency", type=int, default=concurrency)
    parser.add_argument("-d", "--duration", type=float)
    args = parser.parse_args()
    for row in run(args.quick, args.concurrency, args.duration):
        print(row)
