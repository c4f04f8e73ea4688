"""Video jobs: uploads stylized one at a time on a background thread, polled by id.

Jobs live in a folder of their own (``<jobs_dir>/<id>/``). At most ``max_jobs_queued`` jobs wait or
run (more get 503); at most ``max_jobs_kept`` finished jobs are kept, oldest removed first with
their files, so disk use stays bounded. A job is stopped between frame batches when a client
cancels it (``DELETE``), when it passes ``video_job_timeout`` seconds, or when it decodes more than
``video_max_frames`` frames (a container that declared fewer); the worker is then free at once.
"""

from __future__ import annotations

import concurrent.futures
import logging
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from starlette.exceptions import HTTPException

from ..errors import AnimeGANError
from ..inference.options import StylizeOptions
from ..video.options import VideoOptions
from .redact import public_message
from .settings import ServerSettings

log = logging.getLogger("animegan")

#: states after which a job does no more work
FINISHED = ("done", "failed", "cancelled")


@dataclass
class VideoJob:
    """One conversion and what is known about it so far."""

    id: str
    model: str
    source: Path
    result: Path
    client_name: str
    options: VideoOptions  # built once by the route, the server's max_side limit applied
    stylize: StylizeOptions
    status: str = "queued"
    frames_done: int = 0
    frames_total: int | None = None
    error: str | None = None
    error_status: int | None = None
    seconds: float | None = None
    created: float = field(default_factory=time.time)
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)

    def state(self) -> dict[str, Any]:
        progress = None
        if self.status == "done":
            progress = 1.0
        elif self.frames_total:
            progress = min(1.0, self.frames_done / self.frames_total)
        return {"id": self.id, "status": self.status, "model": self.model, "frames_done": self.frames_done,
                "frames_total": self.frames_total, "progress": progress, "error": self.error,
                "seconds": self.seconds,
                "result_url": f"/api/v1/videos/{self.id}/result" if self.status == "done" else None}


class VideoJobs:
    """Accepts, runs and keeps video jobs."""

    def __init__(self, settings: ServerSettings, registry: Any):
        self.settings = settings
        self.registry = registry
        self._own_dir = settings.jobs_dir is None
        self.root = Path(settings.jobs_dir or tempfile.mkdtemp(prefix="animegan-jobs-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, VideoJob] = {}
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="animegan-video")

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its folder (the route saves the upload there before :meth:`submit`)."""
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir()
        return job_id, folder

    def cancel(self, job_id: str) -> VideoJob:
        """Ask a queued or running job to stop (a queued one is cancelled at once); no-op when finished."""
        job = self.get(job_id)
        with self._lock:
            if job.status == "queued":
                job.status, job.error = "cancelled", "cancelled by the client"
                job.cancel_requested.set()
                job.ended.set()
                shutil.rmtree(job.source.parent, ignore_errors=True)
            elif job.status == "running":
                job.cancel_requested.set()
        return job

    def delete(self, job_id: str) -> VideoJob:
        """Forget a finished job and delete its files."""
        job = self.get(job_id)
        with self._lock:
            self._jobs.pop(job_id, None)
        shutil.rmtree(job.source.parent, ignore_errors=True)
        return job

    def active(self) -> int:
        with self._lock:
            return sum(job.status in ("queued", "running") for job in self._jobs.values())

    def submit(self, job_id: str, source: Path, client_name: str, model: str, fmt: str,
               options: VideoOptions, stylize: StylizeOptions) -> VideoJob:
        """Queue a job whose upload is already at ``source``; 503 when the queue is full."""
        job = VideoJob(job_id, model, source, source.parent / f"result.{fmt}", client_name, options, stylize)
        with self._lock:
            busy = sum(j.status in ("queued", "running") for j in self._jobs.values())
            if busy >= self.settings.max_jobs_queued:
                shutil.rmtree(source.parent, ignore_errors=True)
                raise HTTPException(503, f"server busy: {busy} video jobs already queued or running; retry later",
                                    headers={"Retry-After": str(max(self.settings.retry_after, 10))})
            self._jobs[job_id] = job
            self._evict()
        self._executor.submit(self._run, job)
        return job

    def get(self, job_id: str) -> VideoJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"video job {job_id!r}: unknown (finished jobs are kept only for a while)")
        return job

    def discard(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    def _evict(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in FINISHED]
        for job in sorted(finished, key=lambda j: j.created)[:max(0, len(finished) - self.settings.max_jobs_kept)]:
            del self._jobs[job.id]
            shutil.rmtree(job.source.parent, ignore_errors=True)

    def _run(self, job: VideoJob) -> None:
        from ..video import VideoCancelled, stylize_video

        with self._lock:
            if job.status != "queued":  # cancelled while it waited
                job.ended.set()
                return
            job.status = "running"
        started = time.perf_counter()
        deadline = time.monotonic() + self.settings.video_job_timeout
        max_frames = self.settings.video_max_frames
        reason: list[str] = []

        def should_stop() -> bool:
            if reason:
                return True
            if job.cancel_requested.is_set():
                reason.append("cancelled by the client")
            elif job.frames_done >= max_frames:
                reason.append(f"the video has more than {max_frames} frames, this server's limit (its container "
                              "declared fewer)")
            elif time.monotonic() > deadline:
                reason.append(f"over this server's time limit of {self.settings.video_job_timeout:g} s per video job")
            return bool(reason)

        try:
            stylizer = self.registry.get(job.model)

            def frames_fn(frames: np.ndarray) -> np.ndarray:
                # one frame at a time, checking for a stop in between: a cancel frees the worker within a frame
                out = []
                for i in range(len(frames)):
                    if i and should_stop():
                        raise VideoCancelled(f"stopped after {job.frames_done + i} frames")
                    out.append(stylizer.stylize_frames(frames[i:i + 1], job.stylize))
                return np.concatenate(out)

            def progress(done: int, total: int | None) -> None:
                job.frames_done, job.frames_total = done, total

            stylize_video(job.source, job.result, frames_fn, job.options, progress=progress, cancel=should_stop)
            job.seconds = round(time.perf_counter() - started, 3)
            job.status = "done"
        except VideoCancelled:
            job.seconds = round(time.perf_counter() - started, 3)
            if job.cancel_requested.is_set():
                job.status, job.error = "cancelled", "cancelled by the client"
                shutil.rmtree(job.source.parent, ignore_errors=True)
            else:
                job.error = f"stopped after {job.frames_done} frames: {reason[0]}"
                job.error_status, job.status = 413, "failed"
                log.warning("video job %s: %s", job.id, job.error)
        except AnimeGANError as exc:
            log.info("video job %s failed: %s", job.id, exc)
            job.error = public_message(str(exc), {str(job.source): job.client_name})
            job.error_status = exc.http_status
            job.status = "failed"
        except Exception as exc:  # a job failure must be reported, never kill the worker
            log.exception("video job %s failed", job.id)
            job.error, job.error_status, job.status = f"internal error: {type(exc).__name__}", 500, "failed"
        finally:
            try:
                job.source.unlink(missing_ok=True)
            except OSError:
                pass
            job.ended.set()

    def shutdown(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.cancel_requested.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._own_dir:
            shutil.rmtree(self.root, ignore_errors=True)
