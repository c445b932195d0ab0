"""The Ray Serve deployment: one replica = one process with its own Backend, one job piece at a time.

Requests carry a ``JobSpec`` and are routed by ``multiplexed_model_id`` (the checkpoint's sha256), so a piece
goes to a replica that already holds its checkpoint when one is free. ``generate`` streams lists of events
back: ``("started", {"pid": ...})``, ``("progress", {...})``, ``("preview", image)``, then
``("result", Processed)``, ``("interrupted", None)`` or ``("error", message)`` for a job-level failure (bad
model, bad parameters). Each list holds what is ready at once: every streamed item costs both processes a
round of Ray messages, about as much CPU as a sampling step of a tiny model.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import ray
from ray import serve

from modules.workers.ray_setup import NAMESPACE
from modules.workers.spec import JobSpec

log = logging.getLogger(__name__)

# the name carries the board's protocol version: a cluster that outlives an upgrade keeps the old board
# under the old name, and this version starts its own
CONTROL_ACTOR = "sdwebui-job-control-v2"


WATCH_TIMEOUT_S = 30.0  # a standing watch is answered at the latest then (a replica that vanished leaks none)

StopState = tuple[bool, int]  # a job's (interrupted, skips pressed)
Event = tuple[str, Any]  # (kind, value) streamed to the front


@ray.remote(num_cpus=0)
class JobControl:
    """The fronts' Interrupt/Skip presses, by job key, pushed to every replica.

    An async actor holding only the jobs someone pressed a button for. Each replica keeps one standing
    ``watch`` call, answered when the board changes, with the whole board: a sampling step reads a local
    copy, and a piece costs the board no message at all (only a press and the front's ``forget`` do).
    """

    def __init__(self) -> None:
        self._pressed: dict[str, StopState] = {}
        self._version = 0
        self._changed = asyncio.Condition()

    async def _set(self, job_key: str, state: StopState) -> None:
        async with self._changed:
            self._pressed[job_key] = state
            self._version += 1
            self._changed.notify_all()

    async def interrupt(self, job_key: str) -> None:
        await self._set(job_key, (True, self._pressed.get(job_key, (False, 0))[1]))

    async def skip(self, job_key: str) -> None:
        interrupted, skips = self._pressed.get(job_key, (False, 0))
        await self._set(job_key, (interrupted, skips + 1))

    async def watch(self, seen_version: int) -> tuple[int, dict[str, StopState]]:
        """The board once its version differs from ``seen_version`` (or after WATCH_TIMEOUT_S, unchanged)."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._version != seen_version), timeout=WATCH_TIMEOUT_S
                )
            return self._version, dict(self._pressed)

    async def forget(self, job_key: str) -> None:
        """The job ended: drop its presses (replicas see it with the next change; a key is never reused)."""
        self._pressed.pop(job_key, None)


class BoardWatch:
    """A replica's copy of the control board, kept fresh by one standing ``JobControl.watch`` call.

    A lookup reads whether that call's future is done (no message, no Ray call); a new call is sent only when
    the board changed. A press reaches the sampler at the next step after it reached the board. When the
    board is gone (its front restarting) the copy is kept and the board looked up again every
    REFIND_BOARD_S. Lookups come from the event loop and the compute thread, hence the lock.
    """

    REFIND_BOARD_S = 5.0

    def __init__(self, find_board: Callable[[], Any]) -> None:
        self._find_board = find_board
        self._board_actor: Any = None
        self._lock = threading.Lock()
        self._version = -1  # nothing seen: the first answer comes at once
        self._board: dict[str, StopState] = {}
        self._answer: concurrent.futures.Future[Any] | None = None
        self._retry_at = 0.0
        self._send()

    def _send(self) -> None:
        try:
            if self._board_actor is None:
                self._board_actor = self._find_board()
            self._answer = self._board_actor.watch.remote(self._version).future()
        except Exception:
            log.debug("control board unreachable", exc_info=True)
            self._board_actor, self._answer = None, None
            self._retry_at = time.monotonic() + self.REFIND_BOARD_S

    def __call__(self, job_key: str) -> StopState:
        with self._lock:
            if self._answer is not None and self._answer.done():
                answer, self._answer = self._answer, None
                try:
                    self._version, self._board = answer.result()
                except Exception:  # the board is gone: look it up again later
                    log.debug("control board unreachable", exc_info=True)
                    self._board_actor = None
                    self._retry_at = time.monotonic() + self.REFIND_BOARD_S
                else:
                    self._send()
            elif self._answer is None and time.monotonic() >= self._retry_at:
                self._send()
            return self._board.get(job_key, (False, 0))


class GenerationReplica:
    """Serve deployment class; ``front_flags`` are the front's flags as a plain dict."""

    def __init__(self, front_flags: dict[str, Any], torch_threads: int | None) -> None:
        import torch

        if torch_threads:
            torch.set_num_threads(torch_threads)
        from modules.workers.worker_backend import build_worker_backend

        self.backend = build_worker_backend(front_flags)
        self._board: BoardWatch | None = None
        self._spec: JobSpec | None = None
        self._applied_settings: Any = None  # the front's settings snapshot last applied to this Backend
        self._busy = asyncio.Lock()
        # one long-lived compute thread: torch/oneDNN keep per-thread buffers, a new thread per piece rebuilt them
        self._compute = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="piece")
        self._idle_since = time.monotonic()  # when the last piece ended: the gap before the next one is idle

    def pid(self) -> int:
        return os.getpid()

    @serve.multiplexed(max_num_models_per_replica=1)
    async def _model(self, model_id: str) -> Any:
        """Load the checkpoint of the spec being started (its sha256 is ``model_id``)."""
        from modules.workers.worker_backend import load_for

        assert self._spec is not None and self._spec.model_id == model_id
        return await asyncio.to_thread(load_for, self.backend, self._spec)

    def _watch(self, job_key: str) -> Callable[[], StopState]:
        """The Interrupt/Skip state of one job, read from this replica's copy of the board."""
        if self._board is None:
            self._board = BoardWatch(lambda: ray.get_actor(CONTROL_ACTOR, namespace=NAMESPACE))
        board = self._board
        return lambda: board(job_key)

    async def generate(self, spec: JobSpec) -> AsyncIterator[list[Event]]:
        """One piece at a time: Serve hands a replica up to two, the second waits here for the first.

        A piece whose job was interrupted while it waited ends unstarted.
        """
        watch = self._watch(spec.job_id)
        async with self._busy:
            if watch()[0]:
                yield [("interrupted", None)]
                return
            try:
                async for events in self._generate(spec, watch):
                    yield events
            finally:
                self._idle_since = time.monotonic()

    async def _generate(self, spec: JobSpec, watch: Callable[[], StopState]) -> AsyncIterator[list[Event]]:
        from modules.jobs.queue import JobInterrupted
        from modules.processing.params import InvalidParams
        from modules.workers.spec import ModelMismatch
        from modules.workers.worker_backend import RemoteJob, merge_progress, run_piece

        current = self.backend.models.current
        loaded = current.checkpoint.name if current is not None else None
        ready: list[Event] = [
            ("started", {"pid": os.getpid(), "loaded": loaded, "idle_s": time.monotonic() - self._idle_since})
        ]
        if loaded != spec.checkpoint.name:  # a load takes a while: the front learns now that the piece began
            yield ready
            ready = []
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()

        def sink(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (kind, value))

        self._spec = spec
        try:
            await self._model(spec.model_id)
        except (ModelMismatch, InvalidParams, OSError, ValueError) as error:
            yield [*ready, ("error", f"{type(error).__name__}: {error}")]
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
        finished = loop.run_in_executor(self._compute, report)
        try:
            ended = False
            while not ended:
                ready.append(await events.get())
                while not events.empty():
                    ready.append(events.get_nowait())
                batch, ready = merge_progress(ready), []
                ended = any(kind in ("result", "interrupted", "error") for kind, _ in batch)
                yield batch
        finally:
            # a stream the front cancelled (its job interrupted as the piece began) keeps the replica busy
            # until the compute has stopped at its next step: the next piece must not load a model under it
            await asyncio.shield(finished)
