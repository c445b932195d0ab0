"""The Ray Serve deployment: one replica = one process with its own Backend, one job piece at a time.

Requests carry a ``JobSpec`` and are routed by ``multiplexed_model_id`` (the checkpoint's sha256), so a piece
goes to a replica that already holds its checkpoint when one is free. ``generate`` streams events back:
``("started", {"pid": ...})``, ``("progress", {...})``, ``("preview", image)``, then ``("result", Processed)``
or ``("error", message)`` for a job-level failure (bad model, interrupted before any image).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

import ray
from ray import serve

from modules.workers.spec import JobSpec

log = logging.getLogger(__name__)

CONTROL_ACTOR = "sdwebui-job-control"
NAMESPACE = "sdwebui"


@ray.remote(num_cpus=0)
class JobControl:
    """The front's Interrupt/Skip presses, by job id, for replicas to read each sampling step."""

    def __init__(self) -> None:
        self._interrupted: set[str] = set()
        self._skips: dict[str, int] = {}

    def interrupt(self, job_id: str) -> None:
        self._interrupted.add(job_id)

    def skip(self, job_id: str) -> None:
        self._skips[job_id] = self._skips.get(job_id, 0) + 1

    def state(self, job_id: str) -> tuple[bool, int]:
        return job_id in self._interrupted, self._skips.get(job_id, 0)

    def forget(self, job_id: str) -> None:
        self._interrupted.discard(job_id)
        self._skips.pop(job_id, None)


class ControlPoller:
    """Reads one job's Interrupt/Skip state without blocking a sampling step.

    Each call collects the answer of the previous request if it has arrived and sends the next one, so a
    step never waits for a round trip; a press reaches the sampler one step after it reached the board.
    """

    def __init__(self, control: Any, job_id: str) -> None:
        self._control = control
        self._job_id = job_id
        self._pending: Any = control.state.remote(job_id)
        self._state: tuple[bool, int] | None = None

    def __call__(self) -> tuple[bool, int] | None:
        ready, _ = ray.wait([self._pending], timeout=0)
        if ready:
            self._state = ray.get(ready[0])
            self._pending = self._control.state.remote(self._job_id)
        return self._state


class GenerationReplica:
    """Serve deployment class; ``front_flags`` are the front's flags as a plain dict."""

    def __init__(self, front_flags: dict[str, Any], torch_threads: int | None) -> None:
        import torch

        if torch_threads:
            torch.set_num_threads(torch_threads)
        from modules.workers.worker_backend import build_worker_backend

        self.backend = build_worker_backend(front_flags)
        self._control: Any = None
        self._spec: JobSpec | None = None
        self._applied_settings: Any = None  # the front's settings snapshot last applied to this Backend
        self._busy = asyncio.Lock()

    def pid(self) -> int:
        return os.getpid()

    @serve.multiplexed(max_num_models_per_replica=1)
    async def _model(self, model_id: str) -> Any:
        """Load the checkpoint of the spec being started (its sha256 is ``model_id``)."""
        from modules.workers.worker_backend import load_for

        assert self._spec is not None and self._spec.model_id == model_id
        return await asyncio.to_thread(load_for, self.backend, self._spec)

    def _poller(self, job_id: str) -> ControlPoller:
        if self._control is None:
            self._control = ray.get_actor(CONTROL_ACTOR, namespace=NAMESPACE)
        return ControlPoller(self._control, job_id)

    async def generate(self, spec: JobSpec) -> AsyncIterator[tuple[str, Any]]:
        """One piece at a time per replica (Serve sends one at a time; the lock keeps it so if that changes)."""
        async with self._busy:
            async for event in self._generate(spec):
                yield event

    async def _generate(self, spec: JobSpec) -> AsyncIterator[tuple[str, Any]]:
        from modules.jobs.queue import JobInterrupted
        from modules.processing.params import InvalidParams
        from modules.workers.spec import ModelMismatch
        from modules.workers.worker_backend import RemoteJob, run_piece

        current = self.backend.models.current
        yield ("started", {"pid": os.getpid(), "loaded": current.checkpoint.name if current is not None else None})
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def sink(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (kind, value))

        self._spec = spec
        try:
            await self._model(spec.model_id)
        except (ModelMismatch, InvalidParams, OSError, ValueError) as error:
            yield ("error", f"{type(error).__name__}: {error}")
            return
        job = RemoteJob(spec, sink, self._poller(spec.job_id))

        def work() -> None:
            try:
                sink("result", run_piece(self.backend, spec, job, apply_settings))
            except BaseException:
                self._applied_settings = None  # a failure may come from the snapshot: apply it afresh next time
                raise

        def report() -> None:
            try:
                work()
            except JobInterrupted:
                sink("interrupted", None)
            except (InvalidParams, ValueError) as error:
                sink("error", f"{type(error).__name__}: {error}")
            except Exception as error:  # reported to the front as this piece's failure
                log.exception("Job piece %s failed", spec.job_id)
                sink("error", f"{type(error).__name__}: {error}")

        apply_settings = spec.settings != self._applied_settings
        self._applied_settings = spec.settings
        thread = threading.Thread(target=report, name=f"piece-{spec.job_id}", daemon=True)
        thread.start()
        while True:
            kind, value = await events.get()
            while kind == "progress" and not events.empty():  # the front is behind: send only the latest
                kind, value = events.get_nowait()
            yield (kind, value)
            if kind in ("result", "interrupted", "error"):
                break
        await asyncio.to_thread(thread.join)
