"""Video jobs: uploads stylized one at a time on a background thread, polled by id.

Jobs live in a folder of their own (``<jobs_dir>/<id>/``). At most ``max_jobs_queued`` jobs wait or
run (more get 503); at most ``max_jobs_kept`` finished jobs are kept, oldest removed first with
their files, so disk use stays bounded.
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

from starlette.exceptions import HTTPException

from ..errors import AnimeGANError
from .settings import ServerSettings

log = logging.getLogger("animegan")


@dataclass
class VideoJob:
    """One conversion and what is known about it so far."""

    id: str
    model: str
    source: Path
    result: Path
    client_name: str
    max_side: int | None
    strength: float
    status: str = "queued"
    frames_done: int = 0
    frames_total: int | None = None
    error: str | None = None
    error_status: int | None = None
    seconds: float | None = None
    created: float = field(default_factory=time.time)

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

    def active(self) -> int:
        with self._lock:
            return sum(job.status in ("queued", "running") for job in self._jobs.values())

    def submit(self, job_id: str, source: Path, client_name: str, model: str, fmt: str,
               max_side: int | None, strength: float) -> VideoJob:
        """Queue a job whose upload is already at ``source``; 503 when the queue is full."""
        job = VideoJob(job_id, model, source, source.parent / f"result.{fmt}", client_name, max_side, strength)
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
        finished = [j for j in self._jobs.values() if j.status in ("done", "failed")]
        for job in sorted(finished, key=lambda j: j.created)[:max(0, len(finished) - self.settings.max_jobs_kept)]:
            del self._jobs[job.id]
            shutil.rmtree(job.source.parent, ignore_errors=True)

    def _run(self, job: VideoJob) -> None:
        from ..inference.options import StylizeOptions
        from ..io.video import stylize_video

        job.status = "running"
        started = time.perf_counter()
        try:
            stylizer = self.registry.get(job.model)
            options = StylizeOptions(strength=job.strength).validate()

            def frames_fn(frames: Any) -> Any:
                return stylizer.stylize_frames(frames, options)

            def progress(done: int, total: int | None) -> None:
                job.frames_done, job.frames_total = done, total

            limit = self.settings.video_max_side
            max_side = min(job.max_side, limit) if job.max_side else limit
            stylize_video(job.source, job.result, stylizer=frames_fn, max_side=max_side, progress=progress)
            job.seconds = round(time.perf_counter() - started, 3)
            job.status = "done"
        except AnimeGANError as exc:
            job.error = str(exc).replace(str(job.source), job.client_name)
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

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._own_dir:
            shutil.rmtree(self.root, ignore_errors=True)
