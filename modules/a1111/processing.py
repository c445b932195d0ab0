"""A1111's ``modules.processing``: ``StableDiffusionProcessing*``, ``process_images``, ``Processed``, seeds, masks.

``process_images(p)`` accepts A1111's ``p`` in both forms extensions meet: one they build
(``StableDiffusionProcessingImg2Img(init_images=[...], ...)``) and the job's own ``ProcessingState`` they
receive in ``run(p, ...)`` and change A1111-style (``p.init_images = [tile]; p.width = 512``). Both become a
``GenerationParams`` (``to_params``). Inside a running job's hooks it renders within that job (the queue has
one worker: a new job would wait forever); anywhere else it is submitted to the job queue and waited for.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from modules.a1111 import _resolve
from modules.extensions import bridge
from modules.images import ops
from modules.processing import params as core_params
from modules.processing.params import GenerationParams, InvalidParams  # noqa: F401

opt_C = 4  # noqa: N816 (A1111's names)
opt_f = 8

_FIELDS = {f.name for f in dataclasses.fields(GenerationParams)}
_TUPLES = {"styles", "init_images", "script_args", "alwayson_scripts"}
# A1111 attribute -> GenerationParams field, where the names differ
_RENAMED = {"image_mask": "mask"}
_NOT_FROM_P = {"mode", "script_name", "script_args", "alwayson_scripts", "override_settings"}


def get_fixed_seed(seed: Any) -> int:
    from modules.processing.seeds import fixed_seed

    return fixed_seed(seed)


def fix_seed(p: Any) -> None:
    p.seed = get_fixed_seed(p.seed)
    p.subseed = get_fixed_seed(p.subseed)


class StableDiffusionProcessing:
    """A1111's processing object as extensions build it: keyword arguments become attributes."""

    mode = "txt2img"
    DEFAULTS: dict[str, Any] = {
        "sd_model": None,
        "outpath_samples": None,
        "outpath_grids": None,
        "prompt": "",
        "negative_prompt": "",
        "styles": None,
        "seed": -1,
        "subseed": -1,
        "subseed_strength": 0.0,
        "seed_resize_from_h": -1,
        "seed_resize_from_w": -1,
        "sampler_name": None,
        "scheduler": None,
        "batch_size": 1,
        "n_iter": 1,
        "steps": 50,
        "cfg_scale": 7.0,
        "width": 512,
        "height": 512,
        "restore_faces": None,
        "tiling": None,
        "do_not_save_samples": False,
        "do_not_save_grid": False,
        "extra_generation_params": None,
        "override_settings": None,
        "denoising_strength": None,
        "eta": None,
        "s_churn": None,
        "s_tmax": None,
        "s_tmin": None,
        "s_noise": None,
        "sampler_index": None,
        "disable_extra_networks": False,
    }

    def __init__(self, **kwargs: Any) -> None:
        values = {**StableDiffusionProcessing.DEFAULTS, **type(self).DEFAULTS, **kwargs}
        for key, value in values.items():
            setattr(self, key, value)
        self.extra_generation_params = dict(self.extra_generation_params or {})
        self.override_settings = dict(self.override_settings or {})
        self.styles = list(self.styles or [])
        self.scripts = None
        self.script_args: tuple[Any, ...] = ()
        self.all_prompts: list[str] = []
        self.all_negative_prompts: list[str] = []
        self.all_seeds: list[int] = []
        self.all_subseeds: list[int] = []
        self.iteration = 0
        self.is_api = False

    @property
    def is_img2img(self) -> bool:
        return self.mode == "img2img"

    def close(self) -> None:
        """A1111 frees sampler state here; nothing is kept on this object."""


class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    mode = "txt2img"
    DEFAULTS = {
        "enable_hr": False,
        "hr_scale": 2.0,
        "hr_upscaler": "Latent",
        "hr_second_pass_steps": 0,
        "hr_resize_x": 0,
        "hr_resize_y": 0,
        "hr_checkpoint_name": None,
        "hr_sampler_name": None,
        "hr_scheduler": None,
        "hr_prompt": "",
        "hr_negative_prompt": "",
    }


