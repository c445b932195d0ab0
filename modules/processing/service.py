"""The generation service: the one entry point the UI, the API and extensions use to make images.

It validates parameters, puts the work on the job queue (one generation at a time on the device) and returns
the job handle, whose progress, preview, interrupt/skip and result the caller reads.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from modules.jobs.queue import Job, JobQueue
from modules.processing.params import GenerationParams, Processed

if TYPE_CHECKING:
    from modules.processing.host import ProcessingHost
    from modules.processing.img2img_batch import Img2ImgBatch, Img2ImgBatchRun

log = logging.getLogger(__name__)


class GenerationService:
    """Holds the job queue and the ``ProcessingHost`` generations read (not the Backend type: no cycle)."""

    def __init__(self, jobs: JobQueue, host: ProcessingHost) -> None:
        self.jobs = jobs
        self.host = host

    def submit(self, params: GenerationParams, label: str | None = None, job_id: str | None = None) -> Job:
        """Queue a generation; raises InvalidParams (before queueing) for impossible values."""
        params.validate()

        workers = getattr(self.host, "workers", None)
        if workers is not None:  # --workers ray: the job runs on replicas, this process only coordinates
            return self.jobs.submit(
                lambda job: workers.run(params, job), label=label or params.mode, job_id=job_id, remote=True
            )

        def task(job: Job) -> Processed:
            from modules.processing.pipeline import generate  # heavy: torch

            return generate(self.host, params, job)

        return self.jobs.submit(task, label=label or params.mode, job_id=job_id)

    def submit_img2img_batch(self, batch: Img2ImgBatch) -> Img2ImgBatchRun:
        """Start an img2img Batch: one queued job per input file, results saved to its output directory."""
        from modules.processing.img2img_batch import start_img2img_batch

        if not batch.files:
            raise ValueError("The batch has no images: upload files or give an input directory.")
        return start_img2img_batch(self, self.host.settings, batch)

    def run(self, params: GenerationParams) -> Processed:
        """Submit and wait for the result (for callers with nothing to show meanwhile)."""
        return self.submit(params).wait()
