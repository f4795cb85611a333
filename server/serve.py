"""Running the app under uvicorn, with an access log that never records client addresses."""

from __future__ import annotations

import logging

import uvicorn

from server.app import create_app
from server.config import Settings
from server.vapid import load_private_key

# Beyond this many open connections uvicorn answers 503 instead of taking more.
MAX_CONNECTIONS = 2000


def cheap_logging() -> None:
    """The logging HOWTO's optimizations: the access log writes a line per request, and
    caller, thread and process details are never printed."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def serve(settings: Settings, host: str, port: int) -> None:
    cheap_logging()
    load_private_key(settings)  # create it now, not on the first push
    app = create_app(settings)
    # uvicorn's own access log prints the client address; ours (server.middleware.Edge)
    # does not, so uvicorn's is off.
    uvicorn.run(app, host=host, port=port, access_log=False, proxy_headers=False,
                server_header=False, timeout_keep_alive=5, log_level="info",
                limit_concurrency=MAX_CONNECTIONS)