class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    mode = "img2img"
    DEFAULTS = {
        "init_images": None,
        "resize_mode": 0,
        "denoising_strength": 0.75,
        "image_cfg_scale": None,
        "mask": None,
        "mask_blur": 4,
        "mask_blur_x": None,
        "mask_blur_y": None,
        "inpainting_fill": 1,
        "inpaint_full_res": False,
        "inpaint_full_res_padding": 32,
        "inpainting_mask_invert": 0,
        "initial_noise_multiplier": None,
    }

    @property
    def image_mask(self) -> Any:
        return self.mask

    @image_mask.setter
    def image_mask(self, value: Any) -> None:
        self.mask = value


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) and value else value


def to_params(p: Any) -> GenerationParams:
    """A ``GenerationParams`` from A1111's ``p`` (built by an extension, or the job's ``ProcessingState``)."""
    base: GenerationParams | None = getattr(p, "params", None)
    fields: dict[str, Any] = {}
    if isinstance(base, GenerationParams):
        fields.update(styles=(), script_name=None, script_args=())  # styles are already in p.prompt
    else:
        base = GenerationParams(mode="img2img" if getattr(p, "is_img2img", False) else "txt2img")
        fields["override_settings"] = dict(getattr(p, "override_settings", None) or {})
    for name in _FIELDS - _NOT_FROM_P - set(fields):
        if hasattr(p, name):
            fields[name] = getattr(p, name)
    for a1111_name, name in _RENAMED.items():
        if getattr(p, a1111_name, None) is not None:
            fields[name] = getattr(p, a1111_name)
    for name in ("prompt", "negative_prompt", "seed", "subseed"):
        if name in fields:
            fields[name] = _first(fields[name])
    fields["negative_prompt"] = fields.get("negative_prompt") or ""
    for name in _TUPLES & set(fields):
        fields[name] = tuple(fields[name] or ())
    for name in ("sampler_name", "scheduler", "seed_resize_from_h", "seed_resize_from_w", "tiling"):
        if fields.get(name) is None or fields.get(name) == -1:
            fields.pop(name, None)
    for name in ("seed_resize_from_h", "seed_resize_from_w"):
        if name in fields and fields[name] < 0:
            fields[name] = 0
    if fields.get("mask_blur") is None:
        fields.pop("mask_blur", None)
    return dataclasses.replace(base, **fields)


class Processed(core_params.Processed):
    """A1111's ``Processed(p, images_list, seed, info, ...)``, a ``modules.processing.params.Processed``."""

    def __init__(
        self,
        p: Any = None,
        images_list: list[Any] | None = None,
        seed: int = -1,
        info: str = "",
        subseed: int | None = None,
        all_prompts: list[str] | None = None,
        all_negative_prompts: list[str] | None = None,
        all_seeds: list[int] | None = None,
        all_subseeds: list[int] | None = None,
        index_of_first_image: int = 0,
        infotexts: list[str] | None = None,
        comments: str = "",
        **fields: Any,
    ) -> None:
        if p is None and "params" in fields:  # dataclass-style construction (dataclasses.replace)
            core_params.Processed.__init__(
                self,
                images=fields.pop("images"),
                infotexts=infotexts or [],
                seed=seed,
                subseed=subseed if subseed is not None else -1,
                all_seeds=all_seeds or [],
                all_subseeds=all_subseeds or [],
                all_prompts=all_prompts or [],
                all_negative_prompts=all_negative_prompts or [],
                index_of_first_image=index_of_first_image,
                comments=comments,
                **fields,
            )
            return
        images = list(images_list or [])
        prompt = getattr(p, "prompt", "")
        negative = getattr(p, "negative_prompt", "") or ""
        core_params.Processed.__init__(
            self,
            images=images,
            infotexts=list(infotexts) if infotexts else [info] * max(1, len(images)),
            seed=seed,
            subseed=subseed if subseed is not None else getattr(p, "subseed", -1),
            all_seeds=list(all_seeds or getattr(p, "all_seeds", None) or [seed]),
            all_subseeds=list(all_subseeds or getattr(p, "all_subseeds", None) or [-1]),
            all_prompts=list(all_prompts or getattr(p, "all_prompts", None) or [_first(prompt)]),
            all_negative_prompts=list(all_negative_prompts or getattr(p, "all_negative_prompts", None) or [negative]),
            params=p.params if isinstance(getattr(p, "params", None), GenerationParams) else to_params(p),
            index_of_first_image=index_of_first_image,
            comments=comments,
        )

    @classmethod
    def wrap(cls, processed: core_params.Processed) -> Processed:
        values = {f.name: getattr(processed, f.name) for f in dataclasses.fields(processed)}
        return cls(**values)

    def infotext(self, p: Any, index: int) -> str:
        return self.infotexts[index] if 0 <= index < len(self.infotexts) else self.info


