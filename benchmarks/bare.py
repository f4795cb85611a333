"""The throughput baseline: a bare Starlette app, one route returning a small JSON.

Served exactly as server/serve.py serves Vigil: uvicorn.run, one worker, the same flags,
and uvicorn's default ("auto") event loop and HTTP implementation, so the difference
between the two is the app alone.

    python -m benchmarks.bare --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.serve import MAX_CONNECTIONS


async def json_endpoint(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "service": "bare", "items": [1, 2, 3]})


app = Starlette(routes=[Route("/json", json_endpoint)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    # Keep in step with server/serve.py.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, proxy_headers=False,
                server_header=False, timeout_keep_alive=5, log_level="info",
                limit_concurrency=MAX_CONNECTIONS)


if __name__ == "__main__":
    main()
