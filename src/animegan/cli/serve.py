"""`animegan serve`: the web service (HTTP API, docs at /docs, a page at /) on one port."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import cli_errors, err_console


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes the service to the network.")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 8000,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", metavar="NAME|PATH",
        help="A model clients may use (repeat for several; default: every zoo model on this machine).")] = None,
    default_model: Annotated[str | None, typer.Option(help="Model used when a request names none.")] = None,
    concurrency: Annotated[int, typer.Option(help="Images stylized at the same time (worker threads).")] = 1,
    queue: Annotated[int, typer.Option(help="Requests allowed to wait; more get 503 with Retry-After.")] = 8,
    timeout: Annotated[float, typer.Option(help="Seconds a request may wait for its image.")] = 120.0,
    max_upload_mb: Annotated[float, typer.Option(help="Largest image upload in MiB (413 beyond).")] = 20.0,
    max_video_mb: Annotated[float, typer.Option(help="Largest video upload in MiB (413 beyond).")] = 200.0,
    max_megapixels: Annotated[float, typer.Option(help="Largest decoded image in megapixels.")] = 16.0,
    cache_models: Annotated[int, typer.Option(help="Loaded models kept in memory.")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="Torch CPU threads (default: torch's).")] = None,
    preload: Annotated[bool, typer.Option(
        "--preload/--no-preload",
        help="Load and warm up the default model before accepting requests (the first request is then "
             "as fast as the next).")] = True,
    video_max_seconds: Annotated[float, typer.Option(help="Longest video upload in seconds (413 beyond).")] = 300.0,
    video_max_frames: Annotated[int, typer.Option(help="Most frames in a video upload (413 beyond).")] = 9000,
    video_max_megapixels: Annotated[float, typer.Option(
        help="Largest video frame in megapixels (413 beyond; 8.3: 4K UHD).")] = 8.3,
    video_job_timeout: Annotated[float, typer.Option(help="Seconds a video job may run before it is stopped.")
                                 ] = 1800.0,
    header_timeout: Annotated[float, typer.Option(
        help="Seconds a client has to send its request headers (408 and closed after).")] = 10.0,
    body_timeout: Annotated[float, typer.Option(
        help="Seconds a client has to send a whole request body (408 and closed after).")] = 300.0,
    max_connections: Annotated[int, typer.Option(help="Open connections served at once (503 beyond).")] = 200,
    api_key_env: Annotated[bool, typer.Option(
        "--api-key-from-env", help="Require the X-API-Key header; the key is read from $ANIMEGAN_API_KEY.")
    ] = False,
) -> None:
    """Run the web service: POST /api/v1/stylize, video jobs, docs at /docs and a page at /."""
    import os

    from ..extras import require

    require("fastapi", extra="server", feature="`animegan serve`")
    require("uvicorn", extra="server", feature="`animegan serve`")
    from ..server import ServerSettings, create_app

    with cli_errors():
        key = os.environ.get("ANIMEGAN_API_KEY") if api_key_env else None
        if api_key_env and not key:
            from ..errors import ConfigError

            raise ConfigError("--api-key-from-env: $ANIMEGAN_API_KEY is not set")
        settings = ServerSettings(
            host=host, port=port, allowed_models=tuple(model) if model else None, default_model=default_model,
            concurrency=concurrency, queue_length=queue, request_timeout=timeout,
            max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_video_bytes=int(max_video_mb * 1024 * 1024),
            max_pixels=int(max_megapixels * 1e6), model_cache_size=cache_models, device=device,
            precision=precision, torch_threads=threads, preload=preload, api_key=key,
            video_max_seconds=video_max_seconds, video_max_frames=video_max_frames,
            video_max_pixels=int(video_max_megapixels * 1e6),
            video_job_timeout=video_job_timeout, header_timeout=header_timeout, body_timeout=body_timeout,
            max_connections=max_connections).validate()
        app = create_app(settings)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"note: listening on {host}: reachable from other machines"
                          + ("" if key else " and no API key is set"))
    from ..server.runner import run

    run(app, settings, log_level="info", timeout_graceful_shutdown=5)
