"""Server settings: one dataclass, checked once, shared by the app factory and ``animegan serve``."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """Everything the service needs to know; defaults are safe for a laptop (loopback only)."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: image uploads over this many bytes get 413 before the body is read
    max_upload_bytes: int = 20 * MiB
    #: video uploads (``POST /api/v1/videos``) over this many bytes get 413
    max_video_bytes: int = 200 * MiB
    #: decoded images over this many pixels get 413 (decompression-bomb guard, checked from the header)
    max_pixels: int = 4096 * 4096
    #: largest ``max_side`` a client may ask for (and the cap on every output side)
    max_side_limit: int = 4096
    #: worker threads running inference; requests beyond ``concurrency + queue_length`` get 503
    concurrency: int = 1
    queue_length: int = 8
    #: seconds a stylize request may wait for its result before 504
    request_timeout: float = 120.0
    #: seconds a 503 asks the client to wait (Retry-After)
    retry_after: int = 2
    #: model used when a request names none (None: the first allowed model, else the zoo's default)
    default_model: str | None = None
    #: zoo names or weights paths clients may use (None: every zoo model this machine has)
    allowed_models: tuple[str, ...] | None = None
    #: loaded models kept in memory (least recently used dropped first)
    model_cache_size: int = 2
    #: when set, every /api request needs this value in the ``X-API-Key`` header
    api_key: str | None = None
    #: device and precision for inference (see animegan.device)
    device: str = "auto"
    precision: str = "auto"
    #: torch intra-op threads per process (None: leave torch's default)
    torch_threads: int | None = None
    #: load the default model and run one small image through it at start-up, before any request is
    #: accepted, so the first request costs what the second does (benchmarks/bench_server.py)
    preload: bool = True
    #: video jobs: folder for uploads and results (None: a fresh temporary folder), jobs kept, jobs queued
    jobs_dir: Path | None = None
    max_jobs_kept: int = 16
    max_jobs_queued: int = 4
    #: longest side of video job output frames (bounds job time and memory)
    video_max_side: int = 1280
    #: video uploads longer than this many seconds, with more frames, or with larger frames (width × height)
    #: are refused (413) from the container's header, before the job is queued
    video_max_seconds: float = 300.0
    video_max_frames: int = 9000
    video_max_pixels: int = 8_300_000  # 4K UHD (3840×2160) fits
    #: seconds a video job may run before it is stopped (status "failed")
    video_job_timeout: float = 1800.0
    #: seconds a client has to send the request line and headers, and the whole body (408 / closed after)
    header_timeout: float = 10.0
    body_timeout: float = 300.0
    #: open connections served at once (`animegan serve`); requests beyond get 503
    max_connections: int = 200

    def validate(self) -> ServerSettings:
        """Return self, or raise :class:`ConfigError` naming the bad setting."""
        checks = [
            (1 <= self.port <= 65535 or self.port == 0, f"port {self.port}: must be 0..65535"),
            (self.max_upload_bytes >= 1024, f"max upload bytes {self.max_upload_bytes}: must be at least 1024"),
            (self.max_video_bytes >= 1024, f"max video bytes {self.max_video_bytes}: must be at least 1024"),
            (self.max_pixels >= 64 * 64, f"max pixels {self.max_pixels}: must be at least {64 * 64}"),
            (self.max_side_limit >= 16, f"max side limit {self.max_side_limit}: must be at least 16"),
            (1 <= self.concurrency <= 64, f"concurrency {self.concurrency}: must be 1..64"),
            (0 <= self.queue_length <= 10_000, f"queue length {self.queue_length}: must be 0..10000"),
            (self.request_timeout > 0, f"request timeout {self.request_timeout}: must be positive"),
            (self.retry_after >= 1, f"retry-after {self.retry_after}: must be at least 1 second"),
            (self.model_cache_size >= 1, f"model cache size {self.model_cache_size}: must be at least 1"),
            (self.api_key is None or len(self.api_key) >= 8, "API key: must be at least 8 characters"),
            (self.max_jobs_kept >= 1, f"jobs kept {self.max_jobs_kept}: must be at least 1"),
            (self.max_jobs_queued >= 1, f"jobs queued {self.max_jobs_queued}: must be at least 1"),
            (self.video_max_side >= 16, f"video max side {self.video_max_side}: must be at least 16"),
            (self.video_max_seconds > 0, f"video max seconds {self.video_max_seconds}: must be positive"),
            (self.video_max_frames >= 1, f"video max frames {self.video_max_frames}: must be at least 1"),
            (self.video_max_pixels >= 16 * 16, f"video max pixels {self.video_max_pixels}: must be at least 256"),
            (self.video_job_timeout > 0, f"video job timeout {self.video_job_timeout}: must be positive"),
            (self.header_timeout > 0, f"header timeout {self.header_timeout}: must be positive"),
            (self.body_timeout > 0, f"body timeout {self.body_timeout}: must be positive"),
            (self.max_connections >= 2, f"max connections {self.max_connections}: must be at least 2"),
            (self.allowed_models is None or len(self.allowed_models) > 0,
             "allowed models: give at least one, or leave unset for every zoo model"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    def with_changes(self, **changes: object) -> ServerSettings:
        """A validated copy with ``changes`` applied."""
        return replace(self, **changes).validate()


def settings_from_env(base: ServerSettings | None = None) -> ServerSettings:
    """``base`` with ``ANIMEGAN_API_KEY`` applied (keeps the key off the command line and out of ``ps``)."""
    base = base or ServerSettings()
    key = os.environ.get("ANIMEGAN_API_KEY")
    return base.with_changes(api_key=key) if key and not base.api_key else base.validate()
