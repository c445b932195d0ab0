"""Settings of the Upscaling and Face restoration sections (A1111 shared_options names)."""

from __future__ import annotations

from modules.settings.registry import OptionInfo
from modules.settings.sections import FACE_RESTORATION, UPSCALING

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
    OptionInfo(
        "face_restoration",
        False,
        "Restore faces",
        FACE_RESTORATION,
        "checkbox",
        info="txt2img/img2img; the API's restore_faces overrides it",
    ),
    OptionInfo(
        "face_restoration_model",
        "CodeFormer",
        "Face restoration model",
        FACE_RESTORATION,
        "radio",
        choices=("CodeFormer", "GFPGAN"),
    ),
    OptionInfo(
        "code_former_weight",
        0.5,
        "CodeFormer weight",
        FACE_RESTORATION,
        "slider",
        minimum=0,
        maximum=1,
        step=0.01,
        info="0 = maximum effect; 1 = minimum effect",
    ),
    OptionInfo(
        "face_restoration_unload",
        False,
        "Move face restoration model from VRAM into RAM after processing",
        FACE_RESTORATION,
        "checkbox",
    ),
)
