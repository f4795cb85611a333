"""The access log: one line per request, with method, path, status and time only."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from typing import TextIO

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("vigil.access")

# What the access log shows for a request whose client hung up before its body was in
# (nginx's code for the same), so a flood of hang-ups is visible without a traceback each.
CLIENT_GONE = 499
# Anything that could end a log line, move the cursor or restyle a terminal (C0 and C1
# controls, line and paragraph separators); in the access log also the quote and backslash
# its line format relies on. Percent-encoded, as the client would have had to send them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNSAFE_IN_LOG = re.compile(r'[\x00-\x1f\x7f-\x9f"\\\u2028\u2029]')


def escape_controls(text: str) -> str:
    """The text with every control character percent-encoded: one line, no terminal codes."""
    if text.isprintable():
        return text
    return _CONTROL.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def log_safe(value: str) -> str:
    """A request value as it may appear in a log line: one line, no terminal controls."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return _UNSAFE_IN_LOG.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()),
                              value)


class AccessLog:
    """The access log: method, path, status and time only, never the client address, query
    or user agent.

    Lines are kept in memory and written together, as nginx's buffered access log does
    (`access_log ... buffer= flush=`): when `max_lines` have gathered, and by `run()` at
    least every `flush_every` seconds, rather than a log record and a write per request.
    The line format is the one the rest of the log uses; setting the `vigil.access` logger
    above INFO turns the access log off.
    """

    def __init__(self, stream: TextIO | None = None, max_lines: int = 256,
                 flush_every: float = 1.0):
        self.stream = stream
        self.lines: list[str] = []
        self.max_lines = max_lines
        self.flush_every = flush_every

    def add(self, method: str, path: str, status: int, seconds: float) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        self.lines.append(f'INFO vigil.access: "{log_safe(method)} {log_safe(path)}" {status} '
                          f'{seconds * 1000:.1f}ms\n')
        if len(self.lines) >= self.max_lines:
            self.flush()

    def flush(self) -> None:
        """Write what has gathered. A log that cannot be written (a closed pipe, a full
        disk) loses those lines, as logging's own handlers do, and never fails a request."""
        if not self.lines:
            return
        lines, self.lines = self.lines, []
        stream = self.stream or sys.stderr
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):
            pass

    async def run(self) -> None:
        """Flush every `flush_every` seconds until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self.flush_every)
                self.flush()
        finally:
            self.flush()


class AccessLogMiddleware:
    """Adds a line to an AccessLog for every HTTP request once it is answered: the status
    sent (500 if none was), or CLIENT_GONE for a client that hung up before its body was in,
    which ends the request here rather than as an error."""

    def __init__(self, app: ASGIApp, log: AccessLog | None = None):
        self.app = app
        # Without a log from the app (whose lifespan runs its timer), write each line at once.
        self.log = log or AccessLog(max_lines=1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        # Read now: the language prefix and a Mount rewrite the scope as the request passes.
        method, asked = scope["method"], scope.get("root_path", "") + scope["path"]

        async def logged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        except ClientDisconnect:
            status = status or CLIENT_GONE
        finally:
            self.log.add(method, asked, status or 500, time.perf_counter() - start)
