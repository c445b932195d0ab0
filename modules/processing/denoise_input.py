"""What one run of the denoise loop takes (``DenoiseInput``) and what it gives back (``DenoiseResult``).

The input is frozen and grouped by what belongs together, so a caller states a run in one value and the loop
cannot change what it was given: the model and its conditioning, the sampler and its schedule, the starting
noise and the noise of later steps, the img2img / inpainting latents, and how the caller follows the run
(hooks, progress, stop). The result carries A1111's extra infotext keys the run chose, instead of filling a
dict the caller passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from modules.processing.cfg_denoiser import ModelSwitchFn
from modules.processing.hooks import CondProvider, HookRegistry
from modules.processing.samplers import SamplerInfo

NoiseFn = Callable[[torch.Size], torch.Tensor]
ProgressFn = Callable[[int, int, torch.Tensor], None]


@dataclasses.dataclass(frozen=True)
class ModelInput:
    """The UNet and what it is conditioned on.

    ``scheduler_config`` is the model's diffusers scheduler config (training betas, prediction type). SDXL
    UNets need ``add_time_ids`` ([B or 1, 6]) and pooled embeddings in the conditionings.
    ``image_conditioning`` ([B, 5, h, w]: mask, masked-image latents) is concatenated to the UNet input for
    9-channel inpainting models.
    """

    unet: Any
    conds: CondProvider
    scheduler_config: Mapping[str, Any] | None = None
    add_time_ids: torch.Tensor | None = None
    negative_add_time_ids: torch.Tensor | None = None
    image_conditioning: torch.Tensor | None = None


@dataclasses.dataclass(frozen=True)
class SamplerChoice:
    """Sampler, schedule, steps, CFG scale and the sampler parameters; None parameters come from settings."""

    sampler: SamplerInfo | str = "Euler"
    schedule: str | None = "Automatic"
    steps: int = 20
    cfg_scale: float = 7.0
    eta: float | None = None
    s_churn: float | None = None
    s_tmin: float | None = None
    s_tmax: float | None = None
    s_noise: float | None = None
    s_min_uncond: float | None = None


@dataclasses.dataclass(frozen=True)
class NoiseInput:
    """The starting noise and the noise of ancestral / SDE steps.

    ``latents`` are unit normal ([B, 4, h, w]). ``draw(shape)`` supplies the per-image seeded noise of later
    steps (None: torch's global generator); with ``seeds`` (one per image) the SDE samplers draw from per-image
    Brownian trees as A1111 does (``source``: the "RNG" setting).
    """

    latents: torch.Tensor
    draw: NoiseFn | None = None
    seeds: Sequence[int] | None = None
    source: str = "CPU"


@dataclasses.dataclass(frozen=True)
class Img2ImgInput:
    """img2img: the run starts from ``init_latent`` + noise at the sigma A1111 picks for the strength.

    ``latent_mask`` (1 = repaint) keeps the rest of ``init_latent`` after every denoiser call and at the end.
    """

    init_latent: torch.Tensor
    denoising_strength: float = 1.0
    latent_mask: torch.Tensor | None = None


@dataclasses.dataclass(frozen=True)
class LoopControl:
    """How the caller follows the run: ``progress(step, total, denoised)`` after each step, ``should_stop()``
    checked after every step (true: the loop ends with the last denoised estimate), a console progress bar."""

    progress: ProgressFn | None = None
    should_stop: Callable[[], bool] | None = None
    console_progress: bool = True


@dataclasses.dataclass(frozen=True)
class DenoiseInput:
    """One run of the loop. ``img2img`` None is txt2img. ``hooks`` are this job's hook registry;
    ``model_switch(step, total)`` is asked before each step and may return a ``ModelSwap`` (the refiner) that
    the rest of the run uses. ``settings`` (a SettingsView, a mapping or None) gives the sampler settings."""

    model: ModelInput
    sampler: SamplerChoice
    noise: NoiseInput
    img2img: Img2ImgInput | None = None
    hooks: HookRegistry | None = None
    control: LoopControl = dataclasses.field(default_factory=LoopControl)
    settings: Any = None
    model_switch: ModelSwitchFn | None = None


@dataclasses.dataclass(frozen=True)
class DenoiseResult:
    """The latents at the end (the last denoised estimate when stopped early), A1111's extra infotext keys the
    run's settings produced ("Eta", "Schedule rho", ...), and whether it was stopped."""

    latents: torch.Tensor
    extra_generation_params: Mapping[str, Any]
    interrupted: bool = False
