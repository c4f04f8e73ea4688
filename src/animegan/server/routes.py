"""HTTP routes: stylize an image, list models, health, video jobs, and the page at ``/``."""

from __future__ import annotations

import io
import shutil
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response
from fastapi.security import APIKeyHeader
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import ImageTooLargeError, InputError
from ..inference.options import StylizeOptions
from ..io.images import IMAGE_FORMATS, open_image
from ..params import spec
from ..video.options import VideoOptions
from .jobs import FINISHED
from .schemas import (
    ErrorBody,
    Health,
    ImageFormat,
    ModelList,
    VideoFormat,
    VideoJobCreated,
    VideoJobState,
)

STATIC_DIR = Path(__file__).with_name("static")
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
VIDEO_MEDIA_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "gif": "image/gif"}

# the key itself is checked by GuardMiddleware before the body is read; this declares it in /docs
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="needed when the server has an API key")
api = APIRouter(prefix="/api/v1", dependencies=[Depends(_api_key)])
pages = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in {
        401: "missing or wrong X-API-Key", 413: "upload or image too large", 415: "not a decodable image",
        422: "bad option or unknown model", 503: "queue full (see Retry-After)", 504: "request timeout"}.items()}


def _ctx(request: Request) -> Any:
    return request.app.state.ctx


def _option(name: str, options: type = StylizeOptions) -> Any:
    """A form field declared by ``<options>.<name>`` (StylizeOptions or VideoOptions): its description
    and bounds (the default is the declared one, ``_DEFAULT[name]`` / ``spec``), so the API and the
    library cannot drift apart."""
    _, declared = spec(options, name)
    bounds = {k: v for k, v in (("ge", declared.ge), ("le", declared.le)) if v is not None}
    return Form(description=declared.help, **bounds)


_DEFAULT = {name: spec(StylizeOptions, name)[0] for name in ("strength", "palette", "max_side", "face", "quality")}


@api.post("/stylize", response_class=Response, responses={
    200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "the stylized image"}, **_ERRORS},
    summary="Stylize one image")
async def stylize(
    request: Request,
    image: Annotated[UploadFile, File(description="a photo (JPEG, PNG, WebP, ...)")],
    model: Annotated[str | None, Form(description="model name from /api/v1/models (default: the server's)")] = None,
    strength: Annotated[float, _option("strength")] = _DEFAULT["strength"],
    palette: Annotated[float, _option("palette")] = _DEFAULT["palette"],
    max_side: Annotated[int | None, _option("max_side")] = _DEFAULT["max_side"],
    face: Annotated[bool, _option("face")] = _DEFAULT["face"],
    format: Annotated[ImageFormat, Form(description="output format")] = "png",
    quality: Annotated[int, _option("quality")] = _DEFAULT["quality"],
) -> Response:
    """Stylize the uploaded image and return it as PNG, JPEG or WebP."""
    ctx = _ctx(request)
    limit = ctx.settings.max_side_limit
    if max_side is not None and max_side > limit:
        raise InputError(f"max_side {max_side}: over this server's limit of {limit}")
    data = await image.read()
    name = image.filename or "upload"
    stream = io.BytesIO(data)
    stream.name = name  # error messages name the client's file
    size = await run_in_threadpool(_check_pixels, stream, name, ctx.settings.max_pixels)
    if max_side is None and size is not None and max(size) > limit:
        max_side = limit  # every output side is capped: decided before the options are built, once
    options = StylizeOptions(max_side=max_side, face=face, strength=strength, palette=palette, ext=format,
                             quality=quality, max_pixels=ctx.settings.max_pixels)  # a ParamError: 422 naming it
    started = time.perf_counter()
    body, size, used = await ctx.pool.run(_stylize_bytes, ctx, stream, model or None, options)
    stem = Path(name).stem or "image"
    return Response(body, media_type=MEDIA_TYPES[format], headers={
        "Content-Disposition": f'inline; filename="{_safe(stem)}-anime.{format}"',
        "X-Model": used, "X-Image-Size": f"{size[0]}x{size[1]}",
        "X-Elapsed-Ms": f"{(time.perf_counter() - started) * 1000:.0f}"})


