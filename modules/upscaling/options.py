"""Settings of the Upscaling section that the upscalers and img2img read (A1111 shared_options names)."""

from __future__ import annotations

from modules.settings.registry import OptionInfo
from modules.settings.sections import UPSCALING

OPTIONS: tuple[OptionInfo, ...] = (
    OptionInfo(
        "ESRGAN_tile",
        192,
        "Tile size for ESRGAN upscalers.",
        UPSCALING,
        "slider",
        minimum=0,
        maximum=512,
        step=16,
        info="0 = no tiling",
    ),
    OptionInfo(
        "ESRGAN_tile_overlap",
        8,
        "Tile overlap for ESRGAN upscalers.",
        UPSCALING,
        "slider",
        minimum=0,
        maximum=48,
        step=1,
        info="Low values = visible seam",
    ),
    # Choices are the registry's names(); the UI fills them in (the registry is not global).
    OptionInfo("upscaler_for_img2img", None, "Upscaler for img2img", UPSCALING, "dropdown"),
)
