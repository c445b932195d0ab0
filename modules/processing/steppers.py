"""Sampler algorithm name (``SamplerInfo.algorithm``) → stepper class, for the denoise loop."""

from __future__ import annotations

import torch

from modules.processing.k_samplers import (
    DPM2,
    DPMPP2M,
    DPMPP2MSDE,
    DPMPP3MSDE,
    DPMPPSDE,
    LMS,
    DPM2Ancestral,
    DPMPP2MSDEHeun,
    DPMPP2SAncestral,
    Euler,
    EulerAncestral,
    Heun,
    Model,
    Noise,
    SamplerParams,
    SDENoise,
    Stepper,
)
from modules.processing.k_solvers import DDIM, DDIMCFGPP, LCM, PLMS, DPMAdaptive, DPMFast, Restart, UniPC

STEPPERS: dict[str, type[Stepper]] = {
    "euler": Euler,
    "euler_ancestral": EulerAncestral,
    "heun": Heun,
    "dpm_2": DPM2,
    "dpm_2_ancestral": DPM2Ancestral,
    "lms": LMS,
    "dpmpp_2s_ancestral": DPMPP2SAncestral,
    "dpmpp_sde": DPMPPSDE,
    "dpmpp_2m": DPMPP2M,
    "dpmpp_2m_sde": DPMPP2MSDE,
    "dpmpp_2m_sde_heun": DPMPP2MSDEHeun,
    "dpmpp_3m_sde": DPMPP3MSDE,
    "dpm_fast": DPMFast,
    "dpm_adaptive": DPMAdaptive,
    "restart": Restart,
    "ddim": DDIM,
    "ddim_cfgpp": DDIMCFGPP,
    "plms": PLMS,
    "unipc": UniPC,
    "lcm": LCM,
}


def make_stepper(
    algorithm: str,
    model: Model,
    sigmas: torch.Tensor,
    noise: Noise,
    params: SamplerParams,
    brownian: SDENoise | None = None,
) -> Stepper:
    """The stepper of ``algorithm``; ``brownian`` (SDE samplers) replaces independent noise with one path."""
    return STEPPERS[algorithm](model, sigmas, noise, params, brownian)
