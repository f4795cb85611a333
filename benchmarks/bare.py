"""The throughput baseline: a bare Starlette app, one route returning a small JSON.

Served exactly as server/serve.py serves Vigil: uvicorn.run, one worker, the same options
(server.serve.uvicorn_options) and uvicorn's default ("auto") event loop, so the difference
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

from server.serve import uvicorn_options


async def json_endpoint(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "service": "bare", "items": [1, 2, 3]})


app = Starlette(routes=[Route("/json", json_endpoint)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, **uvicorn_options())


if __name__ == "__main__":
    main()
