"""A1111's ``shared.state``: the progress of the job the worker runs now, read from and written to its handle.

Outside a running job reads give A1111's idle values (0, False, "") and writes are ignored, so an extension
that sets ``state.job_count`` before rendering works either way.
"""

from __future__ import annotations

import time
from typing import Any

from modules.a1111 import _resolve

PROGRESS_FIELDS = {"job_count", "job_no", "sampling_step", "sampling_steps", "textinfo"}


class State:
    server_start = time.time()
    job = ""
    job_timestamp = "0"
    id_live_preview = 0
    current_latent = None
    textinfo2 = None
    time_start: float | None = None
    server_command = None

    def __getattr__(self, key: str) -> Any:
        if key in PROGRESS_FIELDS:
            job = _resolve.current_job()
            if job is None:
                return "" if key == "textinfo" else 0
            return getattr(job.progress(), key)
        if key in ("interrupted", "skipped"):
            job = _resolve.current_job()
            return bool(job is not None and getattr(job, key))
        if key == "current_image":
            job = _resolve.current_job()
            return job.progress().preview if job is not None else None
        if key == "processing_has_refined_job_count":
            return False
        raise AttributeError(f"shared.state has no attribute {key!r}")

    def __setattr__(self, key: str, value: Any) -> None:
        if key in PROGRESS_FIELDS:
            job = _resolve.current_job()
            if job is not None:
                job.update(**{key: value})
            return
        if key == "interrupted" and value:
            self.interrupt()
            return
        if key == "skipped" and value:
            self.skip()
            return
        if key in ("interrupted", "skipped", "current_image"):
            return
        object.__setattr__(self, key, value)

    def interrupt(self) -> None:
        job = _resolve.current_job()
        if job is not None:
            job.interrupt()

    def skip(self) -> None:
        job = _resolve.current_job()
        if job is not None:
            job.skip()

    def nextjob(self) -> None:
        job = _resolve.current_job()
        if job is not None:
            job.update(job_no=job.progress().job_no + 1, sampling_step=0)

    def begin(self, job: str = "(unknown)") -> None:
        self.job = job
        self.time_start = time.time()

    def end(self) -> None:
        self.job = ""

    def set_current_image(self) -> None:
        """A1111 decodes a live preview here; the program's sampler already publishes previews."""

    def assign_current_image(self, image: Any) -> None:
        job = _resolve.current_job()
        if job is not None and image is not None:
            job.set_preview(image)

    def dict(self) -> dict[str, Any]:
        return {
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "job": self.job,
            "job_count": self.job_count,
            "job_timestamp": self.job_timestamp,
            "job_no": self.job_no,
            "sampling_step": self.sampling_step,
            "sampling_steps": self.sampling_steps,
        }


state = State()