def _stylize_bytes(ctx: Any, stream: io.BytesIO, model: str | None, options: StylizeOptions
                   ) -> tuple[bytes, tuple[int, int], str]:
    """Decode, stylize and encode on a worker thread; returns (encoded bytes, output size, model name)."""
    img = open_image(stream, max_pixels=options.max_pixels)
    stylizer = ctx.registry.get(model)
    out = stylizer.stylize(img, options)
    offered = ctx.registry.find(model) if model else None
    return encode_image(out, options.ext, options.quality), out.size, offered.name if offered else ctx.registry.default


def _check_pixels(stream: io.BytesIO, name: str, limit: int) -> tuple[int, int] | None:
    """The image's size from its header (None when it is not an image: open_image then says why);
    413 when it has more pixels than this server decodes (said in the API's terms)."""
    size = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(stream, formats=list(IMAGE_FORMATS)) as probe:
                size = probe.size
        except Image.DecompressionBombError:
            size = (0, 0)
        except Exception:  # noqa: BLE001 - not an image: open_image reports it with its reason
            return None
        finally:
            stream.seek(0)
    width, height = size
    what = f"image is {width}×{height} ({width * height / 1e6:.1f} MP)" if width else "image"
    if width * height > limit or not width:
        raise ImageTooLargeError(f"{name}: {what}, over this server's limit of {limit / 1e6:.1f} MP per image; "
                                 "send a smaller image (the max_side field only shrinks the result)")
    return size


