"""Running the app under uvicorn with the connection-level limits the app itself cannot see.

uvicorn closes idle keep-alive connections but never times out a client that is slow to send its
request line and headers: a client trickling one header byte at a time holds its connection open
for ever. :func:`protocol_class` adds that timeout to uvicorn's h11 protocol: a connection that has
not delivered complete headers ``header_timeout`` seconds after it opened (or after its previous
response) gets 408 and is closed. The body deadline is :class:`~animegan.server.limits.GuardMiddleware`'s;
``max_connections`` becomes uvicorn's ``limit_concurrency`` (requests beyond it get 503).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .settings import ServerSettings

#: idle seconds a keep-alive connection stays open between requests
KEEP_ALIVE_SECONDS = 5
#: largest request line + headers, in bytes (h11's buffer; bigger gets 400)
MAX_HEADER_BYTES = 64 * 1024


def protocol_class(header_timeout: float) -> type:
    """uvicorn's h11 protocol with a deadline for the request line and headers."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    body = json.dumps({"detail": f"request headers not received within {header_timeout:g} s; "
                                 "closing the connection"}).encode()
    answer = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
              b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)

    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _partial = False  # bytes of the next request arrived, but not all of its headers
        _served = False  # a response was already sent on this connection

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the headers are in: the body has its own deadline
                self._disarm()
                self._partial = False
            elif data:
                self._partial = True

        def on_response_complete(self) -> None:
            self._served, self._partial = True, False
            super().on_response_complete()
            if not self.transport.is_closing():  # keep-alive: the next request's headers get a fresh deadline
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            # say why before closing, unless this is an idle keep-alive connection (there a 408 could cross
            # a request the client is just sending; a plain close is what clients expect of idle connections)
            if self.conn.our_state is h11.IDLE and (self._partial or not self._served):
                self.transport.write(answer)
            self.transport.close()

    return HeaderTimeoutH11Protocol


def uvicorn_config(app: Any, settings: ServerSettings, **kwargs: Any) -> Any:
    """A uvicorn ``Config`` for ``app`` with the server's connection limits applied."""
    import uvicorn

    return uvicorn.Config(app, host=settings.host, port=settings.port, http=protocol_class(settings.header_timeout),
                          limit_concurrency=settings.max_connections, timeout_keep_alive=KEEP_ALIVE_SECONDS,
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES, **kwargs)


def run(app: Any, settings: ServerSettings, **kwargs: Any) -> None:
    """Serve ``app`` until interrupted (what ``animegan serve`` does)."""
    import uvicorn

    uvicorn.Server(uvicorn_config(app, settings, **kwargs)).run()
