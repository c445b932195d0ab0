"""Server state through the API: progress of the running job, interrupt/skip, options, flags, model lists.

Progress, interrupt and skip act on whatever job the shared queue is running, whether the UI or the API
submitted it. Anything that touches the loaded model (switching, unloading) runs as a queue job too, so it
never interleaves with a generation; rescanning folders only swaps lists and runs beside the queue.
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import TYPE_CHECKING, Any

from modules.api import codec
from modules.api.generation import find_checkpoint, validate_settings

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)


def _state(job: Any, running: bool) -> dict[str, Any]:
    """A1111's ``shared.state.dict()``."""
    progress = job.progress() if job is not None and running else None
    started = getattr(job, "started", None) if job is not None else None
    return {
        "skipped": bool(job is not None and job.skipped),
        "interrupted": bool(job is not None and job.interrupted),
        "stopping_generation": False,
        "job": job.label if job is not None and running else "",
        "job_count": progress.job_count if progress else 0,
        "job_timestamp": datetime.datetime.fromtimestamp(started).strftime("%Y%m%d%H%M%S") if started else "0",
        "job_no": progress.job_no if progress else 0,
        "sampling_step": progress.sampling_step if progress else 0,
        "sampling_steps": progress.sampling_steps if progress else 0,
    }


def progress(backend: Backend, skip_current_image: bool) -> dict[str, Any]:
    """A1111's ``/sdapi/v1/progress``: 0.01 + the done fraction while a job runs, ETA from elapsed time."""
    job = backend.jobs.current
    if job is None or not job.running:
        last = backend.jobs.last
        return {
            "progress": 0.0,
            "eta_relative": 0.0,
            "state": _state(last, running=False),
            "current_image": None,
            "textinfo": None,
            "current_task": None,
        }
    snapshot = job.progress()
    state = _state(job, running=True)
    if snapshot.job_count <= 0:
        return {
            "progress": 0.0,
            "eta_relative": 0.0,
            "state": state,
            "current_image": None,
            "textinfo": snapshot.textinfo or None,
            "current_task": job.id,
        }
    done = min(1.0, 0.01 + snapshot.fraction)
    elapsed = max(0.0, time.time() - (job.started or time.time()))
    current_image = None
    if not skip_current_image and snapshot.preview is not None:
        current_image = codec.encode_image(snapshot.preview, backend.settings)
    return {
        "progress": done,
        "eta_relative": elapsed / done - elapsed,
        "state": state,
        "current_image": current_image,
        "textinfo": snapshot.textinfo or None,
        "current_task": job.id,
    }


def get_options(backend: Backend) -> dict[str, Any]:
    return backend.settings.data()


def set_options(backend: Backend, values: dict[str, Any]) -> None:
    """Validate everything (unknown checkpoint → 404, bad value → 422), switch the model, then save.

    Transactional: the checkpoint and VAE are loaded first; one that fails answers 422 naming the file and
    nothing is saved, so the previous model stays loaded and selected.
    """
    accepted = validate_settings(backend, values, "options")
    title = accepted.get("sd_model_checkpoint")
    if title and getattr(backend, "workers", None) is None:  # with Ray workers, replicas load it per job
        info = find_checkpoint(backend, title)
        manager = backend.require_models()
        model = backend.jobs.run(lambda job: manager.load(info, remember=False), label="load checkpoint")
        accepted["sd_model_checkpoint"] = model.checkpoint.title
    vae = accepted.get("sd_vae")
    if "sd_vae" in accepted and backend.models is not None and backend.models.current is not None:
        manager = backend.require_models()
        if vae != backend.settings.get("sd_vae") or title:
            backend.jobs.run(lambda job: manager.set_vae(vae), label="load VAE")
    backend.settings.update(accepted)


def cmd_flags(backend: Backend) -> dict[str, Any]:
    return {
        key: value if isinstance(value, (str, int, float, bool, list, type(None))) else str(value)
        for key, value in vars(backend.flags).items()
    }


def _run_on_manager(backend: Backend, method: str, fallback: str = "refresh") -> None:
    """Rescan a model folder in the request's own thread, not on the job queue.

    A scan only lists files (bounded: symlink loops, unreadable entries and slow disks are cut short) and
    swaps the lists in one step, so it never waits for a running generation nor makes one wait.
    """
    manager = backend.require_models()
    action = getattr(manager, method, None) or getattr(manager, fallback)
    action()


def refresh_checkpoints(backend: Backend) -> None:
    _run_on_manager(backend, "refresh")


def refresh_vae(backend: Backend) -> None:
    _run_on_manager(backend, "refresh_vaes")


def refresh_loras(backend: Backend) -> None:
    _run_on_manager(backend, "refresh_loras")


def refresh_embeddings(backend: Backend) -> None:
    _run_on_manager(backend, "refresh_embeddings")


def unload_checkpoint(backend: Backend) -> dict[str, Any]:
    manager = backend.require_models()
    backend.jobs.run(lambda job: manager.unload(), label="unload checkpoint")
    return {}


def reload_checkpoint(backend: Backend) -> dict[str, Any]:
    """Load the selected checkpoint again after an unload (A1111: send the weights back to the device)."""
    manager = backend.require_models()
    reload = getattr(manager, "reload", None)
    if reload is not None:
        backend.jobs.run(lambda job: reload(), label="reload checkpoint")
        return {}
    name = backend.settings.get("sd_model_checkpoint")
    info = find_checkpoint(backend, name) if name else manager.startup_checkpoint()
    if info is not None:
        backend.jobs.run(lambda job: manager.load(info), label="reload checkpoint")
    return {}
