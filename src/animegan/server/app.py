"""The app factory: ``create_app(settings)`` wires settings, limits, models, jobs, routes and the page."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import io
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import AnimeGANError
from ..extras import require
from .jobs import VideoJobs
from .limits import GuardMiddleware, InferencePool
from .redact import public_message
from .registry import ModelRegistry
from .routes import STATIC_DIR, _stylize_bytes, api, pages
from .settings import ServerSettings

log = logging.getLogger("animegan")

#: where /docs loads Swagger UI's script and stylesheet from: this server, never a CDN
DOCS_ASSETS = "/docs-assets"


@dataclass
class ServerContext:
    """What the routes share: settings, the model registry, the inference pool and the video jobs."""

    settings: ServerSettings
    registry: ModelRegistry
    pool: InferencePool
    jobs: VideoJobs


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """A ready FastAPI app. Raises :class:`~animegan.errors.ConfigError` for bad settings or models."""
    settings = (settings or ServerSettings()).validate()
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    registry = ModelRegistry(settings)
    described = registry.describe()
    ready = [m["name"] for m in described if m["available"]]
    log.info("serving %d models (%d on this machine: %s); default %s", len(described), len(ready),
             ", ".join(ready) or "none", registry.default)
    if registry.default not in ready:
        log.warning("default model %s has no weights on this machine: requests that name no model will get "
                    "422 (pass --model NAME|PATH)", registry.default)
    pool = InferencePool(settings)
    pool.admission.on_idle(_release_free_memory)
    ctx = ServerContext(settings, registry, pool, VideoJobs(settings, registry))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.preload:
            await _warm_up(ctx)
        try:
            yield
        finally:
            ctx.pool.shutdown()
            ctx.jobs.shutdown()

    app = FastAPI(title="animegan", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Photos and videos to anime-style art. Errors are JSON: {\"detail\": \"...\"}.")
    app.state.ctx = ctx
    app.add_exception_handler(AnimeGANError, _library_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.include_router(api)
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_docs(app)
    app.add_middleware(GuardMiddleware, settings=settings)
    return app


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its assets served from this server (the fastapi-offline package ships them)."""
    offline = require("fastapi_offline", extra="server", feature="the API docs page")
    assets = Path(offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title="animegan API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None})  # no badge fetched from the validator service


async def _warm_up(ctx: ServerContext) -> None:
    """Load the default model and stylize one small image with it, on the inference worker thread.

    Runs before uvicorn accepts connections: the first request then finds the model loaded and the
    whole request path (torch's kernels and thread pool on that worker thread, decode, colour stage,
    PNG encode) already imported and initialised, instead of paying for it. A default model that
    cannot be loaded is only logged here: requests for it get the loader's error, as without preload.
    """
    from PIL import Image

    from ..inference.options import StylizeOptions

    offered = ctx.registry.find(ctx.registry.default)
    if offered is None or not offered.available():
        return  # already warned about in create_app
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((64, 64)).convert("RGB").save(buffer, format="PNG")
    buffer.seek(0)
    options = StylizeOptions(ext="png", max_pixels=ctx.settings.max_pixels)
    started = time.perf_counter()
    try:
        await asyncio.wrap_future(ctx.pool.executor.submit(_stylize_bytes, ctx, buffer, None, options))
    except Exception as exc:  # noqa: BLE001 - the server still starts; requests report the problem
        log.warning("default model %s: not loaded at start-up: %s", offered.name,
                    (str(exc).strip().splitlines() or [type(exc).__name__])[0])
        return
    log.info("default model %s loaded and warmed up in %.2f s", offered.name, time.perf_counter() - started)


async def _library_error(_request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "http_status", 500)
    if status >= 500:
        log.error("request failed: %s", exc)
    return JSONResponse({"detail": public_message(str(exc))}, status_code=status)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", None) or "error"
    return JSONResponse({"detail": public_message(str(detail))}, status_code=status,
                        headers=getattr(exc, "headers", None))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    parts = []
    for err in getattr(exc, "errors", list)():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)


def _release_free_memory() -> None:
    """Hand freed heap back to the OS when the server goes idle (glibc keeps it otherwise)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
