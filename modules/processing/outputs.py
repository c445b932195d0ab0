"""What a finished image becomes: its infotext, its file under outputs/, and the batch grid."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import Any

from modules.images.grid import image_grid
from modules.images.save import save_image
from modules.processing.infotext import create_infotext, ordered_params
from modules.processing.samplers import find_schedule
from modules.processing.state import ProcessingState
from modules.upscaling.face_restoration import wants_restoration

log = logging.getLogger(__name__)

VERSION = "v1.10.1"  # the A1111 version whose infotext, API and behaviour this program follows


def infotext(p: ProcessingState, index: int, *, denoising: float | None = None) -> str:
    """A1111's infotext for image ``index`` of the whole job (all_prompts / all_seeds index)."""
    params = p.params
    settings = p.settings
    model = p.job_model or p.model
    checkpoint = model.checkpoint
    schedule = find_schedule(p.scheduler)
    values: dict[str, Any] = {
        "Steps": p.steps,
        "Sampler": p.sampler_name,
        "Schedule type": schedule.label if schedule.name != "automatic" else None,
        "CFG scale": p.cfg_scale,
        "Seed": p.all_seeds[index],
        "Face restoration": settings.get("face_restoration_model")
        if wants_restoration(settings, params.restore_faces)
        else None,
        "Size": f"{p.width}x{p.height}",
    }
    if settings.get("add_model_hash_to_info") and getattr(checkpoint, "short_hash", None):
        values["Model hash"] = checkpoint.short_hash
    if settings.get("add_model_name_to_info"):
        values["Model"] = getattr(checkpoint, "model_name", None)
    vae = model.vae_info
    if vae is not None:
        if settings.get("add_vae_hash_to_info") and getattr(vae, "short_hash", None):
            values["VAE hash"] = vae.short_hash
        if settings.get("add_vae_name_to_info"):
            values["VAE"] = getattr(vae, "model_name", None) or Path(str(vae.path)).stem
    if params.subseed_strength > 0:
        values["Variation seed"] = p.all_subseeds[index]
        values["Variation seed strength"] = params.subseed_strength
    if params.seed_resize_from_w > 0 and params.seed_resize_from_h > 0:
        values["Seed resize from"] = f"{params.seed_resize_from_w}x{params.seed_resize_from_h}"
    if denoising is not None:
        values["Denoising strength"] = denoising
    if model.arch.unet_in_channels == 9:  # A1111 writes it for every image made with inpainting conditioning
        values["Conditional mask weight"] = float(settings.get("inpainting_mask_weight"))
    if p.clip_skip > 1:
        values["Clip skip"] = p.clip_skip
    rng = settings.get("randn_source")
    if rng != "GPU":
        values["RNG"] = rng
    if params.tiling:
        values["Tiling"] = True
    for key, value in p.extra_generation_params.items():
        if callable(value):
            value = value(index)
        elif isinstance(value, list):
            value = value[index] if index < len(value) else None
        values[key] = value
    if settings.get("add_version_to_infotext"):
        values["Version"] = VERSION
    negative = p.all_negative_prompts[index] if index < len(p.all_negative_prompts) else ""
    return create_infotext(p.all_prompts[index], negative, ordered_params(values))


def filename_values(p: ProcessingState, index: int) -> dict[str, Any]:
    """Values for the filename pattern tags ([seed], [prompt_spaces], [model_name], ...)."""
    checkpoint = (p.job_model or p.model).checkpoint
    return {
        "seed": p.all_seeds[index],
        "seed_first": p.all_seeds[0],
        "seed_last": p.all_seeds[-1],
        "subseed": p.all_subseeds[index] if index < len(p.all_subseeds) else None,
        "prompt": p.all_prompts[index],
        "negative_prompt": p.all_negative_prompts[index] if index < len(p.all_negative_prompts) else "",
        "prompt_no_styles": p.params.prompt,
        "styles": list(p.params.styles),
        "steps": p.steps,
        "cfg": p.cfg_scale,
        "width": p.width,
        "height": p.height,
        "sampler": p.sampler_name,
        "scheduler": p.scheduler,
        "model_hash": getattr(checkpoint, "short_hash", None),
        "model_name": getattr(checkpoint, "model_name", None),
        "clip_skip": p.clip_skip,
        "denoising": p.params.denoising_strength,
        "batch_size": p.batch_size,
        "n_iter": p.n_iter,
        "batch_index": index % max(1, p.batch_size),
        "iteration": index // max(1, p.batch_size),
        "job_timestamp": p.job_timestamp,
        "vae_filename": getattr(p.model.vae_info, "model_name", None) if p.model.vae_info else None,
    }


def output_dir(p: ProcessingState, data_dir: Path, grid: bool) -> Path:
    """The folder a sample or grid goes to: ``outdir_samples``/``outdir_grids`` override the per-mode ones."""
    settings = p.settings
    mode = "img2img" if p.is_img2img else "txt2img"
    common = settings.get("outdir_grids" if grid else "outdir_samples", "")
    specific = settings.get(f"outdir_{mode}_{'grids' if grid else 'samples'}", "")
    folder = Path(common or specific or f"outputs/{mode}-{'grids' if grid else 'images'}")
    return folder if folder.is_absolute() else data_dir / folder


def save_sample(
    p: ProcessingState, image, index: int, text: str, data_dir: Path, now: datetime.datetime, scripts: Any = None
) -> str | None:
    """Save one image (when the settings say so); extensions' before/after-save callbacks run around it."""
    if p.params.do_not_save_samples or not p.settings.get("samples_save"):
        return None
    if scripts is not None:
        image, text = scripts.before_image_saved(p, image, text)
    path = save_image(
        image,
        output_dir(p, data_dir, grid=False),
        info=filename_values(p, index),
        infotext=text,
        settings=p.settings,
        now=now,
    )
    if scripts is not None:
        scripts.image_saved(p, image, str(path), text)
    return str(path)


def make_grid(p: ProcessingState, images: list, data_dir: Path, now: datetime.datetime, scripts: Any = None) -> Any:
    """The batch grid (with the first image's infotext), saved when the grid settings say so; extensions'
    ``on_image_grid`` callbacks may change the images and the layout first (``scripts.image_grid``)."""
    if scripts is not None and hasattr(scripts, "image_grid"):
        images, rows = scripts.image_grid(images, p.batch_size, int(p.settings.get("n_rows")))
        grid = image_grid(images, rows=rows)
    else:
        grid = image_grid(images, batch_size=p.batch_size, n_rows=int(p.settings.get("n_rows")))
    text = p.infotexts[0] if p.infotexts else ""
    if p.settings.get("grid_save") and not p.params.do_not_save_grid:
        save_image(
            grid,
            output_dir(p, data_dir, grid=True),
            basename="grid",
            info=filename_values(p, 0),
            infotext=text,
            settings=p.settings,
            grid=True,
            now=now,
        )
    return grid
