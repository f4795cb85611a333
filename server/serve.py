"""Running the app under uvicorn, with an access log that never records client addresses."""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import Any

import uvicorn

from server.app import create_app
from server.config import Settings, from_env
from server.middleware import escape_controls
from server.vapid import load_private_key

# Beyond this many open connections uvicorn answers 503 instead of taking more.
MAX_CONNECTIONS = 2000
# Seconds a client has to send a whole request head (request line and headers), counted
# from the connection or from the first byte of the next request on a kept-alive one.
HEAD_TIMEOUT = 10.0
# Seconds a worker process of `serve --workers N` may take to answer its supervisor.
WORKER_HEALTHCHECK = 30


def head_timeout_protocol() -> type[asyncio.Protocol] | str:
    """uvicorn's httptools protocol, closing connections whose request head is late.

    uvicorn times out idle kept-alive connections but not a head that arrives a byte at a
    time, nor a connection that never sends anything: each would hold a socket for as long
    as the client likes. With httptools missing, uvicorn's own choice ("auto") is kept.
    """
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return "auto"

    class HeadTimeoutProtocol(HttpToolsProtocol):
        """The clock runs from the connection, and from the end of each response, until the
        next request head is complete. It is not stopped by stray bytes between requests
        (which stop uvicorn's keep-alive timer), and it does not run while a request is
        being answered (reading is paused then, so a pipelined head cannot arrive)."""

        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_timer()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            answering = self.cycle is not None and not self.cycle.response_complete
            if self._head_timer is None and not answering:
                self._arm_head_timer()

        def on_headers_complete(self) -> None:
            self._disarm_head_timer()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and not self.pipeline:
                self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            self._disarm_head_timer()
            self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_timed_out)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeadTimeoutProtocol


def uvicorn_options() -> dict[str, Any]:
    """How Vigil runs under uvicorn; the throughput baseline is served the same way.

    uvicorn's own access log prints the client address; ours (server.middleware) does not,
    so uvicorn's is off. uvicorn's reading of X-Forwarded-For is off too: the edge layer
    reads it, from VIGIL_TRUSTED_PROXIES only, and keeps only a salted hash of it.
    """
    return dict(access_log=False, proxy_headers=False, server_header=False,
                timeout_keep_alive=5, log_level="info", limit_concurrency=MAX_CONNECTIONS,
                http=head_timeout_protocol())


def cheap_logging() -> None:
    """The logging HOWTO's optimizations: caller, thread and process details are never
    printed, so they are not collected for each record."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def contained_log_records() -> None:
    """Every log record stays one record, whatever request values reach it: control
    characters in its message and arguments are percent-encoded, and a traceback's lines
    are indented, so nothing a client sends (in an exception's message, say) can start a
    line that reads as a record of its own."""
    make_record = logging.getLogRecordFactory()

    def record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = escape_controls(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(escape_controls(a) if isinstance(a, str) else a
                                for a in record.args)
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = "\n".join("  " + escape_controls(line)
                                         for line in text.split("\n"))
        return record

    logging.setLogRecordFactory(record_factory)


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve the app; with workers > 1 from that many processes sharing one listening socket.

    Every process runs the whole app, push sender included: the outbox leases each delivery
    to one of them (server.push.outbox), and each process's caches notice the others' writes
    through Database.revision(). The database must be migrated and loaded beforehand.
    """
    cheap_logging()
    contained_log_records()
    load_private_key(settings)  # create it now, not on the first push
    options = uvicorn_options()
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, **options)
        return
    # uvicorn's supervisor binds the socket, starts the workers (each a fresh interpreter
    # that unpickles its configuration, so app and protocol are named, not passed) and
    # starts a new one when one dies.
    if not isinstance(options["http"], str):
        options["http"] = f"{__name__}:WorkerProtocol"
    # A worker that has not answered the supervisor's ping within this many seconds is
    # replaced. uvicorn's 5 s is shorter than a new worker takes to import the app on a
    # busy two-core machine, which would replace every worker before it could start.
    uvicorn.run(f"{__name__}:worker_app", factory=True, host=host, port=port,
                workers=workers, timeout_worker_healthcheck=WORKER_HEALTHCHECK, **options)


def worker_app() -> Any:
    """The app in one worker process. Its settings are read from the environment, which the
    worker inherits from the supervisor, so they are the ones the supervisor read."""
    cheap_logging()
    contained_log_records()
    return create_app(from_env(), load_data_if_empty=False)


def __getattr__(name: str) -> Any:
    # WorkerProtocol is how a worker process finds the protocol class by name: it is made
    # by a function, so it cannot be pickled.
    if name == "WorkerProtocol":
        return head_timeout_protocol()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
