"""``SamplingPass``: what one pass of a job (the first pass, or hires fix's second) hands the denoise loop.

``pipeline`` builds one per pass, ``hires`` builds the second pass's, and ``pipeline._sample`` turns it, with
the job's state, into a ``denoise.DenoiseInput``. Frozen: a pass is described once and not changed on the way.
"""

from __future__ import annotations

import dataclasses

import torch

from modules.processing.cfg_denoiser import ModelSwitchFn
from modules.processing.hooks import CondProvider
from modules.processing.img2img_inputs import Img2ImgInputs
from modules.processing.seeds import ImageRNG


@dataclasses.dataclass(frozen=True)
class SamplingPass:
    """One pass: prompts, noise, sampler and size, and for img2img / hires the starting latents.

    ``rng`` continues after ``noise`` (its first draw) with the noise of ancestral / SDE steps. ``inputs`` and
    ``denoising`` (strength; None: 1.0) make it an img2img pass. ``encoder`` is the VAE encoder's generator
    (9-channel models encode a blank image for txt2img); ``model_switch`` is the refiner switch of this pass.
    """

    conds: CondProvider
    noise: torch.Tensor
    rng: ImageRNG
    sampler_name: str
    scheduler: str
    steps: int
    width: int
    height: int
    inputs: Img2ImgInputs | None = None
    denoising: float | None = None
    encoder: torch.Generator | None = None
    model_switch: ModelSwitchFn | None = None
