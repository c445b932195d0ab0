"""One worker that owns the device, and the jobs waiting for it.

The UI and the HTTP API both submit work here, so two requests never run interleaved on the same model,
each caller gets its own handle (progress, preview, result) and waiting callers can show their position.
Waiting uses condition variables; nothing sleep-polls.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class JobInterrupted(Exception):
    """Raised inside a job's work when the user pressed Interrupt before any image was done."""


@dataclasses.dataclass
class Progress:
    """What a waiting client shows: a snapshot, copied out under the job's lock."""

    job_no: int = 0  # index of the current image batch (A1111 state.job_no)
    job_count: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0
    textinfo: str = ""
    preview: Any = None  # PIL image or None
    preview_id: int = 0

    @property
    def fraction(self) -> float:
        if self.job_count <= 0:
            return 0.0
        per_job = self.sampling_step / self.sampling_steps if self.sampling_steps else 0.0
        return min(1.0, (self.job_no + per_job) / self.job_count)


class Job:
    """Handle of one submitted piece of work. The worker updates it; clients read snapshots."""

    def __init__(self, job_id: str, task: Callable[[Job], Any], label: str) -> None:
        self.id = job_id
        self.label = label
        self.task = task
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.interrupted = False
        self.skipped = False
        self.remote = False  # runs on a worker process (Ray replica): needs no lock on this process's device
        self.console_progress = True  # a tqdm bar in this process's console (off on replicas: the front shows one)
        self._progress = Progress()
        self._cond = threading.Condition()
        self._version = 0

    # --- called by the work itself -------------------------------------------------------------------
    def update(self, **fields: Any) -> None:
        with self._cond:
            for key, value in fields.items():
                setattr(self._progress, key, value)
            self._version += 1
            self._cond.notify_all()

    def set_preview(self, image: Any) -> None:
        with self._cond:
            self._progress.preview = image
            self._progress.preview_id += 1
            self._version += 1
            self._cond.notify_all()

    def should_stop(self) -> bool:
        """True when the sampler should stop after the current step (interrupt or skip)."""
        return self.interrupted or self.skipped

    def consume_skip(self) -> bool:
        """Return and clear the skip flag: skip ends one image, then the batch goes on."""
        with self._cond:
            skipped, self.skipped = self.skipped, False
            return skipped

    # --- called by clients --------------------------------------------------------------------------
    def interrupt(self) -> None:
        with self._cond:
            self.interrupted = True
            self._version += 1
            self._cond.notify_all()

    def skip(self) -> None:
        with self._cond:
            self.skipped = True
            self._version += 1
            self._cond.notify_all()

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def running(self) -> bool:
        return self.started is not None and self.finished is None

    def progress(self) -> Progress:
        with self._cond:
            return dataclasses.replace(self._progress)

    def eta(self) -> float | None:
        """Seconds left, from the elapsed time and the fraction done (A1111's estimate)."""
        fraction = self.progress().fraction
        if not self.started or fraction <= 0:
            return None
        elapsed = time.time() - self.started
        return max(0.0, elapsed / fraction - elapsed)

    def wait_for_change(self, seen_version: int, timeout: float | None = None) -> int:
        """Block until the job changed after ``seen_version`` (or finished); return the new version."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != seen_version or self.done, timeout=timeout)
            return self._version

    def release(self) -> None:
        """Drop the result and the preview of a finished job whose caller has taken them."""
        if self.done:
            self.result = None
            with self._cond:
                self._progress.preview = None

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the job ends; return its result or raise its error."""
        with self._cond:
            self._cond.wait_for(lambda: self.done, timeout=timeout)
        if not self.done:
            raise TimeoutError(f"job {self.id} still running")
        if self.error is not None:
            raise self.error
        return self.result

    def _finish(self, result: Any = None, error: BaseException | None = None) -> None:
        with self._cond:
            self.result = result
            self.error = error
            self.finished = time.time()
            self._version += 1
            self._cond.notify_all()


class JobQueue:
    """FIFO of jobs run by daemon worker threads ("lanes"), one lane by default.

    With several lanes (``--workers ray``: one per replica) remote jobs run side by side while jobs on this
    process's device still run one at a time (they share one lock).
    """

    def __init__(self, lanes: int = 1) -> None:
        self._pending: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._running: list[Job] = []
        self._device = threading.Lock()
        self._counter = itertools.count(1)
        self._jobs: dict[str, Job] = {}
        self._last_finished: Job | None = None
        self._workers: list[threading.Thread] = []
        self.set_lanes(lanes)

    def set_lanes(self, lanes: int) -> None:
        """Run up to ``lanes`` jobs at once (lanes are only ever added)."""
        while len(self._workers) < lanes:
            worker = threading.Thread(target=self._run, name=f"job-worker-{len(self._workers)}", daemon=True)
            self._workers.append(worker)
            worker.start()

    def submit(
        self, task: Callable[[Job], Any], label: str = "job", job_id: str | None = None, remote: bool = False
    ) -> Job:
        job = Job(job_id or f"job-{next(self._counter)}", task, label)
        job.remote = remote
        with self._cond:
            self._jobs[job.id] = job
            self._pending.append(job)
            self._cond.notify_all()
        return job

    def run(self, task: Callable[[Job], Any], label: str = "job") -> Any:
        """Submit and wait: for callers (API handlers) that have nothing to show meanwhile.

        The result goes to the caller only: the finished job (kept as ``last`` for /progress) lets go of it
        and of its preview, so large images are freed as soon as the caller is done with them."""
        job = self.submit(task, label)
        try:
            return job.wait()
        finally:
            job.release()

    def position(self, job: Job) -> int:
        """0 when running or done, else 1 + the number of jobs ahead of it."""
        with self._cond:
            try:
                return self._pending.index(job) + 1
            except ValueError:
                return 0

    @property
    def current(self) -> Job | None:
        """The running job (the most recently started one when several lanes run)."""
        with self._cond:
            return self._running[-1] if self._running else None

    def running(self) -> list[Job]:
        with self._cond:
            return list(self._running)

    @property
    def last(self) -> Job | None:
        """The running job, else the most recent finished one (what /progress reports)."""
        return self.current or self._last_finished

    def pending_count(self) -> int:
        with self._cond:
            return len(self._pending)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def interrupt_current(self) -> None:
        """Interrupt the running job (every running one when several lanes run)."""
        for job in self.running():
            job.interrupt()

    def skip_current(self) -> None:
        for job in self.running():
            job.skip()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pending))
                job = self._pending.popleft()
                self._running.append(job)
                self._cond.notify_all()
            job.started = time.time()
            try:
                if job.interrupted:
                    raise JobInterrupted("interrupted before it started")
                with contextlib.nullcontext() if job.remote else self._device:
                    result = job.task(job)
                job._finish(result=result)
            except BaseException as error:  # the worker must survive any job failure
                if not isinstance(error, JobInterrupted):
                    log.debug("Job %s failed", job.id, exc_info=True)
                job._finish(error=error)
            finally:
                with self._cond:
                    self._running.remove(job)
                    self._last_finished = job
                    # keep the id map bounded: forget finished jobs beyond the last 100
                    finished = [key for key, value in self._jobs.items() if value.done]
                    for key in finished[:-100]:
                        del self._jobs[key]
                    self._cond.notify_all()
