"""Launch the server for live tests. VIGIL_TEST_SW_SUFFIX simulates a new worker release;
VIGIL_TEST_HEAD_TIMEOUT shortens the request-head timeout so a test need not wait 10 s."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from server import serve
from server.cli import main
from server.views import offline

suffix = os.environ.pop("VIGIL_TEST_SW_SUFFIX", "")
if suffix:
    # A release changes the worker's source, and so its version and cache names.
    # A part added at the end, joined after the others as the served script's last line.
    released = Path(tempfile.mkdtemp()) / "release.js"
    released.write_bytes(f"// {suffix}\n".encode())
    offline.SERVICE_WORKER_PARTS = (*offline.SERVICE_WORKER_PARTS, released)

# Read, not popped: each worker process of `serve --workers` runs this module again.
head_timeout = os.environ.get("VIGIL_TEST_HEAD_TIMEOUT", "")
if head_timeout:
    serve.HEAD_TIMEOUT = float(head_timeout)

if __name__ == "__main__":  # not again in a worker process that `serve --workers` spawns
    sys.exit(main())
