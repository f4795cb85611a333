"""The request-head timeout uvicorn lacks, as a subclass of its httptools protocol.

uvicorn has no supported option for this: `timeout_keep_alive` covers only the idle time
between requests and is reset by every byte received, `h11_max_incomplete_event_size`
bounds a head's size, not its time, and there is no request-start timeout. An ASGI
middleware cannot help either: it runs only once a head is complete. So this is the one
place that leans on uvicorn's internals, which change without notice (constraints.txt pins
the uvicorn it was written against):

- the parser callbacks `on_message_begin`, `on_headers_complete`, `on_response_complete`
  and the protocol methods `connection_made`, `connection_lost`, each extended, never
  replaced;
- the attributes `loop`, `transport`, `cycle` (and its `response_complete`) and
  `pipeline`, read only.

tests/test_hostile.py (slow and silent clients, stray bytes, kept-alive connections) and
tests/test_workers.py prove it against the uvicorn installed.
"""

from __future__ import annotations

import asyncio


def head_timeout_protocol(seconds: float) -> type[asyncio.Protocol] | str:
    """uvicorn's httptools protocol, closing connections whose request head is not in
    within `seconds`.

    Without the timeout, a head that arrives a byte at a time, or a connection that never
    sends anything, would hold a socket for as long as the client likes. With httptools
    missing, uvicorn's own choice ("auto") is kept.
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

        head_timeout = seconds
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
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeadTimeoutProtocol
