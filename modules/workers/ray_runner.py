"""The front process's link to Ray Serve: start or join Ray, deploy the replicas, run jobs on them.

``RayWorkers.run`` is what a generation job of the front's queue executes with ``--workers ray``: it sends the
job's pieces (one per batch) to the replicas, relays their progress and previews to the front's job handle,
passes Interrupt/Skip on, retries a piece once when its replica dies, and assembles the result.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

from modules.jobs.queue import Job, JobInterrupted
from modules.processing.params import GenerationParams, InvalidParams, Processed
from modules.workers.front import PartResult, assemble, chosen_checkpoint, describe
from modules.workers.spec import JobSpec

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

APP_NAME = "sdwebui"


class WorkerFailed(RuntimeError):
    """A piece failed on two replicas in a row (or Ray is unreachable); the message says which and why."""


class RayWorkers:
    """Ray Serve replicas behind the front's job queue. ``start`` blocks until they are deployed."""

    def __init__(self, backend: Backend, app_name: str = APP_NAME) -> None:
        self.backend = backend
        self.app_name = app_name  # the Serve application (several fronts may share one Ray instance)
        self.flags = backend.flags
        self.replica_count = 0
        self.handle: Any = None
        self.control: Any = None
        # job keys on the shared control board are "<front>/<job id>": several fronts may share one Ray cluster
        self.front_id = uuid.uuid4().hex[:12]
        # the latest pieces started: job id, replica pid, checkpoint it held before (tests, logs)
        self.pieces: collections.deque[dict[str, Any]] = collections.deque(maxlen=200)
        self._started = threading.Event()
        self._error: str | None = None
        self._owns_ray = False
        self._stopped = threading.Event()

    # --- start / stop -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or join) Ray and deploy the replicas; returns once they are up or failed.

        Ray ties the processes it starts (GCS, raylet) to the life of the *thread* that started them, so the
        start-up runs in a thread of its own that lives until ``stop``.
        """
        thread = threading.Thread(target=self._hold, name="ray-workers", daemon=True)
        thread.start()
        self._started.wait()

    def _hold(self) -> None:
        try:
            self._start()
        except Exception as error:  # shown to every generation request; the page keeps working
            log.exception("Ray workers failed to start")
            self._error = f"Ray workers failed to start: {error}"
        finally:
            self._started.set()
        self._stopped.wait()

    def _start(self) -> None:
        try:
            import ray
            from ray import serve
        except ImportError:
            raise WorkerFailed("--workers ray needs Ray: pip install -r requirements-ray.txt") from None
        from ray.serve.config import RequestRouterConfig
        from ray.serve.schema import LoggingConfig

        from modules.workers import ray_setup
        from modules.workers.replica import CONTROL_ACTOR, NAMESPACE, GenerationReplica, JobControl
        from modules.workers.routing import IdleFirstRouter

        address = self.flags.ray_address
        if not ray.is_initialized():
            if address:
                ray_setup.join(address)
            else:
                ray_setup.start_local(num_cpus=max(2, self.flags.worker_count or 1))
            self._owns_ray = True
        gpus = int(ray.cluster_resources().get("GPU", 0))
        use_cpu = self.flags.use_cpu is not None or gpus == 0
        count = self.flags.worker_count or (1 if use_cpu else gpus)
        self.replica_count = count
        self.control = JobControl.options(name=CONTROL_ACTOR, namespace=NAMESPACE, get_if_exists=True).remote()
        serve.start(proxy_location="Disabled")
        deployment = serve.deployment(
            GenerationReplica,
            name="generation",
            num_replicas=count,
            # a replica computes one piece and holds the next, so it never waits for Serve's router between
            # pieces; the router (routing.py) still gives a piece to an idle replica before a busy one
            max_ongoing_requests=2,
            request_router_config=RequestRouterConfig(request_router_class=IdleFirstRouter),
            ray_actor_options={"num_cpus": 1, "num_gpus": 0 if use_cpu else 1, "runtime_env": ray_setup.runtime_env()},
            logging_config=LoggingConfig(enable_access_log=False),  # a log line per piece: the front logs jobs
        )
        front_flags = {key: value for key, value in vars(self.flags).items()}
        app = deployment.bind(front_flags, 1 if use_cpu else None)
        self.handle = serve.run(app, name=self.app_name, route_prefix=None)
        # two front lanes per replica: the next job already waits in Ray's queue when a replica finishes
        self.backend.jobs.set_lanes(2 * count)
        log.info("Ray Serve: %d replica(s) on %s", count, "CPU" if use_cpu else "GPU")

    def stop(self) -> None:
        """Remove the deployment, and stop Ray when this process started it."""
        if self.handle is None and not self._owns_ray:  # Ray never started (missing, or failed early)
            self._stopped.set()
            return
        import ray
        from ray import serve

        try:
            serve.delete(self.app_name)
        except Exception:  # already gone
            log.debug("serve.delete failed", exc_info=True)
        if self._owns_ray:
            serve.shutdown()
            ray.shutdown()
        self._stopped.set()

    @property
    def status(self) -> str:
        """The page's model status line: the replicas, and the checkpoint the next job will use."""
        if self._error:
            return self._error
        if not self._started.is_set():
            return "Starting the Ray workers…"
        try:
            info = chosen_checkpoint(self.backend)
        except InvalidParams as error:  # no checkpoint at all: the model manager's advice
            return str(error)
        return f"{self.replica_count} Ray worker(s) · checkpoint {info.title}"

    def wait_started(self, timeout: float | None = None) -> None:
        if not self._started.wait(timeout):
            raise WorkerFailed("the Ray workers are still starting; try again in a few seconds")
        if self._error:
            raise WorkerFailed(self._error)

    # --- running a job ------------------------------------------------------------------------------
    def run(self, params: GenerationParams, job: Job) -> Processed:
        """Run ``params`` on the replicas, reporting to ``job``; the front's job queue calls this."""
        self.wait_started(timeout=600)
        key = f"{self.front_id}/{job.id}"
        specs, model = describe(self.backend, params, key)
        job.update(job_no=0, job_count=params.n_iter, sampling_step=0, sampling_steps=params.steps, textinfo="Queued")
        relay = _Relay(self, job, key, len(specs))
        try:
            if len(specs) == 1:
                parts = [relay.run_piece(specs[0])]
            else:
                with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(specs), 16)) as pool:
                    parts = list(pool.map(relay.run_piece, specs))
        finally:
            if relay.pressed:  # only pressed jobs are on the board
                self.control.forget.remote(key)
        return assemble(self.backend, params, parts, model, job)


