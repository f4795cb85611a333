"""Running the app under uvicorn, with an access log that never records client addresses."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import uvicorn

from server.app import create_app
from server.config import Settings, from_env
from server.head_timeout import head_timeout_protocol
from server.middleware import escape_controls
from server.vapid import load_private_key

# Beyond this many open connections uvicorn answers 503 instead of taking more.
MAX_CONNECTIONS = 2000
# Seconds a client has to send a whole request head (request line and headers), counted
# from the connection or from the first byte of the next request on a kept-alive one.
HEAD_TIMEOUT = 10.0
# Seconds a worker process of `serve --workers N` may take to answer its supervisor.
WORKER_HEALTHCHECK = 30


def uvicorn_options() -> dict[str, Any]:
    """How Vigil runs under uvicorn; the throughput baseline is served the same way.

    uvicorn's own access log prints the client address; ours (server.middleware) does not,
    so uvicorn's is off. uvicorn's reading of X-Forwarded-For is off too: the edge layer
    reads it, from VIGIL_TRUSTED_PROXIES only, and keeps only a salted hash of it.
    """
    return dict(access_log=False, proxy_headers=False, server_header=False,
                timeout_keep_alive=5, log_level="info", limit_concurrency=MAX_CONNECTIONS,
                http=head_timeout_protocol(HEAD_TIMEOUT))


def cheap_logging() -> None:
    """The logging HOWTO's optimizations: thread and process details are never printed, so
    they are not collected for each record. (Its other one, setting the private
    `logging._srcfile`, is not used: the access log, the one log written per request, does
    not go through logging records at all.)"""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def contained_log_records() -> None:
    """Every log record stays one record, whatever request values reach it: control
    characters in its message and arguments are percent-encoded, and a traceback's lines
    are indented, so nothing a client sends (in an exception's message, say) can start a
    line that reads as a record of its own.

    This is logging's documented hook for every record (setLogRecordFactory) rather than a
    Filter or Formatter on our handlers, because the handlers are not all ours: uvicorn
    installs its own (again in each worker process) after this runs, and its "Exception in
    ASGI application" records carry request values in their tracebacks. The factory is
    installed once per process; calling again changes nothing.
    """
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "contains_request_values", False):
        return

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

    record_factory.contains_request_values = True  # type: ignore[attr-defined]
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
        return head_timeout_protocol(HEAD_TIMEOUT)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