def encode_image(img: Image.Image, fmt: str, quality: int = _DEFAULT["quality"]) -> bytes:
    """``img`` encoded in memory as png, jpg or webp, converting modes the format cannot hold."""
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)
    if fmt == "jpg":
        if has_alpha:
            rgba = img.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            img = flat
        elif img.mode not in ("RGB", "L"):
            img = _to_8bit(img).convert("RGB")
    elif fmt == "webp":
        if img.mode not in ("RGB", "RGBA"):
            img = _to_8bit(img).convert("RGBA" if has_alpha else "RGB")
    elif img.mode == "I":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 65535).astype(np.uint16))
    elif img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        img = img.convert("RGBA" if has_alpha else "RGB")
    buffer = io.BytesIO()
    kwargs = {"quality": quality} if fmt in ("jpg", "webp") else {}
    img.save(buffer, format={"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[fmt], **kwargs)
    return buffer.getvalue()


def _to_8bit(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return Image.fromarray((np.clip(np.asarray(img, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8))
    return img


def _safe(stem: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:80] or "image"


@api.get("/models", response_model=ModelList, summary="Models this server offers")
async def models(request: Request) -> dict[str, Any]:
    ctx = _ctx(request)
    return {"default": ctx.registry.default, "models": await run_in_threadpool(ctx.registry.describe)}


#: the video form's max_side: declared by VideoOptions (its strength is the image's, StylizeOptions)
_VIDEO_MAX_SIDE = spec(VideoOptions, "max_side")[0]


@api.post("/videos", response_model=VideoJobCreated, status_code=202, responses=_ERRORS,
          summary="Start a video job")
async def create_video_job(
    request: Request,
    video: Annotated[UploadFile, File(description="a video or GIF")],
    model: Annotated[str | None, Form(description="model name from /api/v1/models")] = None,
    strength: Annotated[float, _option("strength")] = _DEFAULT["strength"],
    max_side: Annotated[int | None, _option("max_side", VideoOptions)] = _VIDEO_MAX_SIDE,
    format: Annotated[VideoFormat, Form(description="output container")] = "mp4",
) -> dict[str, Any]:
    """Upload a video; poll ``status_url`` and fetch ``result_url`` once the job is done."""
    ctx = _ctx(request)
    chosen = ctx.registry.find(model) if model else ctx.registry.find(ctx.registry.default)
    if model and chosen is None:
        ctx.registry.get(model)  # raises the 422 naming the offered models
    if chosen is not None:
        ctx.registry.check_available(chosen)  # a model without weights here: 422 before the upload is kept
    limit = ctx.settings.video_max_side  # every output side is capped: decided before the options are built
    options = VideoOptions(max_side=min(max_side, limit) if max_side else limit)
    stylize = StylizeOptions(strength=strength)
    name = video.filename or "upload"
    job_id, folder = ctx.jobs.new_folder()
    source = folder / ("input" + _safe_suffix(name))
    try:
        await run_in_threadpool(_save_upload, video, source)
        await run_in_threadpool(_check_video_limits, source, name, ctx.settings)
        await run_in_threadpool(_probe_video, source, name)
    except BaseException:
        ctx.jobs.discard(folder)
        raise
    job = ctx.jobs.submit(job_id, source, name, chosen.name if chosen else ctx.registry.default, format,
                          options, stylize)
    return {"id": job.id, "status": job.status, "status_url": f"/api/v1/videos/{job.id}",
            "result_url": f"/api/v1/videos/{job.id}/result"}


def _save_upload(upload: UploadFile, target: Path) -> None:
    upload.file.seek(0)
    with open(target, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)


def _check_video_limits(path: Path, name: str, settings: Any) -> None:
    """413 when the container declares a video over the server's limits (header only: no frame is decoded)."""
    import av

    from ..video.source import VideoDecodeError

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError):
        return  # not a video: _probe_video says so
    with container:
        if not container.streams.video:
            return
        stream = container.streams.video[0]
        width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
        seconds = None
        if stream.duration and stream.time_base:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration:
            seconds = container.duration / av.time_base
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        frames = stream.frames or (round(seconds * rate) if seconds and rate else None)
    if not seconds and not frames:
        raise VideoDecodeError(f"{name}: its container declares neither a duration nor a frame count, so this "
                               "server cannot check it against its limits; convert it to MP4 or WebM first")
    problems = []
    if width * height > settings.video_max_pixels:
        problems.append(f"frames of {width}×{height} ({width * height / 1e6:.3g} MP) are over the limit of "
                        f"{settings.video_max_pixels / 1e6:.3g} MP")
    if seconds and seconds > settings.video_max_seconds:
        problems.append(f"{seconds:.1f} s is over the limit of {settings.video_max_seconds:g} s")
    if frames and frames > settings.video_max_frames:
        problems.append(f"{frames} frames are over the limit of {settings.video_max_frames}")
    if problems:
        raise HTTPException(413, f"{name}: video too large for this server: " + "; ".join(problems))


def _probe_video(path: Path, name: str) -> None:
    from ..video.source import open_source

    try:
        open_source(path)
    except InputError as exc:
        exc.args = (str(exc).replace(str(path), name),)
        raise


def _safe_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ".bin"


@api.get("/videos/{job_id}", response_model=VideoJobState, responses={404: {"model": ErrorBody}},
         summary="Status and progress of a video job")
async def video_job_state(request: Request, job_id: str) -> dict[str, Any]:
    return _ctx(request).jobs.get(job_id).state()


@api.get("/videos/{job_id}/result", response_class=FileResponse, responses={
    200: {"content": {t: {} for t in VIDEO_MEDIA_TYPES.values()}}, 404: {"model": ErrorBody},
    409: {"model": ErrorBody}}, summary="The stylized video of a finished job")
async def video_job_result(request: Request, job_id: str) -> FileResponse:
    job = _ctx(request).jobs.get(job_id)
    if job.status == "cancelled":
        raise HTTPException(410, f"video job {job_id}: cancelled; it has no result")
    if job.status == "failed":
        raise HTTPException(job.error_status if job.error_status and job.error_status < 500 else 409,
                            f"video job {job_id}: failed: {job.error}")
    if job.status != "done" or not job.result.is_file():
        raise HTTPException(409, f"video job {job_id}: not finished yet (status {job.status})")
    fmt = job.result.suffix[1:]
    return FileResponse(job.result, media_type=VIDEO_MEDIA_TYPES.get(fmt, "application/octet-stream"),
                        filename=f"{_safe(Path(job.client_name).stem)}-anime.{fmt}")


@api.delete("/videos/{job_id}", response_model=VideoJobState, responses={404: {"model": ErrorBody}},
            summary="Cancel a video job, or delete a finished one")
async def delete_video_job(request: Request, job_id: str) -> dict[str, Any]:
    """A queued or running job is stopped (its worker is free when this answers) and its files deleted;
    a finished job is forgotten with its files. Answers the job's last state."""
    jobs = _ctx(request).jobs
    job = jobs.get(job_id)
    if job.status in FINISHED:
        state = job.state()
        jobs.delete(job_id)
        return state
    jobs.cancel(job_id)
    await run_in_threadpool(job.ended.wait, 30)
    return job.state()


@pages.get("/healthz", response_model=Health, summary="Liveness and load")
async def healthz(request: Request) -> dict[str, Any]:
    ctx = _ctx(request)
    return {"version": __version__, "in_flight": ctx.pool.admission.in_flight,
            "capacity": ctx.pool.admission.capacity, "loaded_models": ctx.registry.cached_names(),
            "video_jobs_active": ctx.jobs.active()}


@pages.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
