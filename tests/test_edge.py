"""The edge layer's access log: what a line holds, and when lines reach the stream."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.middleware import AccessLog


@pytest.fixture(autouse=True)
def access_log_level():
    """The server logs at INFO (server.cli); tests set it the same way, then put it back."""
    logger = logging.getLogger("vigil.access")
    level = logger.level
    logger.setLevel(logging.INFO)
    yield logger
    logger.setLevel(level)


def test_a_line_holds_method_path_status_and_time_only(settings):
    stream = io.StringIO()
    app = create_app(settings)
    app.state.vigil.access_log.stream = stream
    with TestClient(app, base_url="http://testserver", client=("203.0.113.77", 40000)) as c:
        c.get("/es/legal?state=OR&secret=1", headers={"User-Agent": "Mozilla/5.0 Telltale",
                                                      "Referer": "https://elsewhere.example/"})
        c.get("/api/v1/nowhere")
    lines = stream.getvalue().splitlines()
    # Flushed on shutdown at the latest; nothing but these two requests was logged.
    assert len(lines) == 2, lines
    assert lines[0].startswith('INFO vigil.access: "GET /es/legal" 200 ')
    assert lines[0].endswith("ms")
    assert lines[1].startswith('INFO vigil.access: "GET /api/v1/nowhere" 404 ')
    text = stream.getvalue()
    for secret in ("203.0.113.77", "secret", "state=OR", "Telltale", "elsewhere"):
        assert secret not in text


def test_lines_wait_for_a_full_batch_or_the_timer():
    stream = io.StringIO()
    log = AccessLog(stream, max_lines=3)
    log.add("GET", "/", 200, 0.001)
    log.add("GET", "/legal", 200, 0.002)
    assert stream.getvalue() == ""  # held in memory
    log.add("GET", "/rights", 304, 0.003)
    assert stream.getvalue().count("\n") == 3  # a full batch goes out at once
    log.add("POST", "/suggest", 303, 0.004)
    log.flush()
    assert stream.getvalue().splitlines()[-1].startswith('INFO vigil.access: "POST /suggest" 303')


async def test_the_timer_writes_what_gathered_and_flushes_when_stopped():
    stream = io.StringIO()
    log = AccessLog(stream, flush_every=0.02)
    task = asyncio.create_task(log.run())
    log.add("GET", "/", 200, 0.001)
    await asyncio.sleep(0.1)
    assert stream.getvalue().count("\n") == 1
    log.add("GET", "/about", 200, 0.001)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert stream.getvalue().count("\n") == 2


def test_raising_the_logger_level_turns_it_off(access_log_level):
    access_log_level.setLevel(logging.WARNING)
    stream = io.StringIO()
    log = AccessLog(stream, max_lines=1)
    log.add("GET", "/", 200, 0.001)
    log.flush()
    assert stream.getvalue() == ""


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError("the log pipe is gone")


def test_a_log_that_cannot_be_written_never_fails_a_request():
    log = AccessLog(BrokenStream(), max_lines=2)
    for _ in range(5):
        log.add("GET", "/", 200, 0.001)  # flushes at 2 and 4 lines: no exception
    log.flush()
    assert log.lines == []  # dropped, not piling up in memory
