"""Response bodies of the HTTP API (they also document it in the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..io.discovery import OUTPUT_EXTENSIONS

#: the image formats the API answers in: the output formats the library writes (``jpeg`` spelled ``jpg``)
RESPONSE_FORMATS = tuple(dict.fromkeys(suffix.lstrip(".") for suffix in OUTPUT_EXTENSIONS.values()))
ImageFormat = Literal[RESPONSE_FORMATS]  # type: ignore[valid-type]
VideoFormat = Literal["mp4", "webm", "gif"]
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class ErrorBody(BaseModel):
    """Every error: one message that names the input and the problem."""

    detail: str = Field(examples=["photo.jpg: not a decodable image (truncated file)"])


class ModelDescription(BaseModel):
    name: str
    style: str = ""
    description: str = ""
    arch: str = ""
    face: bool = Field(False, description="the model expects face-portrait mode (square crop around the face)")
    status: str = Field(description="bundled, imported, cached, file, not downloaded, import only or missing")
    available: bool = Field(description="weights are on this machine, so requests can use it now")
    default: bool


class ModelList(BaseModel):
    default: str
    models: list[ModelDescription]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    in_flight: int = Field(description="stylize requests running or queued")
    capacity: int = Field(description="running + queued requests accepted before 503")
    loaded_models: list[str]
    video_jobs_active: int


class VideoJobCreated(BaseModel):
    id: str
    status: JobStatus
    status_url: str
    result_url: str


class VideoJobState(BaseModel):
    id: str
    status: JobStatus
    model: str
    frames_done: int = 0
    frames_total: int | None = None
    progress: float | None = Field(None, description="0..1 when the frame count is known")
    error: str | None = None
    seconds: float | None = Field(None, description="conversion time once done")
    result_url: str | None = None