def _inside_job_hook() -> Any:
    """The running job when called from one of its hooks (on the worker), else None."""
    if bridge.current_or_none() is None:
        return None
    return _resolve.current_job()


def process_images(p: Any) -> Processed:
    """Render ``p`` through the normal path; returns A1111's ``Processed`` (images, infotexts, seeds)."""
    backend = _resolve.backend()
    params = to_params(p)
    params.validate()
    job = _inside_job_hook()
    if job is not None:
        from modules.extensions.runner import inheriting
        from modules.processing.pipeline import generate  # heavy: torch

        with inheriting(getattr(p, "extra_generation_params", None) or {}):
            result = generate(backend, params, job)
    else:
        result = backend.generation.run(params)
    processed = Processed.wrap(result)
    if hasattr(p, "all_seeds") and not hasattr(p, "params"):
        p.all_prompts, p.all_seeds = list(processed.all_prompts), list(processed.all_seeds)
    return processed


def create_infotext(
    p: Any,
    all_prompts: list[str] | None = None,
    all_seeds: list[int] | None = None,
    all_subseeds: list[int] | None = None,
    comments: Any = None,
    iteration: int = 0,
    position_in_batch: int = 0,
    use_main_prompt: bool = False,
    index: int | None = None,
    all_negative_prompts: list[str] | None = None,
) -> str:
    """A1111's infotext line for one image of ``p``."""
    if index is None:
        index = position_in_batch + iteration * int(getattr(p, "batch_size", 1) or 1)
    if isinstance(getattr(p, "params", None), GenerationParams) and hasattr(p, "settings"):
        from modules.processing.outputs import infotext

        return infotext(p, index)
    from modules.processing.infotext import create_infotext as make

    prompts = all_prompts or getattr(p, "all_prompts", None) or [_first(p.prompt)]
    seeds = all_seeds or getattr(p, "all_seeds", None) or [p.seed]
    values = {
        "Steps": p.steps,
        "Sampler": p.sampler_name,
        "CFG scale": p.cfg_scale,
        "Seed": seeds[min(index, len(seeds) - 1)],
        "Size": f"{p.width}x{p.height}",
        **getattr(p, "extra_generation_params", {}),
    }
    negatives = all_negative_prompts or getattr(p, "all_negative_prompts", None) or [p.negative_prompt or ""]
    prompt = prompts[0] if use_main_prompt else prompts[min(index, len(prompts) - 1)]
    return make(prompt, negatives[min(index, len(negatives) - 1)], values)


def create_binary_mask(image: Any, round: bool = True) -> Any:  # noqa: A002 (A1111's name)
    return ops.mask_to_l(image, round)


def apply_overlay(image: Any, paste_loc: Any, overlay: Any) -> Any:
    return ops.apply_overlay(image, paste_loc, overlay)


def apply_color_correction(correction: Any, original_image: Any) -> Any:
    """Colour correction is not implemented; the image is returned unchanged."""
    return original_image


def setup_color_correction(image: Any) -> Any:
    return None


def create_random_tensors(
    shape: Any, seeds: list[int], subseeds: Any = None, subseed_strength: float = 0.0, **_: Any
) -> Any:  # noqa: E501
    """A1111-compatible initial noise: one CPU ``torch.randn`` per seed (the "CPU" RNG source)."""
    import torch

    noises = []
    for seed in seeds:
        generator = torch.Generator("cpu").manual_seed(int(seed))
        noises.append(torch.randn(tuple(shape), generator=generator))
    return torch.stack(noises)


def random_seed() -> int:
    return int(random.randrange(4294967294))
