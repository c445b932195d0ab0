"""The Ray Serve deployment: one replica = one process with its own Backend, one job piece at a time.

Requests carry a ``JobSpec`` and are routed by ``multiplexed_model_id`` (the checkpoint's sha256), so a piece
goes to a replica that already holds its checkpoint when one is free. ``generate`` streams events back:
``("started", {"pid": ...})``, ``("progress", {...})``, ``("preview", image)``, then ``("result", Processed)``
or ``("error", message)`` for a job-level failure (bad model, interrupted before any image).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import ray
from ray import serve

from modules.workers.ray_setup import NAMESPACE
from modules.workers.spec import JobSpec

log = logging.getLogger(__name__)

CONTROL_ACTOR = "sdwebui-job-control"


WATCH_TIMEOUT_S = 30.0  # a standing watch is answered at the latest then (a replica that vanished leaks none)


@ray.remote(num_cpus=0)
class JobControl:
    """The front's Interrupt/Skip presses, by job id, pushed to the replicas running the job.

    An async actor: a replica keeps one standing ``watch`` call per piece, answered only when the job's
    state changes, so a sampling step checks a local object instead of sending a request to this actor.
    """

    def __init__(self) -> None:
        self._interrupted: set[str] = set()
        self._skips: dict[str, int] = {}
        self._changed = asyncio.Condition()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def interrupt(self, job_id: str) -> None:
        self._interrupted.add(job_id)
        await self._notify()

    async def skip(self, job_id: str) -> None:
        self._skips[job_id] = self._skips.get(job_id, 0) + 1
        await self._notify()

    async def state(self, job_id: str) -> tuple[bool, int]:
        return job_id in self._interrupted, self._skips.get(job_id, 0)

    async def watch(self, job_id: str, seen: tuple[bool, int]) -> tuple[bool, int]:
        """The job's state once it differs from ``seen`` (or after WATCH_TIMEOUT_S, unchanged)."""
        seen = tuple(seen)
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._current(job_id) != seen), timeout=WATCH_TIMEOUT_S
                )
        return self._current(job_id)

    def _current(self, job_id: str) -> tuple[bool, int]:
        return job_id in self._interrupted, self._skips.get(job_id, 0)

    async def forget(self, job_id: str) -> None:
        self._interrupted.discard(job_id)
        self._skips.pop(job_id, None)


class ControlWatch:
    """One piece's view of its job's Interrupt/Skip: a standing ``JobControl.watch`` call, checked locally.

    A check reads whether the call's future is done (no message, no Ray call); a message is sent only when
    the state changed, to watch for the next change. A press reaches the sampler at the next step after it
    reached the board.
    """

    def __init__(self, control: Any, job_id: str) -> None:
        self._control = control
        self._job_id = job_id
        self._state: tuple[bool, int] = (False, 0)
        self._pending: Any = None
        self._answer: concurrent.futures.Future[Any] | None = None
        self._send()

    def _send(self) -> None:
        self._pending = self._control.watch.remote(self._job_id, self._state)
        self._answer = self._pending.future()

    def __call__(self) -> tuple[bool, int]:
        if self._answer is not None and self._answer.done():
            answer, self._answer = self._answer, None
            self._state = tuple(answer.result())  # raises once when the board is gone; then it stays quiet
            self._send()
        return self._state

    def close(self) -> None:
        """Withdraw the standing call (the piece ended)."""
        with contextlib.suppress(Exception):
            ray.cancel(self._pending)


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
        self._idle_since = time.monotonic()  # when the last piece ended: the gap before the next one is idle

    def pid(self) -> int:
        return os.getpid()

    @serve.multiplexed(max_num_models_per_replica=1)
    async def _model(self, model_id: str) -> Any:
        """Load the checkpoint of the spec being started (its sha256 is ``model_id``)."""
        from modules.workers.worker_backend import load_for

        assert self._spec is not None and self._spec.model_id == model_id
        return await asyncio.to_thread(load_for, self.backend, self._spec)

    def _watch(self, job_id: str) -> ControlWatch:
        if self._control is None:
            self._control = ray.get_actor(CONTROL_ACTOR, namespace=NAMESPACE)
        return ControlWatch(self._control, job_id)

    async def generate(self, spec: JobSpec) -> AsyncIterator[tuple[str, Any]]:
        """One piece at a time: Serve hands a replica up to two, the second waits here for the first.

        The watch starts on arrival, so a piece whose job was interrupted while it waited ends unstarted.
        """
        watch = self._watch(spec.job_id)
        try:
            async with self._busy:
                if watch()[0]:
                    yield ("interrupted", None)
                    return
                try:
                    async for event in self._generate(spec, watch):
                        yield event
                finally:
                    self._idle_since = time.monotonic()
        finally:
            watch.close()

    async def _generate(self, spec: JobSpec, watch: ControlWatch) -> AsyncIterator[tuple[str, Any]]:
        from modules.jobs.queue import JobInterrupted
        from modules.processing.params import InvalidParams
        from modules.workers.spec import ModelMismatch
        from modules.workers.worker_backend import RemoteJob, merge_progress, run_piece

        current = self.backend.models.current
        loaded = current.checkpoint.name if current is not None else None
        yield ("started", {"pid": os.getpid(), "loaded": loaded, "idle_s": time.monotonic() - self._idle_since})
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
        job = RemoteJob(spec, sink, watch)

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
        ended = False
        while not ended:
            waiting = [await events.get()]
            while not events.empty():
                waiting.append(events.get_nowait())
            for kind, value in merge_progress(waiting):  # the front is behind: one progress event per run
                yield (kind, value)
                ended = kind in ("result", "interrupted", "error")
        await asyncio.to_thread(thread.join)