class _Relay:
    """Streams of one job's pieces: progress/preview relay, stop forwarding, one retry on a dead replica."""

    def __init__(self, workers: RayWorkers, job: Job, key: str, piece_count: int) -> None:
        self.workers = workers
        self.job = job
        self.key = key  # the job on the control board
        self.piece_count = piece_count
        self.finished = 0
        self.lock = threading.Lock()
        self.sent_interrupt = False
        self.pressed = False  # an Interrupt or Skip went to the board

    def run_piece(self, spec: JobSpec) -> PartResult:
        for attempt in (1, 2):
            try:
                return self._stream(spec)
            except (JobInterrupted, InvalidParams):
                raise
            except Exception as error:  # a replica died or Ray lost the request
                if self.job.interrupted:  # nothing to retry: keep the other batches' images
                    return PartResult(spec.iterations, _empty(spec))
                if attempt == 2:
                    raise WorkerFailed(f"batch {spec.iterations} failed on two workers: {error}") from error
                log.warning("Job %s batch %s: worker failed (%s); retrying once", spec.job_id, spec.iterations, error)
        raise AssertionError("unreachable")

    def _forward_stops(self) -> None:
        job, control = self.job, self.workers.control
        with self.lock:
            if job.interrupted and not self.sent_interrupt:
                self.sent_interrupt = self.pressed = True
                control.interrupt.remote(self.key)
            if job.skipped:
                job.skipped = False
                self.pressed = True
                control.skip.remote(self.key)

    def _stream(self, spec: JobSpec) -> PartResult:
        import ray

        if self.job.interrupted:
            return PartResult(spec.iterations, _empty(spec))
        handle = self.workers.handle.options(stream=True, multiplexed_model_id=spec.model_id)
        stream = handle.generate.remote(spec)
        state = {"started": False, "ended": False}
        watcher = threading.Thread(target=self._watch, args=(stream, state), daemon=True)
        watcher.start()
        try:
            for kind, value in itertools.chain.from_iterable(stream):  # the replica streams lists of events
                self._forward_stops()
                if kind == "started":
                    state["started"] = True
                    self.workers.pieces.append({"job": self.job.id, "model": spec.checkpoint.name, **value})
                elif kind == "progress":
                    fields = dict(value)
                    fields.pop("job_no", None)
                    fields.pop("job_count", None)
                    self.job.update(job_no=self.finished, job_count=self.piece_count, **fields)
                elif kind == "preview":
                    self.job.set_preview(value)
                elif kind == "result":
                    with self.lock:
                        self.finished += 1
                    return PartResult(spec.iterations, value)
                elif kind == "interrupted":
                    return PartResult(spec.iterations, _empty(spec))
                elif kind == "error":
                    raise InvalidParams(value)
        except ray.exceptions.TaskCancelledError:
            return PartResult(spec.iterations, _empty(spec))
        finally:
            state["ended"] = True
        raise WorkerFailed("the worker's stream ended without a result")

    def _watch(self, stream: Any, state: dict[str, bool]) -> None:
        """While a piece's stream is open, pass Interrupt/Skip on at once (the replica reads them each step),
        and take the piece out of Ray's queue when it is interrupted before a replica started it."""
        version = 0
        while not state["ended"]:
            version = self.job.wait_for_change(version, timeout=0.5)
            if self.job.interrupted or self.job.skipped:
                self._forward_stops()
            if self.job.interrupted and not state["started"]:
                stream.cancel()
                return


def _empty(spec: JobSpec) -> Processed:
    return Processed([], [], spec.params.seed, spec.params.subseed, [], [], [], [], spec.params, interrupted=True)
