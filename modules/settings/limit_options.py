"""Limits on the work one request may ask for (A1111 has none of these; they keep one client from freezing or
exhausting the server): decoded image size and the number of images a script may plan."""

from __future__ import annotations

from modules.settings import sections
from modules.settings.registry import OptionInfo

# 6144 x 6144: far above any input a 2048-pixel generation needs, 2.4x below Pillow's own bomb warning
# (89 million pixels) and 4.7x below the size it refuses; a 13000 x 13000 PNG is refused before decoding.
DEFAULT_MAX_IMAGE_PIXELS = 6144 * 6144
DEFAULT_MAX_PLAN_IMAGES = 1000

OPTIONS: list[OptionInfo] = [
    OptionInfo(
        "max_image_pixels",
        DEFAULT_MAX_IMAGE_PIXELS,
        "Largest uploaded image, in pixels (width x height)",
        sections.SYSTEM,
        "number",
        minimum=64 * 64,
        maximum=16384 * 16384,
        restrict_api=True,
        info="larger images (API, page uploads, Extras batches) are refused before they are decoded",
    ),
    OptionInfo(
        "max_plan_images",
        DEFAULT_MAX_PLAN_IMAGES,
        "Most images one X/Y/Z plot, prompt matrix or prompts-from-file run may plan",
        sections.SYSTEM,
        "number",
        minimum=1,
        maximum=1_000_000,
        restrict_api=True,
    ),
]
