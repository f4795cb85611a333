"""A fake Twilio-compatible Messages API in a thread: it checks the request as Twilio would
(Basic auth, a form body with To, From and Body, To in E.164) and answers as told."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

ACCOUNT = "AC0123456789abcdef"
TOKEN = "test-sms-token"
FROM = "+15035550100"


class FakeProvider:
    def __init__(self, user: str = ACCOUNT, token: str = TOKEN, sender: str = FROM,
                 rate: float | None = None):
        self.user, self.token, self.sender = user, token, sender
        # Texts a second it accepts, as a carrier's limit (429 beyond it); None: no limit.
        self.rate = rate
        self._window: deque[float] = deque()
        self.limited = 0
        self.script: deque[int] = deque()  # status codes to answer next, then 201
        self.received: list[dict[str, str]] = []
        self.refused: list[str] = []  # why malformed requests were refused
        self.lock = threading.Lock()
        self.count = 0
        self.on_request = None  # called with the fields before answering
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                provider.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/2010-04-01/Accounts/{self.user}"

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settings(self) -> dict:
        return {"sms_url": self.url, "sms_from": self.sender, "sms_user": self.user,
                "sms_token": self.token}

    def _refuse(self, handler, why: str, code: int = 400) -> None:
        with self.lock:
            self.refused.append(why)
        self._answer(handler, code, {"code": 21000, "message": why})

    @staticmethod
    def _answer(handler, code: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(data)

    def handle(self, handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        if handler.path != f"/2010-04-01/Accounts/{self.user}/Messages.json":
            return self._refuse(handler, f"path {handler.path}", 404)
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        if handler.headers.get("Authorization") != expected:
            return self._refuse(handler, "authorization", 401)
        if not handler.headers.get("Content-Type", "").startswith(
                "application/x-www-form-urlencoded"):
            return self._refuse(handler, "content type")
        fields = {k: v[0] for k, v in parse_qs(raw.decode(), strict_parsing=True).items()}
        if set(fields) != {"To", "From", "Body"}:
            return self._refuse(handler, f"fields {sorted(fields)}")
        if fields["From"] != self.sender or not fields["To"].startswith("+"):
            return self._refuse(handler, "numbers")
        if self.on_request is not None:
            self.on_request(fields)
        with self.lock:
            code = self.script.popleft() if self.script else 201
            if self.rate is not None and code == 201:
                now = time.monotonic()
                while self._window and self._window[0] <= now - 1.0:
                    self._window.popleft()
                # A burst of a tenth of a second's worth is let through, no more.
                if len(self._window) >= self.rate + max(1, self.rate / 10):
                    code = 429
                    self.limited += 1
                else:
                    self._window.append(now)
            self.count += 1
            n = self.count
            if code == 201:
                self.received.append(fields)
        if code == 201:
            return self._answer(handler, 201, {"sid": f"SM{n:032x}", "status": "queued",
                                               "to": fields["To"], "body": fields["Body"]})
        headers = {"Retry-After": "1"} if code == 429 else None
        return self._answer(handler, code, {"code": 20429 if code == 429 else 20500,
                                            "message": "try later"}, headers)


def main() -> None:
    """python -m tests.smsprovider [RATE]: serve until stdin closes; print the URL first,
    then the counts at the end (sent, refused as over the rate, malformed)."""
    import sys

    rate = float(sys.argv[1]) if len(sys.argv) > 1 else None
    with FakeProvider(rate=rate) as provider:
        print(provider.url, flush=True)
        sys.stdin.read()
        print(json.dumps({"sent": len(provider.received), "limited": provider.limited,
                          "malformed": len(provider.refused)}), flush=True)


if __name__ == "__main__":
    main()
