"""Settings of the processing core (img2img section), A1111's keys, labels and defaults."""

from __future__ import annotations

from modules.settings import sections as s
from modules.settings.registry import OptionInfo

OPTIONS = [
    OptionInfo(
        "inpainting_mask_weight",
        1.0,
        "Inpainting conditioning mask strength",
        s.IMG2IMG,
        "slider",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
        infotext="Conditional mask weight",
        info="for 9-channel inpainting models: how much of the masked image they see",
    ),
    OptionInfo(
        "img2img_fix_steps",
        False,
        "With img2img, do exactly the amount of steps the slider specifies",
        s.IMG2IMG,
        "checkbox",
        info="normally you'd do less with less denoising",
    ),
    OptionInfo(
        "img2img_extra_noise",
        0.0,
        "Extra noise multiplier for img2img and hires fix",
        s.IMG2IMG,
        "slider",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
        infotext="Extra noise",
    ),
    OptionInfo(
        "hires_fix_refiner_pass",
        "second pass",
        "Hires fix: which pass to enable refiner for",
        s.STABLE_DIFFUSION,
        "radio",
        choices=("first pass", "second pass", "both passes"),
        infotext="Hires refiner",
    ),
]
