"""A replica's own Backend, built from plain data (the front's flags and settings), and its job handle.

The replica resolves every model the spec names from its own models folder, checks the hashes, and runs the
ordinary pipeline on it; progress and previews go to an event sink (the stream back to the front), and
Interrupt/Skip are read from a ``control`` callable each sampling step.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from modules.jobs.queue import Job
from modules.workers.spec import JobSpec, ModelMismatch, check_hash

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

EventSink = Callable[[str, Any], None]
PROGRESS_INTERVAL_S = 0.25  # the page polls once a second; API clients rarely faster


def worker_flags(front_flags: Mapping[str, Any]) -> argparse.Namespace:
    """The front's flags for a worker: the same paths and device options, but generation in-process."""
    values = dict(front_flags)
    values.update(workers="local", worker_count=None, ray_address=None, freeze_settings=False)
    return argparse.Namespace(**values)


def build_worker_backend(front_flags: Mapping[str, Any]) -> Any:
    """A Backend with settings in memory (no config file written), extensions loaded, the model manager up."""
    from modules.app import Backend
    from modules.extensions.manager import install_extensions
    from modules.models.manager import ModelManager
    from modules.paths import Paths
    from modules.settings.options import build_registry
    from modules.settings.registry import Settings

    flags = worker_flags(front_flags)
    paths = Paths.from_flags(flags)
    settings = Settings(build_registry())
    backend = Backend(flags, paths, settings)
    install_extensions(backend)
    backend.attach_models(ModelManager(paths, settings, flags))
    return backend


def load_for(backend: Backend, spec: JobSpec, apply_settings: bool = True) -> Any:
    """Apply the spec's settings (unless the same snapshot already is), then load (or keep) its checkpoint
    and VAE, checking names and hashes."""
    if apply_settings:
        backend.settings.update(dict(spec.settings), save=False)
    models = backend.models
    ref = spec.checkpoint
    info = models.find_checkpoint(ref.name) or (models.find_checkpoint(ref.sha256) if ref.sha256 else None)
    if info is None:
        models.refresh()
        info = models.find_checkpoint(ref.name)
    if info is None:
        raise ModelMismatch(f"checkpoint {ref.name!r} is not in this worker's folder {models.paths.checkpoints[0]}")
    check_hash(ref, models.hash_of(info) if ref.sha256 else None, info.name)
    backend.settings.update({"sd_model_checkpoint": info.title}, save=False)
    model = models.load(info, remember=False)
    if spec.vae is not None:
        vae_info = models.resolve_vae(info)
        if vae_info is None or vae_info.name != spec.vae.name:
            raise ModelMismatch(f"VAE {spec.vae.name!r} is not in this worker's VAE folders")
        check_hash(spec.vae, models.hash_of(vae_info) if spec.vae.sha256 else None, vae_info.name)
    for lora in spec.loras:
        if models.find_lora(lora.name) is None:
            raise ModelMismatch(f"LoRA {lora.name!r} is not in this worker's folder {models.paths.lora}")
        check_hash(lora, models.lora_hash(lora.name) if lora.sha256 else None, lora.name)
    return model


class RemoteJob(Job):
    """The replica-side handle of one piece: forwards progress to ``sink`` and polls ``control`` for stops."""

    def __init__(self, spec: JobSpec, sink: EventSink, control: Callable[[], tuple[bool, int] | None]) -> None:
        super().__init__(spec.job_id, task=lambda job: None, label="remote")
        self._sink = sink
        self._control = control
        self._skips_seen = 0
        self._unsent: dict[str, Any] = {}  # progress fields changed since the last progress event
        self._sent_at = -math.inf
        self.console_progress = False  # a replica's bar would only travel through Ray's log pipe to the front

    def update(self, **fields: Any) -> None:
        """Progress goes out at most every PROGRESS_INTERVAL_S (each event costs both processes a message);
        fields changed in between are merged into the next event."""
        super().update(**fields)
        self._unsent.update((k, v) for k, v in fields.items() if k != "preview")
        if time.monotonic() - self._sent_at >= PROGRESS_INTERVAL_S:
            self._send_progress()

    def _send_progress(self) -> None:
        if self._unsent:
            self._sink("progress", self._unsent)
            self._unsent = {}
            self._sent_at = time.monotonic()

    def set_preview(self, image: Any) -> None:
        """A preview goes out at once, with the progress of its step."""
        super().set_preview(image)
        self._send_progress()
        self._sink("preview", image)

    def should_stop(self) -> bool:
        """Called each sampling step: read the front's Interrupt/Skip for this job."""
        try:
            state = self._control()  # None: no answer yet
        except Exception:  # the control board is gone (front restarting): keep sampling
            log.debug("control board unreachable", exc_info=True)
            state = None
        interrupted, skips = state if state is not None else (False, self._skips_seen)
        if interrupted:
            self.interrupted = True
        if skips > self._skips_seen:
            self._skips_seen = skips
            self.skipped = True
        return super().should_stop()


def run_piece(backend: Backend, spec: JobSpec, job: RemoteJob, apply_settings: bool = True) -> Any:
    """Generate the spec's batches on this replica; returns its Processed (images of those batches only)."""
    from modules.processing.pipeline import generate

    load_for(backend, spec, apply_settings)
    job.should_stop()  # an Interrupt that arrived while the piece waited or loaded
    return generate(backend, spec.params, job, iterations=spec.iterations)


def merge_progress(events: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The events in order, each run of consecutive progress events merged into one (later fields win).

    >>> merge_progress([("progress", {"a": 1}), ("progress", {"a": 2, "b": 1}), ("preview", "p"), ("progress", {})])
    [('progress', {'a': 2, 'b': 1}), ('preview', 'p'), ('progress', {})]
    """
    merged: list[tuple[str, Any]] = []
    for kind, value in events:
        if kind == "progress" and merged and merged[-1][0] == "progress":
            merged[-1] = ("progress", {**merged[-1][1], **value})
        else:
            merged.append((kind, value))
    return merged
