"""A1111's ``modules.shared_items``: lists the Settings page and extensions fill dropdowns from."""

from __future__ import annotations

from typing import Any

from modules.a1111 import _resolve, sd_models


def realesrgan_models_names() -> list[str]:
    return []


def postprocessing_scripts() -> list[Any]:
    return []


def sd_vae_items() -> list[str]:
    models = _resolve.models_or_none()
    return ["Automatic", "None"] + [vae.model_name for vae in (models.vaes() if models is not None else [])]


def refresh_vae_list() -> None:
    sd_models.list_models()


def cross_attention_optimizations() -> list[str]:
    return ["Automatic"]


def sd_unet_items() -> list[str]:
    return ["Automatic"]


def refresh_unet_list() -> None: ...


def list_checkpoint_tiles(use_short: bool = False) -> list[str]:
    return sd_models.checkpoint_tiles(use_short)


def refresh_checkpoints() -> None:
    sd_models.list_models()


def ui_reorder_categories() -> list[str]:
    return ["prompt", "image", "inpaint", "sampler", "accordions", "checkboxes", "dimensions", "cfg", "denoising",
            "seed", "batch", "override_settings", "scripts"]  # fmt: skip


def get_sd_upscalers() -> list[Any]:
    from modules.a1111.upscalers import sd_upscalers

    return sd_upscalers()
