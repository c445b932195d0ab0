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

    def pid(self) -> int:
        return os.getpid()

    @serve.multiplexed(max_num_models_per_replica=1)
    async def _model(self, model_id: str) -> Any:
        """Load the checkpoint of the spec being started (its sha256 is ``model_id``)."""
        from modules.workers.worker_backend import load_for

        assert self._spec is not None and self._spec.model_id == model_id
        return await asyncio.to_thread(load_for, self.backend, self._spec)

    def _control_state(self, job_id: str) -> tuple[bool, int]:
        if self._control is None:
            self._control = ray.get_actor(CONTROL_ACTOR, namespace=NAMESPACE)
        return ray.get(self._control.state.remote(job_id), timeout=10)

    async def generate(self, spec: JobSpec) -> AsyncIterator[tuple[str, Any]]:
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
        job = RemoteJob(spec, sink, lambda: self._control_state(spec.job_id))

        def work() -> None:
            try:
                sink("result", run_piece(self.backend, spec, job))
            except JobInterrupted:
                sink("interrupted", None)
            except (InvalidParams, ValueError) as error:
                sink("error", f"{type(error).__name__}: {error}")
            except Exception as error:  # reported to the front as this piece's failure
                log.exception("Job piece %s failed", spec.job_id)
                sink("error", f"{type(error).__name__}: {error}")

        thread = threading.Thread(target=work, name=f"piece-{spec.job_id}", daemon=True)
        thread.start()
        while True:
            kind, value = await events.get()
            yield (kind, value)
            if kind in ("result", "interrupted", "error"):
                break
        await asyncio.to_thread(thread.join)
