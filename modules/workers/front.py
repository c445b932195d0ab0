"""The front process's half of a remote job: describe it as data, then put the pieces back together.

``describe`` resolves the checkpoint, VAE and LoRAs the job will use from the front's own lists (names and
hashes); ``assemble`` orders the replicas' images by their index in the job, saves them and the grid with the
front's settings (replicas never save), and returns the same ``Processed`` a single-process run returns.
"""

from __future__ import annotations

import dataclasses
import datetime
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modules.jobs.queue import JobInterrupted
from modules.processing.params import GenerationParams, InvalidParams, Processed
from modules.processing.seeds import fixed_seed
from modules.workers.spec import (
    JobSpec,
    ModelRef,
    lora_names,
    replica_settings,
    split_iterations,
    strip_checkpoint_override,
)

if TYPE_CHECKING:
    from modules.app import Backend


@dataclasses.dataclass
class PartResult:
    """What one replica sent back for one piece: its images with their indices in the whole job."""

    iterations: tuple[int, ...] | None
    processed: Processed


def chosen_checkpoint(backend: Backend, overrides: dict[str, Any] | None = None) -> Any:
    """The checkpoint a job uses: its override, else the setting, else the start-up choice (--ckpt, first)."""
    models = backend.require_models()
    wanted = backend.settings.overlay(overrides).get("sd_model_checkpoint") or ""
    info = models.find_checkpoint(wanted) if wanted else None
    if info is None:
        if overrides and "sd_model_checkpoint" in overrides:
            raise InvalidParams(f"Checkpoint {wanted!r} not found; choose one of the listed checkpoints")
        info = models.startup_checkpoint()
        if info is None:
            raise InvalidParams(models.status)
    return info


def describe(backend: Backend, params: GenerationParams, job_id: str) -> tuple[list[JobSpec], Any]:
    """The pieces of ``params`` as ``JobSpec``s, and the front's CheckpointInfo (for file names)."""
    models = backend.require_models()
    info = chosen_checkpoint(backend, params.override_settings)
    checkpoint = ModelRef("checkpoint", info.name, models.hash_of(info))
    vae_info = models.resolve_vae(info)
    vae = ModelRef("vae", vae_info.name, models.hash_of(vae_info)) if vae_info is not None else None
    loras = []
    for name in lora_names(params):
        if models.find_lora(name) is None:
            raise InvalidParams(f"LoRA {name!r} not found in {models.paths.lora}")
        loras.append(ModelRef("lora", name, models.lora_hash(name)))
    values = replica_settings(backend.settings.data(), info.title)
    # random seeds are drawn here, once, so that every piece uses the seeds of the same whole job
    sent = dataclasses.replace(
        strip_checkpoint_override(params), seed=fixed_seed(params.seed), subseed=fixed_seed(params.subseed)
    )
    specs = [
        JobSpec(job_id, sent, values, checkpoint, vae, tuple(loras), iterations)
        for iterations in split_iterations(params)
    ]
    return specs, types.SimpleNamespace(checkpoint=info, vae_info=vae_info)


def assemble(
    backend: Backend, params: GenerationParams, parts: Sequence[PartResult], model: Any, job: Any
) -> Processed:
    """One ``Processed`` from the pieces, saved and gridded by the front as the single-process run does."""
    done = [part for part in parts if part.processed.images]
    if not done:
        raise JobInterrupted("Interrupted before any image was finished")
    if len(parts) == 1 and parts[0].iterations is None:
        return parts[0].processed  # a selected script ran the whole job on one replica
    first = done[0].processed
    by_index: dict[int, tuple[Any, str]] = {}
    for part in done:
        start = part.iterations[0] * params.batch_size
        # strict=False: images without an infotext (added by a script) are not placed
        for offset, (image, text) in enumerate(zip(part.processed.images, part.processed.infotexts, strict=False)):
            by_index[start + offset] = (image, text)
    order = sorted(by_index)
    p = _front_state(backend, params, first, model, job)
    now = datetime.datetime.now()
    from modules.processing import outputs

    for index in order:
        image, text = by_index[index]
        p.images.append(image)
        p.infotexts.append(text)
        path = outputs.save_sample(p, image, index, text, backend.paths.data, now)
        if path:
            p.saved_paths.append(path)
    images, infotexts = list(p.images), list(p.infotexts)
    index_of_first_image = 0
    if len(images) > 1 and (p.settings.get("return_grid") or p.settings.get("grid_save")):
        grid = outputs.make_grid(p, images, backend.paths.data, now)
        if p.settings.get("return_grid"):
            images.insert(0, grid)
            infotexts.insert(0, infotexts[0])
            index_of_first_image = 1
    info_extra = dict(first.info_extra)
    info_extra["elapsed"] = max(part.processed.info_extra.get("elapsed", 0.0) for part in done)
    return dataclasses.replace(
        first,
        images=images,
        infotexts=infotexts,
        params=params,
        saved_paths=p.saved_paths,
        index_of_first_image=index_of_first_image,
        interrupted=bool(job.interrupted) or any(part.processed.interrupted for part in done),
        info_extra=info_extra,
        comments="\n".join(filter(None, (part.processed.comments for part in done))),
    )


def _front_state(backend: Backend, params: GenerationParams, first: Processed, model: Any, job: Any) -> Any:
    """A ProcessingState carrying what file names and grids need (seeds, prompts, sampler, model names)."""
    from modules.processing.hooks import HookRegistry
    from modules.processing.state import ProcessingState

    extra = first.info_extra
    return ProcessingState(
        params=params,
        settings=backend.settings.overlay(params.override_settings),
        model=model,
        hooks=HookRegistry(),
        job=job,
        sampler_name=str(extra.get("sampler_name", params.sampler_name)),
        scheduler=str(extra.get("scheduler", params.scheduler)),
        steps=params.steps,
        cfg_scale=params.cfg_scale,
        width=params.width,
        height=params.height,
        batch_size=params.batch_size,
        n_iter=params.n_iter,
        all_prompts=list(first.all_prompts),
        all_negative_prompts=list(first.all_negative_prompts),
        all_seeds=list(first.all_seeds),
        all_subseeds=list(first.all_subseeds),
        seed=first.seed,
        subseed=first.subseed,
        clip_skip=int(extra.get("clip_skip", 1)),
        job_timestamp=datetime.datetime.now().strftime("%Y%m%d%H%M%S"),
    )
