"""Every setting the model subsystem reads, declared once with A1111's keys, labels and defaults."""

from __future__ import annotations

from modules.settings import sections
from modules.settings.registry import OptionInfo

EMPHASIS_CHOICES = ("None", "Ignore", "Original", "No norm")

OPTIONS: list[OptionInfo] = [
    OptionInfo(
        "sd_model_checkpoint",
        "",
        "Stable Diffusion checkpoint",
        sections.STABLE_DIFFUSION,
        component="dropdown",
        infotext="Model hash",
        info="the model used for generation; remembered and loaded at the next start",
    ),
    OptionInfo(
        "sd_checkpoint_cache",
        1,
        "Checkpoints to cache in RAM",
        sections.STABLE_DIFFUSION,
        component="slider",
        minimum=0,
        maximum=10,
        step=1,
        info="previously loaded checkpoints kept in RAM, so switching back to them is instant",
    ),
    OptionInfo(
        "CLIP_stop_at_last_layers",
        1,
        "Clip skip",
        sections.STABLE_DIFFUSION,
        component="slider",
        minimum=1,
        maximum=12,
        step=1,
        infotext="Clip skip",
        info="ignore last layers of CLIP network; 1 ignores none, 2 ignores one layer",
    ),
    OptionInfo(
        "sdxl_clip_l_skip",
        False,
        "Clip skip SDXL",
        sections.STABLE_DIFFUSION,
        component="checkbox",
        info="apply Clip skip to SDXL's CLIP-L encoder too (it uses its penultimate layer otherwise)",
    ),
    OptionInfo(
        "emphasis",
        "Original",
        "Emphasis mode",
        sections.STABLE_DIFFUSION,
        component="radio",
        choices=EMPHASIS_CHOICES,
        infotext="Emphasis",
        info="how (more:1.1) and [less] change the text conditioning: Original = A1111 with mean "
        "restored; No norm = weights only; Ignore = parse but do not weight; None = no parsing",
    ),
    OptionInfo(
        "comma_padding_backtrack",
        20,
        "Prompt word wrap length limit",
        sections.STABLE_DIFFUSION,
        component="slider",
        minimum=0,
        maximum=74,
        step=1,
        info="in tokens - for texts shorter than specified, if they don't fit into 75 token limit, "
        "move them to the next 75 token chunk",
    ),
    OptionInfo(
        "sd_vae",
        "Automatic",
        "SD VAE",
        sections.VAE,
        component="dropdown",
        infotext="VAE",
        info="Automatic = a VAE with the checkpoint's name; None = the VAE inside the checkpoint",
    ),
    OptionInfo(
        "sd_vae_overrides_per_model_preferences",
        True,
        "Selected VAE overrides per-model preferences",
        sections.VAE,
        component="checkbox",
        info="when off, a <checkpoint>.vae.* file beside a checkpoint wins over the selected VAE",
    ),
    OptionInfo(
        "auto_vae_precision",
        True,
        "Automatically revert VAE to 32-bit floats",
        sections.VAE,
        component="checkbox",
        info="triggers when a tensor with NaNs is produced in VAE; disabling the option in this case "
        "will result in a black square image",
    ),
]
