"""Request limits enforced by the app itself.

:class:`GuardMiddleware` is pure ASGI so it acts before any body byte is read: it answers 401 for a
missing API key and 413 for a declared ``Content-Length`` over the limit without touching the body,
and counts bytes as a chunked body streams in, answering 413 the moment the limit is passed. The
whole body must arrive within ``body_timeout`` seconds of the headers, else 408 and the connection
is closed (a client trickling bytes cannot hold a connection open). The header timeout and the
connection bound live in :mod:`animegan.server.runner` (they act before the app sees a request).
:class:`Admission` counts running + queued inference jobs so a full queue is refused with 503.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import ServerSettings

T = TypeVar("T")

VIDEO_UPLOAD_PATH = "/api/v1/videos"


class _BodyTooLarge(Exception):
    """Raised inside the app's receive() once the body passes the limit (the 413 is already sent)."""


class _BodyTimedOut(Exception):
    """Raised inside the app's receive() once the body deadline has passed (the 408 is already sent)."""


async def send_json_error(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """Send a complete ``{"detail": ...}`` JSON response on a raw ASGI ``send``."""
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class GuardMiddleware:
    """API key check and upload size limit, before the body is read."""

    def __init__(self, app: ASGIApp, settings: ServerSettings):
        self.app = app
        self.settings = settings

    def limit_for(self, method: str, path: str) -> int:
        if method == "POST" and path.rstrip("/") == VIDEO_UPLOAD_PATH:
            return self.settings.max_video_bytes
        return self.settings.max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        key = self.settings.api_key
        if key and path.startswith("/api/") and not hmac.compare_digest(
                headers.get("x-api-key", "").encode(), key.encode()):
            await send_json_error(send, 401, "missing or wrong API key: send it in the X-API-Key header",
                                  {"www-authenticate": "X-API-Key", "connection": "close"})
            return
        limit = self.limit_for(scope.get("method", "GET"), path)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_json_error(send, 400, f"Content-Length {declared!r}: not a byte count",
                                      {"connection": "close"})
                return
            if int(declared) > limit:
                await send_json_error(send, 413, _too_large(int(declared), limit), {"connection": "close"})
                return
        await self._guarded(scope, receive, send, limit)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        seen = 0
        state = {"app_started": False, "we_answered": False, "body_done": False}
        timeout = self.settings.body_timeout
        deadline = asyncio.get_running_loop().time() + timeout

        async def counted_receive() -> Message:
            nonlocal seen
            if state["body_done"]:  # after the body only a disconnect can come: no deadline for that
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except asyncio.TimeoutError:
                if not state["app_started"] and not state["we_answered"]:
                    state["we_answered"] = True
                    await send_json_error(send, 408, f"request body not received within {timeout:g} s "
                                          f"({seen} bytes arrived); closing the connection", {"connection": "close"})
                raise _BodyTimedOut() from None
            if message["type"] == "http.request":
                state["body_done"] = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > limit:
                    if not state["app_started"] and not state["we_answered"]:
                        state["we_answered"] = True
                        await send_json_error(send, 413, _too_large(seen, limit, streamed=True),
                                              {"connection": "close"})
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            if state["we_answered"]:
                return  # the app's own answer to the aborted body (a 400) goes nowhere
            if message["type"] == "http.response.start":
                state["app_started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["we_answered"]:
                raise


def _too_large(size: int, limit: int, streamed: bool = False) -> str:
    what = f"upload passed {limit} bytes" if streamed else f"upload of {size} bytes is over the limit"
    return f"{what} (limit {limit} bytes, {limit / 1024 / 1024:.1f} MiB)"


class Admission:
    """Counts jobs that are running or queued; refuses new ones once ``capacity`` is reached."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._count = 0
        self._lock = threading.Lock()
        self._idle_hooks: list[Callable[[], None]] = []

    @property
    def in_flight(self) -> int:
        return self._count

    def try_enter(self) -> bool:
        with self._lock:
            if self._count >= self.capacity:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1
            idle = self._count == 0
        if idle:
            for hook in self._idle_hooks:
                hook()

    def on_idle(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` (from the thread that finished the last job) whenever the count drops to zero."""
        self._idle_hooks.append(hook)


class InferencePool:
    """A bounded thread pool behind an :class:`Admission` counter, awaited with a timeout."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.admission = Admission(settings.concurrency + settings.queue_length)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.concurrency, thread_name_prefix="animegan-infer")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on a worker thread; 503 when full, 504 after the request timeout."""
        if not self.admission.try_enter():
            raise HTTPException(503, f"server busy: {self.admission.capacity} requests already running or "
                                     f"queued; retry in {self.settings.retry_after} s",
                                headers={"Retry-After": str(self.settings.retry_after)})
        try:
            future = self.executor.submit(fn, *args)
        except RuntimeError:  # shutting down
            self.admission.leave()
            raise HTTPException(503, "server is shutting down", headers={"Retry-After": "5"}) from None
        # the slot is freed when the work really ends, not when the client stops waiting
        future.add_done_callback(lambda _f: self.admission.leave())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.settings.request_timeout)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"no result within the request timeout of {self.settings.request_timeout:g} s"
                                ) from None

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
