"""What one generation request asks for, and what it produced.

The UI and the HTTP API both build a ``GenerationParams`` (A1111's field names, so the API maps 1:1) and
submit it; the processing core returns a ``Processed``. Parameters are frozen: per-request settings travel in
``override_settings`` and are applied as an overlay, never written into the shared settings.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

RESIZE_MODES = ("Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)")
INPAINTING_FILL = ("fill", "original", "latent noise", "latent nothing")
MASK_MODES = ("Inpaint masked", "Inpaint not masked")
INPAINT_AREAS = ("Whole picture", "Only masked")
# Longer prompts only add 75-token chunks that dilute each other (A1111 has no limit; a 5 MB prompt ties the
# worker up for minutes in tokenisation), so they are refused before the job is queued.
MAX_PROMPT_CHARS = 32768
# Each bracket left open re-weights everything after it, so emphasis parsing costs brackets x fragments:
# ``"(a" * 16000`` alone would hold the server for many seconds. Real prompts use a few dozen.
MAX_PROMPT_BRACKETS = 256
PROMPT_FIELDS = ("prompt", "negative_prompt", "hr_prompt", "hr_negative_prompt")


def prompt_problem(name: str, text: str) -> str | None:
    """Why a prompt is too costly to parse (too long, too many brackets), or None.

    >>> prompt_problem("prompt", "a (red:1.2) cat") is None
    True
    >>> prompt_problem("prompt", "(a" * 300)
    'prompt has 300 brackets; at most 256 are accepted'
    """
    if len(text) > MAX_PROMPT_CHARS:
        return f"{name} is {len(text)} characters long; at most {MAX_PROMPT_CHARS} are accepted"
    brackets = text.count("(") + text.count("[")
    if brackets > MAX_PROMPT_BRACKETS:
        return f"{name} has {brackets} brackets; at most {MAX_PROMPT_BRACKETS} are accepted"
    return None


class InvalidParams(ValueError):
    """A request that cannot run as given; the message names the field and the accepted values."""


@dataclasses.dataclass(frozen=True)
class ScriptArgs:
    """Values for one script (always-on or selected): its title and its UI values in order."""

    title: str
    args: tuple[Any, ...] = ()


@dataclasses.dataclass(frozen=True)
class GenerationParams:
    mode: str = "txt2img"  # "txt2img" | "img2img"
    prompt: str = ""
    negative_prompt: str = ""
    styles: tuple[str, ...] = ()
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_h: int = 0
    seed_resize_from_w: int = 0
    sampler_name: str = "Euler a"
    scheduler: str = "Automatic"
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    tiling: bool = False
    restore_faces: bool | None = None  # None: the face_restoration setting decides (A1111 1.10)
    eta: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    denoising_strength: float | None = None
    # hires fix (txt2img)
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_upscaler: str = "Latent"
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    hr_checkpoint_name: str | None = None  # another model for the second pass ("Use same checkpoint": none)
    # refiner: another model takes over at this fraction of the steps (None: from the first step)
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    # img2img / inpainting
    init_images: tuple[Any, ...] = ()  # PIL images
    mask: Any = None  # PIL image (white = inpaint) or None
    resize_mode: int = 0
    image_cfg_scale: float | None = None
    mask_blur: int = 4
    mask_blur_x: int | None = None
    mask_blur_y: int | None = None
    inpainting_fill: int = 1
    inpaint_full_res: bool = False
    inpaint_full_res_padding: int = 32
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: float | None = None
    # outputs and behaviour
    override_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    script_name: str | None = None
    script_args: tuple[Any, ...] = ()
    alwayson_scripts: tuple[ScriptArgs, ...] = ()

    @property
    def is_img2img(self) -> bool:
        return self.mode == "img2img"

    def validate(self) -> None:
        """Fail early, naming the field, for values the core cannot run."""
        if self.mode not in ("txt2img", "img2img"):
            raise InvalidParams(f"mode must be txt2img or img2img, not {self.mode!r}")
        for name in PROMPT_FIELDS:
            problem = prompt_problem(name, getattr(self, name) or "")
            if problem is not None:
                raise InvalidParams(problem)
        for name in ("width", "height"):
            value = getattr(self, name)
            if not 64 <= value <= 2048 or value % 8:
                raise InvalidParams(f"{name} must be a multiple of 8 between 64 and 2048, got {value}")
        if not 1 <= self.steps <= 150:
            raise InvalidParams(f"steps must be between 1 and 150, got {self.steps}")
        if not 1 <= self.batch_size <= 8:
            raise InvalidParams(f"batch_size must be between 1 and 8, got {self.batch_size}")
        if not 1 <= self.n_iter <= 100:
            raise InvalidParams(f"n_iter (batch count) must be between 1 and 100, got {self.n_iter}")
        if not 0 <= self.cfg_scale <= 100:
            raise InvalidParams(f"cfg_scale must be between 0 and 100, got {self.cfg_scale}")
        if self.denoising_strength is not None and not 0 <= self.denoising_strength <= 1:
            raise InvalidParams(f"denoising_strength must be between 0 and 1, got {self.denoising_strength}")
        if not 0 <= self.subseed_strength <= 1:
            raise InvalidParams(f"subseed_strength must be between 0 and 1, got {self.subseed_strength}")
        if self.resize_mode not in range(len(RESIZE_MODES)):
            raise InvalidParams(f"resize_mode must be 0-3 ({', '.join(RESIZE_MODES)}), got {self.resize_mode}")
        if self.inpainting_fill not in range(len(INPAINTING_FILL)):
            raise InvalidParams(
                f"inpainting_fill must be 0-3 ({', '.join(INPAINTING_FILL)}), got {self.inpainting_fill}"
            )
        if self.refiner_switch_at is not None and not 0 <= self.refiner_switch_at <= 1:
            raise InvalidParams(f"refiner_switch_at must be between 0 and 1, got {self.refiner_switch_at}")
        if self.is_img2img and not self.init_images:
            raise InvalidParams("img2img needs an init image (init_images)")
        if (
            self.enable_hr
            and not self.is_img2img
            and not (1 <= self.hr_scale <= 8 or self.hr_resize_x or self.hr_resize_y)
        ):
            raise InvalidParams(f"hr_scale must be between 1 and 8, got {self.hr_scale}")


@dataclasses.dataclass
class Processed:
    """Images of one request with their infotexts, seeds and prompts (A1111's ``Processed``)."""

    images: list[Any]  # PIL images, grid first when one was made
    infotexts: list[str]
    seed: int
    subseed: int
    all_seeds: list[int]
    all_subseeds: list[int]
    all_prompts: list[str]
    all_negative_prompts: list[str]
    params: GenerationParams
    info_extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    saved_paths: list[str] = dataclasses.field(default_factory=list)
    index_of_first_image: int = 0  # 1 when a grid leads the list
    interrupted: bool = False
    comments: str = ""

    @property
    def info(self) -> str:
        return self.infotexts[0] if self.infotexts else ""

    def js(self) -> str:
        """The JSON string A1111's API returns as ``info``."""
        p = self.params
        data = {
            "prompt": self.all_prompts[0] if self.all_prompts else p.prompt,
            "all_prompts": self.all_prompts,
            "negative_prompt": self.all_negative_prompts[0] if self.all_negative_prompts else p.negative_prompt,
            "all_negative_prompts": self.all_negative_prompts,
            "seed": self.seed,
            "all_seeds": self.all_seeds,
            "subseed": self.subseed,
            "all_subseeds": self.all_subseeds,
            "subseed_strength": p.subseed_strength,
            "width": p.width,
            "height": p.height,
            "sampler_name": p.sampler_name,
            "cfg_scale": p.cfg_scale,
            "steps": p.steps,
            "batch_size": p.batch_size,
            "restore_faces": bool(self.info_extra.get("face_restoration_model")),
            "face_restoration_model": self.info_extra.get("face_restoration_model"),
            "seed_resize_from_w": p.seed_resize_from_w,
            "seed_resize_from_h": p.seed_resize_from_h,
            "denoising_strength": p.denoising_strength,
            "extra_generation_params": {},
            "index_of_first_image": self.index_of_first_image,
            "infotexts": self.infotexts,
            "styles": list(p.styles),
            "job_timestamp": self.info_extra.get("job_timestamp", ""),
            "clip_skip": self.info_extra.get("clip_skip", 1),
            "is_using_inpainting_conditioning": self.info_extra.get("is_using_inpainting_conditioning", False),
            "version": self.info_extra.get("version", ""),
        }
        data.update({k: v for k, v in self.info_extra.items() if k not in data})
        return json.dumps(data, default=str)
